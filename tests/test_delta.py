"""user_changes: the delta of two staged copies, on hand-made frames and through the store."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline import layout
from pipeline.delta import change_counts, compute_changes, diff
from pipeline.echoes import PUSHED_DTYPE
from pipeline.staging import stage_export, write_staged
from pipeline.staging.rowhash import SCHEME_KEY
from pipeline.staging.stage import JSON_TEXT_KEY
from pipeline.storage import ObjectStore, open_store
from pipeline.storage.parquet import read_parquet, write_parquet

FIELDS = pl.List(pl.String)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return open_store(str(tmp_path / "store"))
    return open_store(f"s3://{request.getfixturevalue('bucket')}/root")


@pytest.fixture
def local_store(tmp_path: Path) -> ObjectStore:
    return open_store(str(tmp_path / "store"))


def changes(rows: dict[str, list], **overrides: pl.DataType) -> pl.DataFrame:
    return pl.DataFrame(rows, schema_overrides={"_changed_fields": FIELDS, **overrides})


OLD = pl.DataFrame(
    {
        "braze_id": ["a", "b", "c", "d"],
        "email": ["a@x", "b@x", "c@x", None],
        "points": [1, 2, 3, 4],
        "gone": ["x", None, None, None],
    }
)
NEW = pl.DataFrame(
    {
        "braze_id": ["a", "b", "d", "e"],
        "email": ["a@x", "b@y", "d@x", "e@x"],
        "points": [1.0, 2.0, 4.0, 5.5],  # Int64 yesterday, Float64 today: 1 and 1.0 are the same value
        "fresh": [None, None, None, True],
    }
)


def test_added_changed_removed_and_unchanged() -> None:
    result = diff(NEW.lazy(), OLD.lazy())
    assert isinstance(result, pl.LazyFrame)
    expected = changes(
        {
            "braze_id": ["a", "b", "c", "d", "e"],
            "_change": ["changed", "changed", "removed", "changed", "added"],
            "_changed_fields": [["gone"], ["email"], [], ["email"], ["braze_id", "email", "points", "fresh"]],
            "email": ["a@x", "b@y", "c@x", "d@x", "e@x"],
            "points": [1.0, 2.0, 3.0, 4.0, 5.5],
            "fresh": [None, None, None, None, True],
            "gone": [None, None, None, None, None],
        },
        gone=pl.String,
    )
    out = result.collect()
    assert_frame_equal(out, expected)
    assert change_counts(out, NEW.height) == {
        "added": 1, "changed": 3, "echoes": 0, "seen_changed": 3, "removed": 1, "unchanged": 0
    }  # fmt: skip


def test_unchanged_rows_are_left_out_and_types_that_disagree_become_json_text() -> None:
    old = pl.DataFrame({"braze_id": ["a", "b", "c"], "tier": [1, 2, 3]})
    new = pl.DataFrame({"braze_id": ["a", "b", "c"], "tier": ["1", "gold", None]})
    expected = changes(
        {
            "braze_id": ["a", "b", "c"],
            "_change": ["changed"] * 3,
            "_changed_fields": [["tier"]] * 3,
            "tier": ['"1"', '"gold"', None],
        }
    )
    assert_frame_equal(diff(new.lazy(), old.lazy()).collect(), expected)
    same = diff(old.lazy(), old.lazy()).collect()
    assert same.height == 0 and same.columns == ["braze_id", "_change", "_changed_fields", "tier"]
    assert change_counts(same, old.height) == {
        "added": 0, "changed": 0, "echoes": 0, "seen_changed": 0, "removed": 0, "unchanged": 3
    }  # fmt: skip


def test_without_a_previous_copy_everything_is_added() -> None:
    new = pl.DataFrame({"braze_id": ["b", "a"], "email": [None, "a@x"]})
    expected = changes(
        {
            "braze_id": ["a", "b"],
            "_change": ["added", "added"],
            "_changed_fields": [["braze_id", "email"], ["braze_id"]],
            "email": ["a@x", None],
        }
    )
    assert_frame_equal(diff(new.lazy(), None).collect(), expected)


def test_nested_values_are_compared_by_value() -> None:
    old = pl.DataFrame({"braze_id": ["a", "b"], "tags": [["x"], ["y"]], "addr": [{"city": "P"}, {"city": "Q"}]})
    new = pl.DataFrame(
        {
            "braze_id": ["a", "b"],
            "tags": [["x"], ["y", "z"]],
            "addr": [{"city": "P", "zip": None}, {"city": "R", "zip": "1"}],
        }
    )
    out = diff(new.lazy(), old.lazy()).collect()
    assert out["braze_id"].to_list() == ["b"]
    assert out["_changed_fields"].to_list() == [["tags", "addr"]]


def put_day(store: ObjectStore, day: str, *users: dict) -> None:
    key = f"segment-export/seg/{day}/part.gz"
    store.write_bytes(key, gzip.compress(b"".join(json.dumps(u).encode() + b"\n" for u in users)))
    write_staged(store, "acme", "vip", day, stage_export(store, [key]))


def test_compute_changes_through_the_store(store: ObjectStore) -> None:
    put_day(
        store,
        "2026-01-01",
        {"braze_id": "a", "external_id": "ea", "custom_attributes": {"points": 1, "tier": "gold"}},
        {"braze_id": "b", "external_id": "eb", "custom_attributes": {"points": 2}},
        {"braze_id": "c", "external_id": "ec", "custom_attributes": {"points": 3}},
    )
    counts = compute_changes(store, "acme", "vip", "2026-01-01")
    assert counts == {
        "added": 3, "changed": 0, "echoes": 0, "seen_changed": 0, "removed": 0, "unchanged": 0, "previous_day": None,
        "changes_key": layout.user_changes("acme", "vip", "2026-01-01"),
    }  # fmt: skip
    # Day 3 (day 2 skipped): points turns text for one user, a new attribute appears, c leaves, d joins.
    put_day(
        store,
        "2026-01-03",
        {"braze_id": "a", "external_id": "ea", "custom_attributes": {"points": 1, "tier": "gold"}},
        {"braze_id": "b", "external_id": "eb", "custom_attributes": {"points": "two", "vip": True}},
        {"braze_id": "d", "external_id": "ed"},
    )
    counts = compute_changes(store, "acme", "vip", "2026-01-03")
    assert (counts["added"], counts["changed"], counts["removed"], counts["unchanged"]) == (1, 1, 1, 1)
    assert counts["previous_day"] == "2026-01-01"
    expected = changes(
        {
            "braze_id": ["b", "c", "d"],
            "_change": ["changed", "removed", "added"],
            "_changed_fields": [["custom_attributes.points", "custom_attributes.vip"], [], ["braze_id", "external_id"]],
            "_echo_fields": [[], [], []],
            "_pushed_values": [[], [], []],
            "external_id": ["eb", "ec", "ed"],
            "custom_attributes.points": ['"two"', "3", None],
            "custom_attributes.tier": [None, None, None],
            "custom_attributes.vip": [True, None, None],
        },
        **{"custom_attributes.tier": pl.String, "_echo_fields": FIELDS, "_pushed_values": PUSHED_DTYPE},
    )
    assert_frame_equal(read_parquet(store, counts["changes_key"]), expected)  # type: ignore[arg-type]
    # Diffed one differing user at a time (a range each, written aside), and day 1 one user at a time:
    # the same files.
    assert compute_changes(store, "acme", "vip", "2026-01-03", chunk_rows=1) == counts
    assert_frame_equal(read_parquet(store, counts["changes_key"]), expected)  # type: ignore[arg-type]
    first = compute_changes(store, "acme", "vip", "2026-01-01", chunk_rows=1)
    assert (first["added"], first["unchanged"]) == (3, 0)
    assert read_parquet(store, str(first["changes_key"]))["braze_id"].to_list() == ["a", "b", "c"]


def test_stored_hashes_of_another_scheme_are_not_trusted(local_store: ObjectStore) -> None:
    """A day staged by another Polars build (or the older text fingerprint) is hashed afresh."""
    days = {
        "2026-01-01": pl.DataFrame({"braze_id": ["a", "b"], "email": ["a@x", "b@x"]}),
        "2026-01-02": pl.DataFrame({"braze_id": ["a", "b"], "email": ["a@x", "b@NEW"]}),
    }
    for day, users in days.items():  # the same (forged) fingerprints on both days: only values tell
        forged = users.with_columns(pl.Series("_row_hash", [1, 2], pl.UInt64))
        key = layout.staged_users("acme", "vip", day)
        write_parquet(local_store, key, forged, {SCHEME_KEY: "canonical-text/xxh3", JSON_TEXT_KEY: "[]"})
    counts = compute_changes(local_store, "acme", "vip", "2026-01-02")
    assert (counts["changed"], counts["unchanged"]) == (1, 1)
    assert read_parquet(local_store, counts["changes_key"])["braze_id"].to_list() == ["b"]  # type: ignore[arg-type]


def test_generated_export_days_give_the_generators_changes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_generate", Path(__file__).parents[1] / "bench" / "generate.py")
    generate = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(generate)  # type: ignore[union-attr]
    users = 400
    generate.generate(users, tmp_path, change_rate=0.1, seed=7, workers=1)
    fates = [generate.user(7, index, 0.1)[1] for index in range(users)]
    store = open_store(str(tmp_path))
    for folder, day in (("day1", "2026-01-01"), ("day2", "2026-01-02")):
        result = stage_export(store, [info.key for info in store.list(f"{folder}/")])
        assert result.quarantine == [] and result.lines_read == result.users.height
        write_staged(store, "bench", "users", day, result)
    counts = compute_changes(store, "bench", "users", "2026-01-02")
    assert (counts["added"], counts["changed"], counts["removed"]) == (
        int(users * generate.JOIN_RATE),
        fates.count("changed"),
        fates.count("gone"),
    )


def _copies(n: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two days of `n` users: nulls, lists of structs, a struct, 0.0 becoming -0.0 inside a list,
    a column Int64 one day and Float64 the next, a column only each day has; some users come and go."""
    ids = [f"u{i:04d}" for i in range(n)]
    events = [[{"name": f"e{i % 3}", "count": i % 4}] if i % 5 else None for i in range(n)]
    old = pl.DataFrame(
        {
            "braze_id": ids,
            "email": [f"{i}@x" if i % 7 else None for i in range(n)],
            "points": [i % 9 for i in range(n)],
            "events": events,
            "coords": [[0.0, float(i)] for i in range(n)],
            "addr": [{"city": f"c{i % 4}", "zip": None if i % 6 else "1"} for i in range(n)],
            "gone": [f"g{i}" if i % 11 == 0 else None for i in range(n)],
        }
    )
    new = old.with_columns(
        pl.when(pl.int_range(n) % 13 == 0).then(pl.lit("new@x")).otherwise(pl.col("email")).alias("email"),
        (pl.col("points") + (pl.int_range(n) % 17 == 0).cast(pl.Int64)).cast(pl.Float64),
        pl.when(pl.int_range(n) % 19 == 0)
        .then(pl.lit([{"name": "z", "count": 1}]))
        .otherwise("events")
        .alias("events"),
        pl.when(pl.int_range(n) % 3 == 0)
        .then(pl.concat_list(pl.lit(-0.0), pl.col("coords").list.last()))
        .otherwise("coords")
        .alias("coords"),
        pl.when(pl.int_range(n) % 23 == 0).then(pl.lit(True)).alias("fresh"),
    ).drop("gone")
    new = new.filter(pl.int_range(n) % 29 != 0)
    added = new.head(3).with_columns(pl.concat_str(pl.lit("v"), "braze_id").alias("braze_id"))
    return pl.concat([new, added]), old


def test_sorted_and_unsorted_copies_give_the_changes_of_comparing_every_value() -> None:
    new, old = _copies(400)
    by_key = diff(new.sort("braze_id").lazy(), old.sort("braze_id").lazy()).collect()
    shuffled = diff(new.sample(fraction=1.0, shuffle=True, seed=1).lazy(), old.sample(fraction=1.0, seed=2).lazy())
    assert_frame_equal(shuffled.collect(), by_key)
    # Every value of every user compared in Python: the fields that differ, a column one day lacks as null.
    columns = ["email", "points", "events", "coords", "addr", "fresh", "gone"]
    before = {r["braze_id"]: r for r in old.to_dicts()}
    expected = {}
    for row in new.to_dicts():
        was = before.pop(row["braze_id"], None)
        if was is not None:
            fields = [c for c in columns if row.get(c) != was.get(c)]
            if fields:
                expected[row["braze_id"]] = ("changed", fields)
        else:
            expected[row["braze_id"]] = ("added", ["braze_id", *[c for c in columns if row.get(c) is not None]])
    expected |= {key: ("removed", []) for key in before}
    found = {r["braze_id"]: (r["_change"], r["_changed_fields"]) for r in by_key.to_dicts()}
    assert found == expected
    assert sum(kind == "changed" for kind, _ in found.values()) > 50  # the -0.0 rows alone are not changes
