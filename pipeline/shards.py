"""Hash shards of the profile id: one store seen per shard, and a shard's profiles of a day.

With `storage.shards: N` (N > 1) the import steps stay per day (one Braze export, staged and
diffed once), and everything from `profiles` on runs per (day, shard). A shard owns the profiles
whose id hashes to it (`shard_of`); it writes under `shards/<k>-of-<N>/` (`ShardView`), so shards
never write the same key, and each builds on its own previous day.

Identity stays global and exact: each shard reads every shard's identifiers and sum bases of the
previous day (ids and numbers only, small next to the profiles) and the full rows of just the
profiles the day's records match, wherever they live; it then resolves the whole day the same
way every other shard does (profile ids are hashes of day, goal and Braze id) and keeps its own
part. A merge whose survivor is in this shard brings the merged profile's values along; the shard
that held the merged profile drops it. The union of the shards is the 1-shard snapshot.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any, BinaryIO

import polars as pl

from pipeline import layout
from pipeline.imports import profile_inputs
from pipeline.mapping import Connection, ImportGoal
from pipeline.profiles import DayReport, Snapshot, build_day, write_snapshot
from pipeline.profiles.fields import ACTIVE, CHANGE, REC, record_keys
from pipeline.profiles.report import day_counts
from pipeline.profiles.snapshot import (
    IDENTIFIER_ORDER,
    MERGES_ORDER,
    PROFILE_ID,
    QUARANTINE_ORDER,
    SUM_BASIS_ORDER,
    canonical_profiles,
    empty_snapshot,
)
from pipeline.profiles.store import manifest_key, previous_snapshot_day
from pipeline.storage import ObjectInfo, ObjectStore, StorageError
from pipeline.storage.parquet import scan_parquet

HEX_DIGITS = 8  # profile ids are blake2b hex (identity.new_profile_ids); their first 32 bits pick the shard


class ShardError(RuntimeError):
    """The shards of a store disagree, or a profile id cannot be placed; the message names the fix."""


def shard_of(profile_id: pl.Expr, shards: int) -> pl.Expr:
    """The shard of each profile id: stable across processes, machines and library versions."""
    return profile_id.str.slice(0, HEX_DIGITS).str.to_integer(base=16, strict=False) % shards


def _spread(column: str, shards: int) -> pl.Expr:
    """Where a row keyed by Braze id goes (sum bases, quarantine): any fixed split works, since
    every shard reads all of them back."""
    return pl.col(column).hash(seed=0) % shards


class ShardView(ObjectStore):
    """The store as one shard sees it: the import goals' folders (`shared`) at the top, shared by
    every shard; every other key under the shard's folder. Listing a folder that holds both fails,
    so no caller silently sees half of the store."""

    def __init__(self, base: ObjectStore, folder: str, shared: Sequence[str]) -> None:
        self.base, self.folder, self.shared = base, folder, tuple(shared)
        self.root = base.uri(folder)

    def _key(self, key: str) -> str:
        return key if key.startswith(self.shared) else self.folder + key

    def uri(self, key: str) -> str:
        return self.base.uri(self._key(key))

    def open(self, key: str) -> BinaryIO:
        return self.base.open(self._key(key))

    def write_fileobj(self, key: str, source: BinaryIO) -> None:
        self.base.write_fileobj(self._key(key), source)

    def exists(self, key: str) -> bool:
        return self.base.exists(self._key(key))

    def delete(self, key: str) -> None:
        self.base.delete(self._key(key))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        if prefix.startswith(self.shared):
            yield from self.base.list(prefix)
            return
        if any(folder.startswith(prefix) for folder in self.shared):
            raise StorageError(f"cannot list {prefix!r} of shard {self.root}: it holds shared and per-shard objects")
        for info in self.base.list(self.folder + prefix):
            yield ObjectInfo(info.key[len(self.folder) :], info.size, info.modified)

    def read_versioned(self, key: str) -> tuple[bytes, str]:
        return self.base.read_versioned(self._key(key))

    def write_if(self, key: str, data: bytes, version: str | None) -> bool:
        return self.base.write_if(self._key(key), data, version)

    def delete_if(self, key: str, version: str) -> bool:
        return self.base.delete_if(self._key(key), version)


def shard_view(store: ObjectStore, members: Sequence[Connection], shard: int) -> ShardView:
    """Shard `shard` of the store of `members` (the connections on its root)."""
    shards = members[0].storage.shards
    if not 0 <= shard < shards:
        raise ShardError(f"shard {shard} does not exist: storage.shards is {shards} (shards 0 to {shards - 1})")
    shared = [layout.goal_folder(c.name, g.name) for c in members for g in c.imports]
    return ShardView(store, layout.shard_folder(shard, shards), shared)


def _frames(view: ObjectStore, day: str) -> dict[str, str]:
    """The snapshot files of `day` in one shard, by frame name, from its manifest."""
    manifest = json.loads(view.read_bytes(manifest_key(day)))
    return {name: entry["key"] for name, entry in manifest["files"].items()}


def touched_profiles(identifiers: pl.DataFrame, inputs: Sequence[tuple[Any, ...]]) -> pl.Series:
    """Every profile an identifier of the day's added or changed records points at, in any goal."""
    keys = [
        record_keys(changes.filter(pl.col(CHANGE).is_in(ACTIVE)).with_row_index(REC), rules).select("kind", "value")
        for rules, changes, *_ in inputs
    ]
    if not keys:
        return pl.Series(PROFILE_ID, [], pl.String)
    return pl.concat(keys).unique().join(identifiers, on=["kind", "value"])[PROFILE_ID].unique().sort()


def combined_previous(
    views: Sequence[ObjectStore], shard: int, day: str, inputs: Sequence[tuple[Any, ...]]
) -> Snapshot:
    """The snapshot shard `shard` builds on: every shard's identifiers and sum bases of the day before,
    its own profiles, and the profiles of other shards the day's records match."""
    days = {previous_snapshot_day(view, day) for view in views}
    if len(days) > 1:
        listed = ", ".join(f"shard {k}: {previous_snapshot_day(v, day) or 'none'}" for k, v in enumerate(views))
        raise ShardError(
            f"the shards' latest snapshots before {day} differ ({listed}); materialize the missing days of "
            "the shards that lag first, in day order"
        )
    (before,) = days
    empty = empty_snapshot()
    if before is None:
        return empty
    files = [_frames(view, before) for view in views]
    pairs = list(zip(views, files, strict=True))

    def every(name: str, order: list[str]) -> pl.DataFrame:
        return pl.concat([scan_parquet(v, f[name]) for v, f in pairs]).collect().sort(order)

    identifiers, basis = every("identifiers", IDENTIFIER_ORDER), every("sum_basis", SUM_BASIS_ORDER)
    touched = pl.col(PROFILE_ID).is_in(touched_profiles(identifiers, inputs).implode())

    def rows(name: str) -> pl.DataFrame:
        parts = [
            scan_parquet(v, f[name]) if k == shard else scan_parquet(v, f[name]).filter(touched)
            for k, (v, f) in enumerate(pairs)
            if name in f
        ]
        if not parts:
            return getattr(empty, name)
        return pl.concat(parts, how="diagonal_relaxed").collect().sort(PROFILE_ID)

    return Snapshot(
        profiles=canonical_profiles(rows("profiles")),
        identifiers=identifiers,
        sum_basis=basis,
        merges=empty.merges,
        quarantine=empty.quarantine,
        provenance=rows("provenance") if all("provenance" in f for f in files) else empty.provenance,
    )


def own_part(snapshot: Snapshot, report: DayReport, shard: int, shards: int, day: date) -> tuple[Snapshot, DayReport]:
    """The shard's rows of the day's snapshot; the report's profile counts are the shard's own."""
    bad = snapshot.profiles.filter(shard_of(pl.col(PROFILE_ID), shards).is_null())[PROFILE_ID].head(3)
    if not bad.is_empty():
        raise ShardError(f"profile ids {bad.to_list()} are not hexadecimal, so they fall in no shard; use shards: 1")
    mine = shard_of(pl.col(PROFILE_ID), shards) == shard
    part = Snapshot(
        profiles=snapshot.profiles.filter(mine),
        identifiers=snapshot.identifiers.filter(mine),
        sum_basis=snapshot.sum_basis.filter(_spread("braze_id", shards) == shard).sort(SUM_BASIS_ORDER),
        merges=snapshot.merges.filter(shard_of(pl.col("survivor_id"), shards) == shard).sort(MERGES_ORDER),
        quarantine=snapshot.quarantine.filter(_spread("braze_id", shards) == shard).sort(QUARANTINE_ORDER),
        provenance=snapshot.provenance.filter(mine),
    )
    return part, dataclasses.replace(report, **day_counts(part, day))


def run_shard_profiles(
    store: ObjectStore,
    goals: list[tuple[Connection, ImportGoal]],
    day: str,
    members: Sequence[Connection],
    shard: int,
) -> tuple[Snapshot, DayReport, dict[str, Any]]:
    """Shard `shard`'s profiles of `day`: `run_profiles` of a sharded store. The goals' counts in the
    report are the whole day's (every shard resolves every record); the profile counts are the shard's."""
    shards = members[0].storage.shards
    views = [shard_view(store, members, k) for k in range(shards)]
    covers, inputs = profile_inputs(views[shard], goals, day, members)
    previous = combined_previous(views, shard, day, inputs)
    on = date.fromisoformat(day)
    snapshot, report = build_day(previous, inputs, on)
    snapshot, report = own_part(snapshot, report, shard, shards, on)
    manifest = write_snapshot(views[shard], day, snapshot, report, covers)
    return snapshot, report, manifest


def side_store(store: ObjectStore, members: Sequence[Connection], shard: int | None) -> ObjectStore:
    """The store the profile-side steps of a run write to: the store itself, or the run's shard."""
    return store if shard is None else shard_view(store, members, shard)


def other_shards(store: ObjectStore, members: Sequence[Connection], shard: int | None) -> list[ObjectStore]:
    """Every shard of the store but `shard` (none in an unsharded store): whose push baselines a
    shard's diff also reads, for the Braze users whose profile a merge moved to it."""
    if shard is None:
        return []
    return [shard_view(store, members, k) for k in range(members[0].storage.shards) if k != shard]
