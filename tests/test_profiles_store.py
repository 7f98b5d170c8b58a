"""Profile snapshots in the object store: a local folder and moto's S3 server on loopback."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import BinaryIO

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.profiles import (
    FieldRule,
    GoalRules,
    IdentifierRule,
    Snapshot,
    build_day,
    empty_snapshot,
    find_profile,
    read_previous_snapshot,
    read_snapshot,
    write_snapshot,
)
from pipeline.storage import ObjectStore, open_store
from pipeline.storage.local import LocalStore

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
FRAMES = ("profiles", "identifiers", "sum_basis", "merges", "quarantine", "provenance")
FILES = (
    "profiles.parquet", "identifiers.parquet", "sum_basis.parquet", "merges.parquet", "provenance.parquet",
    "quarantine.jsonl",
)  # fmt: skip
RULES = GoalRules(
    "acme/vip",
    [IdentifierRule("external_id", "external_id"), IdentifierRule("email", "email")],
    True,
    [
        FieldRule("first_name", "first_name", "set"),
        FieldRule("created_at", "braze_created_at", "set_if_empty"),
        FieldRule("custom_attributes.points", "points", "sum"),
        FieldRule("custom_attributes.tags", "tags", "add"),
    ],
)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return open_store(str(tmp_path / "store"))
    bucket = request.getfixturevalue("bucket")
    return open_store(f"s3://{bucket}/root")


def day_changes() -> pl.DataFrame:
    """Two users sharing an e-mail (one profile), one bad sum value for the quarantine."""
    created = datetime(2025, 5, 1, 12, tzinfo=UTC)
    return pl.DataFrame(
        {
            "braze_id": ["b1", "b2", "b3"],
            "_change": ["added"] * 3,
            "_changed_fields": [
                [
                    "external_id",
                    "email",
                    "first_name",
                    "created_at",
                    "custom_attributes.points",
                    "custom_attributes.tags",
                ]
            ]
            * 3,
            "external_id": ["u1", "u2", "u3"],
            "email": ["a@x.com", "a@x.com", None],
            "first_name": ["Ann", "Anne", "Cy"],
            "custom_attributes.points": ["4", "5", '"x"'],  # JSON text, as staging writes a mixed column
            "custom_attributes.tags": [["a"], ["b"], []],
        }
    ).with_columns(pl.lit(created).alias("created_at"))


def built(previous: Snapshot | None = None, day: date = D1) -> tuple[Snapshot, object]:
    return build_day(previous or empty_snapshot(), [(RULES, day_changes(), {"custom_attributes.points"})], day)


def test_round_trip_keeps_every_frame(store: ObjectStore) -> None:
    snapshot, report = built()
    manifest = write_snapshot(store, D1, snapshot, report)
    back = read_snapshot(store, D1)
    assert back is not None
    for name in FRAMES:
        assert_frame_equal(getattr(back, name), getattr(snapshot, name))
    assert manifest["files"]["quarantine"]["rows"] == 1
    assert manifest["report"]["profiles_created"] == 2
    stored = json.loads(store.read_bytes("profiles/2026-03-01/manifest.json"))
    assert stored == manifest
    assert find_profile(back, "external_id", "u2") == find_profile(snapshot, "external_id", "u2")


def test_same_inputs_give_byte_identical_files(tmp_path: Path) -> None:
    stores = [open_store(str(tmp_path / "a")), open_store(str(tmp_path / "b"))]
    for target in stores:
        snapshot, report = built()
        write_snapshot(target, D1, snapshot, report)
    for name in (*FILES, "manifest.json"):
        key = f"profiles/2026-03-01/{name}"
        assert stores[0].read_bytes(key) == stores[1].read_bytes(key), name
    # and again on top of the first copy: the same bytes
    first = {name: stores[0].read_bytes(f"profiles/2026-03-01/{name}") for name in FILES}
    snapshot, report = built()
    write_snapshot(stores[0], D1, snapshot, report)
    assert {name: stores[0].read_bytes(f"profiles/2026-03-01/{name}") for name in FILES} == first


def test_a_day_without_manifest_does_not_exist_for_readers(store: ObjectStore) -> None:
    snapshot, report = built()
    write_snapshot(store, D1, snapshot, report)
    later, later_report = built(snapshot, D2)
    write_snapshot(store, D2, later, later_report)
    store.delete("profiles/2026-03-02/manifest.json")  # as if the run died before publishing
    assert read_snapshot(store, D2) is None
    previous = read_previous_snapshot(store, D3)
    assert_frame_equal(previous.profiles, snapshot.profiles)
    assert previous.merges.height == 0 or previous.merges.equals(snapshot.merges)


def test_the_first_day_starts_from_an_empty_snapshot(store: ObjectStore) -> None:
    previous = read_previous_snapshot(store, D1)
    assert_frame_equal(previous.profiles, empty_snapshot().profiles)
    assert previous.identifiers.is_empty()


def test_the_previous_snapshot_skips_gaps(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    snapshot, report = built()
    write_snapshot(store, D1, snapshot, report)
    assert_frame_equal(read_previous_snapshot(store, D3).profiles, snapshot.profiles)
    assert read_previous_snapshot(store, "2026-03-01").profiles.is_empty()


class RecordingStore(LocalStore):
    """A local store that remembers the order of its writes and deletes."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.events: list[str] = []

    def write_fileobj(self, key: str, source: BinaryIO) -> None:
        super().write_fileobj(key, source)
        self.events.append(f"write {key.rsplit('/', 1)[-1]}")

    def delete(self, key: str) -> None:
        super().delete(key)
        self.events.append(f"delete {key.rsplit('/', 1)[-1]}")


def test_the_manifest_is_removed_first_and_written_last(tmp_path: Path) -> None:
    store = RecordingStore((tmp_path / "store").resolve())
    snapshot, report = built()
    write_snapshot(store, D1, snapshot, report)
    assert store.events[0] == "delete manifest.json"
    assert store.events[-1] == "write manifest.json"
    assert sorted(store.events[1:-1]) == sorted(f"write {name}" for name in FILES)


def test_files_that_disagree_with_their_manifest_are_refused(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    snapshot, report = built()
    write_snapshot(store, D1, snapshot, report)
    store.write_bytes("profiles/2026-03-01/quarantine.jsonl", b"")
    with pytest.raises(ValueError, match="rebuild profiles"):
        read_snapshot(store, D1)


def test_provenance_is_one_row_per_profile_and_the_old_long_form_is_widened(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    snapshot, report = built()
    wide = snapshot.provenance
    assert wide.height == snapshot.profiles.height  # not a row per (profile, property)
    assert wide.columns == ["profile_id", "braze_created_at", "first_name", "points", "tags"]
    manifest = write_snapshot(store, D1, snapshot, report)
    long = wide.unpivot(index="profile_id", variable_name="property", value_name="origin").drop_nulls("origin")
    parts = pl.col("origin").cast(pl.String).str.split_exact("\x1f", 1)
    long = long.select(
        "profile_id", "property", parts.struct.field("field_0").alias("goal"),
        parts.struct.field("field_1").str.to_date().alias("day"),
    ).sort("profile_id", "property")  # fmt: skip
    assert long.height > wide.height
    long.write_parquet(tmp_path / "store" / manifest["files"]["provenance"]["key"])  # as versions before wrote it
    manifest["files"]["provenance"]["rows"] = long.height
    store.write_bytes("profiles/2026-03-01/manifest.json", json.dumps(manifest).encode())
    back = read_snapshot(store, D1)
    assert back is not None
    assert_frame_equal(back.provenance, wide)
    assert find_profile(back, "external_id", "u2") == find_profile(snapshot, "external_id", "u2")
