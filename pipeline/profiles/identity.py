"""Identity resolution: which profile each changed record writes to, and which profiles merge.

A record matches a profile on any of its identifier values. Most records match one profile or
none and share no identifier with another record of the batch; they are resolved with joins.
The few that link several profiles, or share an identifier with another record, go through a
union-find (matching.py): each connected group ends up on one profile, the survivor.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import polars as pl

from pipeline.profiles.fields import KEY, REC
from pipeline.profiles.matching import ROW, hashed, linked_groups, linking_records, match_keys
from pipeline.profiles.snapshot import CREATED, PROFILE_ID

ID_CHARS = 20


@dataclass(frozen=True)
class Resolution:
    """Where the day's records of one goal go."""

    targets: pl.DataFrame  # __rec, profile_id, new: records that write to a profile (new: created by this goal)
    created: pl.DataFrame  # profile_id: profiles this goal creates, sorted
    merge_map: pl.DataFrame  # profile_id, survivor_id, rank: every profile of a merge group (survivor rank 0)
    merges: pl.DataFrame  # braze_id, survivor_id, merged_id, identifiers: one row per merged-away profile
    new_identifiers: pl.DataFrame  # profile_id, kind, value, new: values no profile held before
    skipped_no_match: int
    skipped_no_identifier: int


def new_profile_ids(day: date, goal: str, braze_ids: pl.Series) -> pl.Series:
    """Ids of profiles created today by these records: stable hashes of (day, goal, braze_id).

    The day is part of the key so a record that created a profile once can create another
    later (all its identifiers changed) without reusing the first id.
    """
    prefix = f"{day.isoformat()}\x1f{goal}\x1f"
    ids = [hashlib.blake2b((prefix + b).encode(), digest_size=ID_CHARS // 2).hexdigest() for b in braze_ids]
    return pl.Series(PROFILE_ID, ids, dtype=pl.String)


def survivors(groups: pl.DataFrame, profiles: pl.DataFrame) -> pl.DataFrame:
    """Profiles of each linked group ranked by the merge rule: earliest `_created`, then smallest id."""
    return (
        groups.filter(pl.col("is") == "p")
        .select("group", pl.col("id").alias(PROFILE_ID))
        .join(profiles.select(PROFILE_ID, CREATED), on=PROFILE_ID)
        .sort("group", CREATED, PROFILE_ID)
        .with_columns(
            pl.int_range(pl.len()).over("group").alias("rank"),
            pl.col(PROFILE_ID).first().over("group").alias("survivor_id"),
        )
    )


def resolve(
    keys: pl.DataFrame,
    braze_ids: pl.Series,
    identifiers: pl.DataFrame,
    profiles: pl.DataFrame,
    *,
    goal: str,
    day: date,
    allow_create: bool,
) -> Resolution:
    """Targets for the records `braze_ids` (__rec is the position), given their keys (__rec, kind, value)."""
    keys = hashed(keys)
    matches = match_keys(keys, identifiers)
    per_record = matches.group_by(REC).agg(
        pl.col("__p").min().alias("lo"), pl.col("__p").max().alias("hi"), pl.col(PROFILE_ID).first()
    )
    linking = linking_records(keys, per_record)
    link_keys = keys.filter(pl.col(REC).is_in(linking.implode()))
    link_keys = link_keys.with_columns(braze_ids.gather(link_keys[REC]).alias(KEY))
    link_matches = matches.filter(pl.col(REC).is_in(linking.implode())).join(
        link_keys.select(ROW, KEY, "kind", "value"), on=ROW
    )
    groups = linked_groups(link_keys, link_matches)
    ranked = survivors(groups, profiles)
    merge_map = ranked.filter(pl.len().over("group") > 1).select(PROFILE_ID, "survivor_id", "rank").sort(PROFILE_ID)
    group_records = groups.filter(pl.col("is") == "r").select("group", pl.col("id").alias(KEY))
    group_records = group_records.join(link_keys.select(KEY, REC).unique(), on=KEY)
    group_targets = (
        group_records.group_by("group")
        .agg(pl.col(KEY).min().alias("creator"))
        .join(ranked.filter(pl.col("rank") == 0).select("group", "survivor_id"), on="group", how="left")
    )

    records = keys[REC].unique()
    alone = records.filter(~records.is_in(linking.implode())).to_frame()
    simple = alone.join(per_record.select(REC, PROFILE_ID), on=REC)
    if not merge_map.is_empty():
        simple = simple.join(merge_map, on=PROFILE_ID, how="left").select(
            REC, pl.coalesce("survivor_id", PROFILE_ID).alias(PROFILE_ID)
        )
    unmatched = alone.join(per_record, on=REC, how="anti")
    unmatched = unmatched.with_columns(braze_ids.gather(unmatched[REC]).alias(KEY))
    creators = pl.concat([unmatched[KEY], group_targets.filter(pl.col("survivor_id").is_null())["creator"]]).sort()
    if not allow_create:
        creators = creators.clear()
    created = pl.DataFrame({"creator": creators, PROFILE_ID: new_profile_ids(day, goal, creators)})
    group_targets = group_targets.join(created, on="creator", how="left").select(
        "group", pl.coalesce("survivor_id", PROFILE_ID).alias(PROFILE_ID), pl.col("survivor_id").is_null().alias("new")
    )
    targets = pl.concat(
        [
            simple.with_columns(pl.lit(False).alias("new")),
            unmatched.join(created, left_on=KEY, right_on="creator").select(REC, PROFILE_ID, pl.lit(True).alias("new")),
            group_records.join(group_targets, on="group").select(REC, PROFILE_ID, "new").drop_nulls(PROFILE_ID),
        ]
    )
    # a value no profile holds yet; records sharing one are linking records, so only theirs can repeat
    fresh = keys.filter(~pl.col(ROW).is_in(matches[ROW].implode())).join(targets, on=REC)
    fresh = fresh.select(PROFILE_ID, "kind", "value", "new", pl.col(REC).is_in(linking.implode()).alias("linked"))
    fresh = pl.concat([fresh.filter(~pl.col("linked")), fresh.filter("linked").unique()]).drop("linked")
    return Resolution(
        targets=targets,
        created=created.select(PROFILE_ID).sort(PROFILE_ID),
        merge_map=merge_map,
        merges=merge_rows(link_matches, group_records, ranked),
        new_identifiers=fresh,
        skipped_no_match=records.len() - targets.height,
        skipped_no_identifier=braze_ids.len() - records.len(),
    )


def merge_rows(link_matches: pl.DataFrame, group_records: pl.DataFrame, ranked: pl.DataFrame) -> pl.DataFrame:
    """One row per merged-away profile: the smallest record of its group that matched it, and on what."""
    merged = ranked.filter(pl.col("rank") > 0).select("group", PROFILE_ID, "survivor_id")
    hits = (
        link_matches.select(KEY, PROFILE_ID, "kind", "value")
        .join(group_records.select("group", KEY), on=KEY)
        .join(merged, on=["group", PROFILE_ID])
        .filter(pl.col(KEY) == pl.col(KEY).min().over(PROFILE_ID))
        .sort(PROFILE_ID, "kind", "value")
        .group_by(PROFILE_ID, KEY, "survivor_id", maintain_order=True)
        .agg(pl.concat_str("kind", pl.lit("="), "value").alias("identifiers"))
    )
    return hits.select(KEY, "survivor_id", pl.col(PROFILE_ID).alias("merged_id"), "identifiers")
