"""Run history: records in the store, written by `profilesync run`, listed by `profilesync runs`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import SandboxHandle, run_cli
from import_harness import ImportHarness

from pipeline.runs import COUNTS, RunRecord, append_run, is_recorded, list_runs, run_key
from pipeline.storage import open_store

DAY1, DAY2 = "2026-11-01", "2026-11-02"


def record(run_id: str, connection: str, day: str, ended_at: str, **changes: Any) -> RunRecord:
    fields = {
        "run_id": run_id, "connection": connection, "job": f"{connection}_sync", "day": day, "status": "SUCCESS",
        "started_at": ended_at, "ended_at": ended_at, "goals": [f"{connection}/members"],
        "counts": dict.fromkeys(COUNTS, 1),
    }  # fmt: skip
    return RunRecord(**{**fields, **changes})


def test_append_and_list_newest_first_by_end_time(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    assert list_runs(store) == []
    first = record("r1", "acme", DAY2, "2026-11-02T03:00:00.000000Z")
    backfill = record("r2", "acme", DAY1, "2026-11-02T05:00:00.000000Z")  # an older day, run later
    other = record("r3", "beta", DAY2, "2026-11-02T04:00:00.000000Z", status="FAILURE", error="boom")
    for made in (first, backfill, other):
        append_run(store, made)
    assert [r.run_id for r in list_runs(store)] == ["r2", "r3", "r1"]
    assert [r.run_id for r in list_runs(store, connection="acme")] == ["r2", "r1"]
    assert list_runs(store, last=1) == [backfill]
    assert list_runs(store, connection="beta") == [other]
    assert run_key(first) == "runs/acme/2026-11-02/20261102T030000.000000Z-r1.json"
    assert is_recorded(store, first) and append_run(store, first) == run_key(first)  # same run, same object
    assert len(list_runs(store, last=None)) == 3


def test_a_newer_record_with_fields_this_version_does_not_know_still_reads(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    data = {**record("r1", "acme", DAY1, "2026-11-01T03:00:00.000000Z").as_dict(), "added_later": 1}
    store.write_bytes("runs/acme/2026-11-01/20261101T030000.000000Z-r1.json", json.dumps(data).encode())
    (read,) = list_runs(store)
    assert read.run_id == "r1" and read.counts["sent"] == 1


# -- end to end: `profilesync run` writes the history, the CLI reads it ---------------------------

MEMBERS = """\
- goal: {goal}
  segment: {segment}
  identifiers: [{{braze: external_id, profile: external_id}}]
  allow_create: true
  fields: [{{braze: first_name, profile: first_name, strategy: set}}]
"""


def cli(*args: str, folder: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("runs", *args, env={"PROFILESYNC_MAPPINGS": str(folder)}, timeout=60)


def test_profilesync_run_records_each_connection_and_runs_lists_them(
    sandbox: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRAZE_API_KEY", sandbox.api_key)
    sandbox.admin.define_segment("Members", {"all": []})
    sandbox.admin.upsert_users([{"external_id": f"u{i}", "first_name": f"N{i}"} for i in range(3)])
    harness = ImportHarness(sandbox, tmp_path)
    beta = harness.connection(MEMBERS.format(goal="people", segment="Members"), name="beta")
    acme = harness.connection(MEMBERS.format(goal="members", segment="Members"), name="acme")
    assert harness.run(DAY1, acme, beta).success  # one run, both connections of the store

    acme = harness.connection(MEMBERS.format(goal="members", segment="Lapsed users"), name="acme")
    failed = harness.run(DAY2, acme, beta)
    assert not failed.success

    listed = cli("--json", folder=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["day"], r["status"]) for r in rows] == [(DAY2, "FAILURE")] * 2 + [(DAY1, "SUCCESS")] * 2
    day1 = {r["connection"]: r for r in rows[2:]}
    assert day1["acme"]["counts"]["created"] == 3 and day1["beta"]["counts"]["created"] == 3  # the store's
    assert day1["acme"]["goals"] == ["acme/members"] and day1["beta"]["goals"] == ["beta/people"]
    assert day1["beta"]["goal_counts"]["beta/people"]["exported"] == 3
    for row in rows[:2]:  # beta's own steps ran, but the shared profiles did not: it failed with acme's error
        assert row["failed_step"] == "acme/members/segment_export" and "Lapsed users" in row["error"]
        assert row["run_id"] == failed.run_id

    (newest,) = json.loads(cli("--connection", "beta", "--last", "1", "--json", folder=tmp_path).stdout)
    assert (newest["connection"], newest["day"]) == ("beta", DAY2)

    table = cli("--connection", "beta", folder=tmp_path)
    assert table.returncode == 0, table.stderr
    lines = [line for line in table.stdout.splitlines() if " beta " in line]
    assert len(lines) == 2 and DAY2 in lines[0] and "FAILURE" in lines[0] and DAY1 in lines[1]
    assert "SUCCESS" in lines[1] and " 3 " in lines[1]
    assert "data points" in table.stdout and " acme " not in table.stdout.replace("acme/", "")

    unknown = cli("--connection", "nope", folder=tmp_path)
    assert unknown.returncode == 2 and "the connections are: acme, beta" in unknown.stderr
