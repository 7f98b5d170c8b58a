"""`profilesync undo`: take a day's push back, plan first; recorded in the run history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from pipeline.mapping import Connection, ExportGoal
    from pipeline.push import PushReport
    from pipeline.push.undo import UndoPlan
    from pipeline.storage import ObjectStore


def undo(
    connection: Annotated[str, typer.Option(help="The connection whose push to undo.")],
    goal: Annotated[str, typer.Option(help="The export goal whose push to undo.")],
    day: Annotated[str, typer.Option("--day", help="The day whose push to undo, YYYY-MM-DD.")],
    plan: Annotated[bool, typer.Option("--plan", help="Print what the undo would send, and send nothing.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Undo even when a later day pushed some of the same values; keep those.")
    ] = False,
) -> None:
    """Push back what a day's push changed and Braze acknowledged: previous values, new attributes
    removed (null), arrays whole. Users the push created are listed, never deleted.

    Journaled and resumable like a push; refused when a later day pushed the same attributes
    since (undo that day first) unless --force, and when the day is already undone.
    """
    from pipeline.preflight import NotReady, parse_day
    from pipeline.push.undo import UndoRefused, plan_undo
    from pipeline.run_lock import RunLocked, holding
    from pipeline.storage import StorageError, open_store

    try:
        day = parse_day(day, "--day")
        chosen, _ = _goal_of(connection, goal)
    except NotReady as exc:
        _fail(str(exc), 2)
    try:
        store = open_store(chosen.storage.root)
        if plan:
            shown = plan_undo(store, connection, goal, day)
            _print_plan(shown)
            if note := shown.refusal():
                typer.echo(f"note: {note}")
            return
        with holding(store, day, [connection], say=lambda message: typer.echo(message, err=True)):
            shown = plan_undo(store, connection, goal, day)
            _print_plan(shown)
            _send(store, chosen, shown, force)
    except UndoRefused as exc:
        _fail(str(exc), 1)
    except RunLocked as exc:
        _fail(str(exc), 3)
    except StorageError as exc:
        _fail(str(exc), 1)


def _send(store: ObjectStore, connection: Connection, plan: UndoPlan, force: bool) -> None:
    """Run the undo's push and record it in the run history, failed or not."""
    from pipeline.braze import BrazeClient
    from pipeline.braze.errors import BrazeError
    from pipeline.mapping import SecretInvalid, SecretNotSet
    from pipeline.push import PushError
    from pipeline.push.undo import run_undo

    try:
        key = connection.braze.read_api_key()
    except (SecretNotSet, SecretInvalid) as exc:
        _fail(str(exc), 2)
    started = datetime.now(UTC)
    braze = connection.braze
    try:
        with BrazeClient(
            braze.rest_endpoint, key, api_key_env=braze.api_key_env, timeout=braze.request_timeout_s,
            pool_size=max(16, braze.max_requests_in_flight),
        ) as client:  # fmt: skip
            report = run_undo(
                client, store, plan, force=force, object_limit_mode=braze.track_object_limit_mode,
                max_in_flight=braze.max_requests_in_flight, progress=lambda line: typer.echo(line, err=True),
            )  # fmt: skip
    except (PushError, BrazeError) as exc:
        _record(store, plan, started, getattr(exc, "report", None), error=str(exc))
        _fail(str(exc).splitlines()[0], 1)
    _record(store, plan, started, report)
    typer.echo(
        f"{plan.label}: done: {report.users_accepted:,} users restored, {report.users_rejected:,} rejected, "
        f"{report.data_points:,} data points"
    )


def _record(
    store: ObjectStore, plan: UndoPlan, started: datetime, report: PushReport | None, error: str | None = None
) -> None:
    from pipeline.runs import RunRecord, append_run, iso_utc

    pushed = report.as_dict() if report else {}
    counts = {
        "created": 0,
        "updated": int(pushed.get("users_accepted", 0)),
        "unchanged": 0,
        "quarantined": 0,
        "sent": int(pushed.get("users_sent", 0)),
        "rejected": int(pushed.get("users_rejected", 0)),
        "data_points": int(pushed.get("data_points", 0)),
    }
    append_run(
        store,
        RunRecord(
            run_id=f"undo-{uuid.uuid4().hex[:12]}",
            connection=plan.connection,
            job="undo",
            day=plan.day,
            status="FAILURE" if error else "SUCCESS",
            started_at=iso_utc(started),
            ended_at=iso_utc(datetime.now(UTC)),
            goals=[f"{plan.connection}/{plan.goal}"],
            counts=counts,
            goal_counts={f"{plan.connection}/{plan.goal}": {**counts, **plan.counts()}},
            failed_step="undo" if error else None,
            error=error,
        ),
    )


def _print_plan(plan: UndoPlan) -> None:
    from rich.table import Table

    from pipeline.console import console, shown

    table = Table(title=f"{plan.label}: plan", title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    for name, count in plan.counts().items():
        table.add_row(name.replace("_", " "), f"{count:,}")
    console.print(table)
    if plan.created:
        listed = ", ".join(plan.created[:20]) + (
            f" and {len(plan.created) - 20:,} more" if len(plan.created) > 20 else ""
        )
        console.print(shown(f"users the push may have created (kept, never deleted): {listed}"))


def _goal_of(connection: str, goal: str) -> tuple[Connection, ExportGoal]:
    """The named connection and export goal, or NotReady listing the ones there are."""
    from pipeline.preflight import NotReady, loaded_connections, unsharded

    connections = loaded_connections()
    found = unsharded([c for c in connections if c.name == connection], "undo")
    if not found:
        names = ", ".join(c.name for c in connections)
        raise NotReady(f"no connection named {connection!r}; the connections are: {names}")
    goals = [g for g in found[0].exports if g.name == goal]
    if not goals:
        names = ", ".join(g.name for g in found[0].exports) or "none"
        raise NotReady(f"connection {connection!r} has no export goal {goal!r}; its export goals are: {names}")
    return found[0], goals[0]


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)
