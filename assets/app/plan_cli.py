"""The `profilesync plan` command, registered on the CLI in cli.py; Dagster is imported only when it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from assets.app.day_exits import day_command_exits


def plan(
    date: Annotated[str | None, typer.Option("--date", help="Day to plan, YYYY-MM-DD; default today (UTC).")] = None,
    connection: Annotated[str | None, typer.Option(help="Only this connection's export goals.")] = None,
    goal: Annotated[str | None, typer.Option(help="Only this export goal.")] = None,
    out: Annotated[Path | None, typer.Option(help="Also copy each plan to OUT/<connection>/<goal>/.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait while another run holds the day.")] = False,
) -> None:
    """What the next push would send, without sending it: every step up to export_changes, through Dagster.

    Prints per export goal the users, attributes, data points, requests, joiners, leavers and dead
    letters, and whether the goal's budget holds; writes plan.parquet and plan.csv (one row per
    Braze user and attribute: acknowledged value, new value) beside the day's changes.
    """
    from pipeline.preflight import parse_day

    with day_command_exits():
        day = parse_day(date) if date is not None else None
        from assets.app.plan import plan_and_report  # needs Dagster itself

        planned = plan_and_report(day, connection, goal, out, wait)
    if not planned:
        raise typer.Exit(1)
