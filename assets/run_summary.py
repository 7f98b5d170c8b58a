"""A finished Dagster run, told as one connection's `RunRecord`: counts, goals, the error, a link.

The counts are the metadata of the run's materialisations, summed over the connection's goal
assets (`<connection>/<goal>/<step>`) and the store-level assets the run built (profiles,
interactions: keys of two parts). Profile counts are therefore the store's: connections
sharing a store report the same created/updated/unchanged.
"""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from dagster import DagsterEventType

from pipeline.mapping import Connection
from pipeline.runs import COUNTS, RunRecord, iso_utc

UI_URL_ENV = "PROFILESYNC_UI_URL"

# step -> count -> metadata keys, the first present wins
RUN_COUNTS = {
    "staged_users": {"quarantined": ("quarantined",)},
    "profiles": {
        "created": ("profiles_created",),
        "updated": ("profiles_updated",),
        "unchanged": ("profiles_unchanged",),
        "quarantined": ("quarantined",),
    },
    "braze_push": {"sent": ("users_sent", "users_accepted"), "rejected": ("users_rejected",),
                   "data_points": ("data_points",)},
}  # fmt: skip
GOAL_COUNTS = {
    "segment_export": {"exported": ("dagster/row_count",)},
    "staged_users": {"quarantined": ("quarantined",)},
    "user_changes": {"added": ("added",), "seen": ("seen_changed",), "changed": ("changed",), "echoes": ("echoes",),
                     "removed": ("removed",)},
    "segment_members": {"members": ("dagster/row_count",)},
    "export_payload": {"dead_letters": ("dead_letters",)},
    "braze_push": {"sent": ("users_sent", "users_accepted"), "accepted": ("users_accepted",),
                   "rejected": ("users_rejected",), "data_points": ("data_points",)},
}  # fmt: skip
MAX_ERROR = 2000


def run_url(run_id: str) -> str | None:
    """`$PROFILESYNC_UI_URL/runs/<run id>`, the run's page in the Dagster UI; None when unset."""
    base = os.environ.get(UI_URL_ENV, "").strip().rstrip("/")
    return f"{base}/runs/{run_id}" if base else None


def _add(into: dict[str, int], table: dict[str, tuple[str, ...]], metadata: dict[str, Any]) -> None:
    for name, keys in table.items():
        for key in keys:
            value = getattr(metadata.get(key), "value", metadata.get(key))
            if isinstance(value, int | float) and not isinstance(value, bool):
                into[name] = into.get(name, 0) + int(value)
                break


def error_text(error: Any) -> str:
    """The innermost cause, as `ErrorClass: message` (not Dagster's wrapper around it)."""
    while error.cause is not None:
        error = error.cause
    message = error.message.strip()
    head, sep, rest = message.partition(": ")
    text = f"{error.cls_name}: {rest}" if sep and head.endswith(error.cls_name or "\0") else message
    return text if len(text) <= MAX_ERROR else text[:MAX_ERROR] + " …"


def _belongs(key: dg.AssetKey, connection: Connection) -> bool:
    return (len(key.path) == 3 and key.path[0] == connection.name) or len(key.path) == 2


def _events(instance: dg.DagsterInstance, run_id: str) -> list[dg.DagsterEvent]:
    wanted = {
        DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
        DagsterEventType.ASSET_MATERIALIZATION,
        DagsterEventType.STEP_FAILURE,
        DagsterEventType.RUN_FAILURE,
    }
    records = instance.get_records_for_run(run_id, of_type=wanted).records
    return [r.event_log_entry.dagster_event for r in records if r.event_log_entry.dagster_event]


def _times(instance: dg.DagsterInstance, run: dg.DagsterRun) -> tuple[str, str]:
    record = instance.get_run_record_by_id(run.run_id)
    now = datetime.now(UTC).timestamp()
    started = (record.start_time or record.create_timestamp.timestamp()) if record else now
    ended = (record.end_time if record else None) or now
    return iso_utc(datetime.fromtimestamp(started, UTC)), iso_utc(datetime.fromtimestamp(ended, UTC))


def summarize_run(instance: dg.DagsterInstance, run: dg.DagsterRun, connection: Connection) -> RunRecord:
    """The record of `run` for `connection` (a run of `profilesync run` may hold several connections)."""
    events = _events(instance, run.run_id)
    step_assets: dict[str, dg.AssetKey] = {}
    planned: set[dg.AssetKey] = set()
    done: set[dg.AssetKey] = set()
    counts = dict.fromkeys(COUNTS, 0)
    goal_counts: dict[str, dict[str, int]] = defaultdict(dict)
    failures: list[tuple[str, str, bool]] = []  # (asset or step, error, the connection's own)
    overrides: list[str] = []
    run_error = None
    for event in events:
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED and event.asset_key:
            step_assets[event.step_key or ""] = event.asset_key
            if _belongs(event.asset_key, connection):
                planned.add(event.asset_key)
        elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION and event.asset_key:
            key = event.asset_key
            if not _belongs(key, connection):
                continue
            done.add(key)
            metadata = dict(event.step_materialization_data.materialization.metadata)
            _add(counts, RUN_COUNTS.get(key.path[-1], {}), metadata)
            if "budget_overridden" in metadata:
                overrides.append(str(getattr(metadata["budget_overridden"], "value", metadata["budget_overridden"])))
            if len(key.path) == 3:
                _add(goal_counts[f"{key.path[0]}/{key.path[1]}"], GOAL_COUNTS.get(key.path[-1], {}), metadata)
        elif event.event_type == DagsterEventType.STEP_FAILURE:
            asset = step_assets.get(event.step_key or "")
            step = asset.to_user_string() if asset else event.step_key or "unknown step"
            error = error_text(event.step_failure_data.error) if event.step_failure_data.error else "no message"
            failures.append((step, error, asset is not None and _belongs(asset, connection)))
        elif event.event_type == DagsterEventType.RUN_FAILURE:
            run_error = event.message

    goals = [f"{connection.name}/{g.name}" for g in [*connection.imports, *connection.exports]]
    ran = {f"{k.path[0]}/{k.path[1]}" for k in planned if len(k.path) == 3}
    goals = [g for g in goals if g in ran] or goals
    failed_step = error = None
    status = "SUCCESS"
    if run.status == dg.DagsterRunStatus.FAILURE or run_error is not None:
        own = [f for f in failures if f[2]]
        if own or planned - done or not failures:
            status = "FAILURE"
            failed_step, error = (own or failures or [(None, run_error or "the run failed", False)])[0][:2]
    started_at, ended_at = _times(instance, run)
    return RunRecord(
        run_id=run.run_id,
        connection=connection.name,
        job=run.job_name,
        day=run.tags.get("dagster/partition") or "unpartitioned",
        status=status,
        started_at=started_at,
        ended_at=ended_at,
        goals=goals,
        counts=counts,
        goal_counts={g: goal_counts.get(g, {}) for g in goals},
        failed_step=failed_step,
        error=error,
        url=run_url(run.run_id),
        budget_overrides=overrides,
    )
