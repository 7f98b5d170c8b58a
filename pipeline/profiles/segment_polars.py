"""Compiling a segment's syntax tree to one Polars expression over a profiles frame.

The schema decides how a missing column or a type mismatch is handled: both make a condition
false rather than failing the run (see `pipeline.profiles.segments`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from functools import reduce

import polars as pl

from pipeline.profiles.segment_tree import (
    And,
    Between,
    Compare,
    Condition,
    Constant,
    Contains,
    IsNull,
    Node,
    Not,
    Or,
    value_kind,
)

_COMPARE: dict[str, Callable[[pl.Expr, object], pl.Expr]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip


def compile_tree(node: Node, schema: Mapping[str, pl.DataType] | None) -> pl.Expr:
    if isinstance(node, Constant):
        return pl.lit(node.value)
    if isinstance(node, Not):
        return ~compile_tree(node.operand, schema)
    if isinstance(node, And | Or):  # flat, so a long chain of conditions is not a deep tree
        combine = pl.all_horizontal if isinstance(node, And) else pl.any_horizontal
        return combine(*(compile_tree(n, schema) for n in node.operands))
    name = node.prop.name
    dtype = None if schema is None else schema.get(name, pl.Null())
    if dtype == pl.Null:  # no column, or no value anywhere: every condition but `is null` is false
        return pl.lit(isinstance(node, IsNull) and not node.negated)
    expr = _condition(node, pl.col(name), dtype)
    if expr is None:
        return pl.lit(False)
    return (~expr if getattr(node, "negated", False) else expr).fill_null(False)


def _condition(node: Condition, col: pl.Expr, dtype: pl.DataType | None) -> pl.Expr | None:
    """The condition over a column of `dtype` (None: unknown), or None when its values cannot match."""
    if isinstance(node, IsNull):
        return col.is_null()
    if isinstance(node, Compare):
        operand = _operand(col, dtype, node.value.value)
        return None if operand is None else _COMPARE[node.op](operand, node.value.value)
    if isinstance(node, Between):
        operand = _operand(col, dtype, node.low.value)
        return None if operand is None else operand.is_between(node.low.value, node.high.value)
    if isinstance(node, Contains):
        return _contains(col, dtype, node.value.value)
    groups: dict[str, list] = {}
    for value in node.values:
        groups.setdefault(value_kind(value.value), []).append(value.value)
    found = [_is_in(col, dtype, values) for values in groups.values()]
    found = [f for f in found if f is not None]
    return reduce(operator.or_, found) if found else None


def _operand(col: pl.Expr, dtype: pl.DataType | None, value: object) -> pl.Expr | None:
    """The column as something comparable with `value`, or None when the types never match."""
    kind = value_kind(value)
    if dtype is None:
        return col
    if kind == "number":
        return col if dtype.is_numeric() else None
    if kind == "bool":
        return col if dtype == pl.Boolean else None
    if kind == "text":
        if dtype == pl.String:
            return col
        return col.cast(pl.String) if dtype == pl.Categorical or isinstance(dtype, pl.Enum) else None
    if dtype == pl.Date:
        return col
    if isinstance(dtype, pl.Datetime):
        return col.dt.date()
    return col.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False) if dtype == pl.String else None


def _is_in(col: pl.Expr, dtype: pl.DataType | None, values: list) -> pl.Expr | None:
    operand = _operand(col, dtype, values[0])
    if operand is None:
        return None
    target = {"bool": pl.Boolean, "text": pl.String, "date": pl.Date}.get(value_kind(values[0]))
    if target is None:  # numbers: exact integers when both sides are integers, else floats
        integers = all(isinstance(v, int) for v in values) and (dtype is None or dtype.is_integer())
        target = pl.Int64 if integers else pl.Float64
        operand = operand.cast(target, strict=False)
    return operand.is_in(pl.Series(values, dtype=target).implode())


def _contains(col: pl.Expr, dtype: pl.DataType | None, value: object) -> pl.Expr | None:
    if dtype is None or not isinstance(dtype, pl.List):
        operand = _operand(col, dtype, value) if isinstance(value, str) else None
        return None if operand is None else operand.str.contains(value, literal=True)
    inner, kind = dtype.inner, value_kind(value)
    if kind == "number" and inner.is_numeric():
        target = pl.Int64 if isinstance(value, int) and inner.is_integer() else pl.Float64
        return col.cast(pl.List(target), strict=False).list.contains(pl.lit(value, dtype=target))
    matches = {"bool": inner == pl.Boolean, "text": inner == pl.String, "date": inner == pl.Date}
    return col.list.contains(pl.lit(value, dtype=inner)) if matches.get(kind) else None

