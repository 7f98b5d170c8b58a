"""Whole days in pipeline.profiles: goal order, repeat runs, full exports, leavers, type changes."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.profiles import (
    FieldRule,
    GoalRules,
    IdentifierRule,
    Snapshot,
    build_day,
    empty_snapshot,
    find_profile,
)

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
IDS = [IdentifierRule("external_id", "external_id")]
FRAMES = ("profiles", "identifiers", "sum_basis", "merges", "quarantine")


def changes(*rows: dict[str, Any], schema: dict[str, pl.DataType] | None = None) -> pl.DataFrame:
    filled = []
    for row in rows:
        row = {"_change": "added", **row}
        row.setdefault("_changed_fields", [k for k, v in row.items() if not k.startswith("_") and v is not None])
        filled.append(row)
    return pl.DataFrame(filled, schema_overrides={"_changed_fields": pl.List(pl.String), **(schema or {})})


def no_changes(like: pl.DataFrame) -> pl.DataFrame:
    """What the delta step writes when today's export equals yesterday's."""
    return like.clear()


def assert_same(a: Snapshot, b: Snapshot) -> None:
    for name in FRAMES:
        assert_frame_equal(getattr(a, name), getattr(b, name))


def value(snapshot: Snapshot, prop: str, external_id: str = "u1") -> Any:
    return find_profile(snapshot, "external_id", external_id)["properties"].get(prop)


POINTS = GoalRules(
    "acme/vip",
    IDS,
    True,
    [FieldRule("first_name", "first_name", "set"), FieldRule("custom_attributes.points", "points", "sum")],
)


def test_goals_apply_in_declared_order_so_the_second_set_wins() -> None:
    first = GoalRules("acme/a", IDS, True, [FieldRule("first_name", "name", "set")])
    second = GoalRules("acme/b", IDS, True, [FieldRule("last_name", "name", "set")])
    day = [
        (first, changes({"braze_id": "a1", "external_id": "u1", "first_name": "Ann"})),
        (second, changes({"braze_id": "b1", "external_id": "u1", "last_name": "Smith"})),
    ]
    forward, report = build_day(empty_snapshot(), day, D1)
    backward, _ = build_day(empty_snapshot(), day[::-1], D1)
    assert value(forward, "name") == "Smith"
    assert value(backward, "name") == "Ann"
    assert [g.goal for g in report.goals] == ["acme/a", "acme/b"]
    assert (report.profiles_created, report.goals[0].profiles_created, report.goals[1].profiles_created) == (1, 1, 0)


def test_rebuilding_a_day_from_the_same_previous_snapshot_gives_identical_frames() -> None:
    day1 = changes({"braze_id": "b1", "external_id": "u1", "first_name": "Ann", "custom_attributes.points": 10})
    first, _ = build_day(empty_snapshot(), [(POINTS, day1)], D1)
    day2 = changes(
        {
            "braze_id": "b1",
            "_change": "changed",
            "_changed_fields": ["custom_attributes.points"],
            "external_id": "u1",
            "custom_attributes.points": 12,
        },
        {"braze_id": "b2", "external_id": "u2", "custom_attributes.points": 1},
    )
    once, report_once = build_day(first, [(POINTS, day2)], D2)
    again, report_again = build_day(first, [(POINTS, day2)], D2)
    assert_same(once, again)
    assert report_once == report_again
    assert value(once, "points") == 12


def test_two_identical_full_exports_leave_profiles_unchanged_and_sums_single() -> None:
    day1 = changes(
        {"braze_id": "b1", "external_id": "u1", "first_name": "Ann", "custom_attributes.points": 10},
        {"braze_id": "b2", "external_id": "u2", "first_name": "Bea", "custom_attributes.points": 4},
    )
    first, _ = build_day(empty_snapshot(), [(POINTS, day1)], D1)
    second, report = build_day(first, [(POINTS, no_changes(day1))], D2)
    assert_frame_equal(second.profiles, first.profiles)
    assert_frame_equal(second.sum_basis, first.sum_basis)
    assert (report.profiles_unchanged, report.profiles_updated, report.profiles_created) == (2, 0, 0)
    assert value(second, "points") == 10


def test_a_user_who_leaves_and_returns_adds_only_the_difference() -> None:
    crm = GoalRules("acme/crm", IDS, True, [FieldRule("custom_attributes.bonus", "points", "sum")])
    day1 = changes({"braze_id": "b1", "external_id": "u1", "custom_attributes.points": 10})
    first, _ = build_day(empty_snapshot(), [(POINTS, day1)], D1)
    left = changes(
        {
            "braze_id": "b1",
            "_change": "removed",
            "_changed_fields": [],
            "external_id": "u1",
            "custom_attributes.points": 10,
        }
    )
    bonus = changes({"braze_id": "c1", "external_id": "u1", "custom_attributes.bonus": 5})
    second, report = build_day(first, [(POINTS, left), (crm, bonus)], D2)
    assert value(second, "points") == 15
    assert report.goals[0].left_segment == 1
    back = changes({"braze_id": "b1", "external_id": "u1", "custom_attributes.points": 14})
    third, _ = build_day(second, [(POINTS, back)], D3)
    assert value(third, "points") == 19  # 10 + 5 + (14 - 10)


def test_a_property_that_changes_type_keeps_every_value() -> None:
    rules = GoalRules("acme/vip", IDS, True, [FieldRule("custom_attributes.level", "level", "set")])
    day1 = changes(
        {"braze_id": "b1", "external_id": "u1", "custom_attributes.level": 5},
        {"braze_id": "b2", "external_id": "u2", "custom_attributes.level": 7},
    )
    first, _ = build_day(empty_snapshot(), [(rules, day1)], D1)
    assert first.profiles.schema["level"] == pl.Int64
    day2 = changes(
        {
            "braze_id": "b1",
            "_change": "changed",
            "_changed_fields": ["custom_attributes.level"],
            "external_id": "u1",
            "custom_attributes.level": "gold",
        }
    )
    second, report = build_day(first, [(rules, day2)], D2)
    assert_frame_equal(second.profiles.select("level"), pl.DataFrame({"level": ["gold", "7"]}), check_row_order=False)
    assert (report.profiles_updated, report.profiles_unchanged) == (1, 1)


def test_integers_meeting_floats_become_floats() -> None:
    rules = GoalRules("acme/vip", IDS, True, [FieldRule("custom_attributes.score", "score", "set")])
    first, _ = build_day(
        empty_snapshot(), [(rules, changes({"braze_id": "b1", "external_id": "u1", "custom_attributes.score": 3}))], D1
    )
    day2 = changes({"braze_id": "b2", "external_id": "u2", "custom_attributes.score": 2.5})
    second, _ = build_day(first, [(rules, day2)], D2)
    assert second.profiles.schema["score"] == pl.Float64
    assert (value(second, "score"), value(second, "score", "u2")) == (3.0, 2.5)


def test_duplicate_goal_names_in_one_day_are_refused() -> None:
    day = changes({"braze_id": "b1", "external_id": "u1"})
    with pytest.raises(ValueError, match="connection/goal"):
        build_day(empty_snapshot(), [(POINTS, day), (POINTS, day)], D1)
