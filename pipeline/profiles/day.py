"""A day's snapshot: the previous one plus every import goal's changes, in declared order."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date

import polars as pl

from pipeline.profiles.apply import apply_goal
from pipeline.profiles.report import DayReport, day_counts
from pipeline.profiles.rules import GoalRules
from pipeline.profiles.snapshot import Snapshot, as_date

SUMMED = (
    "records_in",
    "added",
    "changed",
    "echoes",
    "removed",
    "skipped_no_match",
    "skipped_no_identifier",
    "left_segment",
)


GoalInput = tuple[GoalRules, pl.DataFrame] | tuple[GoalRules, pl.DataFrame, Collection[str]]


def build_day(previous: Snapshot, goals: Sequence[GoalInput], day: date | str) -> tuple[Snapshot, DayReport]:
    """Apply each (rules, changes[, json_text columns]) in order to `previous`; a later `set` wins.

    Pure, so re-materialising a day from the same previous snapshot and changes gives the same
    frames: nothing is applied twice, because the inputs, not the last output, are the start.
    """
    day = as_date(day)
    names = [goal[0].name for goal in goals]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"goals {duplicates} appear twice in one day; qualify goal names, e.g. connection/goal")
    snapshot = previous.next_day()
    reports = []
    for rules, changes, *json_text in goals:
        snapshot, report = apply_goal(snapshot, rules, changes, day, json_text=json_text[0] if json_text else ())
        reports.append(report)
    summed = {name: sum(getattr(r, name) for r in reports) for name in SUMMED}
    return snapshot, DayReport(day=day.isoformat(), goals=reports, **day_counts(snapshot, day), **summed)
