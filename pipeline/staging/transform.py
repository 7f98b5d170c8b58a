"""A data engineer's transformation of a goal's staged users, published as one more staged copy.

The transformation is a plain function from LazyFrame to LazyFrame. Its output keeps the
staged contract (one row per `braze_id`, JSON-text columns marked), and its row hash is
computed afresh, so `user_changes` diffs the transformed copies exactly as it diffs staged ones.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from pipeline import layout
from pipeline.staging import json_text_columns, publish_parquet
from pipeline.staging.rowhash import HASH_COLUMN, with_row_hash
from pipeline.staging.schema import KEY
from pipeline.storage import ObjectStore
from pipeline.storage.parquet import scan_parquet

Transform = Callable[[pl.LazyFrame], pl.LazyFrame]
USERS = layout.USERS_FILE


class TransformError(ValueError):
    """A transformation broke the staged contract; the message names the step and the fix."""


def apply_transform(
    store: ObjectStore, connection: str, goal: str, day: str, source: str, target: str, transform: Transform
) -> dict[str, object]:
    """Read `source`'s copy of the day, apply `transform`, publish it as `target`'s copy."""
    source_key = layout.step_file(connection, goal, source, day, USERS)
    before = scan_parquet(store, source_key)
    result = transform(before.drop(HASH_COLUMN)).collect()
    where = f"step {target!r} of {connection}/{goal}"
    if KEY not in result.columns:
        raise TransformError(f"{where} dropped the {KEY} column; keep it, it is the record key")
    if result[KEY].null_count() or result[KEY].n_unique() != result.height:
        raise TransformError(f"{where} left empty or repeated {KEY} values; return one row per user")
    published = with_row_hash(result.sort(KEY))
    json_columns = [c for c in json_text_columns(store, source_key) if c in published.columns]
    key = layout.step_file(connection, goal, target, day, USERS)
    size = publish_parquet(store, key, published, json_columns)
    rows_in = before.select(pl.len()).collect().item()
    return {"rows": published.height, "rows_in": rows_in, "columns": published.width - 1, "key": key, "bytes": size,
            "preview": published.head(5)}  # fmt: skip
