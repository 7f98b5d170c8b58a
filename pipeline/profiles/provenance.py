"""Where each property's value came from: the goal and day that last set it, one row per profile.

Wide, not long: `profile_id`, then one Categorical column per property holding the origin as
`<connection/goal>\\x1f<YYYY-MM-DD>` (null: never set, or set before origins were kept). A cell
costs 4 bytes and a store has a handful of distinct origins, so 1M profiles of 16 properties take
~64 MB. The long form this replaced (`profile_id, property, goal, day`, 16M rows at 1M profiles)
took ~500 MB a copy and a sort of all of it every day, the largest frame of the profiles step.
Stores written in the long form are widened on read (`loaded`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

PROFILE_ID = "profile_id"
SEPARATOR = "\x1f"
SCHEMA = pl.Schema({PROFILE_ID: pl.String})
_LONG = ("property", "goal", "day")


def origin(goal: str, day: date) -> str:
    return f"{goal}{SEPARATOR}{day.isoformat()}"


def empty() -> pl.DataFrame:
    return SCHEMA.to_frame()


def canonical(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows by profile_id, columns profile_id then properties by name, cells Categorical."""
    properties = sorted(c for c in frame.columns if c != PROFILE_ID)
    return frame.select(PROFILE_ID, *(pl.col(p).cast(pl.Categorical) for p in properties)).sort(PROFILE_ID)


def loaded(frame: pl.DataFrame) -> pl.DataFrame:
    """A stored provenance frame in the wide form, whichever form it was written in."""
    if not set(_LONG) <= set(frame.columns):
        return canonical(frame)
    if frame.is_empty():
        return empty()
    text = pl.concat_str("goal", pl.lit(SEPARATOR), pl.col("day").cast(pl.String)).alias("origin")
    return canonical(frame.with_columns(text).pivot(on="property", index=PROFILE_ID, values="origin"))


def merge_origins(provenance: pl.DataFrame, merge_map: pl.DataFrame) -> pl.DataFrame:
    """A merge group's origins on its survivor: per property, the first set in profile_id order."""
    if merge_map.is_empty():
        return provenance
    properties = [c for c in provenance.columns if c != PROFILE_ID]
    merged = (
        provenance.join(merge_map.select(PROFILE_ID, "survivor_id"), on=PROFILE_ID)
        .sort(PROFILE_ID)
        .group_by("survivor_id", maintain_order=True)
        .agg(pl.col(p).drop_nulls().first() for p in properties)
        .rename({"survivor_id": PROFILE_ID})
    )
    kept = provenance.filter(~pl.col(PROFILE_ID).is_in(merge_map[PROFILE_ID].implode()))
    return pl.concat([kept, merged.select(provenance.columns).cast(provenance.schema)])


def next_provenance(
    provenance: pl.DataFrame,
    merge_map: pl.DataFrame,
    flags: pl.DataFrame,
    set_by: list[tuple[str, str]],
    goal: str,
    day: date,
) -> pl.DataFrame:
    """Origins after `goal` on `day`: merged profiles' moved to their survivor, then every
    (profile, property) whose flag column in `flags` (profile_id + Boolean columns, named in
    `set_by` as (column, property)) is true set to this goal and day. A goal that did not change
    a value leaves its origin."""
    provenance = merge_origins(provenance, merge_map)
    columns = [column for column, _ in set_by]
    touched = flags.select(PROFILE_ID, *columns).filter(pl.any_horizontal(columns)) if columns else flags.clear()
    if touched.is_empty():
        return canonical(provenance)
    frame = provenance.join(touched, on=PROFILE_ID, how="full", coalesce=True)
    code = pl.lit(origin(goal, day), dtype=pl.Categorical)
    by_property: dict[str, list[str]] = {}
    for column, prop in set_by:
        by_property.setdefault(prop, []).append(column)
    updates = []
    for prop, flagged in by_property.items():
        before = pl.col(prop) if prop in provenance.columns else pl.lit(None, dtype=pl.Categorical)
        updates.append(pl.when(pl.any_horizontal(flagged).fill_null(False)).then(code).otherwise(before).alias(prop))
    return canonical(frame.with_columns(updates).drop(columns))


def origins_of(provenance: pl.DataFrame, profile_id: str) -> dict[str, dict[str, Any]]:
    """{property: {"goal", "day"}} of one profile, for the properties that have an origin."""
    rows = provenance.filter(pl.col(PROFILE_ID) == profile_id)
    if rows.is_empty():
        return {}
    out = {}
    for prop, text in rows.row(0, named=True).items():
        if prop != PROFILE_ID and text is not None:
            goal, _, day = str(text).rpartition(SEPARATOR)
            out[prop] = {"goal": goal, "day": date.fromisoformat(day)}
    return out


LONG_SCHEMA = pl.Schema({PROFILE_ID: pl.String, "property": pl.String, "goal": pl.String, "day": pl.Date})
COUNTS_SCHEMA = pl.Schema({"property": pl.String, "goal": pl.String, "profiles": pl.UInt32, "last_day": pl.Date})


def _split_origin(origin: pl.Expr) -> list[pl.Expr]:
    """`goal` and `day` of an origin text (`origin`)."""
    parts = origin.cast(pl.String).str.split_exact(SEPARATOR, 1)
    return [parts.struct.field("field_0").alias("goal"), parts.struct.field("field_1").str.to_date().alias("day")]


def long_form(frame: pl.LazyFrame) -> pl.LazyFrame:
    """(profile_id, property, goal, day) of a provenance frame stored in either form, one row per
    property with an origin. For joins on a few profiles (echo evidence): filter the wide frame
    to them first, since the long form of all profiles is the large frame the wide one avoids."""
    names = frame.collect_schema().names()
    if set(_LONG) <= set(names):
        return frame.select(PROFILE_ID, *_LONG).cast(LONG_SCHEMA)  # type: ignore[arg-type]
    properties = [c for c in names if c != PROFILE_ID]
    if not properties:
        return LONG_SCHEMA.to_frame().lazy()
    return (
        frame.select(PROFILE_ID, *(pl.col(p).cast(pl.String) for p in properties))
        .unpivot(on=properties, index=PROFILE_ID, variable_name="property", value_name="origin")
        .drop_nulls("origin")
        .select(PROFILE_ID, "property", *_split_origin(pl.col("origin")))
        .cast(LONG_SCHEMA)  # type: ignore[arg-type]
    )


def provenance_counts(provenance: pl.DataFrame) -> pl.DataFrame:
    """(property, goal, profiles, last_day), sorted by property and goal: how many profiles hold a
    value of `property` that `goal` set, and the last day it set one. Counted per column on the
    wide form (a handful of distinct origins each), never widened to one row per value."""
    wide = loaded(provenance)
    parts = [
        wide.get_column(p).drop_nulls().cast(pl.String).value_counts(name="profiles")
        .select(pl.lit(p).alias("property"), pl.col(p).alias("origin"), "profiles")
        for p in wide.columns if p != PROFILE_ID
    ]  # fmt: skip
    if not parts:
        return COUNTS_SCHEMA.to_frame()
    return (
        pl.concat(parts)
        .select("property", "profiles", *_split_origin(pl.col("origin")))
        .group_by("property", "goal")
        .agg(pl.col("profiles").sum(), pl.col("day").max().alias("last_day"))
        .cast(COUNTS_SCHEMA)  # type: ignore[arg-type]
        .sort("property", "goal")
    )
