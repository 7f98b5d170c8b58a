"""Segment exports: resolve the segment, request the export, wait until its files are complete.

Braze writes an export under `segment-export/<segment_id>/<date>/<object_prefix>/`, where the
date is the day the export *finished*, and writes no marker file. So the waiter lists every
date under the segment and takes the folder named by the returned `object_prefix`; the export
is complete when the callback arrived or when the file set stopped changing for a quiet
period. Each file is then read to its end, which both counts the users and proves that no
file is truncated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.braze.callback import CallbackListener
from pipeline.braze.client import BrazeClient
from pipeline.braze.export_files import iter_lines
from pipeline.storage import ObjectInfo, ObjectStore

EXPORT_ROOT = "segment-export"


class SegmentNotFound(LookupError):
    """No Braze segment has that id or name."""


class ExportTimeout(TimeoutError):
    """The export did not complete in time."""


@dataclass(frozen=True)
class ExportManifest:
    """What one segment export produced; stored beside the staged data and shown in the UI."""

    segment_id: str
    segment_name: str
    object_prefix: str
    fields_to_export: list[str]
    completion: str  # "callback" or "quiet_period"
    waited_s: float
    files: list[dict[str, Any]] = field(default_factory=list)  # key (relative to the bucket), size
    users: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_segment(client: BrazeClient, id_or_name: str) -> dict[str, Any]:
    """The segment whose id, or else whose exact name, is `id_or_name`."""
    segments = list(client.iter_segments())
    by_id = [s for s in segments if s.get("id") == id_or_name]
    if by_id:
        return by_id[0]
    by_name = [s for s in segments if s.get("name") == id_or_name]
    if len(by_name) == 1:
        return by_name[0]
    if by_name:
        ids = ", ".join(str(s["id"]) for s in by_name)
        raise SegmentNotFound(f"{len(by_name)} Braze segments are named {id_or_name!r} ({ids}); use the id instead")
    names = ", ".join(repr(s.get("name")) for s in segments[:20])
    raise SegmentNotFound(
        f"no Braze segment has the id or name {id_or_name!r}; segments this key can see: {names or 'none'}"
    )


def export_files(store: ObjectStore, segment_id: str, object_prefix: str) -> list[ObjectInfo]:
    """The files of one export, under whatever date folder Braze chose."""
    return [
        info
        for info in store.list(f"{EXPORT_ROOT}/{segment_id}/")
        if info.key.split("/")[3:4] == [object_prefix] and not info.key.endswith("/")
    ]


def wait_for_files(
    store: ObjectStore,
    segment_id: str,
    object_prefix: str,
    *,
    callback: CallbackListener | None,
    quiet_period_s: float,
    timeout_s: float,
    poll_interval_s: float,
    progress: Callable[[str], None] = lambda message: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[ObjectInfo], str]:
    """Poll until the export is complete; returns its files and how completion was decided."""
    started = clock()
    last_seen: tuple[tuple[str, int], ...] = ()
    stable_since = started
    delay = min(1.0, poll_interval_s)
    while True:
        now = clock()
        if callback is not None and callback.received.is_set():
            if not callback.succeeded:
                raise ExportTimeout(f"Braze called back without success for export {object_prefix}: {callback.bodies}")
            return export_files(store, segment_id, object_prefix), "callback"
        files = export_files(store, segment_id, object_prefix)
        seen = tuple((f.key, f.size) for f in files)
        if seen != last_seen:
            if files:
                progress(f"{len(files)} export file(s) so far under {object_prefix}")
            last_seen, stable_since = seen, now
        elif files and now - stable_since >= quiet_period_s:
            return files, "quiet_period"
        if now - started >= timeout_s:
            where = store.uri(f"{EXPORT_ROOT}/{segment_id}/*/{object_prefix}/")
            state = f"{len(files)} file(s) so far, still changing" if files else "no file appeared"
            raise ExportTimeout(
                f"segment export {object_prefix} did not complete within {timeout_s:.0f} s ({state} at {where}); "
                "check that Braze's S3 export integration writes to this bucket, or raise braze.export_timeout_s"
            )
        sleep(delay)
        delay = min(delay * 2, poll_interval_s)


def count_users(store: ObjectStore, files: list[ObjectInfo]) -> int:
    """Read every file to its end: counts the users and fails loudly on a truncated archive."""
    return sum(1 for info in files for _source, _line, raw in iter_lines(store, info.key) if raw.strip())
