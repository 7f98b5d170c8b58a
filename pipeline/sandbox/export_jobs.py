"""Segment export jobs and their registry: what `Sandbox` holds, apart from the handlers that run them."""

from __future__ import annotations

import copy
import dataclasses
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass
class ExportJob:
    object_prefix: str
    segment_id: str
    fields: list[str]
    custom_names: list[str] | None
    output_format: str
    callback_endpoint: str | None
    requested_at: str
    status: str = "running"  # running, completed, failed, cancelled
    users: int | None = None
    files: list[str] = field(default_factory=list)
    storage: str = ""
    error: str | None = None
    callback: str | None = None  # what happened to the callback
    finished_at: str | None = None
    stop: threading.Event = field(default_factory=threading.Event, repr=False)

    def public(self) -> dict[str, Any]:
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "stop"}


class ExportRegistry:
    def __init__(self) -> None:
        self.jobs: dict[str, ExportJob] = {}

    def running(self, segment_id: str | None = None) -> list[ExportJob]:
        return [j for j in self.jobs.values() if j.status == "running" and segment_id in (None, j.segment_id)]

    def cancel_all(self, segment_id: str | None = None) -> int:
        """Stop running jobs (of one segment, or all); their files so far stay, no callback."""
        jobs = self.running(segment_id)
        for job in jobs:
            finish(job, "cancelled")
            job.stop.set()
        return len(jobs)

    def shutdown(self) -> None:
        """Stop every job, running ones and pending (slow) callbacks alike."""
        self.cancel_all()
        for job in self.jobs.values():
            job.stop.set()


def finish(job: ExportJob, status: str, error: str | None = None) -> None:
    if job.status == "running":
        job.status, job.error, job.finished_at = status, error, datetime.now(UTC).isoformat()
