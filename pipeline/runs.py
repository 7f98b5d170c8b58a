"""Run history: one JSON object per finished run and connection, kept in the connection's store.

Records are append-only, at `runs/<connection>/<day>/<ended>-<run_id>.json` where `<ended>` is
the end time as `20261102T030412.345678Z`: sortable as text, safe in any file system. The key
depends only on the run, so writing the same run twice writes the same object.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal

from pipeline import layout
from pipeline.storage import ObjectStore

RUNS_FOLDER = layout.RUNS_FOLDER
COUNTS = ("created", "updated", "unchanged", "quarantined", "sent", "rejected", "data_points")


@dataclass(frozen=True)
class RunRecord:
    """What one run did for one connection.

    `counts` holds at least every name in `COUNTS`; `goal_counts` the same kind of numbers per
    goal (`connection/goal`). `error` is the failing step's message, `failed_step` its asset.
    """

    run_id: str
    connection: str
    job: str
    day: str
    status: Literal["SUCCESS", "FAILURE"]
    started_at: str
    ended_at: str
    goals: list[str]
    counts: dict[str, int]
    goal_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    failed_step: str | None = None
    error: str | None = None
    url: str | None = None
    budget_overrides: list[str] = field(default_factory=list)  # pushes a person let through over budget

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCESS"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        known = {f.name for f in fields(cls)}  # later versions may add fields; old readers skip them
        return cls(**{k: v for k, v in data.items() if k in known})


def iso_utc(moment: datetime) -> str:
    """`2026-11-02T03:04:12.345678Z`: what every record's times look like."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _stamp(ended_at: str) -> str:
    return iso_utc(datetime.fromisoformat(ended_at)).replace("-", "").replace(":", "")


def run_key(record: RunRecord) -> str:
    return layout.run_record(record.connection, record.day, _stamp(record.ended_at), record.run_id)


def is_recorded(store: ObjectStore, record: RunRecord) -> bool:
    """Whether this run of this connection is already in the history."""
    return store.exists(run_key(record))


def append_run(store: ObjectStore, record: RunRecord) -> str:
    """Write the record (atomically, through the store) and return its key."""
    key = run_key(record)
    store.write_bytes(key, json.dumps(record.as_dict(), indent=2, sort_keys=True).encode())
    return key


def list_runs(store: ObjectStore, connection: str | None = None, last: int | None = 20) -> list[RunRecord]:
    """The `last` most recent runs (all when None), newest first by end time.

    Only the chosen records are read: the end time is in the key.
    """
    prefix = f"{RUNS_FOLDER}{connection}/" if connection else RUNS_FOLDER
    keys = [info.key for info in store.list(prefix) if info.key.endswith(".json")]
    keys.sort(key=lambda k: k.rsplit("/", 1)[-1], reverse=True)
    chosen = keys if last is None else keys[: max(last, 0)]
    return [RunRecord.from_dict(json.loads(store.read_bytes(key))) for key in chosen]
