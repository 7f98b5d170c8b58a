"""`profilesync run`: materialise every enabled connection's assets for one day, through Dagster.

Runs go through `dg.materialize` against a persistent instance, so they are recorded exactly
as runs launched from the UI are (same event log, same asset history, same checks). Each run is
also appended to every connection's run history (`runs/`, `profilesync runs`); e-mail comes only
from the run-status sensors under the Dagster daemon, which do not see these runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from assets.app.progress import showing
from assets.app.run_logging import materialize_quietly
from assets.build import group_assets, store_groups
from assets.resources import connection_resources, store_at
from assets.run_lock import INSTANCE_SETTINGS, day_lease, fail_dead_runs
from assets.run_summary import error_text, summarize_run
from pipeline.mapping import Connection
from pipeline.preflight import check_day, ready_connections, today, unsharded
from pipeline.run_lock import folder_lock
from pipeline.runs import append_run
from pipeline.storage import StorageError

DEFAULT_HOME = Path(".dagster_home")


@dataclass
class StepSummary:
    key: str
    metadata: dict[str, Any]


@dataclass
class RunSummary:
    run_id: str
    success: bool
    day: str
    connections: list[str]
    steps: list[StepSummary] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def dagster_instance(home: Path | None = None) -> dg.DagsterInstance:
    """The instance in `$DAGSTER_HOME`, or in `.dagster_home/` beside the mappings when unset.

    Point `dagster dev` at the same folder (`DAGSTER_HOME=$PWD/.dagster_home`) to see these runs.
    """
    folder = home or Path(os.environ.get("DAGSTER_HOME") or DEFAULT_HOME)
    folder = folder.resolve()
    settings = folder / "dagster.yaml"
    with folder_lock(folder):  # two processes creating the instance's databases at once corrupt them
        if not settings.exists():  # no telemetry: nothing leaves the machine but what the user configures
            settings.write_text(INSTANCE_SETTINGS)
        os.environ["DAGSTER_HOME"] = str(folder)
        instance = dg.DagsterInstance.get()
        instance.get_runs(limit=1)  # creates or migrates the storages while we hold the lock
        instance.get_latest_materialization_event(dg.AssetKey("profilesync"))
        instance.all_instigator_state()
    return instance


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


def step_config(assets: list[dg.AssetsDefinition], selection: list[dg.AssetKey], step: str, config: dict[str, Any]
                ) -> dict[str, Any]:  # fmt: skip
    """Run config giving `config` to every selected asset of kind `step` (e.g. `segment_export`'s
    `refresh`, `braze_push`'s `override_budget`)."""
    chosen = set(selection)
    return {
        asset.op.name: {"config": config} for asset in assets if asset.key in chosen and asset.key.path[-1] == step
    }


def run_day(
    day: str,
    connections: list[Connection],
    instance: dg.DagsterInstance,
    refresh: bool = False,
    wait: bool = False,
    override_budget: bool = False,
    select: Callable[[list[dg.AssetsDefinition]], set[dg.AssetKey]] | None = None,
    history: bool = True,
) -> list[RunSummary]:
    """One run per profile store, each materialising its enabled connections in dependency order.

    `refresh` asks Braze for a new export of every import goal even when the day has one;
    `override_budget` lets every push send over its goal's budget. Each run holds its store's
    day (`assets/run_lock.py`): another run of it fails with RunLocked, or waits when `wait`.
    `select` narrows a store's assets to the keys it returns (a store left with none is not run);
    `history: False` keeps the runs out of the connections' run history (`profilesync plan`)."""
    unsharded(connections, "run")  # one run per (day, shard) is Dagster's job; see assets/build.py
    summaries = []
    for members in store_groups(connections):
        active = [c for c in members if c.enabled]
        if not active:
            continue
        check_day(day, active)
        assets = group_assets(members)
        wanted = {c.name for c in active}
        chosen = select(assets) if select else {a.key for a in assets}
        selection = [a.key for a in assets if a.key.path[0] in wanted and a.key in chosen]
        if not selection:
            continue
        ops = {
            **(step_config(assets, selection, "segment_export", {"refresh": True}) if refresh else {}),
            **(step_config(assets, selection, "braze_push", {"override_budget": True}) if override_budget else {}),
        }
        resources = {k: v for c in members for k, v in connection_resources(c).items()}
        with day_lease(instance, members, day, sorted(wanted), wait) as lease_tags:
            result = materialize_quietly(
                assets,
                selection=selection,
                partition_key=day,
                instance=instance,
                resources=resources,
                raise_on_error=False,
                run_config={
                    "loggers": {"console": {"config": {"log_level": "INFO"}}},
                    **({"ops": ops} if ops else {}),
                },
                tags={"profilesync/connections": ",".join(sorted(wanted)), **lease_tags},
            )
        summary = RunSummary(result.run_id, result.success, day, sorted(wanted))
        for event in result.get_asset_materialization_events():
            materialization = event.materialization
            summary.steps.append(
                StepSummary(
                    materialization.asset_key.to_user_string(),
                    {k: _plain(v) for k, v in materialization.metadata.items()},
                )
            )
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data.error:
                summary.failures.append(f"{event.step_key}: {error_text(event.step_failure_data.error)}")
        for check in result.get_asset_check_evaluations():
            if not check.passed:
                summary.failures.append(f"check {check.check_name} of {check.asset_key.to_user_string()} failed")
        if history:
            record_history(instance, result.dagster_run, active, summary)
        summaries.append(summary)
    return summaries


def record_history(
    instance: dg.DagsterInstance, run: dg.DagsterRun, connections: list[Connection], summary: RunSummary
) -> None:
    """The run in each connection's run history; a store that refuses it is reported, not fatal."""
    for connection in connections:
        try:
            append_run(store_at(connection.storage.root), summarize_run(instance, run, connection))
        except StorageError as exc:
            summary.failures.append(f"run history of {connection.name} not written: {exc}")


_SHOWN = {
    "segment_export": ("dagster/row_count", "files", "completion", "reused"),
    "staged_users": ("dagster/row_count", "quarantined"),
    "user_changes": ("added", "seen_changed", "changed", "echoes", "removed", "unchanged"),
    "profiles": ("dagster/row_count", "profiles_created", "profiles_updated", "profiles_unchanged", "merges",
                 "quarantined"),
    "interactions": ("dagster/row_count",),
    "segment_members": ("dagster/row_count", "joined", "left"),
    "export_payload": ("dagster/row_count", "identities", "dead_letters"),
    "export_changes": ("users", "attributes", "removals", "held_back", "data_points_forecast"),
    "braze_push": ("users_accepted", "users_rejected", "held_back", "requests", "rate_limited", "timeouts",
                   "data_points", "data_points_maybe_twice", "data_points_full_profile", "budget_overridden"),
}  # fmt: skip
_LABELS = {
    "seen_changed": "seen changed",
    "echoes": "echoes of our own pushes",
    "dagster/row_count": "rows",
    "profiles_created": "created",
    "profiles_updated": "updated",
    "profiles_unchanged": "unchanged",
    "users_accepted": "users accepted",
    "users_rejected": "rejected",
    "data_points_forecast": "data points forecast",
    "held_back": "held back (newer in Braze)",
    "data_points": "data points",
    "data_points_full_profile": "a full-profile push would spend",
    "timeouts": "answers lost",
    "data_points_maybe_twice": "data points maybe spent twice",
    "budget_overridden": "budget:",
}
_ONLY_IF_ANY = {"timeouts", "data_points_maybe_twice", "budget_overridden"}  # rare; a zero would be noise on every run


def describe(step: StepSummary) -> str:
    """The few numbers of a step a person wants to read after a run."""
    names = _SHOWN.get(step.key.rsplit("/", 1)[-1], ("dagster/row_count",))
    parts = []
    for name in names:
        if name in step.metadata and (step.metadata[name] or name not in _ONLY_IF_ANY):
            value = step.metadata[name]
            shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
            parts.append(f"{_LABELS.get(name, name)} {shown}")
    return ", ".join(parts)


def print_summaries(summaries: list[RunSummary]) -> None:
    from rich.table import Table

    from pipeline.console import console, shown

    for summary in summaries:
        status = "[green]succeeded[/]" if summary.success else "[bold red]failed[/]"
        table = Table(title=f"run {summary.run_id[:8]} for {summary.day} ({', '.join(summary.connections)}): {status}")
        table.add_column("asset")
        table.add_column("what happened", overflow="fold")
        for step in summary.steps:
            table.add_row(step.key, describe(step))
        console.print(table)
        for failure in summary.failures:
            console.print("[bold red]failed:[/]", shown(failure))  # Braze's words: no markup, no controls


def run_and_report(
    day: str | None, refresh: bool = False, wait: bool = False, override_budget: bool = False, progress: bool = True
) -> bool:
    """The `profilesync run` command: run the day, print what happened; True on success.

    `progress`: bars for long work when stderr is an interactive terminal (plain lines otherwise).

    Raises `pipeline.preflight.NotReady` before anything runs when the day, the connection
    files, a key variable or a store folder would make the run fail at once, and
    `pipeline.run_lock.RunLocked` while another run holds the day (unless `wait`). `refresh`
    asks Braze for new segment exports; `override_budget` pushes over the goals' budgets."""
    day = day or today()
    connections, instance = unsharded(ready_connections(day), "run"), dagster_instance()
    fail_dead_runs(instance, connections)
    with showing(progress):
        summaries = run_day(day, connections, instance, refresh=refresh, wait=wait, override_budget=override_budget)
    print_summaries(summaries)
    return bool(summaries) and all(s.success for s in summaries)


def fail_dead_runs_in_home(connections: list[Connection]) -> list[str]:
    """`fail_dead_runs` on the instance of `$DAGSTER_HOME` (or `.dagster_home/`), if there is one yet."""
    folder = Path(os.environ.get("DAGSTER_HOME") or DEFAULT_HOME)
    if not (folder / "dagster.yaml").exists():
        return []
    return fail_dead_runs(dagster_instance(folder), connections)
