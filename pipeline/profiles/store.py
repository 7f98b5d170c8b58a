"""Snapshots in the object store: files first, `manifest.json` last.

A snapshot exists for readers only once its manifest is there, so a run that dies halfway
leaves nothing a reader would take for a day's profiles; the next run rewrites every file.
The manifest holds no clock time and no store URI, so the same inputs give the same bytes
on a laptop and on S3.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Collection
from datetime import date
from typing import Any

import polars as pl

from pipeline.layout import (
    PROFILE_FILES,
    PROFILES_FOLDER,
    PROFILES_MANIFEST,
    PROFILES_QUARANTINE,
    latest_day_before,
    profiles_dir,
)
from pipeline.profiles import provenance
from pipeline.profiles.report import DayReport
from pipeline.profiles.snapshot import PROFILES_SCHEMA, QUARANTINE_SCHEMA, Snapshot, as_date, empty_snapshot
from pipeline.storage import ObjectNotFound, ObjectStore
from pipeline.storage.parquet import read_parquet, scan_parquet, write_parquet_digest

FORMAT = 1


def manifest_key(day: date | str) -> str:
    return f"{profiles_dir(as_date(day).isoformat())}{PROFILES_MANIFEST}"


def write_snapshot(
    store: ObjectStore,
    day: date | str,
    snapshot: Snapshot,
    report: DayReport,
    covers: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Publish the snapshot of `day` and return its manifest (files, row counts, property types, report).

    `covers` records, per goal, the staged days up to `day` the snapshot holds the changes of
    (`pipeline.day_order` uses it to notice a snapshot that a later backfill made stale)."""
    folder = profiles_dir(as_date(day).isoformat())
    store.delete(folder + PROFILES_MANIFEST)  # a rebuilt day is absent while its files change, never half old, half new
    files: dict[str, dict[str, Any]] = {}
    for name, filename in PROFILE_FILES.items():
        frame: pl.DataFrame = getattr(snapshot, name)
        size, digest = write_parquet_digest(store, folder + filename, frame)
        files[name] = {"key": folder + filename, "rows": frame.height, "bytes": size, "sha256": digest}
    lines = snapshot.quarantine.write_ndjson().encode()
    store.write_bytes(folder + PROFILES_QUARANTINE, lines)
    files["quarantine"] = {"key": folder + PROFILES_QUARANTINE, "rows": snapshot.quarantine.height,
                           "bytes": len(lines), "sha256": hashlib.sha256(lines).hexdigest()}  # fmt: skip
    manifest = {
        "format": FORMAT,
        "day": as_date(day).isoformat(),
        "files": files,
        "properties": {name: str(dtype) for name, dtype in snapshot.profiles.schema.items()},
        "report": report.as_dict(),
        "covers": dict(sorted((covers or {}).items())),
    }
    store.write_bytes(folder + PROFILES_MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return manifest


def read_snapshot(store: ObjectStore, day: date | str) -> Snapshot | None:
    """The snapshot of `day`, or None when that day has no manifest (never built, or unfinished)."""
    key = manifest_key(day)
    if not store.exists(key):
        return None
    manifest = json.loads(store.read_bytes(key))
    # A snapshot from before provenance was kept has none: its values' origins are unknown.
    frames = {
        name: read_parquet(store, manifest["files"][name]["key"]) for name in PROFILE_FILES if name in manifest["files"]
    }
    lines = store.read_bytes(manifest["files"]["quarantine"]["key"])
    if lines.strip():
        quarantine = pl.read_ndjson(io.BytesIO(lines), schema=QUARANTINE_SCHEMA)
    else:
        quarantine = QUARANTINE_SCHEMA.to_frame()
    frames["quarantine"] = quarantine
    for name, entry in manifest["files"].items():
        if frames[name].height != entry["rows"]:
            raise ValueError(f"{store.uri(entry['key'])} does not match {store.uri(key)}; rebuild profiles of {day}")
    if "provenance" in frames:  # widened when written in the long form of earlier versions
        frames["provenance"] = provenance.loaded(frames["provenance"])
    return Snapshot(**frames)


def read_snapshot_part(
    store: ObjectStore, day: date | str, properties: Collection[str], kinds: Collection[str] | None
) -> Snapshot | None:
    """The profiles of `day` with only `properties` (those it has) and the identifiers of `kinds`
    (None: all); other frames empty. None when the day has no snapshot.

    An export reads a few of a profile's properties and identifiers; reading the whole snapshot
    (every property, provenance per property) cost more than building the export at a million
    profiles. The files are still checked against the manifest's row counts."""
    key = manifest_key(day)
    if not store.exists(key):
        return None
    manifest = json.loads(store.read_bytes(key))
    files = manifest["files"]
    kept = [name for name in manifest["properties"] if name in properties and name not in PROFILES_SCHEMA]
    profiles = scan_parquet(store, files["profiles"]["key"]).select(*PROFILES_SCHEMA, *kept).collect()
    scanned = scan_parquet(store, files["identifiers"]["key"])
    total = scanned.select(pl.len()).collect().item()
    identifiers = (scanned if kinds is None else scanned.filter(pl.col("kind").is_in(sorted(kinds)))).collect()
    for name, rows in (("profiles", profiles.height), ("identifiers", total)):
        if rows != files[name]["rows"]:
            stored = store.uri(files[name]["key"])
            raise ValueError(f"{stored} does not match {store.uri(key)}; rebuild profiles of {day}")
    empty = empty_snapshot()
    return Snapshot(profiles, identifiers, empty.sum_basis, empty.merges, empty.quarantine)


def snapshot_version(store: ObjectStore, day: date | str) -> str | None:
    """A version of the snapshot of `day` that changes whenever any of its content does (a rebuild
    by a backfill with other values): the SHA-256 of its manifest, which records each file's SHA-256.
    None when the day has no snapshot, or one written before the files' digests were recorded."""
    try:
        data = store.read_bytes(manifest_key(day))
    except ObjectNotFound:
        return None
    files = json.loads(data).get("files", {})
    if not files or not all("sha256" in entry for entry in files.values()):
        return None
    return hashlib.sha256(data).hexdigest()


def snapshot_covers(store: ObjectStore, day: date | str) -> dict[str, list[str]]:
    """Per goal, the staged days the snapshot of `day` holds; empty when none are recorded."""
    try:
        manifest = json.loads(store.read_bytes(manifest_key(day)))
    except ObjectNotFound:
        return {}
    return dict(manifest.get("covers", {}))


def previous_snapshot_day(store: ObjectStore, day: date | str) -> str | None:
    """The day of the latest complete snapshot before `day` (gaps skipped); None before the first."""
    return latest_day_before(store, PROFILES_FOLDER, PROFILES_MANIFEST, as_date(day).isoformat())


def read_previous_snapshot(store: ObjectStore, day: date | str) -> Snapshot:
    """The latest complete snapshot before `day` (gaps skipped), or an empty one on the first day."""
    previous = previous_snapshot_day(store, day)
    if previous is None:
        return empty_snapshot()
    snapshot = read_snapshot(store, previous)
    return snapshot if snapshot is not None else empty_snapshot()
