"""`segment_members`: the profiles in an export goal's segment, with every segment they are in."""

from __future__ import annotations

import polars as pl

from pipeline.mapping import Connection, ExportGoal
from pipeline.profiles import Snapshot
from pipeline.profiles.segments import evaluate_segments, parse_segment

SEGMENTS = "segments"


def segment_membership(snapshot: Snapshot, connection: Connection) -> pl.DataFrame:
    """`profile_id` plus one Boolean column per segment of the connection."""
    segments = {name: parse_segment(text) for name, text in sorted(connection.segments.items())}
    return evaluate_segments(snapshot.profiles, segments)


def members(snapshot: Snapshot, connection: Connection, goal: ExportGoal) -> pl.DataFrame:
    """`profile_id` and `segments` (sorted names of all segments holding the profile), for the
    profiles in the goal's segment, sorted by profile_id."""
    flags = segment_membership(snapshot, connection)
    names = sorted(connection.segments)
    in_segments = pl.concat_list([pl.when(pl.col(n)).then(pl.lit(n)) for n in names]).list.drop_nulls()
    return (
        flags.filter(pl.col(goal.segment))
        .select("profile_id", in_segments.alias(SEGMENTS))
        .sort("profile_id")
    )
