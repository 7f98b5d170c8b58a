"""How `profilesync run` shows a run while it happens: progress, and failures only once.

Dagster's default console logger prints every failure with its stack trace, three times (the
step, the skipped steps after it, the run), about sixty lines before `profilesync run` prints
its own summary. Here the console shows what steps log below ERROR, one short line each; the
failures are told once, by the summary, from the run's events. The event log and the UI keep
everything, stack traces included. Long work's reports draw bars on an interactive terminal
(assets/app/progress.py) and stay one line each elsewhere.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster._core.log_manager import LOG_RECORD_METADATA_ATTR

from assets.app.progress import ProgressDisplay, active
from assets.progress import PROGRESS_ATTR

_RUN_JOB = "__ephemeral_asset_job__"  # the job name dg.materialize gives, so run histories stay alike


class _Progress(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, LOG_RECORD_METADATA_ATTR, None) or {}
        step = meta.get("step_key") or "run"
        message = meta.get("orig_message") or record.getMessage()
        return f"{self.formatTime(record, '%H:%M:%S')} {step}: {message}"


class _Bars(logging.Handler):
    """Reports with counts move their bar; every other line prints above the bars."""

    def __init__(self, display: ProgressDisplay) -> None:
        super().__init__()
        self.display = display

    def emit(self, record: logging.LogRecord) -> None:
        counts = getattr(record, PROGRESS_ATTR, None)
        if counts is not None:
            self.display.update(counts)
        else:
            self.display.line(self.format(record))


@dg.logger(
    {"log_level": dg.Field(str, is_required=False, default_value="INFO", description="The logger's threshold.")},
    description="Progress on stderr: bars on a terminal, else one line per message below ERROR; failures are "
    "left to the summary.",
)
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("profilesync", level=init_context.logger_config["log_level"])
    display = active()
    handler = _Bars(display) if display is not None else logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Progress())
    handler.addFilter(lambda record: record.levelno < logging.ERROR)
    logger.addHandler(handler)
    return logger


def materialize_quietly(
    assets: Sequence[dg.AssetsDefinition],
    *,
    selection: Sequence[dg.AssetKey],
    partition_key: str,
    instance: dg.DagsterInstance,
    resources: Mapping[str, Any],
    raise_on_error: bool = False,
    run_config: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """`dg.materialize` with `progress_logger` as the console logger (`materialize` takes no loggers)."""
    defs = dg.Definitions(
        assets=assets,
        resources=resources,
        jobs=[dg.define_asset_job(_RUN_JOB, selection=selection)],
        loggers={"console": progress_logger},
    )
    return defs.resolve_job_def(_RUN_JOB).execute_in_process(
        run_config=run_config,
        instance=instance,
        partition_key=partition_key,
        raise_on_error=raise_on_error,
        tags=tags,
    )
