"""`export_changes`: what Braze does not hold yet, attribute by attribute.

The diff is against the acknowledged baseline (what Braze accepted in earlier pushes), never
against the last computed payload, so a push that failed or was rejected is simply part of
the next diff. Only the goal's current attributes are compared: an attribute dropped from
the mapping is left alone in Braze rather than cleared. Subscription states are never sent
as `null`: Braze refuses that, they can only change.

The baseline is the newest state Braze acknowledged, whichever day pushed it, each value with
the day it is as of. A day's diff never sends a pair whose value is as of a later day: a re-run
or backfill of an old day would overwrite newer data with older. Those rows are held back,
returned apart so the step can say how many.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import polars as pl

from pipeline.exports.payload import expand
from pipeline.exports.values import SUBSCRIPTION_ATTRIBUTES

UNREMOVABLE = list(SUBSCRIPTION_ATTRIBUTES)
CHANGES_SCHEMA = pl.Schema(
    {
        "identity": pl.String(),
        "attribute": pl.String(),
        "value": pl.String(),  # canonical JSON; null sends null (removes the attribute)
        "previous": pl.String(),  # what the baseline held; null when nothing
        "profile_id": pl.String(),
    }
)


def _keyed(frame: pl.DataFrame) -> pl.DataFrame:
    """`identity` and a 128-bit hash of (identity, attribute, value) as two UInt64 columns."""
    row = pl.struct("identity", "attribute", "value")
    return frame.select("identity", row.hash(0x5EED_0001).alias("k1"), row.hash(0x5EED_0002).alias("k2"))


def narrow(payload: pl.DataFrame, baseline: pl.DataFrame, attributes: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Both frames cut to the identities that have a row one of them lacks (a new, changed or gone value).

    On a day when 2% of the users changed, the other 98% hold the same (identity, attribute,
    value) rows on both sides and can neither differ nor be held back; dropping them first
    keeps the full join small. Rows are compared by a 128-bit hash (two 64-bit hashes of the
    row with different seeds); a collision would need ~2^64 rows. An identity is kept or dropped
    whole, so the diff below sees every row of the identities it compares.
    """
    held = baseline.filter(pl.col("attribute").is_in(attributes))
    ours, theirs = _keyed(payload), _keyed(held)
    apart = pl.concat([ours.join(theirs, on=["k1", "k2"], how="anti"), theirs.join(ours, on=["k1", "k2"], how="anti")])
    differing = apart["identity"].unique().implode()
    return payload.filter(pl.col("identity").is_in(differing)), held.filter(pl.col("identity").is_in(differing))


SEED = 0x5EED_0001


def _per_identity(frame: pl.DataFrame, cells: list[pl.Expr]) -> pl.DataFrame:
    """Per row of `frame`: `identity`, the 64-bit hash of the identity (`i`) and the wrapping sum of
    the hashes of the row's (attribute, value) `cells` that hold a value (`k`)."""
    hashes = [pl.when(cell.struct.field("value").is_not_null()).then(cell.hash(SEED)) for cell in cells]
    total = pl.sum_horizontal(*hashes).fill_null(0).cast(pl.UInt64) if len(hashes) > 1 else hashes[0].fill_null(0)
    return frame.select("identity", pl.col("identity").hash(SEED).alias("i"), total.alias("k"))


def _sum_by_identity(rows: pl.DataFrame) -> pl.DataFrame:
    """`_per_identity` rows added up per identity. The baseline is kept sorted by identity: then
    each identity's sum is the difference of a running sum at its last row (no hash grouping)."""
    if not rows["identity"].is_sorted():
        return rows.group_by("identity").agg(pl.col("i").first(), pl.col("k").sum())
    last = pl.col("identity").ne_missing(pl.col("identity").shift(-1))
    running = rows.with_columns(pl.col("k").cum_sum()).filter(last)
    return running.with_columns(pl.col("k") - pl.col("k").shift(1).fill_null(0))


def narrow_wide(
    wide: pl.DataFrame, attributes: list[str], baseline: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The payload rows (`payload.expand`) and baseline rows of the identities whose values differ.

    `wide` is the payload as `export_payload` writes it: one row per identity, `v<i>` the value of
    Braze attribute `attributes[i]`. Each identity's values are summarised on both sides as the
    wrapping sum of the 64-bit hashes of its (attribute, value) pairs, so equal sets of values give
    equal sums whatever their order or layout, and compared with the identity's own hash: only
    identities whose summaries differ (~2-4% on a usual day) are expanded to rows. A changed
    identity is missed only if its sums collide, a chance of 2^-64 each. The baseline's removals
    (null values) and attributes the goal does not send leave the sums alone: an identity whose
    payload lacks the attribute then has nothing to send for it either. An identity sent for two
    members has a row each, and is compared whenever either row differs.
    """
    wanted = sorted(set(attributes))
    cells = [pl.struct(pl.lit(a, pl.String).alias("attribute"), pl.col(f"v{i}").alias("value"))
             for i, a in enumerate(attributes)]  # fmt: skip
    sent = wide.filter(pl.col("identity").is_not_null())  # null: a member never sent
    ours = _per_identity(sent, cells)
    compared = pl.when(pl.col("attribute").is_in(wanted)).then(pl.col("value"))
    per_row = _per_identity(baseline, [pl.struct("attribute", compared.alias("value"))])
    theirs = _sum_by_identity(per_row)
    keys = ["i", "k"]
    apart = pl.concat([ours.join(theirs, on=keys, how="anti"), theirs.join(ours, on=keys, how="anti")])
    differing = apart["i"].unique().implode()  # by the identity's hash: a collision only adds an identity
    rows = expand(sent.filter(ours["i"].is_in(differing)), attributes)
    held = baseline.filter(per_row["i"].is_in(differing)).filter(pl.col("attribute").is_in(wanted))
    return rows, held


class Diff(NamedTuple):
    changes: pl.DataFrame  # CHANGES_SCHEMA: what to send
    held_back: pl.DataFrame  # CHANGES_SCHEMA: what would differ, but Braze holds a later day's value


def diff_payload(
    payload: pl.DataFrame,
    baseline: pl.DataFrame,
    *,
    attributes: list[str],
    day: str,
    delta: Literal["attributes", "profiles"] = "attributes",
    on_leave: Literal["ignore", "clear"] = "ignore",
    narrowed: bool = False,
) -> Diff:
    """Rows to send for `day`'s payload: new or changed values, and nulls for values that disappeared.

    `baseline` has `identity, attribute, value, as_of` (a null value: a removal Braze accepted).
    `attributes` mode sends only the differing keys; `profiles` mode sends every mapped
    attribute of an identity that has any difference (BlueConic's behaviour). Identities no
    longer in the payload left the segment: ignored, or cleared with `on_leave: clear`.
    Differing rows whose baseline value is as of a day after `day` are held back. `narrowed`: the
    frames are already cut to differing identities (`narrow`, `narrow_wide`).
    """
    if not narrowed:
        payload, baseline = narrow(payload, baseline, attributes)
    held = baseline.select(
        "identity", "attribute", pl.col("value").alias("previous"), "as_of"
    )
    members = payload.select("identity").unique()
    joined = payload.join(held, on=["identity", "attribute"], how="full", coalesce=True)
    member = pl.col("identity").is_in(members["identity"].implode())
    # Braze has no "no state" for subscriptions: they can change but never be removed.
    removable = pl.col("value").is_not_null() | ~pl.col("attribute").is_in(UNREMOVABLE)
    differs = pl.col("value").ne_missing(pl.col("previous")) & removable & (member | pl.lit(on_leave == "clear"))
    newer = pl.col("as_of").gt(day).fill_null(False)
    keep = differs & ~newer
    changed = joined.filter(keep)
    if delta == "profiles":
        touched = changed.select("identity").unique()
        changed = joined.join(touched, on="identity").filter((pl.col("value").is_not_null() | keep) & ~newer)
    return Diff(_finish(changed, payload), _finish(joined.filter(differs & newer), payload))


def _finish(rows: pl.DataFrame, payload: pl.DataFrame) -> pl.DataFrame:
    profile_of = payload.select("identity", "profile_id").unique(subset="identity", keep="first")
    rows = rows.drop("profile_id").join(profile_of, on="identity", how="left")
    return rows.select(CHANGES_SCHEMA.names()).cast(CHANGES_SCHEMA).sort("identity", "attribute")
