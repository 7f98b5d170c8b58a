"""What a goal and a day did to the profiles: the counts behind every materialisation's metadata.

Created / updated / unchanged follow BlueConic's run history; "updated" means a property or an
identifier really changed value, not that a record touched the profile.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import TYPE_CHECKING

import polars as pl

from pipeline.profiles.fields import CHANGE, REC, record_keys
from pipeline.profiles.matching import hashed, match_keys
from pipeline.profiles.snapshot import CREATED, PROFILE_ID, UPDATED, Snapshot

if TYPE_CHECKING:
    from pipeline.profiles.identity import Resolution
    from pipeline.profiles.rules import GoalRules


@dataclass(frozen=True)
class GoalReport:
    """Counts for one goal on one day."""

    goal: str
    records_in: int = 0  # rows of the changes frame
    added: int = 0
    changed: int = 0
    echoes: int = 0  # rows whose every difference was our own push coming back
    removed: int = 0
    profiles_created: int = 0
    profiles_updated: int = 0  # existing profiles whose properties or identifiers changed
    profiles_unchanged: int = 0  # existing profiles this goal left as they were
    merges: int = 0  # profiles merged into another
    skipped_no_match: int = 0  # records matching no profile while allow_create is false
    skipped_no_identifier: int = 0  # records without any mapped identifier value
    left_segment: int = 0  # profiles whose Braze user left the segment (they are kept)
    quarantined: int = 0  # values set aside, see quarantine.jsonl

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)


@dataclass(frozen=True)
class DayReport:
    """Counts for the whole day's snapshot, plus each goal's own."""

    day: str
    profiles: int = 0  # profiles in the snapshot
    profiles_created: int = 0
    profiles_updated: int = 0
    profiles_unchanged: int = 0
    merges: int = 0
    quarantined: int = 0
    records_in: int = 0  # the goals' counts below, summed
    added: int = 0
    changed: int = 0
    echoes: int = 0
    removed: int = 0
    skipped_no_match: int = 0
    skipped_no_identifier: int = 0
    left_segment: int = 0
    goals: list[GoalReport] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def day_counts(final: Snapshot, day: date) -> dict[str, int]:
    """Day-level counts straight from the `_created`/`_updated` stamps of the final snapshot."""
    profiles = final.profiles
    existing = profiles.filter(pl.col(CREATED) < day)
    return {
        "profiles": profiles.height,
        "profiles_created": profiles.filter(pl.col(CREATED) == day).height,
        "profiles_updated": existing.filter(pl.col(UPDATED) == day).height,
        "profiles_unchanged": existing.filter(pl.col(UPDATED) < day).height,
        "merges": final.merges.height,
        "quarantined": final.quarantine.height,
    }


def goal_report(
    before: Snapshot, after: Snapshot, rules: GoalRules, changes: pl.DataFrame, found: Resolution, updated: int
) -> GoalReport:
    """Counts of one goal's step; `updated` comes from the step, which knows which rows it changed."""
    counts = dict(changes[CHANGE].value_counts().iter_rows())
    removed = changes.filter(pl.col(CHANGE) == "removed").with_row_index(REC)
    left = match_keys(hashed(record_keys(removed, rules)), before.identifiers)
    return GoalReport(
        goal=rules.name,
        records_in=changes.height,
        added=counts.get("added", 0),
        changed=counts.get("changed", 0),
        echoes=counts.get("echo", 0),
        removed=counts.get("removed", 0),
        profiles_created=found.created.height,
        profiles_updated=updated,
        profiles_unchanged=before.profiles.height - updated - found.merges.height,
        merges=found.merges.height,
        skipped_no_match=found.skipped_no_match,
        skipped_no_identifier=found.skipped_no_identifier,
        left_segment=left[PROFILE_ID].n_unique(),
        quarantined=after.quarantine.height - before.quarantine.height,
    )
