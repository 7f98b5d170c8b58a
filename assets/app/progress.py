"""`profilesync run`'s progress bars: rich on an interactive terminal, plain lines everywhere else.

The engine's long work (waiting for a segment export, staging its files, pushing) reports
`Counts` with its log lines (pipeline/progress.py, assets/progress.py). On a terminal each piece
of work gets one bar that moves in place; other lines print above the bars. In CI, under the
Dagster daemon, into a pipe, with `--no-progress` or `TERM=dumb`, the same reports stay one
plain line each.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from pipeline.progress import Counts

_active: ProgressDisplay | None = None  # the display of the run going on in this process, if any


def wanted(enabled: bool = True, stream: TextIO | None = None) -> bool:
    """Bars only when asked for, on an interactive terminal that can move its cursor."""
    stream = stream or sys.stderr
    return enabled and stream.isatty() and os.environ.get("TERM", "") != "dumb"


def _amount(value: float, unit: str) -> str:
    return f"{value:,.0f}" if unit != "s" else f"{value:.0f}"


class ProgressDisplay:
    """One rich bar per piece of work, keyed by `Counts.task`; plain lines print above them."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[amount]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}"),
            console=console,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> ProgressDisplay:
        self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.stop()

    def line(self, text: str) -> None:
        self._bars.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def update(self, counts: Counts) -> None:
        total = counts.total if counts.total is not None else None
        amount = f"{_amount(counts.done, counts.unit)}/{_amount(total, counts.unit) if total else '?'} {counts.unit}"
        task = self._tasks.get(counts.task)
        if task is None:
            task = self._tasks[counts.task] = self._bars.add_task(counts.task, total=total, amount="", note="")
        done = total if counts.finished and total else counts.done
        self._bars.update(task, completed=done, total=total, amount=amount, note=counts.note)
        if counts.finished:
            self._bars.stop_task(task)
        self._bars.refresh()


@contextlib.contextmanager
def showing(enabled: bool = True, console: Console | None = None) -> Iterator[ProgressDisplay | None]:
    """Bars for the runs started inside, when `wanted` (or on `console`, which tests pass)."""
    global _active
    if console is None and not wanted(enabled):
        yield None
        return
    with ProgressDisplay(console or Console(stderr=True)) as display:
        _active = display
        try:
            yield display
        finally:
            _active = None


def active() -> ProgressDisplay | None:
    """The display the run's console logger draws on, or None for plain lines."""
    return _active
