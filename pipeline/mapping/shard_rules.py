"""What a sharded store (`storage.shards` > 1) cannot do yet, refused when the file is checked.

Shards are built for the profile side (identity, merges, segments, payload, push); two things
still read across the store as one: interactions (one store-level table) and echo detection
(an import goal's changes are computed once per day, before the shards, so they cannot see the
shards' push baselines). A sharded store refuses both rather than getting them wrong.
"""

from __future__ import annotations

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
    if not connection.exports:
        return
    written = {import_column(f.braze) for goal in connection.exports for f in goal.fields}
    for goal in connection.imports:
        read = {i.braze for i in goal.identifiers} | {f.braze for f in goal.fields}
        echoed = sorted(c for c in read if any(c == w or c.startswith(w + ".") for w in written))
        if goal.remaining_fields is not None or echoed:
            what = ", ".join(echoed) if echoed else "remaining_fields"
            doc.error(
                SETTING,
                f"storage.shards: {shards} cannot tell echoes of its pushes apart, and import goal {goal.name!r} "
                f"reads what export goals write ({what})",
                fix="set storage.shards: 1, or import only attributes no export goal of the connection writes",
            )
