"""Runs one file of `tests/data/bad/` through staging, profiles and the export payload.

Every case uses the same connection (below), so an expectation only names what the file does
to it. The outcome is plain data, compared with `<case>.expect.json` by `test_bad_corpus.py`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.braze.export_files import ExportFileError
from pipeline.delta import diff
from pipeline.exports.members import members
from pipeline.exports.payload import build_payload
from pipeline.imports import goal_rules
from pipeline.mapping import Connection, load_connection_file
from pipeline.profiles import build_day
from pipeline.profiles.snapshot import empty_snapshot, find_profile
from pipeline.staging import stage_export, write_staged
from pipeline.storage import open_store

FOLDER = Path(__file__).parent / "data" / "bad"
DAY = "2026-11-01"
CONNECTION = """\
connection: corpus
schedule: "0 3 * * *"
start_date: "2026-11-01"
braze: {rest_endpoint: "http://127.0.0.1:9", api_key: "${BRAZE_API_KEY}"}
storage: {root: "STORE", braze_exports: "STORE"}
segments:
  everyone: "true"
import:
  - goal: users
    segment: Users
    identifiers: [{braze: external_id, profile: external_id}]
    allow_create: true
    fields:
      - {braze: first_name, profile: first_name, strategy: set}
      - {braze: email, profile: email, strategy: set}
      - {braze: phone, profile: phone, strategy: set}
      - {braze: custom_attributes.points, profile: points, strategy: sum}
      - {braze: custom_attributes.tags, profile: interests, strategy: add}
      - {braze: custom_attributes.tier, profile: tier, strategy: set}
export:
  - goal: back
    segment: everyone
    identifiers: [{profile: external_id, braze: external_id}]
    fields:
      - {from: {property: first_name}, braze: first_name}
      - {from: {property: email}, braze: email}
      - {from: {property: phone}, braze: phone}
      - {from: {property: points}, braze: loyalty_points}
      - {from: {property: interests}, braze: interests}
      - {from: {property: tier}, braze: tier}
"""


def cases() -> list[str]:
    """Every corpus file (not the expectations)."""
    return sorted(p.name for p in FOLDER.iterdir() if not p.name.endswith((".expect.json", ".md")))


def expectation(case: str) -> dict[str, Any]:
    return json.loads((FOLDER / f"{case}.expect.json").read_text())


def connection(tmp: Path) -> Connection:
    path = tmp / "corpus.yaml"
    path.write_text(CONNECTION.replace("STORE", str(tmp / "store")))
    return load_connection_file(path)


def run(case: str, tmp: Path) -> dict[str, Any]:
    """What the pipeline did with the file: a failure, or what was staged, quarantined, built and sent."""
    store = open_store(str(tmp / "store"))
    key = f"exports/{case}"
    store.write_bytes(key, (FOLDER / case).read_bytes())
    try:
        result = stage_export(store, [key])
    except ExportFileError as exc:
        return {"outcome": "fails", "error": str(exc)}
    conn = connection(tmp)
    (goal,) = conn.imports
    write_staged(store, conn.name, goal.name, DAY, result)  # checks lines_read == rows + quarantined lines
    staged = result.users
    changes = diff(staged.lazy(), None, new_json=result.json_columns).collect()
    snapshot, _report = build_day(empty_snapshot(), [(goal_rules(conn, goal), changes, result.json_columns)], DAY)
    (export,) = conn.exports
    payload = build_payload(snapshot, conn, export, members(snapshot, conn, export), None)
    external = dict(snapshot.identifiers.filter(pl.col("kind") == "external_id").select("profile_id", "value").rows())
    return {
        "outcome": "staged",
        "staged": staged.drop("_row_hash").to_dicts(),
        "types": {name: str(dtype) for name, dtype in staged.schema.items() if name != "_row_hash"},
        "json_text_columns": result.json_columns,
        "quarantined_lines": [
            {"line": q.line, "reason": q.reason} for q in result.quarantine if q.field is None
        ],
        "quarantined_fields": [
            {"line": q.line, "braze_id": q.braze_id, "field": q.field, "reason": q.reason, "raw": q.raw}
            for q in result.quarantine
            if q.field is not None
        ],
        "profiles": {
            value: find_profile(snapshot, "external_id", value)["properties"]  # type: ignore[index]
            for value in sorted(set(external.values()))
        },
        "profile_quarantine": snapshot.quarantine.select("braze_id", "property", "reason").to_dicts(),
        "dead_letters": [
            {
                "external_id": [json.loads(i)["external_id"] for i in d.get("identities", [])],
                "attribute": d["attribute"],
                "reason": d["reason"],
            }
            for d in payload.dead_letters
        ],
        "sent": {
            json.loads(identity)["external_id"]: dict(group)
            for identity, group in _by_identity(payload.rows.select("identity", "attribute", "value").rows())
        },
    }


def _by_identity(rows: list[tuple[str, str, str]]) -> list[tuple[str, list[tuple[str, Any]]]]:
    grouped: dict[str, list[tuple[str, Any]]] = {}
    for identity, attribute, value in rows:
        grouped.setdefault(identity, []).append((attribute, json.loads(value)))
    return list(grouped.items())
