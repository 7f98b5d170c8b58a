"""Provenance as echo evidence: when a Braze attribute last came into a profile as a real change.

An acknowledged push says what Braze held right after profilesync wrote it, not who wrote what
Braze holds now. The profiles' provenance (`profiles/<day>/provenance.parquet`: per profile and
property, the goal and day that last set it) fills that gap: when an import goal reading a Braze
attribute set a property from it on a day *after* our push, someone else changed that attribute
after us (echoes never set a property). A later return of Braze to the value we had pushed is
then that someone's write, not our push coming back, even when another goal or a user new to
this goal's segment is the one that sees it.

`origins` answers, for the Braze users of a changes frame, (braze_id, field, day): the last day
an import goal of the store set a property from that import column into the user's profile, as
the latest snapshot before the import's day records it. Joins only.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pipeline import layout
from pipeline.profiles import GoalRules
from pipeline.profiles.fields import identifier_values
from pipeline.profiles.provenance import long_form
from pipeline.profiles.store import previous_snapshot_day
from pipeline.storage import ObjectStore
from pipeline.storage.parquet import scan_parquet

KEY = "braze_id"
PROFILE_ID = "profile_id"
ORIGINS_SCHEMA = pl.Schema({KEY: pl.String, "field": pl.String, "origin_day": pl.String})
READERS_SCHEMA = pl.Schema({"goal": pl.String, "field": pl.String, "property": pl.String})


@dataclass(frozen=True)
class EchoSources:
    """What an import goal needs to tell echoes apart.

    `exports`: the export goals `(connection, goal)` of the store whose pushes can come back.
    `rules`: the goal's own rules, whose identifier mappings lead its Braze users to their profiles.
    `readers`: `(import goal, import column, property)` for every import field of the store: the
    provenance rows that show a real change of that column imported into that property.
    """

    exports: tuple[tuple[str, str], ...] = ()
    rules: GoalRules | None = None
    readers: tuple[tuple[str, str, str], ...] = ()


def origins(store: ObjectStore, day: str, sources: EchoSources, changes: pl.LazyFrame) -> pl.LazyFrame:
    """(braze_id, field, origin_day ISO text) per Braze user of `changes` and import column an
    import goal last set a property from, per the latest snapshot before `day`; empty without one."""
    empty = ORIGINS_SCHEMA.to_frame().lazy()
    if sources.rules is None or not sources.readers:
        return empty
    previous = previous_snapshot_day(store, day)
    if previous is None:
        return empty
    folder = layout.profiles_dir(previous)
    provenance = folder + layout.PROFILE_FILES["provenance"]
    if not store.exists(provenance):  # a snapshot from before provenance was kept: no evidence
        return empty
    values = identifier_values(sources.rules, changes.collect_schema())
    if not values:
        return empty
    keys = pl.concat(
        [changes.select(KEY, pl.lit(kind).alias("kind"), expr.alias("value")) for kind, expr in values]
    ).drop_nulls("value")
    readers = pl.DataFrame(list(sources.readers), schema=READERS_SCHEMA, orient="row").lazy()
    users = (
        keys.join(scan_parquet(store, folder + layout.PROFILE_FILES["identifiers"]), on=["kind", "value"])
        .select(KEY, PROFILE_ID)
        .unique()
    )
    theirs = scan_parquet(store, provenance).join(users.select(PROFILE_ID), on=PROFILE_ID, how="semi")
    return (
        users.join(long_form(theirs), on=PROFILE_ID)
        .join(readers, on=["goal", "property"])
        .group_by(KEY, "field")
        .agg(pl.col("day").max().dt.strftime("%Y-%m-%d").alias("origin_day"))
        .cast(ORIGINS_SCHEMA)  # type: ignore[arg-type]
    )
