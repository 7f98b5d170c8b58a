"""`_row_hash`: a 64-bit fingerprint of a row's data, cheap enough to compute on every staging.

The fingerprint only has to say "maybe changed": the delta compares the values of every row
whose fingerprint differs, so a fingerprint that differs for equal values costs time, never a
wrong answer; only equal fingerprints for different values would (a 2^-64 chance per row).
It is therefore computed natively by Polars (`Expr.hash`, about 0.7 s of CPU per million
export-shaped rows) instead of from a canonical text encoding, which cost 3.7-4.1 s per million
rows to build and hash (issue 11). Per row: the wrapping UInt64 sum, over the data columns (name
not starting with `_`) whose value is non-null, of the column's hash seeded by the XXH3-64 of the
column's name. So:

- a null value adds nothing: a column that is null for a row (a new attribute, a column from a
  wider schema) keeps the row's fingerprint, and the column order does not matter;
- the same value under another name, or another type (5, 5.0 and "5"), gives another fingerprint.

Polars' hash is only stable within one Polars build, so every file that stores the column also
records `scheme()` (the Polars version and the hash of a fixed probe frame) in its Parquet
metadata under `SCHEME_KEY`; the delta uses stored fingerprints only when both days carry the
scheme of the running process, and otherwise hashes both days afresh in the same process.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache

import polars as pl
import xxhash

HASH_COLUMN = "_row_hash"
SCHEME_KEY = "profilesync.row_hash_scheme"  # Parquet metadata: how `_row_hash` was computed


def data_columns(schema: pl.Schema | dict[str, pl.DataType]) -> list[str]:
    """Columns that carry data: every name not starting with `_` (those are reserved)."""
    return [name for name in schema if not name.startswith("_")]


def _seed(name: str) -> int:
    return xxhash.xxh3_64_intdigest(name.encode())


def row_hash(schema: pl.Schema | dict[str, pl.DataType]) -> pl.Expr:
    """The fingerprint expression over the data columns of `schema`, named `_row_hash`.

    Element-wise, so it streams (`LazyFrame.with_columns`) and gives the same value for a row
    whatever batch the row arrives in.
    """
    parts = [
        pl.when(pl.col(name).is_not_null()).then(pl.col(name).hash(_seed(name))).otherwise(pl.lit(0, pl.UInt64))
        for name in data_columns(schema)
        if schema[name] != pl.Null
    ]
    total = pl.sum_horizontal(parts) if parts else pl.lit(0, pl.UInt64)
    return total.cast(pl.UInt64).alias(HASH_COLUMN)


def row_hashes(frame: pl.DataFrame) -> pl.Series:
    """`_row_hash` of every row of `frame` (UInt64)."""
    return frame.select(row_hash(frame.schema)).to_series()


def with_row_hash(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with `_row_hash` (re)computed as its last column."""
    frame = frame.drop(HASH_COLUMN, strict=False)
    return frame.with_columns(row_hash(frame.schema))


_PROBE = pl.DataFrame(
    {
        "s": ["é", None],
        "n": [1, None],
        "f": [1.5, -2.25],
        "b": [True, None],
        "t": [datetime(2021, 6, 28, tzinfo=UTC), None],
        "d": [date(1980, 12, 21), None],
        "l": [[1, None], []],
        "o": [{"x": 1, "y": "z"}, None],
        "lo": [[{"name": "a", "count": 2}], None],
    }
)


@cache
def scheme() -> str:
    """What the running process's fingerprints can be compared with: Polars' version and a probe.

    The probe (fingerprints of a fixed frame of every kind of value) catches a build that hashes
    differently under the same version number.
    """
    probe = row_hashes(_PROBE).to_list()
    return f"polars-hash-sum/{pl.__version__}/{xxhash.xxh3_64_hexdigest(repr(probe).encode())}"
