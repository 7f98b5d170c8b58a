"""`profilesync plan`: materialise one day up to `export_changes`, through Dagster, and show what the push would send.

The run is the same as `profilesync run`'s (same instance, same day lease, same assets), narrowed to
what the chosen goals' `export_changes` need: `braze_push` is never in it, so nothing reaches
Braze's /users/track. It is left out of the run history (`runs/`), which records what was done to
Braze; Dagster still lists it. `plan.parquet` is the one `export_changes` writes beside its changes;
this command also writes it as `plan.csv` for a spreadsheet (a scheduled day does not).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from assets.app.run import RunSummary, dagster_instance, print_summaries, run_day
from assets.export_goal import export_key
from assets.run_lock import fail_dead_runs
from pipeline import layout
from pipeline.exports.budget import over_budget
from pipeline.exports.plan import Plan, make_plan, write_plan_csv
from pipeline.mapping import Connection, ExportGoal
from pipeline.preflight import NotReady, ready_connections, today, unsharded
from pipeline.storage import open_store

Chosen = list[tuple[Connection, ExportGoal]]
SHOWN = ("users", "attributes", "data_points", "requests", "joiners", "leavers", "dead_letters")


def chosen_goals(connections: list[Connection], connection: str | None, goal: str | None) -> Chosen:
    """The enabled export goals to plan, or NotReady naming what exists."""
    enabled = [c for c in connections if c.enabled and connection in (None, c.name)]
    if connection and not enabled:
        names = ", ".join(c.name for c in connections if c.enabled) or "none"
        raise NotReady(f"no enabled connection named {connection!r}; the enabled connections are: {names}")
    chosen = [(c, g) for c in enabled for g in c.exports if goal in (None, g.name)]
    if not chosen:
        goals = ", ".join(f"{c.name}/{g.name}" for c in enabled for g in c.exports) or "none"
        wanted = f"export goal {goal!r}" if goal else "export goal"
        raise NotReady(f"no {wanted} to plan; the export goals are: {goals}")
    return chosen


def plan_selection(chosen: Chosen) -> Callable[[list[dg.AssetsDefinition]], set[dg.AssetKey]]:
    """The chosen goals' export_changes and everything upstream of them; never a braze_push."""
    targets = {export_key(c, g, "export_changes") for c, g in chosen}

    def select(assets: list[dg.AssetsDefinition]) -> set[dg.AssetKey]:
        present = targets & {key for a in assets for key in a.keys}
        if not present:
            return set()
        keys = set(dg.AssetSelection.assets(*present).upstream().resolve(assets))
        return {key for key in keys if key.path[-1] != "braze_push"}

    return select


def plan_day(
    day: str, connection: str | None, goal: str | None, wait: bool
) -> tuple[list[RunSummary], list[tuple[Connection, ExportGoal, Plan]]]:
    """Run the day up to the chosen goals' export_changes; their plans when every run succeeded."""
    connections = unsharded(ready_connections(day), "plan")
    chosen = chosen_goals(connections, connection, goal)
    instance = dagster_instance()
    fail_dead_runs(instance, connections)
    summaries = run_day(day, connections, instance, wait=wait, select=plan_selection(chosen), history=False)
    if not all(s.success for s in summaries):
        return summaries, []
    return summaries, [(c, g, reviewed_plan(c, g, day)) for c, g in chosen]


def reviewed_plan(connection: Connection, goal: ExportGoal, day: str) -> Plan:
    """The goal's plan of `day` (as `export_changes` wrote it), also written as `plan.csv` for a person."""
    store = open_store(connection.storage.root)
    plan = make_plan(store, connection.name, goal.name, day)
    write_plan_csv(store, plan)
    return plan


def copy_plan(connection: Connection, plan: Plan, out: Path) -> list[Path]:
    """The plan's two files, copied to `out/<connection>/<goal>/`."""
    store = open_store(connection.storage.root)
    folder = out / plan.connection / plan.goal
    folder.mkdir(parents=True, exist_ok=True)
    copied = []
    for key in (layout.export_plan(plan.connection, plan.goal, plan.day),
                layout.export_plan_csv(plan.connection, plan.goal, plan.day)):  # fmt: skip
        target = folder / key.rsplit("/", 1)[-1]
        with store.open(key) as source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink)
        copied.append(target)
    return copied


def print_plan(connection: Connection, goal: ExportGoal, plan: Plan, copied: list[Path]) -> None:
    from rich.table import Table

    from pipeline.console import console, shown

    table = Table(title=f"plan of {plan.connection}/{plan.goal} for {plan.day}: nothing sent", title_justify="left")
    numbers = plan.counts()
    for name in SHOWN:
        table.add_column(name.replace("_", " "), justify="right")
    table.add_row(*(f"{numbers[name]:,}" for name in SHOWN))
    console.print(table)
    over = over_budget(goal.budget, plan)
    if over:
        console.print("[bold red]over budget:[/]", shown("; ".join(over)), "(the push would send nothing and fail)")
    elif goal.budget is not None:
        console.print("within budget:", shown(", ".join(f"{k} {v:,}" for k, v in goal.budget.limits().items())))
    store = open_store(connection.storage.root)
    console.print("plan:", shown(store.uri(layout.export_plan(plan.connection, plan.goal, plan.day))))
    console.print("      ", shown(store.uri(layout.export_plan_csv(plan.connection, plan.goal, plan.day))))
    for path in copied:
        console.print("copied to", shown(str(path)))


def plan_and_report(day: str | None, connection: str | None, goal: str | None, out: Path | None, wait: bool) -> bool:
    """The `profilesync plan` command; True when every chosen goal was planned."""
    day = day or today()
    summaries, plans = plan_day(day, connection, goal, wait)
    if not plans:
        print_summaries(summaries)
        return False
    for chosen_connection, chosen_goal, plan in plans:
        copied = copy_plan(chosen_connection, plan, out) if out else []
        print_plan(chosen_connection, chosen_goal, plan, copied)
    return True
