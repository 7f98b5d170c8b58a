"""Progress of long work: a line a log can hold that also carries the counts a bar is drawn from.

The engine reports through the `progress` callables its long steps already take (a line in,
nothing out). Waiting for an export, staging files and pushing pass a `ProgressLine`: it *is*
the line (a `str`), so Dagster's event log, CI output and tests see the same text as before,
and its `counts` let the command line draw a bar from the very same report. The engine never
draws; that is the entry point's business (`assets/app/progress.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

Progress = Callable[[str], None]

EVERY_S = 5.0  # a report at least this often while work goes on ...
EVERY_SHARE = 0.1  # ... and at every tenth of it, so a log gets about ten lines per piece of work


@dataclass(frozen=True)
class Counts:
    """How far one piece of work is. `task` names it the same in every report about it."""

    task: str
    done: float
    total: float | None
    unit: str  # what `done` counts: "users", "files", "s"
    note: str = ""  # what else a bar shows: rate, 429s, ETA; files so far
    finished: bool = False  # the work ended (a bar fills and stops)


class ProgressLine(str):
    """A progress line that also carries its `Counts`."""

    counts: Counts

    def __new__(cls, text: str, counts: Counts) -> ProgressLine:
        line = super().__new__(cls, text)
        line.counts = counts
        return line


def counts_of(message: object) -> Counts | None:
    """The counts a report carries, or None for a plain line."""
    return message.counts if isinstance(message, ProgressLine) else None


class Pace:
    """When a report is due: the first, every tenth of the total, every `EVERY_S`, and the last."""

    def __init__(self, total: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self._clock = total, clock
        self._last_at: float | None = None
        self._next_mark = 0.0

    def due(self, done: float) -> bool:
        now = self._clock()
        quiet = self._last_at is not None and now - self._last_at < EVERY_S
        if done < self.total and done < self._next_mark and quiet:
            return False
        self._last_at = now
        self._next_mark = done + max(1.0, self.total * EVERY_SHARE)
        return True
