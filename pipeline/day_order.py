"""Days build on days: the profiles of a day apply each goal's changes onto the snapshot they were diffed for.

`user_changes` of a goal for day D is a diff of D's copy against the goal's previous staged
copy, of its *base day* B (recorded in the changes file, `pipeline.delta.changes_base`). The
profiles of D start from the latest published snapshot before D, of day S. The changes are
right for that snapshot only when it holds the goal's state of day B and nothing the goal
staged after it:

- the goal staged a day after S and before D (B itself, or a later day): that day's changes
  were computed but its profiles never published (a killed run, a failing store), and building
  D on S would drop them for good — fail, naming the first such day to run;
- otherwise, when B is not the goal's latest staged day before D, a day was staged after D's
  changes were computed (a backfill of an earlier day): the changes miss it, so they are
  stale — fail, naming the changes to recompute (re-running D does, as its user_changes
  diffs against the latest staged day);
- B older than S with nothing staged in between is fine: the goal skipped days (switched off,
  no export), and S already holds its state of B.

Checking costs one listing of each goal's step folder and one Parquet footer per goal.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline import layout
from pipeline.delta import changes_base
from pipeline.profiles.store import previous_snapshot_day
from pipeline.storage import ObjectStore

DEFAULT_SOURCE = "staged_users"  # what a goal's changes are diffed from unless a step says otherwise


class DayOrderError(RuntimeError):
    """The profiles of a day would be built on a snapshot their changes were not computed for."""

    def __init__(self, message: str, run_first: str) -> None:
        super().__init__(message)
        self.run_first = run_first  # the day to run before trying again


class UnpublishedDay(DayOrderError):
    """A goal staged a day whose profiles were never published."""


class StaleChanges(DayOrderError):
    """A goal's changes were diffed against an older copy than its latest staged day."""


@dataclass(frozen=True)
class GoalOfDay:
    """An import goal of the store on the profiles' day; `applies` when its changes of the day are applied."""

    connection: str
    goal: str
    applies: bool

    @property
    def name(self) -> str:
        return f"{self.connection}/{self.goal}"


def check_day_order(store: ObjectStore, day: str, goals: list[GoalOfDay]) -> None:
    """Raise `UnpublishedDay` or `StaleChanges` unless every goal's changes fit the snapshot before `day`."""
    snapshot_day = previous_snapshot_day(store, day)
    for goal in goals:
        base_day, source = None, DEFAULT_SOURCE
        if goal.applies:
            base = changes_base(store, layout.user_changes(goal.connection, goal.goal, day))
            if base is None:
                raise StaleChanges(
                    f"the changes of {goal.name} for {day} do not record the day they were diffed against "
                    f"(written by an earlier profilesync); materialize {goal.name}/user_changes for {day} again "
                    f"(profilesync run --date {day})",
                    day,
                )
            base_day, source = base.day, base.step
        folder = layout.step_folder(goal.connection, goal.goal, source)
        staged = [d for d in layout.days_with(store, folder, layout.USERS_FILE) if d < day]
        unpublished = [d for d in staged if snapshot_day is None or d > snapshot_day]
        if unpublished:
            raise UnpublishedDay(_unpublished(goal, day, unpublished, snapshot_day), unpublished[0])
        latest = staged[-1] if staged else None
        if goal.applies and base_day != latest:
            raise StaleChanges(
                f"the changes of {goal.name} for {day} are stale: they were diffed against its copy of "
                f"{base_day or 'no earlier day'}, but its latest {source} before {day} is now {latest or 'none'}; "
                f"materialize {goal.name}/user_changes for {day} again (profilesync run --date {day})",
                day,
            )


def _unpublished(goal: GoalOfDay, day: str, days: list[str], snapshot_day: str | None) -> str:
    first = days[0]
    listed = ", ".join(days)
    that = "that day" if len(days) == 1 else "those days"
    then = f"then {day}" if len(days) == 1 else f"then each later day up to {day}, in order"
    return (
        f"profiles of {listed} were never published (the latest snapshot before {day} is "
        f"{snapshot_day or 'none'}), so the changes {goal.name} staged {that} would be lost on {day}; "
        f"materialize {goal.connection} for {first} first (profilesync run --date {first}), {then}"
    )
