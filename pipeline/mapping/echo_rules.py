"""Where import and export goals of one store meet the same Braze attribute: what validate says.

Connections on one storage root share the profiles; an export goal of any of them writes
attributes to the Braze users that the import goals of those on the same Braze endpoint read
back. Such an attribute's value is profilesync's own, so `remaining_fields` leaves it out
(`pipeline.imports.exported_columns`), and `profilesync validate` lists what it leaves out and why.

Reading such an attribute with `sum` or `add` is a feedback loop: every push would come back
and be added again. Echo suppression stops that, but a loop is rarely meant, so validate
refuses it at the import field (naming the export field) unless the field says `echo: accept`.
Read from the raw documents, like `store_properties`, so one broken file does not hide a loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pipeline.mapping.braze_fields import import_column
from pipeline.mapping.model import Connection
from pipeline.mapping.store_properties import storage_root
from pipeline.mapping.yaml_positions import Document

ACCUMULATING = ("sum", "add")


def store_writers(connection: Connection, connections: Sequence[Connection]) -> dict[str, list[str]]:
    """Import column → the export goals (`connection/goal`) of `connection`'s store and Braze
    endpoint that write it."""
    root = connection.storage.root.rstrip("/")
    writers: dict[str, list[str]] = {}
    for other in connections:
        if other.storage.root.rstrip("/") != root or other.braze.rest_endpoint != connection.braze.rest_endpoint:
            continue
        for goal in other.exports:
            for field in goal.fields:
                writers.setdefault(import_column(field.braze), []).append(f"{other.name}/{goal.name}")
    return writers


def left_out_notes(connections: Sequence[Connection]) -> list[str]:
    """One line per import goal whose `remaining_fields` leaves out attributes an export goal writes."""
    notes = []
    for connection in connections:
        writers = store_writers(connection, connections)
        for goal in connection.imports:
            if goal.remaining_fields is None:
                continue
            mapped = {f.braze for f in goal.fields} | {i.braze for i in goal.identifiers}
            columns = sorted(c for c in writers if c not in mapped)
            if not columns:
                continue
            goals = sorted({w for c in columns for w in writers[c]})
            where = connection.source.name if connection.source else connection.name
            notes.append(
                f"{where}: import goal {goal.name!r}: remaining_fields leaves out {', '.join(columns)}: "
                f"export goal(s) {', '.join(goals)} write them to these Braze users, so their values are "
                f"profilesync's own, not Braze's; map one under fields: to import it anyway"
            )
    return notes


def _endpoint(data: Any) -> Any:
    braze = data.get("braze") if isinstance(data, dict) else None
    return braze.get("rest_endpoint") if isinstance(braze, dict) else None


def _items(value: Any) -> list[tuple[int, dict]]:
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)] if isinstance(value, list) else []


def check_loops(doc: Document, store: Iterable[Document]) -> None:
    """Record an error on `doc` for every import field that reads, with sum or add, an attribute
    an export goal of its store (and Braze endpoint) writes, unless it says `echo: accept`."""
    data = doc.data
    root, endpoint = storage_root(data), _endpoint(data)
    if not isinstance(data, dict) or root is None:
        return
    writers: dict[str, tuple[Document, tuple]] = {}
    for other in [doc, *(d for d in store if d is not doc)]:
        if storage_root(other.data) != root or _endpoint(other.data) != endpoint:
            continue
        for g, goal in _items(other.data.get("export")):
            for f, field in _items(goal.get("fields")):
                if isinstance(field.get("braze"), str):
                    path = ("export", g, "fields", f, "braze")
                    writers.setdefault(import_column(field["braze"]), (other, path))
    for g, goal in _items(data.get("import")):
        for f, field in _items(goal.get("fields")):
            braze = field.get("braze")
            if field.get("strategy") not in ACCUMULATING or field.get("echo") == "accept" or not isinstance(braze, str):
                continue
            column = next((c for c in writers if braze == c or braze.startswith(c + ".")), None)
            if column is None:
                continue
            other, path = writers[column]
            line, _column = other.position(path)
            export_goal = other.data["export"][path[1]].get("goal")
            doc.error(
                ("import", g, "fields", f, "braze"),
                f"feedback loop: {braze} is read with {field['strategy']} and written by export goal "
                f"{export_goal!r} at {other.path.name}:{line}; every push would come back and be "
                f"{'added' if field['strategy'] == 'sum' else 'appended'} again",
                fix="import it with set, or stop exporting it, or write `echo: accept` on this field "
                "if the loop is meant (echoes of our own pushes are still not imported)",
            )
