"""Where import and export goals of one store meet the same Braze attribute: what validate says.

Connections on one storage root share the profiles; an export goal of any of them writes
attributes to the Braze users that the import goals of those on the same Braze endpoint read
back. Such an attribute's value is profilesync's own, so `remaining_fields` leaves it out
(`pipeline.imports.exported_columns`), and `profilesync validate` lists what it leaves out and why.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.mapping.braze_fields import import_column
from pipeline.mapping.model import Connection


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
