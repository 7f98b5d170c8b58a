"""Evidence that a segment export is whole: Braze's callback, or a count matching the segment.

Braze writes no marker file (reference 4.3), so a bucket that stops changing may hold a
finished export or a stalled one, and waiting longer cannot tell which. Two things can:

- the callback Braze POSTs once every file is written (`{"success": true}`), when Braze can
  reach this machine;
- the segment's size from `GET /segments/data_series` (Braze's daily estimate, kept only for
  segments with analytics tracking on), compared with the users actually in the files, within
  `braze.export_size_tolerance` of that size.

Without one of them the export is not complete and the step fails; silence is not evidence.
Counting reads every file to its end, which also proves that no file is truncated; a file
is read once however often the count is asked for, since Braze never rewrites one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.braze.client import BrazeClient
from pipeline.braze.errors import BrazeError, BrazePermissionError
from pipeline.braze.export_files import iter_lines
from pipeline.storage import ObjectInfo, ObjectStore


class SizeUnavailable(RuntimeError):
    """Braze keeps no size for the segment, so a count cannot prove an export whole."""


class UserCounter:
    """Users in export files, each file (by key and size) read once."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self._counts: dict[tuple[str, int], int] = {}

    def __call__(self, files: list[ObjectInfo]) -> int:
        for info in files:
            if (info.key, info.size) not in self._counts:
                lines = iter_lines(self._store, info.key)
                self._counts[(info.key, info.size)] = sum(1 for _source, _line, raw in lines if raw.strip())
        return sum(self._counts[(info.key, info.size)] for info in files)


@dataclass
class SegmentSize:
    """Braze's size of one segment, and whether a count of exported users matches it."""

    client: BrazeClient
    segment_id: str
    segment_name: str
    tolerance: float
    last: int | None = field(default=None, init=False)

    def fetch(self) -> int:
        """The size now; SizeUnavailable naming what to turn on when Braze has none."""
        try:
            size = self.client.segment_size(self.segment_id)
        except BrazePermissionError as exc:
            raise SizeUnavailable(
                f"Braze refused the size of segment {self.segment_name!r} ({exc.braze_message}): create a "
                "REST API key with the segments.data_series permission"
            ) from None
        if size is None:
            raise SizeUnavailable(
                f"Braze keeps no size for segment {self.segment_name!r}: turn on analytics tracking for the "
                "segment in Braze (sizes start the next day)"
            )
        self.last = size
        return size

    def mismatch(self, users: int, files: int) -> str | None:
        """None when `users` is within the tolerance of Braze's size; otherwise what differs."""
        try:
            size = self.fetch()
        except (SizeUnavailable, BrazeError) as exc:
            return f"{users:,} users in {files} file(s), and no size to compare with: {exc}"
        if abs(users - size) <= self.tolerance * size:
            return None
        return (
            f"{users:,} users in {files} file(s), Braze counts {size:,} in segment {self.segment_name!r} "
            f"(tolerance {self.tolerance:.1%})"
        )
