"""A staged value and an acknowledged push made comparable, by value and not by spelling.

The baseline holds what profilesync sent as canonical JSON (`pipeline.push.canonical`): sorted
keys, dates and times as the text `to_braze` sends (`2026-01-05T00:00:00.000Z`, `2026-01-05`).
The staged column holds what Braze exported, typed by staging. Both sides are brought to one
*comparable* type, recursively, so lists and objects with dates inside meet too:

- numbers as Float64 (`5`, `5.0` and `5e0` are one number);
- dates and times as Braze's text, in UTC, to the millisecond (what `to_braze` sends);
- lists element by element, objects field by field (key order is the decoder's concern).

JSON-text columns (staging's mixed-type columns) hold any JSON value per row; they are compared
by value too (`json_equal`): by shape, numbers as numbers, strings unescaped, lists and objects
decoded with one type inferred from both sides. All of it is Polars expressions or whole-column
operations; no Python loop over rows.
"""

from __future__ import annotations

import io

import polars as pl

TIME_TEXT = "%Y-%m-%dT%H:%M:%S.%3fZ"  # to_braze's text of a datetime
DATE_TEXT = "%Y-%m-%d"


def comparable(dtype: pl.DataType) -> pl.DataType | None:
    """The type a staged column of `dtype` is compared in; None for a type no export value has."""
    if dtype.is_numeric():
        return pl.Float64()
    if dtype in (pl.Boolean, pl.String, pl.Null):  # Null: a column empty today; only a removal meets it
        return dtype
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return pl.String()
    if isinstance(dtype, pl.List | pl.Array):
        inner = comparable(dtype.inner)
        return pl.List(inner) if inner is not None else None
    if isinstance(dtype, pl.Struct):
        fields = {f.name: comparable(f.dtype) for f in dtype.fields}
        if any(t is None for t in fields.values()):
            return None
        return pl.Struct(fields)  # type: ignore[arg-type]
    return None


def staged(value: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A staged value of `dtype` in its `comparable` type."""
    if dtype.is_numeric():
        return value.cast(pl.Float64)
    if dtype == pl.Date:
        return value.dt.strftime(DATE_TEXT)
    if isinstance(dtype, pl.Datetime):
        utc = value.dt.convert_time_zone("UTC") if dtype.time_zone else value
        return utc.dt.strftime(TIME_TEXT)
    if isinstance(dtype, pl.Array):
        return staged(value.arr.to_list(), pl.List(dtype.inner))
    if isinstance(dtype, pl.List):
        return value.list.eval(staged(pl.element(), dtype.inner))
    if isinstance(dtype, pl.Struct):
        fields = [staged(value.struct.field(f.name), f.dtype).alias(f.name) for f in dtype.fields]
        return pl.when(value.is_not_null()).then(pl.struct(fields))
    return value


def ours(text: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """The baseline's canonical JSON `text` decoded to the `comparable` type of `dtype` (null: no match)."""
    target = comparable(dtype)
    if target is None or target == pl.Null:
        return pl.lit(None)  # never equal (a removal meets an empty field by the null rule)
    if target == pl.Float64:
        return text.cast(pl.Float64, strict=False)
    if target == pl.Boolean:
        return text.replace_strict({"true": True, "false": False}, default=None, return_dtype=pl.Boolean)
    wrapped = pl.format('{{"v":{}}}', text)
    if target == pl.String:
        return pl.when(text.str.starts_with('"')).then(wrapped.str.json_path_match("$.v"))
    # Only text of the right shape is decoded: the decoder would read a lone "x" as the list ["x"].
    shaped = pl.when(text.str.starts_with("[" if isinstance(target, pl.List) else "{")).then(wrapped)
    return shaped.str.json_decode(pl.Struct({"v": target})).struct.field("v")


def _shape(text: pl.Expr) -> pl.Expr:
    first = text.str.strip_chars().str.slice(0, 1)
    return (
        pl.when(first == "{").then(pl.lit("object"))
        .when(first == "[").then(pl.lit("array"))
        .when(first == '"').then(pl.lit("string"))
        .when(first.is_in(["t", "f", "n"])).then(text.str.strip_chars())
        .otherwise(pl.lit("number"))
    )  # fmt: skip


def _decoded(texts: pl.Series, dtype: pl.DataType) -> pl.Series:
    return pl.format('{{"v":{}}}', pl.lit(texts)).str.json_decode(pl.Struct({"v": dtype})).struct.field("v")


_KEY = r'"((?:[^"\\]|\\.)*)"\s*:'  # an object key: a JSON string followed by a colon


def _keys(text: pl.Expr) -> pl.Expr:
    """The sorted keys a JSON text names at any depth: objects of one key set decode to one type."""
    keys = text.str.extract_all(_KEY).list.eval(pl.element().str.replace(r"\s*:$", ""))
    return keys.list.sort().list.join("\x1f")


def _nested_equal(left: pl.Series, right: pl.Series) -> pl.Series:
    """Lists or objects with the same keys compared as values, decoded with one inferred type;
    where none holds them all (a field a number here, a list there), their stripped text decides."""
    both = pl.concat([left, right]).drop_nulls().unique()
    lines = pl.select(pl.format('{{"v":{}}}', pl.lit(both)).str.join("\n")).item()
    try:
        dtype = pl.read_ndjson(io.BytesIO(lines.encode()), infer_schema_length=None).schema["v"]
        return pl.select(_decoded(left, dtype)).to_series() == pl.select(_decoded(right, dtype)).to_series()
    except pl.exceptions.PolarsError:
        return left.str.strip_chars() == right.str.strip_chars()


def json_equal(left: pl.Series, right: pl.Series) -> pl.Series:
    """Per row, whether two columns of JSON text hold the same value (null where either is null).

    Key order, spacing, escapes and number forms do not matter. Lists and objects are decoded with
    one type inferred from both columns; where none holds them all, their canonical text decides.
    """
    frame = pl.DataFrame({"l": left, "r": right}, schema={"l": pl.String, "r": pl.String})
    frame = frame.with_columns(_shape(pl.col("l")).alias("ls"), _shape(pl.col("r")).alias("rs"))
    wrapped = {side: pl.format('{{"v":{}}}', pl.col(side)) for side in ("l", "r")}
    scalar = (
        pl.when(pl.col("ls") != pl.col("rs")).then(pl.lit(False))
        .when(pl.col("ls") == "number")
        .then(pl.col("l").str.strip_chars().cast(pl.Float64, strict=False)
              == pl.col("r").str.strip_chars().cast(pl.Float64, strict=False))
        .when(pl.col("ls") == "string")
        .then(wrapped["l"].str.json_path_match("$.v") == wrapped["r"].str.json_path_match("$.v"))
        .when(pl.col("ls").is_in(["object", "array"])).then(pl.lit(None, pl.Boolean))
        .otherwise(pl.lit(True))  # true, false, null: the same word
    )  # fmt: skip
    frame = frame.with_row_index("_row").with_columns(scalar.alias("same"))
    nested = frame.filter(pl.col("ls").is_in(["object", "array"]) & (pl.col("ls") == pl.col("rs")))
    nested = nested.with_columns(_keys(pl.col("l")).alias("lk"), _keys(pl.col("r")).alias("rk"))
    frame = frame.update(
        nested.filter(pl.col("lk") != pl.col("rk")).select("_row", pl.lit(False).alias("same")), on="_row"
    )
    # One decode per shape and key set: a loop over the few kinds of value, never over rows.
    for part in nested.filter(pl.col("lk") == pl.col("rk")).partition_by("ls", "lk"):
        frame = frame.update(part.select("_row", _nested_equal(part["l"], part["r"]).alias("same")), on="_row")
    return frame.select(pl.when(pl.col("l").is_not_null() & pl.col("r").is_not_null()).then("same")).to_series()
