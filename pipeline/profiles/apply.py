"""One goal's changes applied to a snapshot: identity, merges, strategies, sum bases, report.

Pure: frames in, frames out. The order of work is fixed so the result depends only on the
inputs: resolve identities against the incoming snapshot, merge the profiles the records
link, create the new ones, then apply the field rules in declared order.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

import polars as pl

from pipeline.profiles.fields import (
    ACTIVE,
    CHANGE,
    CHANGED_FIELDS,
    ECHO_FIELDS,
    KEY,
    PUSHED_DTYPE,
    PUSHED_VALUES,
    REC,
    Write,
    check_changes,
    record_keys,
    writes,
)
from pipeline.profiles.identity import Resolution, resolve
from pipeline.profiles.merge import merge_profiles
from pipeline.profiles.provenance import next_provenance
from pipeline.profiles.report import GoalReport, goal_report
from pipeline.profiles.rules import GoalRules, check_property
from pipeline.profiles.snapshot import (
    CREATED,
    IDENTIFIER_ORDER,
    MERGES_ORDER,
    MERGES_SCHEMA,
    PROFILE_ID,
    QUARANTINE_ORDER,
    UPDATED,
    Snapshot,
    as_date,
    canonical_profiles,
)
from pipeline.profiles.strategies import apply_writes, contribute, fold_records, set_by
from pipeline.profiles.sums import echo_basis, replace_basis, sum_input


def next_identifiers(identifiers: pl.DataFrame, found: Resolution) -> pl.DataFrame:
    """Merged profiles' identifiers moved to their survivor, plus the values no profile held yet.

    A (kind, value) belongs to at most one profile before and after, so no de-duplication is needed.
    """
    if found.merge_map.is_empty() and found.new_identifiers.is_empty():
        return identifiers
    moved = identifiers.join(found.merge_map, on=PROFILE_ID, how="left", maintain_order="left").select(
        pl.coalesce("survivor_id", PROFILE_ID).alias(PROFILE_ID), "kind", "value"
    )
    return pl.concat([moved, found.new_identifiers.drop("new")]).sort(IDENTIFIER_ORDER)


def contributions(
    records: pl.DataFrame, rule_writes: list[Write], schema: pl.Schema, basis: pl.DataFrame, goal: str
) -> tuple[pl.DataFrame, list[pl.DataFrame], list[pl.DataFrame]]:
    """Per-record contributions of every write; plus the new sum bases and the quarantined values."""
    columns, bases, quarantine = [], [], []
    for i, write in enumerate(rule_writes):
        changed = pl.col(CHANGED_FIELDS).list.contains(write.source.column).fill_null(False)
        expr, dtype = write.source.value, write.source.dtype
        if write.strategy == "sum":
            # an added user whose field is our own push coming back is not "back empty"
            added = (pl.col(CHANGE) == "added") & ~pl.col(ECHO_FIELDS).list.contains(write.source.column)
            part = sum_input(records, changed, added, write, schema.get(write.property), goal, basis)
            bases.append(part.basis)
            quarantine.append(part.quarantine)
            # part.delta has the rows of `records` in their order
            records = records.with_columns(part.delta["delta"].alias(f"__d{i}"), part.delta["ok"].alias(f"__ok{i}"))
            expr, dtype, changed = pl.col(f"__d{i}"), part.delta.schema["delta"], pl.col(f"__ok{i}")
        columns.extend(contribute(i, write, changed, expr, dtype))
    return records.select(KEY, PROFILE_ID, *columns), bases, quarantine


def apply_goal(
    snapshot: Snapshot, rules: GoalRules, changes: pl.DataFrame, day: date | str, *, json_text: Collection[str] = ()
) -> tuple[Snapshot, GoalReport]:
    """The snapshot after one goal's changes of `day`, and what they did.

    `json_text` names the String columns that hold JSON text (the changes file lists them in its
    Parquet metadata, `pipeline.staging.json_text_columns`); their values are decoded.
    """
    day = as_date(day)
    check_changes(changes, rules.name)
    if ECHO_FIELDS not in changes.columns:  # a changes file from before echoes were told apart
        changes = changes.with_columns(pl.lit([], pl.List(pl.String)).alias(ECHO_FIELDS))
    if PUSHED_VALUES not in changes.columns:
        changes = changes.with_columns(pl.lit([], PUSHED_DTYPE).alias(PUSHED_VALUES))
    changes = changes.with_columns(
        pl.col(KEY).cast(pl.String),
        pl.col(CHANGED_FIELDS).cast(pl.List(pl.String)),
        pl.col(ECHO_FIELDS).cast(pl.List(pl.String)),
    )
    active = changes.filter(pl.col(CHANGE).is_in(ACTIVE)).with_row_index(REC)
    keys = record_keys(active, rules)
    found = resolve(
        keys,
        active[KEY],
        snapshot.identifiers,
        snapshot.profiles,
        goal=rules.name,
        day=day,
        allow_create=rules.allow_create,
    )

    rule_writes = writes(rules, changes.schema, json_text)
    for write in rule_writes:
        check_property(write.property, f"goal {rules.name!r}")
    sums = {w.property for w in rule_writes if w.strategy == "sum"} | set(snapshot.sum_basis["property"].to_list())
    profiles = merge_profiles(snapshot.profiles, found.merge_map, sums)
    new = found.created.with_columns(
        pl.lit(day).alias(CREATED), pl.lit(day).alias(UPDATED), pl.lit(True).alias("__new")
    )
    profiles = pl.concat([profiles.with_columns(pl.lit(False).alias("__new")), new], how="diagonal")

    records = active[found.targets[REC]].with_columns(found.targets[PROFILE_ID])
    work, bases, quarantine = contributions(records, rule_writes, profiles.schema, snapshot.sum_basis, rules.name)
    bases += [echo_basis(changes, w, rules.name) for w in rule_writes if w.strategy == "sum"]
    profiles = apply_writes(profiles, fold_records(work, rule_writes), rule_writes)
    flags = [(set_by(i), w.property) for i, w in enumerate(rule_writes) if set_by(i) in profiles.columns]
    flagged = profiles.select(PROFILE_ID, *(column for column, _ in flags))
    profiles = profiles.drop([column for column, _ in flags])

    gained = found.new_identifiers.filter(~pl.col("new"))[PROFILE_ID]
    extra = pl.concat([gained, found.merge_map["survivor_id"]]).unique()
    touched = (pl.col("__changed") | pl.col(PROFILE_ID).is_in(extra.implode())) & ~pl.col("__new")
    profiles = profiles.with_columns(touched.alias("__touched"))
    updated = int(profiles["__touched"].sum())
    profiles = profiles.with_columns(
        pl.when("__touched").then(pl.lit(day)).otherwise(pl.col(UPDATED)).alias(UPDATED)
    ).drop("__touched", "__changed", "__new")
    merges = found.merges.select(pl.lit(rules.name).alias("goal"), pl.all()).match_to_schema(MERGES_SCHEMA)
    after = Snapshot(
        profiles=canonical_profiles(profiles),
        identifiers=next_identifiers(snapshot.identifiers, found),
        sum_basis=replace_basis(snapshot.sum_basis, bases),
        merges=pl.concat([snapshot.merges, merges]).sort(MERGES_ORDER),
        quarantine=pl.concat([snapshot.quarantine, *quarantine]).sort(QUARANTINE_ORDER),
        provenance=next_provenance(snapshot.provenance, found.merge_map, flagged, flags, rules.name, day),
    )
    return after, goal_report(snapshot, after, rules, changes, found, updated)
