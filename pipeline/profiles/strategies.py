"""The five merge strategies, as Polars expressions over a profile frame.

Each changed record first states what it contributes to each property (`contribute`); the
contributions of records that land on the same profile are folded in braze_id order
(`fold`), which gives the same result as applying the records one after the other; then
one expression per rule writes the folded value into the property (`apply_writes`):

- set: the last non-empty value replaces the property; an empty value leaves it alone.
- add: values not yet present are appended, in order; the property is a list.
- sum: the summed changes are added to the stored number (empty counts as 0).
- set_if_empty: the first non-empty value is written only when the property is empty.
- clear: like set, but an empty value empties the property.

Only fields named in the record's `_changed_fields` contribute, so a field that did not change
in Braze never overwrites what another goal wrote since.
"""

from __future__ import annotations

import polars as pl

from pipeline.profiles.dtypes import cast_to, is_empty, is_number, supertype
from pipeline.profiles.fields import KEY, Write
from pipeline.profiles.snapshot import PROFILE_ID

FLAGGED = ("clear", "sum")  # strategies that act on an empty value too, so they need "did it change"
CHANGED, NEW, OLD = "__changed", "__after", "__before"


def value(i: int) -> str:
    return f"__w{i}"


def flag(i: int) -> str:
    return f"__h{i}"


def set_by(i: int) -> str:
    """Column of `apply_writes`' result: write `i` changed the property's value on this row."""
    return f"__s{i}"


def contribute(i: int, write: Write, changed: pl.Expr, expr: pl.Expr, dtype: pl.DataType) -> list[pl.Expr]:
    """Per-record contribution columns of write `i`; `expr` is the value (the delta for sum)."""
    if write.strategy == "add":
        listed = expr.list.drop_nulls() if isinstance(dtype, pl.List) else pl.concat_list(expr)
        expr = pl.when(expr.is_not_null()).then(listed)
    columns = [pl.when(changed).then(expr).alias(value(i))]
    if write.strategy in FLAGGED:
        columns.append(changed.alias(flag(i)))
    return columns


def fold(i: int, write: Write) -> list[pl.Expr]:
    """Aggregations that fold the contributions of one profile's records, sorted by braze_id."""
    w = pl.col(value(i))
    if write.strategy == "set":
        return [w.drop_nulls().last()]
    if write.strategy == "set_if_empty":
        return [w.drop_nulls().first()]
    if write.strategy == "add":
        return [w.explode().drop_nulls().unique(maintain_order=True)]
    if write.strategy == "clear":
        return [w.filter(pl.col(flag(i))).last(), pl.col(flag(i)).any()]
    return [w.filter(pl.col(flag(i))).sum(), pl.col(flag(i)).any()]


def fold_records(work: pl.DataFrame, writes: list[Write]) -> pl.DataFrame:
    """One row per target profile; records sharing a profile are folded, the (usual) rest kept as is."""
    columns = [c for c in work.columns if c.startswith("__")]
    alone = work.filter(pl.len().over(PROFILE_ID) == 1).select(PROFILE_ID, *columns)
    if alone.height == work.height:
        return alone
    shared = work.filter(pl.len().over(PROFILE_ID) > 1).sort(PROFILE_ID, KEY)
    folds = [expr for i, write in enumerate(writes) for expr in fold(i, write)]
    folded = shared.group_by(PROFILE_ID, maintain_order=True).agg(folds)
    return pl.concat([alone, folded.select(alone.columns).cast(alone.schema)])


def write_expr(write: Write, i: int, old: pl.Expr, new: pl.Expr, target: pl.DataType) -> pl.Expr:
    """The property after write `i`, given its old value and the folded contribution (both `target` typed)."""
    if write.strategy == "set":
        return pl.when(new.is_not_null()).then(new).otherwise(old)
    if write.strategy == "set_if_empty":
        return pl.when(is_empty(old, target) & new.is_not_null()).then(new).otherwise(old)
    if write.strategy == "clear":
        return pl.when(pl.col(flag(i))).then(new).otherwise(old)
    if write.strategy == "add":
        united = pl.concat_list(old.fill_null(pl.lit([], dtype=target)), new).list.unique(maintain_order=True)
        return pl.when(new.list.len() > 0).then(united).otherwise(old)
    return pl.when(pl.col(flag(i))).then(old.fill_null(0) + new).otherwise(old)


def apply_writes(profiles: pl.DataFrame, folded: pl.DataFrame, writes: list[Write]) -> pl.DataFrame:
    """Apply the folded contributions in declared order; column `__changed` marks rows whose values
    changed, `set_by(i)` those whose value write `i` changed (absent when write `i` wrote nothing)."""
    # Align the folded values on a frame of ids only, then put them beside the profiles: the
    # properties' columns are shared with `profiles`, not copied; only columns written change.
    aligned = profiles.select(PROFILE_ID).join(folded, on=PROFILE_ID, how="left", maintain_order="left")
    frame = profiles.hstack(aligned.drop(PROFILE_ID).get_columns())
    frame = frame.with_columns(pl.lit(False).alias(CHANGED))
    for i, write in enumerate(writes):
        new_type = folded.schema[value(i)]
        old_type = frame.schema.get(write.property)
        has_value = folded[value(i)].null_count() < folded.height
        acts = folded[flag(i)].any() if write.strategy in FLAGGED else has_value
        if not acts or (old_type is None and not has_value):
            continue  # a write that writes nothing must not create a column or change its type
        if write.strategy == "sum" and old_type is not None and not (is_number(old_type) or old_type == pl.Null):
            continue  # quarantined already (sums.py): a sum cannot add to text
        target = supertype(old_type, new_type)
        old = pl.lit(None, dtype=target) if old_type is None else cast_to(pl.col(write.property), old_type, target)
        new = cast_to(pl.col(value(i)), new_type, target)
        frame = frame.with_columns(write_expr(write, i, old, new, target).alias(NEW), old.alias(OLD))
        frame = frame.with_columns(
            pl.col(NEW).alias(write.property),
            (pl.col(CHANGED) | pl.col(NEW).ne_missing(pl.col(OLD))).alias(CHANGED),
            pl.col(NEW).ne_missing(pl.col(OLD)).alias(set_by(i)),
        )
    return frame.drop(*folded.columns[1:], NEW, OLD, strict=False)
