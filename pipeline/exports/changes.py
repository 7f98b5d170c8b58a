"""`export_changes`: what Braze does not hold yet, attribute by attribute.

The diff is against the acknowledged baseline (what Braze accepted in earlier pushes), never
against the last computed payload, so a push that failed or was rejected is simply part of
the next diff. Only the goal's current attributes are compared: an attribute dropped from
the mapping is left alone in Braze rather than cleared. Subscription states are never sent
as `null`: Braze refuses that, they can only change.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

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


def diff_payload(
    payload: pl.DataFrame,
    baseline: pl.DataFrame,
    *,
    attributes: list[str],
    delta: Literal["attributes", "profiles"] = "attributes",
    on_leave: Literal["ignore", "clear"] = "ignore",
) -> pl.DataFrame:
    """Rows to send: new or changed values, and nulls for values that disappeared.

    `attributes` mode sends only the differing keys; `profiles` mode sends every mapped
    attribute of an identity that has any difference (BlueConic's behaviour). Identities no
    longer in the payload left the segment: ignored, or cleared with `on_leave: clear`.
    """
    held = baseline.filter(pl.col("attribute").is_in(attributes)).select(
        "identity", "attribute", pl.col("value").alias("previous")
    )
    members = payload.select("identity").unique()
    joined = payload.join(held, on=["identity", "attribute"], how="full", coalesce=True)
    member = pl.col("identity").is_in(members["identity"].implode())
    # Braze has no "no state" for subscriptions: they can change but never be removed.
    removable = pl.col("value").is_not_null() | ~pl.col("attribute").is_in(UNREMOVABLE)
    differs = pl.col("value").ne_missing(pl.col("previous")) & removable
    keep = differs & (member | pl.lit(on_leave == "clear"))
    changed = joined.filter(keep)
    if delta == "profiles":
        touched = changed.select("identity").unique()
        changed = joined.join(touched, on="identity").filter(pl.col("value").is_not_null() | keep)
    profile_of = payload.select("identity", "profile_id").unique(subset="identity", keep="first")
    changed = changed.drop("profile_id").join(profile_of, on="identity", how="left")
    return changed.select(CHANGES_SCHEMA.names()).cast(CHANGES_SCHEMA).sort("identity", "attribute")
