"""Undo of one day's push: send Braze back what it held before, for what it acknowledged that day.

Inputs, all exact: the day's journal (what Braze acknowledged; the last entry of a pair wins), the
day's replaced records (what each pair held before the push first sent it, `pipeline.push.replaced`)
and the baseline (which push holds each pair now). The inverse of a pair is its replaced value:
a previous value is sent back, a pair the day added is sent `null` (removed), an array is sent
whole. Dead-lettered rows never reached the journal, so they are not undone. Users the day may
have created (`allow_create`, nothing acknowledged for them before) are listed, never deleted.

The inverse is itself a push (`push_changes`) under the label `layout.undo_day(day)`: journaled and
resumable like a day's push, with `_update_existing_only` so it creates nobody, folding what Braze
accepts into the baseline as of `<day>~undo`, so the baseline equals what Braze then holds. Its
summary file marks the day undone.

Refused (`UndoRefused`, with the reason and the fix): nothing acknowledged that day; already undone;
rows pushed before replaced values were recorded; pairs a later day's push holds since (undo that
day first), unless forced: then those pairs keep the later value and the rest are undone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from pipeline import layout
from pipeline.braze import BrazeClient
from pipeline.push.checkpoint import read_baseline, read_journal
from pipeline.push.frames import CHANGES_SCHEMA, KEY
from pipeline.push.objects import payload_points
from pipeline.push.replaced import read_replaced
from pipeline.push.report import PushReport, read_dead_letters
from pipeline.push.run import ObjectLimitMode, push_changes
from pipeline.storage import ObjectStore


class UndoRefused(RuntimeError):
    """The undo cannot (or must not) be sent; the message says why and what to do."""


@dataclass(frozen=True)
class UndoPlan:
    """What undoing `day` sends (`changes`: `value` the restored one, `previous` the day's) and leaves."""

    connection: str
    goal: str
    day: str
    as_of: str  # what the restored values are as of: `<day>~undo`, or a later day's undo it overrides
    changes: pl.DataFrame
    later: pl.DataFrame  # identity, attribute, as_of: pairs a later push holds since; never sent
    created: list[str]  # identities the day's push may have created; listed, never deleted
    not_acknowledged: int  # values of the day Braze refused (dead letters): nothing to undo

    @property
    def label(self) -> str:
        return f"undo {self.connection}/{self.goal} {self.day}"

    def counts(self) -> dict[str, int]:
        return {
            "users": self.changes["identity"].n_unique(),
            "attributes": self.changes.height,
            "restored": self.changes["value"].count(),
            "removed": self.changes["value"].null_count(),
            "data_points": payload_points(self.changes),
            "held_by_later_days": self.later.height,
            "not_acknowledged": self.not_acknowledged,
            "users_created": len(self.created),
        }

    def refusal(self) -> str | None:
        """Why the undo must not be sent without `--force`, or None."""
        if self.later.is_empty():
            return None
        by_day = self.later.group_by("as_of").agg(pl.col("attribute").unique().sort(), pl.len()).sort("as_of")
        pushed = "; ".join(
            f"{row['as_of']} pushed {', '.join(row['attribute'])} ({row['len']:,} value{'s' * (row['len'] != 1)})"
            for row in by_day.iter_rows(named=True)
        )
        return (
            f"{self.label}: refused: a later push changed the same attributes since: {pushed}; "
            f"undo those days first, or pass --force to undo the rest and keep their values"
        )


def plan_undo(store: ObjectStore, connection: str, goal: str, day: str) -> UndoPlan:
    """The inverse of what `day`'s push got acknowledged, or UndoRefused saying why there is none."""
    what = f"undo {connection}/{goal} {day}"
    undo_label = layout.undo_day(day)
    done = layout.push_summary(connection, goal, undo_label)
    if store.exists(done):
        raise UndoRefused(
            f"{what}: refused: {day} is already undone ({store.uri(done)}; `profilesync runs` lists the undo)"
        )
    journal = read_journal(store, connection, goal, day)
    if journal.is_empty():
        raise UndoRefused(
            f"{what}: refused: Braze acknowledged nothing of a push of {day} "
            f"({store.uri(layout.push_journal_folder(connection, goal, day))} is empty); nothing to undo"
        )
    acknowledged = journal.unique(subset=KEY, keep="last", maintain_order=True)
    replaced = read_replaced(store, connection, goal, day).rename({"value": "restore", "as_of": "restore_as_of"})
    joined = acknowledged.join(replaced, on=KEY, how="left")
    unknown = joined.filter(pl.col("new_user").is_null())
    if unknown.height:
        example = unknown.row(0, named=True)
        raise UndoRefused(
            f"{what}: refused: {unknown.height:,} acknowledged values have no record of what they replaced "
            f"(e.g. {example['identity']} {example['attribute']!r}), pushed before profilesync kept one under "
            f"{store.uri(layout.push_replaced_folder(connection, goal, day))}; undo cannot restore them exactly"
        )
    held = read_baseline(store, connection, goal).select(
        *KEY, pl.col("value").alias("held"), pl.col("as_of").alias("held_as_of")
    )
    joined = joined.join(held, on=KEY, how="left")
    # An undo that left the pair holding this day's value (a later day's undo), or already the value
    # this undo restores (this undo, resumed), is not a later change.
    by_undo = pl.col("held_as_of").str.ends_with(layout.UNDO_SUFFIX) & (
        pl.col("held").eq_missing(pl.col("value")) | pl.col("held").eq_missing(pl.col("restore"))
    )
    is_later = ((pl.col("held_as_of") > day) & ~by_undo).fill_null(False)
    later = joined.filter(is_later).select(*KEY, pl.col("held_as_of").alias("as_of")).sort(KEY)
    inverse = joined.filter(~is_later & pl.col("restore").ne_missing(pl.col("value")))
    # As of the newest undo it overrides (a later day's, resumed or not), so the push does not hold those back.
    as_of = max([undo_label, *inverse.filter(by_undo)["held_as_of"].unique().to_list()])
    changes = (
        inverse.select(
            *KEY, pl.col("restore").alias("value"), pl.col("value").alias("previous"), profile_id=pl.lit(None)
        )
        .cast(CHANGES_SCHEMA)
        .sort(KEY)
    )
    created = joined.filter(pl.col("new_user"))["identity"].unique().sort().to_list()
    refused = _refused_values(store, connection, goal, day)
    return UndoPlan(connection, goal, day, as_of, changes, later, created, refused)


def _refused_values(store: ObjectStore, connection: str, goal: str, day: str) -> int:
    return sum(len(letter["attributes"]) for letter in read_dead_letters(store, connection, goal, day))


def run_undo(
    client: BrazeClient,
    store: ObjectStore,
    plan: UndoPlan,
    *,
    force: bool = False,
    object_limit_mode: ObjectLimitMode = "combined",
    max_in_flight: int = 4,
    progress: Callable[[str], None] = lambda message: None,
) -> PushReport:
    """Send the plan as the journaled push of `undo_day(day)`; UndoRefused when a later day holds pairs."""
    refusal = plan.refusal()
    if refusal and not force:
        raise UndoRefused(refusal)
    return push_changes(
        client,
        store,
        plan.connection,
        plan.goal,
        layout.undo_day(plan.day),
        plan.changes,
        allow_create=False,  # an undo restores values; it never creates a user
        object_limit_mode=object_limit_mode,
        max_in_flight=max_in_flight,
        progress=progress,
        as_of=plan.as_of,
    )
