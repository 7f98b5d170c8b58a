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
  no export), and S already holds its state of B;
- S itself must still be right: its manifest records, per goal, the staged days it covers
  (every day up to S that was staged when S was built: `covers`). When a goal has since staged
  a day before S (a backfill after S was built), S and every snapshot between that day and S
  miss its changes — fail, naming the backfilled day when it has no snapshot yet, else the
  first snapshot after it, to run again and then the days after it in order.

Checking costs one listing of each goal's step folder and one Parquet footer per goal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from pipeline import layout
from pipeline.delta import changes_base
from pipeline.layout import PROFILES_FOLDER, PROFILES_MANIFEST
from pipeline.profiles.store import previous_snapshot_day, snapshot_covers
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


class StaleSnapshot(DayOrderError):
    """The snapshot a day builds on was built before an earlier day of one of its goals was staged."""


@dataclass(frozen=True)
class GoalOfDay:
    """An import goal of the store on the profiles' day; `applies` when its changes of the day are applied."""

    connection: str
    goal: str
    applies: bool

    @property
    def name(self) -> str:
        return f"{self.connection}/{self.goal}"


def check_day_order(store: ObjectStore, day: str, goals: list[GoalOfDay]) -> dict[str, list[str]]:
    """Raise a `DayOrderError` unless every goal's changes fit the snapshot before `day`.

    Returns what the day's snapshot will cover (its manifest's `covers`): per goal, every day up to
    `day` it has staged."""
    snapshot_day = previous_snapshot_day(store, day)
    staged_days = cache(lambda folder: layout.days_with(store, folder, layout.USERS_FILE))  # one listing per folder
    if snapshot_day is not None:
        _check_snapshot(store, snapshot_day, goals, staged_days)
    covers: dict[str, list[str]] = {}
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
        every = staged_days(folder)
        covers[goal.name] = [d for d in every if d <= day]
        staged = [d for d in every if d < day]
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
    return covers


def _check_snapshot(
    store: ObjectStore, snapshot_day: str, goals: list[GoalOfDay], staged_days: Callable[[str], list[str]]
) -> None:
    """StaleSnapshot when a goal staged a day up to `snapshot_day` after that snapshot was built."""
    covered = snapshot_covers(store, snapshot_day)
    for goal in goals:
        if goal.name not in covered:
            continue  # a goal new to the store, or a manifest from before `covers` was recorded
        folder = layout.step_folder(goal.connection, goal.goal, DEFAULT_SOURCE)
        now = [d for d in staged_days(folder) if d <= snapshot_day]
        missed = sorted(set(now) - set(covered[goal.name]))
        if not missed:
            continue
        run_first = _first_stale(store, goal, missed[0], snapshot_day, now)
        raise StaleSnapshot(
            f"profiles of {run_first if run_first == snapshot_day else f'{run_first} to {snapshot_day}'} were built "
            f"before {goal.name} staged "
            f"{', '.join(missed)} (a backfill), so they miss its changes; materialize {goal.connection} for "
            f"{run_first} again (profilesync run --date {run_first}), then each later day in order",
            run_first,
        )


def _first_stale(store: ObjectStore, goal: GoalOfDay, backfilled: str, snapshot_day: str, staged: list[str]) -> str:
    """The day to run again first: the backfilled day without a snapshot, else the earliest snapshot
    from it on that misses a staged day (reads only the manifests of the backfilled range)."""
    snapshots = layout.days_with(store, PROFILES_FOLDER, PROFILES_MANIFEST)
    published = [d for d in snapshots if backfilled <= d <= snapshot_day]
    if backfilled not in published:
        return backfilled
    for day in published:
        covered = set(snapshot_covers(store, day).get(goal.name, []))
        if {d for d in staged if d <= day} - covered:
            return day
    return snapshot_day


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
