"""Engine progress into a step's log: the line for the event log, its counts for a terminal's bar.

Dagster hands a log call's `extra` to the run's loggers; `profilesync run`'s console logger
(`assets/app/run_logging.py`) draws a bar from it on an interactive terminal. Every other
logger, the event log and the UI keep the plain line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pipeline.progress import counts_of

PROGRESS_ATTR = "profilesync_progress"  # the log record attribute that holds a report's Counts


def step_progress(log: logging.Logger) -> Callable[[str], None]:
    """A `progress` callable for engine calls made by a step that logs to `log` (`context.log`)."""

    def report(message: str) -> None:
        counts = counts_of(message)
        log.info(str(message), extra={PROGRESS_ATTR: counts} if counts is not None else None)

    return report
