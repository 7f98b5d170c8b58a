"""The frames `braze_push` reads and writes, their store keys, and the canonical JSON they hold."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import polars as pl

from pipeline.braze.rules import FLAGS, PRIMARY_IDENTIFIERS, SECONDARY_IDENTIFIERS

CHANGES_SCHEMA = {
    "identity": pl.String,
    "attribute": pl.String,
    "value": pl.String,
    "previous": pl.String,
    "profile_id": pl.String,
}
JOURNAL_SCHEMA = {"identity": pl.String, "attribute": pl.String, "value": pl.String}  # null: a removal
# `as_of`: the day of the payload the value came from; a null value is a removal Braze accepted.
BASELINE_SCHEMA = {**JOURNAL_SCHEMA, "as_of": pl.String}
KEY = ["identity", "attribute"]
ROW = ["identity", "attribute", "value"]


class PushInputError(ValueError):
    """The changes frame breaks its contract; the message names the rows and the fix."""


def canonical(value: Any) -> str:
    """The one text of a JSON value: sorted keys, no spaces, UTF-8 kept.

    Infinity and NaN raise ValueError: JSON has no text for them (never `null`, which would
    delete the attribute in Braze); `exports.values.check` dead-letters them before this.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def identity_text(identifier: Mapping[str, Any]) -> str:
    """An identity as the frames hold it, e.g. `{"external_id":"u1"}`."""
    return canonical(dict(identifier))


# -- the changes contract -----------------------------------------------------------------------

_RESERVED = sorted({*PRIMARY_IDENTIFIERS, *FLAGS})


def check_changes(changes: pl.DataFrame) -> pl.DataFrame:
    """The changes frame with its columns cast and rows sorted, or a PushInputError."""
    missing = [name for name in ("identity", "attribute", "value") if name not in changes.columns]
    if missing:
        raise PushInputError(f"changes frame lacks columns {missing}; export_changes writes {list(CHANGES_SCHEMA)}")
    frame = changes.select(
        pl.col(name).cast(dtype) if name in changes.columns else pl.lit(None, dtype).alias(name)
        for name, dtype in CHANGES_SCHEMA.items()
    )
    _refuse(
        frame.filter(pl.col("identity").is_null() | pl.col("attribute").is_null()), "have a null identity or attribute"
    )
    _refuse(frame.filter(pl.struct(KEY).is_duplicated()), "repeat an (identity, attribute) pair; keep one row per pair")
    _refuse(
        frame.filter(pl.col("attribute").is_in(_RESERVED)),
        f"set an identifier or flag ({', '.join(_RESERVED)}); identifiers belong in `identity`",
    )
    for key in SECONDARY_IDENTIFIERS:  # the lookup key of an identity cannot also be changed by it
        # In canonical JSON a key is preceded by `{` or `,`; inside a string value a quote is escaped.
        lookup = pl.col("identity").str.contains(f'[{{,]"{key}":') & ~pl.col("identity").str.contains(
            "|".join(f'"{p}":' for p in PRIMARY_IDENTIFIERS)
        )
        _refuse(frame.filter(lookup & (pl.col("attribute") == key)), f"change {key}, the identity's own lookup key")
    return frame.sort(KEY)


def _refuse(bad: pl.DataFrame, problem: str) -> None:
    if bad.height:
        shown = "; ".join(f"{row['identity']} {row['attribute']!r}" for row in bad.head(3).iter_rows(named=True))
        raise PushInputError(f"{bad.height} changes rows {problem} (e.g. {shown})")
