"""Column types of profile properties when values of different types meet."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.profiles.dtypes import cast_to, supertype


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (None, pl.Int64(), pl.Int64()),
        (pl.Int32(), pl.Int64(), pl.Int64()),
        (pl.Int64(), pl.Float64(), pl.Float64()),
        (pl.Int64(), pl.String(), pl.String()),
        (pl.Boolean(), pl.Int64(), pl.String()),
        (pl.List(pl.String()), pl.String(), pl.List(pl.String())),
        (pl.List(pl.Int64()), pl.List(pl.String()), pl.List(pl.String())),
        (pl.Datetime("us", "UTC"), pl.Datetime("ns", "UTC"), pl.Datetime("ns", "UTC")),
        (pl.Struct({"a": pl.Int64}), pl.Int64(), pl.String()),
    ],
)
def test_supertype_is_symmetric_and_holds_both(a: pl.DataType | None, b: pl.DataType, expected: pl.DataType) -> None:
    assert supertype(a, b) == expected
    if a is not None:
        assert supertype(b, a) == expected


def test_casts_to_text_keep_every_value() -> None:
    frame = pl.DataFrame(
        {"n": [5, None], "flag": [True, False], "tags": [["a", "b"], None], "addr": [{"city": "P"}, None]}
    )
    text = frame.select(cast_to(pl.col(name), frame.schema[name], pl.String()).alias(name) for name in frame.columns)
    expected = pl.DataFrame(
        {"n": ["5", None], "flag": ["true", "false"], "tags": ['["a","b"]', None], "addr": ['{"city":"P"}', None]}
    )
    assert_frame_equal(text, expected)


def test_a_scalar_meeting_a_list_becomes_a_one_value_list() -> None:
    frame = pl.DataFrame({"city": ["Paris", None]})
    listed = frame.select(cast_to(pl.col("city"), pl.String(), pl.List(pl.String())).alias("city"))
    assert_frame_equal(listed, pl.DataFrame({"city": [["Paris"], None]}))
