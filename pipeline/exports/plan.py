"""The plan of a push: exactly what the next `braze_push` of a day would send, for a person to review.

One row per (Braze user, attribute): `identity` (the Braze identifier object as canonical JSON),
`attribute`, `acknowledged` (the value Braze acknowledged last, null when none), `value` (the
value to send, canonical JSON; null sends null, removing the attribute) and `profile_id`. The
rows are `pending_changes` of the day's changes: what the push would send if it ran now (the
day's journal and values Braze holds from a later day left out), sorted as the push sends them.

`export_changes` writes it beside the changes as `plan.parquet`; `profilesync plan` also writes
`plan.csv` (the same rows, for a spreadsheet). The counts are the forecast budgets are weighed against.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl

from pipeline import layout
from pipeline.braze.rules import MAX_TRACK_OBJECTS
from pipeline.push import payload_points, pending_changes
from pipeline.storage import ObjectNotFound, ObjectStore
from pipeline.storage.parquet import read_parquet, scan_parquet, write_parquet

PLAN_SCHEMA = pl.Schema(
    {
        "identity": pl.String(),
        "attribute": pl.String(),
        "acknowledged": pl.String(),
        "value": pl.String(),
        "profile_id": pl.String(),
    }
)
COUNTS = ("users", "attributes", "data_points", "requests", "members", "joiners", "leavers", "dead_letters")


@dataclass(frozen=True)
class Plan:
    """A day's push forecast for one export goal; `rows` follow PLAN_SCHEMA."""

    connection: str
    goal: str
    day: str
    rows: pl.DataFrame
    members: int  # profiles in the goal's segment on the day
    joiners: int
    leavers: int
    dead_letters: int  # payload values Braze would refuse: never sent

    @cached_property
    def users(self) -> int:
        return self.rows["identity"].n_unique()

    @cached_property
    def data_points(self) -> int:
        return payload_points(self.rows.select("identity", "attribute", "value")) if self.rows.height else 0

    @property
    def requests(self) -> int:
        """At least this many /users/track requests (75 users each; a 4 MB body may split one more)."""
        return -(-self.users // MAX_TRACK_OBJECTS)

    def counts(self) -> dict[str, int]:
        values: dict[str, Any] = {
            "users": self.users,
            "attributes": self.rows.height,
            "data_points": self.data_points,
            "requests": self.requests,
            "members": self.members,
            "joiners": self.joiners,
            "leavers": self.leavers,
            "dead_letters": self.dead_letters,
        }
        return {name: int(values[name]) for name in COUNTS}


def joined_and_left(store: ObjectStore, connection: str, goal: str, day: str, now: pl.Series) -> tuple[int, int]:
    """Profiles in `now` (the day's members) that were not members the day before with members, and the reverse."""
    folder = layout.step_folder(connection, goal, "segment_members")
    previous_day = layout.latest_day_before(store, folder, layout.MEMBERS_FILE, day)
    before = (
        scan_parquet(store, layout.segment_members(connection, goal, previous_day)).select("profile_id").collect()[
            "profile_id"
        ]
        if previous_day
        else pl.Series("profile_id", [], pl.String)
    )
    both = int(now.is_in(before.implode()).sum())  # members are unique on each day
    return now.len() - both, before.len() - both


def make_plan(
    store: ObjectStore, connection: str, goal: str, day: str,
    changes: pl.DataFrame | None = None, baseline: pl.DataFrame | None = None,
) -> Plan:  # fmt: skip
    """The plan of `day` from the files `export_changes` and the steps before it wrote.

    `export_changes` passes the changes it computed and the baseline it read, so neither is read back."""
    try:
        if changes is None:
            changes = read_parquet(store, layout.export_changes(connection, goal, day))
        members_key = layout.segment_members(connection, goal, day)
        members = scan_parquet(store, members_key).select("profile_id").collect()["profile_id"]
        dead = store.read_bytes(layout.export_dead_letter(connection, goal, day))
    except ObjectNotFound as exc:
        raise ObjectNotFound(f"{exc}; materialize {connection}/{goal}/export_changes for {day} first") from None
    rows = pending_changes(store, connection, goal, day, changes, baseline)
    rows = rows.rename({"previous": "acknowledged"}).select(PLAN_SCHEMA.names()).cast(PLAN_SCHEMA)
    joiners, leavers = joined_and_left(store, connection, goal, day, members)
    return Plan(connection, goal, day, rows, members.len(), joiners, leavers, dead.count(b"\n"))


def write_plan(store: ObjectStore, plan: Plan) -> str:
    """`plan.parquet` of the plan's day (written aside, then published); its key."""
    key = layout.export_plan(plan.connection, plan.goal, plan.day)
    write_parquet(store, key, plan.rows)
    return key


def write_plan_csv(store: ObjectStore, plan: Plan) -> str:
    """`plan.csv`, the plan's rows for a spreadsheet (written aside, then published); its key.

    Only `profilesync plan` writes it: a person reads it, a scheduled day does not need it."""
    key = layout.export_plan_csv(plan.connection, plan.goal, plan.day)
    with tempfile.TemporaryDirectory(prefix="profilesync-") as folder:  # not in memory: plans can be large
        path = Path(folder) / "plan.csv"
        plan.rows.write_csv(path)
        store.upload(key, path)
    return key
