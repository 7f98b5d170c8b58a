"""Column types of profile properties: emptiness, a common type when they disagree, and casts.

A property keeps one Parquet column, but its Braze source may change type between days (an
integer attribute that later holds text) or two goals may write different types. Instead of
failing or dropping values, the column moves to a type that holds both: integers and floats
meet in Float64, a list and a scalar in a list, everything else in String (lists and structs
as JSON text). The rule is a pure function of the two types, so every run picks the same one.
"""

from __future__ import annotations

import polars as pl


def is_empty(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Empty means null, "" or an empty list: the three ways Braze says "no value"."""
    if dtype == pl.String:
        return expr.is_null() | (expr == "")
    if isinstance(dtype, pl.List):
        return expr.is_null() | (expr.list.len() == 0)
    return expr.is_null()


def normalize(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Turn every empty value into null, so the strategies only test for null."""
    if dtype == pl.String or isinstance(dtype, pl.List):
        return pl.when(is_empty(expr, dtype)).then(None).otherwise(expr)
    return expr


def is_number(dtype: pl.DataType) -> bool:
    """Int and Float columns; Boolean is not a number here even though it casts to one."""
    return dtype.is_numeric() and dtype != pl.Boolean


def supertype(a: pl.DataType | None, b: pl.DataType | None) -> pl.DataType:
    """The type a column takes when values of types `a` and `b` meet (None: no column yet)."""
    if a is None or a == pl.Null:
        return b if b is not None else pl.Null()
    if b is None or b == pl.Null or a == b:
        return a
    if is_number(a) and is_number(b):
        return pl.Int64() if a.is_integer() and b.is_integer() else pl.Float64()
    if isinstance(a, pl.List) and isinstance(b, pl.List):
        return pl.List(supertype(a.inner, b.inner))
    if isinstance(a, pl.List):
        return pl.List(supertype(a.inner, b))
    if isinstance(b, pl.List):
        return pl.List(supertype(a, b.inner))
    if isinstance(a, pl.Datetime) and isinstance(b, pl.Datetime) and a.time_zone == b.time_zone:
        unit = "ns" if "ns" in (a.time_unit, b.time_unit) else "us"
        return pl.Datetime(unit, a.time_zone)
    return pl.String()


def to_text(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Values as text: scalars as Polars prints them, lists and structs as compact JSON."""
    if dtype == pl.String:
        return expr
    if isinstance(dtype, pl.Struct):
        return pl.when(expr.is_null()).then(None).otherwise(expr.struct.json_encode())
    if isinstance(dtype, pl.List | pl.Array):
        encoded = pl.struct(expr.alias("v")).struct.json_encode().str.slice(5).str.strip_suffix("}")
        return pl.when(expr.is_null()).then(None).otherwise(encoded)
    return expr.cast(pl.String)


def cast_to(expr: pl.Expr, source: pl.DataType, target: pl.DataType) -> pl.Expr:
    """Cast `expr` from `source` to `target`, where `target` is `supertype(source, ...)`."""
    if source == target:
        return expr
    if source == pl.Null:
        return expr.cast(target)
    if target == pl.String:
        return to_text(expr, source)
    if isinstance(target, pl.List):
        if isinstance(source, pl.List):
            return expr.list.eval(cast_to(pl.element(), source.inner, target.inner))
        single = pl.concat_list(cast_to(expr, source, target.inner))
        return pl.when(expr.is_null()).then(None).otherwise(single)
    return expr.cast(target)
