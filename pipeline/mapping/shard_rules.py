"""What a sharded store (`storage.shards` > 1) cannot do yet, refused when the file is checked.

Shards are built for the profile side (identity, merges, segments, payload, push); two things
still read across the store as one: interactions (one store-level table) and echo detection
(an import goal's changes are computed once per day, before the shards, so they cannot see the
shards' push baselines). A sharded store refuses both rather than getting them wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.mapping.braze_fields import import_column
from pipeline.mapping.model import Connection
from pipeline.mapping.yaml_positions import Document

SETTING = ("storage", "shards")


def check_shards(doc: Document, connection: Connection) -> None:
    """Record an error at `storage.shards` for each thing the sharded store cannot do."""
    shards = connection.storage.shards
    if shards == 1:
        return
    for goal in connection.exports:
        if any(f.source.kind == "interactions" for f in goal.fields):
            doc.error(
                SETTING,
                f"storage.shards: {shards} cannot export interactions (export goal {goal.name!r}): "
                "interactions are one store-wide table, not sharded yet",
                fix="set storage.shards: 1, or drop the interactions field from the goal",
            )
        if goal.on_leave != "ignore":
            doc.error(
                SETTING,
                f"storage.shards: {shards} cannot clear leavers (export goal {goal.name!r} has on_leave: "
                f"{goal.on_leave}): a profile a merge moves to another shard would look like a leaver in its old one",
                fix="set storage.shards: 1, or on_leave: ignore",
            )
    for goal, what in echo_overlaps(connection, [connection]):
        doc.error(
            SETTING,
            f"storage.shards: {shards} cannot tell echoes of its pushes apart, and import goal {goal!r} "
            f"reads what export goals write ({what})",
            fix="set storage.shards: 1, or import only attributes no export goal of the connection writes",
        )


def echo_overlaps(importer: Connection, exporters: Sequence[Connection]) -> list[tuple[str, str]]:
    """(import goal, what it reads) of `importer` that export goals of `exporters` on the same
    Braze endpoint write: where a sharded store would import its own pushes back as changes."""
    same = [c for c in exporters if c.braze.rest_endpoint == importer.braze.rest_endpoint]
    written = {import_column(f.braze) for c in same for goal in c.exports for f in goal.fields}
    if not written:
        return []
    found = []
    for goal in importer.imports:
        read = {i.braze for i in goal.identifiers} | {f.braze for f in goal.fields}
        echoed = sorted(c for c in read if any(c == w or c.startswith(w + ".") for w in written))
        if goal.remaining_fields is not None or echoed:
            found.append((goal.name, ", ".join(echoed) if echoed else "remaining_fields"))
    return found
