"""Segment exports: resolve the segment, request the export, wait until its files are complete.

Braze writes an export under `segment-export/<segment_id>/<date>/<object_prefix>/`, where the
date is the day the export *finished*, and writes no marker file. So the waiter lists every
date under the segment and takes the folder named by the returned `object_prefix`; the export
is complete only with evidence (export_evidence.py): Braze's callback, or a count of the users
in the files that matches Braze's size of the segment once the files stop changing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.braze.callback import CallbackListener
from pipeline.braze.client import BrazeClient
from pipeline.braze.export_evidence import SegmentSize, UserCounter
from pipeline.progress import Counts, ProgressLine
from pipeline.storage import ObjectInfo, ObjectStore

EXPORT_ROOT = "segment-export"
WAITING_EVERY_S = 15.0  # while nothing changes, a "still waiting" report this often


class SegmentNotFound(LookupError):
    """No Braze segment has that id or name."""


class ExportIncomplete(RuntimeError):
    """No evidence that the export is whole: Braze failed it, or neither callback nor count proved it."""


@dataclass(frozen=True)
class ExportManifest:
    """What one segment export produced; stored beside the staged data and shown in the UI."""

    segment_id: str
    segment_name: str
    object_prefix: str
    fields_to_export: list[str]
    completion: str  # the evidence that it is whole: "callback" or "segment_size"
    waited_s: float
    files: list[dict[str, Any]] = field(default_factory=list)  # key (relative to the bucket), size
    users: int = 0
    segment_size: int | None = None  # Braze's estimate, when it was asked for

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
    size: SegmentSize,
    count: UserCounter,
    quiet_period_s: float,
    timeout_s: float,
    poll_interval_s: float,
    progress: Callable[[str], None] = lambda message: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[ObjectInfo], str]:
    """Poll until there is evidence that the export is whole; returns its files and the evidence.

    The evidence is Braze's callback, or, once the files have not changed for `quiet_period_s`,
    a count of their users within tolerance of Braze's segment size (asked again every quiet
    period while the files stay as they are, since the callback may yet come). A callback
    without success fails at once; no evidence within `timeout_s` fails with what was found.
    """
    started = clock()
    last_seen: tuple[tuple[str, int], ...] = ()
    stable_since = reported_at = started
    checked_at: float | None = None
    why_not: str | None = None
    delay = min(1.0, poll_interval_s)

    def report(text: str, files: int, now: float, finished: bool = False) -> None:
        note = f"{files} file(s) so far, timeout {timeout_s:.0f} s"
        task = f"segment {segment_id} export"
        progress(ProgressLine(text, Counts(task, min(now - started, timeout_s), timeout_s, "s", note, finished)))

    while True:
        now = clock()
        if callback is not None and callback.received.is_set():
            if not callback.succeeded:
                raise ExportIncomplete(
                    f"Braze called back without success for segment export {object_prefix}: {callback.bodies}; "
                    "Braze e-mails the reason; re-run the day to request a new export"
                )
            files = export_files(store, segment_id, object_prefix)
            report(f"export {object_prefix} complete (Braze's callback): {len(files)} file(s)", len(files), now, True)
            return files, "callback"
        files = export_files(store, segment_id, object_prefix)
        seen = tuple((f.key, f.size) for f in files)
        if seen != last_seen:
            if files:
                report(f"{len(files)} export file(s) so far under {object_prefix}", len(files), now)
                reported_at = now
            last_seen, stable_since, checked_at, why_not = seen, now, None, None
        elif now - reported_at >= WAITING_EVERY_S:
            waited = f"{now - started:.0f} s of {timeout_s:.0f} s"
            report(f"waiting for export {object_prefix}: {len(files)} file(s) so far, {waited}", len(files), now)
            reported_at = now
        elif (
            files
            and now - stable_since >= quiet_period_s
            and (checked_at is None or now - checked_at >= max(quiet_period_s, poll_interval_s))
        ):
            checked_at = now
            why_not = size.mismatch(count(files), len(files))
            if why_not is None:
                report(f"export {object_prefix} complete (segment size): {len(files)} file(s)", len(files), now, True)
                return files, "segment_size"
            progress(f"export {object_prefix} not proven complete yet: {why_not}")
        if now - started >= timeout_s:
            raise ExportIncomplete(_incomplete(store, segment_id, object_prefix, timeout_s, files, why_not, callback))
        sleep(delay)
        delay = min(delay * 2, poll_interval_s)


def _incomplete(
    store: ObjectStore,
    segment_id: str,
    object_prefix: str,
    timeout_s: float,
    files: list[ObjectInfo],
    why_not: str | None,
    callback: CallbackListener | None,
) -> str:
    """Why the wait ended without evidence, and what to do about it."""
    where = store.uri(f"{EXPORT_ROOT}/{segment_id}/*/{object_prefix}/")
    if not files:
        return (
            f"segment export {object_prefix} did not complete within {timeout_s:.0f} s (no file appeared at {where}); "
            "check that Braze's S3 export integration writes to this bucket, or raise braze.export_timeout_s"
        )
    if why_not is None:
        return (
            f"segment export {object_prefix} did not complete within {timeout_s:.0f} s ({len(files)} file(s) so far "
            f"at {where}, not yet unchanged for braze.export_quiet_period_s); raise braze.export_timeout_s"
        )
    heard = "Braze's callback never came" if callback is not None else "no callback can reach this machine"
    return (
        f"segment export {object_prefix} incomplete after {timeout_s:.0f} s: {why_not}; {heard}. Nothing was "
        "recorded for the day. If Braze is still writing, raise braze.export_timeout_s; if the export failed "
        "(Braze e-mails why), re-run the day to request a new export"
    )
