"""Properties of the delta and the merge strategies, over generated sequences of staged days.

Hand-made cases (tests/test_delta.py, tests/test_profiles_strategies.py) show single rules;
these check the laws the whole design relies on, on inputs nobody thought of:

- the delta applied to the old staged day gives the new one;
- re-applying a day's changes to the day's own result changes nothing;
- `add` ends as the union of every value seen, `set_if_empty` never overwrites,
  `sum` over any sequence of exports equals start + last − first;
- the order of records within a day (and so of the merges they cause) does not matter.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from pipeline.delta import CHANGE, FIELDS, diff
from pipeline.profiles import FieldRule, GoalRules, IdentifierRule, Snapshot, build_day, empty_snapshot
from pipeline.profiles.snapshot import PROFILE_ID

START = date(2026, 1, 1)
USERS = [f"b{i}" for i in range(6)]
SCHEMA = pl.Schema(
    {
        "braze_id": pl.String,
        "external_id": pl.String,
        "email": pl.String,
        "points": pl.Int64,
        "tags": pl.List(pl.String),
        "city": pl.String,
    }
)
RULES = GoalRules(
    "acme/all",
    [IdentifierRule("external_id", "external_id"), IdentifierRule("email", "email")],
    True,
    [
        FieldRule("points", "points", "sum"),
        FieldRule("tags", "interests", "add"),
        FieldRule("city", "first_city", "set_if_empty"),
    ],
)
PROPERTY_TEST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# One user's row of one day: present or not, with values from small pools so that collisions
# (equal values, shared e-mails that merge profiles, empty lists) happen often.
user_row = st.fixed_dictionaries(
    {
        "points": st.one_of(st.none(), st.integers(-1000, 1000)),
        "tags": st.one_of(st.none(), st.lists(st.sampled_from("abcde"), max_size=3, unique=True)),
        "city": st.one_of(st.none(), st.sampled_from(["", "Paris", "Oslo", "Lima"])),
        "email": st.one_of(st.none(), st.sampled_from(["x@e.com", "y@e.com", "z@e.com"])),
    }
)
staged_day = st.dictionaries(st.sampled_from(USERS), user_row, max_size=len(USERS))
staged_days = st.lists(staged_day, min_size=1, max_size=5)


def staged(users: dict[str, dict]) -> pl.DataFrame:
    """A staged copy: one row per present user, external_id derived from braze_id so it is stable."""
    rows = [{"braze_id": b, "external_id": f"u{b[1:]}", **values} for b, values in sorted(users.items())]
    return pl.DataFrame(rows, schema=SCHEMA)


def changes_of(days: list[dict[str, dict]]) -> list[pl.DataFrame]:
    """The changes frame of every day against the day before, as `user_changes` computes it."""
    out, previous = [], None
    for users in days:
        current = staged(users)
        out.append(diff(current.lazy(), previous.lazy() if previous is not None else None).collect())
        previous = current
    return out


def run_days(days: list[dict[str, dict]]) -> list[Snapshot]:
    snapshots, snapshot = [], empty_snapshot()
    for offset, changes in enumerate(changes_of(days)):
        snapshot, _report = build_day(snapshot, [(RULES, changes)], START + timedelta(days=offset))
        snapshots.append(snapshot)
    return snapshots


def property_of(snapshot: Snapshot, external_id: str, name: str) -> object:
    ids = snapshot.identifiers.filter((pl.col("kind") == "external_id") & (pl.col("value") == external_id))
    if ids.is_empty():
        return None
    row = snapshot.profiles.filter(pl.col(PROFILE_ID) == ids[PROFILE_ID][0])
    value = row[name][0] if name in row.columns else None
    return value.to_list() if isinstance(value, pl.Series) else value


def apply_changes(old: pl.DataFrame, changes: pl.DataFrame) -> pl.DataFrame:
    """Old copy − removed − changed + (added and changed, with today's values)."""
    touched = changes["braze_id"]
    kept = old.filter(~pl.col("braze_id").is_in(touched.implode()))
    arrived = changes.filter(pl.col(CHANGE) != "removed").select(old.columns)
    return pl.concat([kept, arrived]).sort("braze_id")


@PROPERTY_TEST
@given(staged_day, staged_day)
def test_the_delta_applied_to_the_old_day_gives_the_new_one(old_users: dict, new_users: dict) -> None:
    old, new = staged(old_users), staged(new_users)
    changes = diff(new.lazy(), old.lazy()).collect()
    assert_frame_equal(apply_changes(old, changes), new)
    unchanged = set(old_users) & set(new_users) - set(changes["braze_id"])
    assert all(old_users[b] == new_users[b] for b in unchanged)
    for row in changes.filter(pl.col(CHANGE) == "changed").iter_rows(named=True):
        assert row[FIELDS], f"{row['braze_id']} reported changed with no changed field"
        assert all(old_users[row["braze_id"]][f] != new_users[row["braze_id"]][f] for f in row[FIELDS])


@PROPERTY_TEST
@given(staged_days)
def test_reapplying_a_day_changes_no_profile(days: list[dict]) -> None:
    snapshots = run_days(days)
    last_changes = changes_of(days)[-1]
    again, _report = build_day(snapshots[-1], [(RULES, last_changes)], START + timedelta(days=len(days) - 1))
    assert_frame_equal(again.profiles, snapshots[-1].profiles)
    assert_frame_equal(again.identifiers, snapshots[-1].identifiers)
    assert_frame_equal(again.sum_basis, snapshots[-1].sum_basis)


def _single_profile_days(days: list[dict[str, dict]]) -> list[dict[str, dict]]:
    """One user only, without e-mail, so no merge blends another user's values into it."""
    return [{b: {**v, "email": None} for b, v in users.items() if b == "b0"} for users in days]


@PROPERTY_TEST
@given(staged_days)
def test_add_is_the_union_of_every_value_seen(days: list[dict]) -> None:
    days = _single_profile_days(days)
    snapshots = run_days(days)
    seen: set[str] = set()
    for users, snapshot in zip(days, snapshots, strict=True):
        seen |= set(users.get("b0", {}).get("tags") or [])
        interests = property_of(snapshot, "u0", "interests")
        assert set(interests or []) == seen
        assert len(interests or []) == len(seen), "add must not repeat a value"


@PROPERTY_TEST
@given(staged_days)
def test_set_if_empty_never_overwrites(days: list[dict]) -> None:
    days = _single_profile_days(days)
    snapshots = run_days(days)
    first: str | None = None
    for users, snapshot in zip(days, snapshots, strict=True):
        city = users.get("b0", {}).get("city")
        first = first or (city or None)
        assert property_of(snapshot, "u0", "first_city") == first


@PROPERTY_TEST
@given(staged_days)
def test_sum_over_any_sequence_of_exports_is_start_plus_last_minus_first(days: list[dict]) -> None:
    days = _single_profile_days(days)
    snapshots = run_days(days)
    seen = [(i, users["b0"]["points"] or 0) for i, users in enumerate(days) if "b0" in users]
    if not seen:
        return
    (first_day, first), (_last_day, last) = seen[0], seen[-1]
    start = property_of(snapshots[first_day], "u0", "points")
    expected = (start or 0) + last - first
    assert (property_of(snapshots[-1], "u0", "points") or 0) == expected


@PROPERTY_TEST
@given(staged_days, st.randoms(use_true_random=False))
def test_the_order_of_records_in_a_day_does_not_matter(days: list[dict], rng) -> None:
    in_order = run_days(days)[-1]
    snapshot = empty_snapshot()
    for offset, changes in enumerate(changes_of(days)):
        shuffled = changes.sample(fraction=1.0, shuffle=True, seed=rng.randint(0, 2**31))
        snapshot, _report = build_day(snapshot, [(RULES, shuffled)], START + timedelta(days=offset))
    assert_frame_equal(snapshot.profiles, in_order.profiles)
    assert_frame_equal(snapshot.identifiers, in_order.identifiers)
    assert_frame_equal(snapshot.merges, in_order.merges)
