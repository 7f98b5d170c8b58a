"""staged_users: export files in a store → one typed Parquet copy per day, nothing lost."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline import layout
from pipeline.staging import row_hash_scheme, stage_export, write_staged
from pipeline.staging.rowhash import row_hashes, scheme, with_row_hash
from pipeline.storage import ObjectStore, open_store
from pipeline.storage.parquet import read_parquet

UTC_US = pl.Datetime("us", "UTC")


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return open_store(str(tmp_path / "store"))
    return open_store(f"s3://{request.getfixturevalue('bucket')}/root")


@pytest.fixture
def local(tmp_path: Path) -> ObjectStore:
    return open_store(str(tmp_path / "store"))


def lines(*items: Any) -> bytes:
    """JSON lines; bytes items are written as they are (bad lines, blanks)."""
    return b"".join((i if isinstance(i, bytes) else json.dumps(i).encode()) + b"\n" for i in items)


def put_gz(store: ObjectStore, key: str, *items: Any) -> str:
    store.write_bytes(key, gzip.compress(lines(*items)))
    return key


def put_zip(store: ObjectStore, key: str, members: dict[str, list[Any]]) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, items in members.items():
            archive.writestr(name, lines(*items))
    store.write_bytes(key, buffer.getvalue())
    return key


ALEX = {
    "created_at": "2020-07-10 15:00:00.000 UTC",
    "external_id": "A8i3",
    "braze_id": "b1",
    "user_aliases": [{"alias_name": "user_123", "alias_label": "crm_id"}],
    "first_name": "Alex",
    "email": "alex@example.com",
    "dob": "1980-12-21",
    "random_bucket": 2365,
    "total_revenue": 65,
    "email_subscribe": "subscribed",
    "push_opted_in_at": "2020-01-26T22:45:53.953Z",
    "custom_attributes": {
        "points": 107,
        "tier": "gold",
        "tags": ["a", "b"],
        "address": {"city": "Chicago", "zip": "60601"},
        "vip": True,
        "last_order": "2021-06-28T17:02:43.032Z",
    },
    "custom_events": [
        {"name": "login", "first": "2021-06-28T17:02:43.032Z", "last": "2021-06-29T00:00:00Z", "count": 1}
    ],
}


def test_fields_and_custom_attributes_become_typed_columns(store: ObjectStore) -> None:
    kim = {"braze_id": "b0", "created_at": "2021-01-02T03:04:05.000Z", "custom_attributes": {"points": 5}}
    result = stage_export(store, [put_gz(store, "seg/1.gz", ALEX, kim)])
    users = result.users
    assert users.columns[0] == "braze_id" and users.columns[-1] == "_row_hash"
    expected = pl.DataFrame(
        {
            "braze_id": ["b0", "b1"],
            "created_at": [datetime(2021, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2020, 7, 10, 15, tzinfo=UTC)],
            "dob": [None, date(1980, 12, 21)],
            "random_bucket": [None, 2365],
            "total_revenue": [None, 65.0],
            "push_opted_in_at": [None, datetime(2020, 1, 26, 22, 45, 53, 953000, tzinfo=UTC)],
            "user_aliases": [None, [{"alias_name": "user_123", "alias_label": "crm_id"}]],
            "custom_attributes.points": [5, 107],
            "custom_attributes.tags": [None, ["a", "b"]],
            "custom_attributes.address": [None, {"city": "Chicago", "zip": "60601"}],
            "custom_attributes.vip": [None, True],
            "custom_attributes.last_order": [None, datetime(2021, 6, 28, 17, 2, 43, 32000, tzinfo=UTC)],
        },
        schema_overrides={"created_at": UTC_US, "push_opted_in_at": UTC_US, "custom_attributes.last_order": UTC_US},
    )
    assert_frame_equal(users.select(expected.columns), expected)
    events = users.filter(pl.col("braze_id") == "b1").select(pl.col("custom_events").explode().struct.unnest())
    assert_frame_equal(
        events,
        pl.DataFrame(
            {
                "name": ["login"],
                "first": [datetime(2021, 6, 28, 17, 2, 43, 32000, tzinfo=UTC)],
                "last": [datetime(2021, 6, 29, tzinfo=UTC)],
                "count": [1],
            },
            schema_overrides={"first": UTC_US, "last": UTC_US},
        ),
    )
    assert "phone" not in users.columns  # nobody has one and it was not requested
    assert stage_export(store, ["seg/1.gz"], fields=["phone"]).users.schema["phone"] == pl.String
    assert (result.lines_read, result.blank_lines, result.quarantine) == (2, 0, [])


def test_bad_lines_are_quarantined_with_source_line_and_reason(store: ObjectStore) -> None:
    first = put_gz(
        store,
        "seg/1.gz",
        {"braze_id": "b1", "email": "old@example.com"},
        b"{not json",
        b"",
        b"[1, 2]",
        {"email": "nobody@example.com"},
        {"braze_id": "b2", "random_bucket": "high"},
        {"braze_id": "b3", "created_at": "yesterday"},
        {"braze_id": "b4"},
    )
    second = put_zip(store, "seg/2.zip", {"part.json": [{"braze_id": "b1", "email": "new@example.com"}, b"   "]})
    result = stage_export(store, [first, second])
    got = [(q.source, q.line, q.field, q.reason.split(":")[0]) for q in result.quarantine]
    assert got == [
        ("seg/1.gz", 1, None, "duplicate braze_id b1"),
        ("seg/1.gz", 2, None, "invalid JSON"),
        ("seg/1.gz", 4, None, "not a JSON object but a JSON list"),
        ("seg/1.gz", 5, None, "missing braze_id"),
        ("seg/1.gz", 6, "random_bucket", "random_bucket does not fit Braze's export schema (int64)"),
        ("seg/1.gz", 7, None, "created_at is not a Braze date"),
    ]  # a standard field of the wrong type leaves out only that value: b2 is staged
    assert (result.quarantine[4].braze_id, result.quarantine[4].raw) == ("b2", '"high"')
    assert result.quarantine[0].raw == '{"braze_id": "b1", "email": "old@example.com"}'
    assert "seg/2.zip!part.json:1 was kept" in result.quarantine[0].reason
    assert_frame_equal(
        result.users.select("braze_id", "email"),
        pl.DataFrame({"braze_id": ["b1", "b2", "b4"], "email": ["new@example.com", None, None]}),
    )
    assert (result.lines_read, result.blank_lines) == (8, 2)
    lines = [q for q in result.quarantine if q.field is None]
    assert result.lines_read == result.users.height + len(lines)


def test_types_that_disagree_within_a_day_are_merged_without_loss(store: ObjectStore) -> None:
    one = put_gz(
        store,
        "seg/1.gz",
        {"braze_id": "a", "custom_attributes": {"n": 1, "mixed": 5, "when": "2021-06-28T17:02:43.032Z"}},
        {"braze_id": "b", "custom_attributes": {"n": 2, "mixed": "gold", "odd": [1, "x"]}},
    )
    two = put_gz(
        store,
        "seg/2.gz",
        {"braze_id": "c", "custom_attributes": {"n": 2.5, "mixed": [1, 2], "when": "soon", "obj": {"k": 1}}},
        {"braze_id": "d", "custom_attributes": {"obj": {"j": "x"}}},
    )
    users = stage_export(store, [one, two]).users
    expected = pl.DataFrame(
        {
            "braze_id": ["a", "b", "c", "d"],
            "custom_attributes.mixed": ["5", '"gold"', "[1,2]", None],
            "custom_attributes.n": [1.0, 2.0, 2.5, None],
            "custom_attributes.obj": [None, None, {"k": 1, "j": None}, {"k": None, "j": "x"}],
            "custom_attributes.odd": [None, '[1,"x"]', None, None],
            "custom_attributes.when": ["2021-06-28T17:02:43.032Z", None, "soon", None],
        }
    )
    assert_frame_equal(users.drop("_row_hash"), expected)
    assert [json.loads(v) for v in users["custom_attributes.mixed"].drop_nulls()] == [5, "gold", [1, 2]]


def test_write_staged_is_byte_identical_and_readable(store: ObjectStore, tmp_path: Path) -> None:
    keys = [put_gz(store, "seg/1.gz", ALEX, b"oops"), put_gz(store, "seg/2.gz", {"braze_id": "b2"})]
    counts = write_staged(store, "acme", "vip", "2026-01-01", stage_export(store, keys))
    assert counts["rows"] == 2 and counts["quarantined"] == 1 and counts["lines_read"] == 3
    first = store.read_bytes(layout.staged_users("acme", "vip", "2026-01-01"))
    write_staged(store, "acme", "vip", "2026-01-01", stage_export(store, keys))
    assert store.read_bytes(layout.staged_users("acme", "vip", "2026-01-01")) == first
    quarantine = store.read_bytes(layout.staged_quarantine("acme", "vip", "2026-01-01")).decode().splitlines()
    entries = [json.loads(q) for q in quarantine]
    assert [(e["source"], e["line"], e["raw"]) for e in entries] == [("seg/1.gz", 2, "oops")]
    assert entries[0]["reason"].startswith("invalid JSON")
    staged = read_parquet(store, layout.staged_users("acme", "vip", "2026-01-01"))
    assert_frame_equal(staged, stage_export(store, keys).users)


def test_long_raw_lines_are_truncated(local: ObjectStore) -> None:
    result = stage_export(local, [put_gz(local, "seg/1.gz", b"x" * 5000)])
    assert len(result.quarantine[0].raw) == 2000


def test_row_hash_tells_values_apart_and_ignores_null_columns() -> None:
    frame = pl.DataFrame(
        {
            "braze_id": ["a", "b"],
            "n": [1, None],
            "m": [2, None],
            "f": [1.5, -0.5],
            "s": ["é", None],
            "t": [datetime(2021, 6, 28, tzinfo=UTC), None],
            "l": [[1, None], []],
            "o": [{"x": 1, "y": None}, None],
        }
    )
    hashes = row_hashes(frame).to_list()
    assert hashes == row_hashes(frame.clone()).to_list() and hashes[0] != hashes[1]
    wider = frame.with_columns(pl.lit(None, pl.String).alias("new"), pl.lit(None, pl.Int64).alias("_other"))
    assert_frame_equal(with_row_hash(wider).select("_row_hash"), with_row_hash(frame).select("_row_hash"))
    reordered = frame.select(reversed(frame.columns))
    assert row_hashes(reordered).to_list() == hashes
    assert row_hashes(frame.with_columns(pl.col("n").cast(pl.Float64)))[0] != hashes[0]  # types count
    assert row_hashes(frame.rename({"n": "m", "m": "n"}))[0] != hashes[0]  # so do names
    changed = [
        frame.with_columns(pl.Series("s", ["e", None])),
        frame.with_columns(pl.Series("l", [[1, 2], []])),
        frame.with_columns(pl.Series("o", [{"x": 1, "y": 2}, None])),
        frame.with_columns(pl.col("t").dt.offset_by("1us")),
        frame.with_columns(pl.lit(None, pl.Int64).alias("n")),
    ]
    assert all(row_hashes(other)[0] != hashes[0] for other in changed)
    assert scheme().startswith(f"polars-hash-sum/{pl.__version__}/")


def test_staged_file_records_its_hash_scheme(local: ObjectStore) -> None:
    key = put_gz(local, "seg/1.gz", b'{"braze_id": "a", "email": "a@x"}\n')
    write_staged(local, "acme", "vip", "2026-01-01", stage_export(local, [key]))
    assert row_hash_scheme(local, layout.staged_users("acme", "vip", "2026-01-01")) == scheme()


def test_nested_objects_merge_and_unknown_keys_are_kept(local: ObjectStore) -> None:
    one = put_gz(
        local,
        "seg/1.gz",
        {
            "braze_id": "1",
            "devices": [{"model": "x", "idfa": "q"}],
            "custom_attributes": {"orders": [{"id": 1}], "e": {}},
        },
    )
    two = put_gz(
        local,
        "seg/2.gz",
        {
            "braze_id": "2",
            "subscription_groups": [{"id": "g"}],
            "custom_attributes": {"orders": [{"id": 2, "sku": "x"}]},
        },
    )
    result = stage_export(local, [one, two])
    users = result.users
    assert users.schema["custom_attributes.orders"] == pl.List(pl.Struct({"id": pl.Int64, "sku": pl.String}))
    assert users["custom_attributes.orders"].to_list() == [[{"id": 1, "sku": None}], [{"id": 2, "sku": "x"}]]
    assert users["devices"].to_list()[0][0]["idfa"] == "q"
    assert users["subscription_groups"].to_list() == [None, [{"id": "g"}]]
    # Parquet cannot hold an object type without keys, so an always-empty object is kept as JSON text.
    assert users["custom_attributes.e"].to_list() == ["{}", None] and result.json_columns == ["custom_attributes.e"]
    write_staged(local, "acme", "vip", "2026-01-01", result)
