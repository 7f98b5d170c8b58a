"""Profile merging: the profiles of one merge group become one row under the survivor's id.

Per property, in survivor-rule order (survivor first, then by `_created`, `profile_id`):
numbers a `sum` ever wrote are added, lists are united (survivor's values first), anything
else keeps the survivor's value or else the first non-empty value of the others.
"""

from __future__ import annotations

import polars as pl

from pipeline.profiles.dtypes import is_empty, is_number, normalize
from pipeline.profiles.snapshot import CREATED, PROFILE_ID, UPDATED


def combine(name: str, dtype: pl.DataType, sums: set[str]) -> pl.Expr:
    """Aggregation of one property over a merge group sorted survivor first."""
    column = pl.col(name)
    if name in sums and is_number(dtype):
        return pl.when(column.count() > 0).then(column.sum()).alias(name)
    if isinstance(dtype, pl.List):
        return column.explode().drop_nulls().unique(maintain_order=True).alias(name)
    return column.filter(~is_empty(column, dtype)).first().alias(name)


def merge_profiles(profiles: pl.DataFrame, merge_map: pl.DataFrame, sums: set[str]) -> pl.DataFrame:
    """Collapse every merge group of `merge_map` (profile_id, survivor_id, rank) into its survivor."""
    if merge_map.is_empty():
        return profiles
    properties = [c for c in profiles.columns if c not in (PROFILE_ID, CREATED, UPDATED)]
    merged = (
        profiles.join(merge_map, on=PROFILE_ID)
        .sort("survivor_id", "rank")
        .group_by("survivor_id", maintain_order=True)
        .agg(
            pl.col(CREATED).first(),
            pl.col(UPDATED).first(),
            *(combine(name, profiles.schema[name], sums) for name in properties),
        )
        .rename({"survivor_id": PROFILE_ID})
        .with_columns(normalize(pl.col(name), profiles.schema[name]).alias(name) for name in properties)
    )
    kept = profiles.filter(~pl.col(PROFILE_ID).is_in(merge_map[PROFILE_ID].implode()))
    return pl.concat([kept, merged.select(profiles.columns).cast(profiles.schema)])
