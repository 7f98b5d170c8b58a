"""staged_users in bounded memory: spilled pieces, buckets by braze_id, the same staged table."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline import layout
from pipeline.staging import stage_export, staged_export, write_staged
from pipeline.storage import ObjectNotFound, ObjectStore, open_store
from pipeline.storage.parquet import read_parquet


@pytest.fixture
def local(tmp_path: Path) -> ObjectStore:
    return open_store(str(tmp_path / "store"))


def put_gz(store: ObjectStore, key: str, *items: Any) -> str:
    store.write_bytes(key, gzip.compress(b"".join(json.dumps(i).encode() + b"\n" for i in items)))
    return key


def disagreeing_export(store: ObjectStore) -> list[str]:
    """Three files that disagree on types, repeat users across files and hold a date and a NaN."""
    one = put_gz(
        store,
        "seg/1.gz",
        {"braze_id": "e", "custom_attributes": {"n": 1, "tags": ["a"], "when": "2021-06-28T17:02:43.032Z"}},
        {"braze_id": "c", "email": "old@example.com", "custom_attributes": {"n": 2, "tags": ["b"]}},
        {"braze_id": "a", "custom_attributes": {"tags": {"odd": 1}, "score": 1.5}},
    )
    two = put_gz(
        store,
        "seg/2.gz",
        {"braze_id": "d", "custom_attributes": {"n": 2.5, "tags": ["c", "d"], "when": "2021-07-01T00:00:00.000Z"}},
        {"braze_id": "c", "email": "new@example.com", "custom_attributes": {"score": 2.0}},
    )
    three = put_gz(store, "seg/3.gz", {"braze_id": "b", "custom_attributes": {"tags": ["e"], "score": float("nan")}})
    return [one, two, three]


def test_buckets_give_one_sorted_table_and_the_same_quarantine(local: ObjectStore) -> None:
    keys = disagreeing_export(local)
    whole = stage_export(local, keys)
    for bucket_rows in (1, 2):  # every user, or every two, finished apart
        parts = stage_export(local, keys, bucket_rows=bucket_rows)
        assert_frame_equal(parts.users, whole.users)
        assert parts.quarantine == whole.quarantine
    users = whole.users
    assert users["braze_id"].to_list() == ["a", "b", "c", "d", "e"]
    assert users["email"].to_list() == [None, None, "new@example.com", None, None]  # the later line wins
    assert users.schema["custom_attributes.n"] == pl.Float64  # 1, 2 and 2.5 are one attribute
    assert users.schema["custom_attributes.tags"] == pl.List(pl.String)  # the majority's type
    assert users.schema["custom_attributes.when"] == pl.Datetime("us", "UTC")  # every value a date
    assert users["custom_attributes.score"].to_list() == [1.5, None, 2.0, None, None]  # NaN left out
    got = [(q.source, q.line, q.field, q.reason.split(" ")[0]) for q in whole.quarantine]
    assert got == [
        ("seg/1.gz", 2, None, "duplicate"),
        ("seg/1.gz", 3, "custom_attributes.tags", "custom_attributes.tags"),
        ("seg/3.gz", 1, "custom_attributes.score", "custom_attributes.score"),
    ]


def test_spill_is_removed_and_a_failure_publishes_nothing(local: ObjectStore, tmp_path: Path) -> None:
    keys = disagreeing_export(local)
    spill = tmp_path / "spill"
    spill.mkdir()
    with staged_export(local, keys, spill_dir=spill, bucket_rows=2) as result:
        assert isinstance(result.users, pl.LazyFrame)
        assert len(list(spill.glob("*/part-*.arrow"))) == 3  # the day is on disk, in buckets of 2 users
        counts = write_staged(local, "acme", "vip", "2026-01-01", result)
    assert list(spill.iterdir()) == []
    assert counts["rows"] == 5 and counts["quarantined"] == 1 and counts["lines_read"] == 6
    staged = read_parquet(local, layout.staged_users("acme", "vip", "2026-01-01"))
    assert_frame_equal(staged, stage_export(local, keys).users)
    with pytest.raises(ObjectNotFound), staged_export(local, [*keys, "seg/missing.gz"], spill_dir=spill) as result:
        write_staged(local, "acme", "vip", "2026-01-02", result)
    assert list(spill.iterdir()) == []
    assert not local.exists(layout.staged_users("acme", "vip", "2026-01-02"))
    assert not local.exists(layout.staged_quarantine("acme", "vip", "2026-01-02"))
