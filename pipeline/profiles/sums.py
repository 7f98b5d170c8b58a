"""`sum` over exports that carry current values: add the change since the last value seen.

Braze exports hold a user's current total, not an increment. The basis is the last Braze value
seen per (goal, braze_id, property), kept for users who left the segment too, so the delta is
always against the last value ever seen: a user who leaves and comes back adds only the
difference, a daily full export with no change adds nothing, and Braze's share is counted
exactly once while other goals may add to the same property.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pipeline.profiles.dtypes import is_number, to_text
from pipeline.profiles.fields import ECHO_FIELDS, KEY, PUSHED_VALUES, Write
from pipeline.profiles.snapshot import QUARANTINE_SCHEMA, SUM_BASIS_ORDER, SUM_BASIS_SCHEMA

NUMBER = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$"  # a JSON number literal
INTEGER = r"^-?(0|[1-9][0-9]*)$"


@dataclass(frozen=True)
class SumInput:
    """One sum write resolved for the day's targeted records."""

    delta: pl.DataFrame  # braze_id, delta, ok: ok is false where nothing may be added
    basis: pl.DataFrame  # SUM_BASIS_SCHEMA rows to replace
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA rows


def numbers(rows: pl.DataFrame, dtype: pl.DataType, json: bool) -> tuple[pl.Expr, pl.Expr, bool]:
    """(the `value` column of `rows` as Float64 or null, "is not a number", all integers?).

    Int and Float columns are numbers; Boolean, text and anything else are not, except JSON text
    holding a plain number: staging writes an attribute whose values mix types as JSON text,
    where the number 4 is `4` and the string "4" is `"4"`.
    """
    value = pl.col("value")
    if is_number(dtype):
        return value.cast(pl.Float64), pl.lit(False), dtype.is_integer()
    if dtype == pl.Null:
        return pl.lit(None, dtype=pl.Float64), pl.lit(False), True
    if not json:
        return pl.lit(None, dtype=pl.Float64), value.is_not_null(), False
    text = value.str.strip_chars()
    numeric = text.str.contains(NUMBER)
    integer = bool(rows.select((numeric.not_() | text.str.contains(INTEGER)).all()).item())
    return pl.when(numeric).then(text.cast(pl.Float64, strict=False)), value.is_not_null() & ~numeric, integer


def _pushed(column: str) -> pl.Expr:
    entry = pl.element().struct.field("field") == column
    return pl.col(PUSHED_VALUES).list.eval(pl.element().filter(entry).struct.field("value")).list.first()


def pushed_has(column: str) -> pl.Expr:
    """Whether the record carries a value we pushed for `column` (`pipeline.echoes`)."""
    entry = pl.element().struct.field("field") == column
    return pl.col(PUSHED_VALUES).list.eval(entry.any()).list.first().fill_null(False)


def pushed_basis(column: str) -> pl.Expr:
    """The number we pushed for `column` (a removal or a non-number: 0, as empty counts as 0)."""
    return _pushed(column).str.strip_chars().cast(pl.Float64, strict=False).fill_null(0.0)


def sum_input(
    records: pl.DataFrame,
    changed: pl.Expr,
    added: pl.Expr,
    write: Write,
    stored: pl.DataType | None,
    goal: str,
    basis: pl.DataFrame,
) -> SumInput:
    """Delta per changed record of `records` (braze_id + data columns) for `write`.

    A non-number is quarantined with its reason and leaves both the property and the basis
    untouched; so does any value when the property already holds text. Empty counts as 0, also
    for a user who comes back (`added`) empty after leaving with a value: the delta does not
    depend on whether the user was absent in between.
    """
    source, prop = write.source, write.property
    json = source.json is not None
    value = source.json if json else source.value
    rows = records.select(
        KEY,
        changed.alias("changed"),
        added.alias("added"),
        value.alias("value"),
        pushed_basis(source.column).alias("pushed"),
        pushed_has(source.column).alias("has_pushed"),
    )
    number, not_number, integer = numbers(rows.filter("changed"), source.dtype, json)
    if stored is not None and not (is_number(stored) or stored == pl.Null):
        bad = pl.col("changed")
        reason = f"profile property {prop!r} holds {stored} values; sum can only add to numbers"
    else:
        bad = pl.col("changed") & not_number
        reason = f"sum needs a number; Braze sent {'JSON text' if json else source.dtype} that is not one"
    quarantine = rows.filter(bad).select(
        pl.lit(goal).alias("goal"),
        KEY,
        pl.lit(prop).alias("property"),
        to_text(pl.col("value"), source.dtype).alias("value"),
        pl.lit(reason).alias("reason"),
    )
    previous = basis.filter(pl.col("goal") == goal, pl.col("property") == prop).select(KEY, pl.col("value").alias("b"))
    rows = rows.join(previous, on=KEY, how="left", maintain_order="left")
    # What we pushed since the basis was seen is what Braze held before this change: add from there.
    rows = rows.with_columns(pl.when("has_pushed").then("pushed").otherwise("b").alias("b"))
    back_empty = pl.col("added") & pl.col("value").is_null() & pl.col("b").is_not_null()
    rows = rows.with_columns(((pl.col("changed") & ~bad) | back_empty).alias("ok"), number.fill_null(0.0).alias("new"))
    delta = pl.col("new") - pl.col("b").fill_null(0.0)
    if integer and (stored is None or not stored.is_float()):
        delta = delta.round().cast(pl.Int64)
    out = rows.select(KEY, delta.alias("delta"), "ok")
    new_basis = rows.filter("ok").select(
        pl.lit(goal).alias("goal"), KEY, pl.lit(prop).alias("property"), pl.col("new").alias("value")
    )
    return SumInput(out, new_basis.cast(SUM_BASIS_SCHEMA), quarantine.cast(QUARANTINE_SCHEMA))


def echo_basis(changes: pl.DataFrame, write: Write, goal: str) -> pl.DataFrame:
    """New bases for `write` where its field is an echo of our own push: the echoed value.

    The profile is left alone (the value is ours), but the basis moves to what Braze now holds,
    so a later real change in Braze adds only its own difference. A non-number changes nothing.
    """
    source, prop = write.source, write.property
    json = source.json is not None
    echoed = pl.col(ECHO_FIELDS).list.contains(source.column).fill_null(False)
    rows = changes.filter(echoed).select(KEY, (source.json if json else source.value).alias("value"))
    number, not_number, _integer = numbers(rows, source.dtype, json)
    return (
        rows.filter(~not_number)
        .select(pl.lit(goal).alias("goal"), KEY, pl.lit(prop).alias("property"), number.fill_null(0.0).alias("value"))
        .cast(SUM_BASIS_SCHEMA)
    )


def replace_basis(basis: pl.DataFrame, updates: list[pl.DataFrame]) -> pl.DataFrame:
    """The basis with the day's values in place of the old ones, in canonical order."""
    if not updates:
        return basis
    new = pl.concat(updates)
    kept = basis.join(new, on=SUM_BASIS_ORDER, how="anti")
    return pl.concat([kept, new]).sort(SUM_BASIS_ORDER)
