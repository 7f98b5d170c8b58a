"""One type per column when values disagree: across the files of one day, and across two days.

Rules, applied field by field (lists by their items, structs by their fields):

- the same type, or null (no value) and any type: that type;
- integer and float: Float64 (Braze numbers are JSON numbers; 5 and 5.5 are one attribute);
- structs: one struct with the union of the fields (a nested object that gained a key);
- lists: a list of the merged item type;
- datetimes of any unit or zone: Datetime(us, UTC);
- any other mix (number and text, text and list, a struct field that is text in one file and a
  number in another, ...): the whole column becomes String holding the JSON text of each value
  (`5`, `"gold"`, `["a","b"]`, `{"city":"Paris"}`), so nothing is lost and every value can
  be read back with `json.loads`. Datetimes and dates in JSON text are ISO 8601 strings
  (`"2021-06-28T17:02:43.032Z"`, `"1980-12-21"`);
- a type holding an object without any key on every row (`{}`, `[{}]`) is JSON text as well,
  since Parquet cannot store a struct without fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import polars as pl

from pipeline.staging.schema import UTC_MICROS


class JsonText:
    """The merged 'type' of a column whose values disagree: String holding JSON text."""

    def __repr__(self) -> str:
        return "JSON_TEXT"


JSON_TEXT = JsonText()
Target = pl.DataType | JsonText


def merge_types(left: pl.DataType, right: pl.DataType) -> pl.DataType | None:
    """The type both fit in without loss, or None when only JSON text will do."""
    if left == right:
        return left
    if left == pl.Null:
        return right
    if right == pl.Null:
        return left
    if left.is_numeric() and right.is_numeric():
        return pl.Int64() if left.is_integer() and right.is_integer() else pl.Float64()
    if isinstance(left, pl.Datetime) and isinstance(right, pl.Datetime):
        return UTC_MICROS
    if isinstance(left, pl.List) and isinstance(right, pl.List):
        inner = merge_types(left.inner, right.inner)
        return None if inner is None else pl.List(inner)
    if isinstance(left, pl.Struct) and isinstance(right, pl.Struct):
        fields = {f.name: f.dtype for f in left.fields}
        for field in right.fields:
            merged = merge_types(fields[field.name], field.dtype) if field.name in fields else field.dtype
            if merged is None:
                return None
            fields[field.name] = merged
        return pl.Struct(fields)
    return None


def has_empty_struct(dtype: pl.DataType) -> bool:
    """Whether `dtype` is, or holds at any depth, a struct without fields."""
    if isinstance(dtype, pl.Struct):
        return not dtype.fields or any(has_empty_struct(f.dtype) for f in dtype.fields)
    if isinstance(dtype, pl.List | pl.Array):
        return has_empty_struct(dtype.inner)
    return False


def merge_schemas(schemas: Iterable[Mapping[str, pl.DataType]], json_columns: Iterable[str] = ()) -> dict[str, Target]:
    """Column name → merged type (or JSON_TEXT), in first-seen column order."""
    merged: dict[str, Target] = {}
    for schema in schemas:
        for name, dtype in schema.items():
            if name not in merged:
                merged[name] = dtype
            elif not isinstance(merged[name], JsonText):
                result = merge_types(merged[name], dtype)  # type: ignore[arg-type]
                merged[name] = JSON_TEXT if result is None else result
    for name in json_columns:
        merged[name] = JSON_TEXT
    for name, target in merged.items():
        if not isinstance(target, JsonText) and has_empty_struct(target):
            merged[name] = JSON_TEXT
    return merged


def json_text(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Each value as JSON text (null stays null)."""
    if isinstance(dtype, pl.Datetime):
        micros = expr.dt.cast_time_unit("us")
        micros = micros.dt.convert_time_zone("UTC") if dtype.time_zone else micros
        whole_ms = micros.dt.microsecond() % 1000 == 0
        expr = pl.when(whole_ms).then(micros.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"))
        expr = expr.otherwise(micros.dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
    elif dtype == pl.Date:
        expr = expr.dt.strftime("%Y-%m-%d")
    wrapped = pl.struct(expr.alias("v")).struct.json_encode()  # {"v":<json>}
    return pl.when(expr.is_not_null()).then(wrapped.str.slice(5).str.head(-1))


def conform(expr: pl.Expr, source: pl.DataType, target: Target) -> pl.Expr:
    """`expr` (of type `source`) as `target`, field by field, without loss."""
    if isinstance(target, JsonText):
        return json_text(expr, source)
    if source == target:
        return expr
    if source == pl.Null:
        return expr.cast(target)
    if isinstance(target, pl.List) and isinstance(source, pl.List):
        if source.inner == pl.Null:
            return expr.cast(target)
        return expr.list.eval(conform(pl.element(), source.inner, target.inner))
    if isinstance(target, pl.Struct) and isinstance(source, pl.Struct):
        present = {f.name: f.dtype for f in source.fields}
        fields = [
            conform(expr.struct.field(f.name), present[f.name], f.dtype).alias(f.name)
            if f.name in present
            else pl.lit(None, dtype=f.dtype).alias(f.name)
            for f in target.fields
        ]
        return pl.when(expr.is_not_null()).then(pl.struct(fields))
    return expr.cast(target)


def conform_frame(
    frame: pl.DataFrame | pl.LazyFrame, targets: Mapping[str, Target], keep_as_is: Iterable[str] = ()
) -> pl.DataFrame | pl.LazyFrame:
    """`frame` with exactly the columns of `targets`, in that order; missing ones are null.

    Columns in `keep_as_is` already hold JSON text and are not encoded again.
    """
    schema = frame.collect_schema()
    as_is = set(keep_as_is)
    columns = []
    for name, target in targets.items():
        dtype = pl.String() if isinstance(target, JsonText) else target
        if name not in schema:
            columns.append(pl.lit(None, dtype=dtype).alias(name))
        elif name in as_is:
            columns.append(pl.col(name).cast(pl.String))
        else:
            columns.append(conform(pl.col(name), schema[name], target).alias(name))
    return frame.select(columns)
