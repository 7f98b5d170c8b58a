"""Terminal output of the CLI, kept apart so commands stay about what they do."""

from __future__ import annotations

import json
import re
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipeline.check import CheckResult
from pipeline.runs import COUNTS, RunRecord

console = Console()
_STYLE = {"OK": "green", "FAIL": "bold red", "SKIP": "dim"}
# C0 and C1 controls (ESC starts terminal sequences), DEL, and the bidi overrides that reorder text.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def shown(text: str) -> Text:
    """Text from data (Braze, the store) as a terminal shows it safely: controls escaped, no markup.

    A value holding ESC sequences could clear the screen, retitle the window or fake output;
    `[bold]` in a value is text, not a style."""
    return Text(_CONTROL.sub(_escape, text))


def _escape(found: re.Match[str]) -> str:
    code = ord(found.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def print_checks(results: list[CheckResult]) -> None:
    table = Table(title="profilesync check", title_justify="left")
    table.add_column("Check")
    table.add_column("Result")
    table.add_column("Detail / fix", overflow="fold")
    for result in results:
        detail = f"{result.detail}\n[yellow]fix:[/] {result.fix}" if result.fix else result.detail
        table.add_row(result.name, f"[{_STYLE[result.status]}]{result.status}[/]", detail)
    console.print(table)
    failed = sum(r.status == "FAIL" for r in results)
    console.print(f"[bold red]{failed} check(s) failed[/]" if failed else "[green]all checks passed[/]")


def print_profile(day: str, profile: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"day": day, **profile}, indent=2, default=str, ensure_ascii=False))
        return
    table = Table(title=shown(f"profile {profile.get('profile_id')} on {day}"), title_justify="left")
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for name, value in profile.items():
        if isinstance(value, dict):
            for inner, inner_value in value.items():
                table.add_row(shown(f"{name}.{inner}"), shown(_text(inner_value)))
        else:
            table.add_row(shown(name), shown(_text(value)))
    console.print(table)


def print_runs(records: list[RunRecord], *, as_json: bool) -> None:
    """`profilesync runs`: one row per run and connection, newest first."""
    if as_json:
        print(json.dumps([r.as_dict() for r in records], indent=2, ensure_ascii=False))
        return
    if not records:
        console.print("no runs recorded yet: `profilesync run` and the Dagster sensors write them to runs/")
        return
    table = Table(title="profilesync runs", title_justify="left")
    for name in ("when (UTC)", "connection", "day", "status"):
        table.add_column(name)
    for name in COUNTS:
        table.add_column(name.replace("_", " "), justify="right")
    table.add_column("error or override", overflow="fold")
    for r in records:
        status = "[green]SUCCESS[/]" if r.succeeded else "[bold red]FAILURE[/]"
        numbers = [f"{r.counts.get(name, 0):,}" for name in COUNTS]
        failure = f"{r.failed_step}: {r.error}" if r.failed_step else r.error or ""
        error = "; ".join(note for note in [failure.splitlines()[0] if failure else "", *r.budget_overrides] if note)
        when = r.ended_at[:19].replace("T", " ")
        day = f"{r.day} (undo)" if r.job == "undo" else r.day  # `profilesync undo`: the day taken back
        table.add_row(when, r.connection, day, status, *numbers, shown(error))
    console.print(table)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
