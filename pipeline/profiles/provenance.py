"""Provenance in aggregate: per property, which goals set its values, in how many profiles, and when last.

The UI shows it as the profiles asset's column lineage after each materialisation (`assets.lineage`),
so lineage includes what only the data knows: the properties `remaining_fields` created, and
which goal actually wins a property several goals map.
"""

from __future__ import annotations

import polars as pl

COUNTS_SCHEMA = pl.Schema({"property": pl.String, "goal": pl.String, "profiles": pl.UInt32, "last_day": pl.Date})


def provenance_counts(provenance: pl.DataFrame) -> pl.DataFrame:
    """(property, goal, profiles, last_day) from a snapshot's provenance, sorted by property and goal:
    how many profiles hold a value of `property` that `goal` set, and the last day it set one."""
    return (
        provenance.group_by("property", "goal")
        .agg(pl.len().alias("profiles"), pl.col("day").max().alias("last_day"))
        .cast(COUNTS_SCHEMA)  # type: ignore[arg-type]
        .sort("property", "goal")
    )
