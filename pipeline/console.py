"""Terminal output of the CLI, kept apart so commands stay about what they do."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from pipeline.check import CheckResult

console = Console()
_STYLE = {"OK": "green", "FAIL": "bold red", "SKIP": "dim"}


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
