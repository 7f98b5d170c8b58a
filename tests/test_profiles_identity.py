"""Identity resolution and profile merging in pipeline.profiles."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
from polars.testing import assert_frame_equal

from pipeline.profiles import (
    FieldRule,
    GoalRules,
    IdentifierRule,
    RemainingRule,
    apply_goal,
    build_day,
    empty_snapshot,
    find_profile,
    new_profile_ids,
)

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
IDS = [
    IdentifierRule("external_id", "external_id"),
    IdentifierRule("email", "email"),
    IdentifierRule("user_alias:crm", "crm_id"),
]
FIELDS = [
    FieldRule("first_name", "first_name", "set"),
    FieldRule("custom_attributes.points", "points", "sum"),
    FieldRule("custom_attributes.tags", "tags", "add"),
]
SCHEMA = {
    "_changed_fields": pl.List(pl.String),
    "external_id": pl.String,
    "email": pl.String,
    "first_name": pl.String,
    "custom_attributes.points": pl.Int64,
    "custom_attributes.tags": pl.List(pl.String),
}


def changes(*rows: dict[str, Any]) -> pl.DataFrame:
    """Added records; `_changed_fields` lists every non-null data field."""
    filled = []
    for row in rows:
        row = {"_change": "added", **row}
        row.setdefault("_changed_fields", [k for k, v in row.items() if not k.startswith("_") and v is not None])
        filled.append(row)
    return pl.DataFrame(filled, schema_overrides={k: v for k, v in SCHEMA.items() if any(k in r for r in filled)})


def rules(allow_create: bool = True, remaining: RemainingRule | None = None) -> GoalRules:
    return GoalRules("acme/vip", IDS, allow_create, FIELDS, remaining)


def pid(day: date, *braze_ids: str) -> list[str]:
    return new_profile_ids(day, "acme/vip", pl.Series(braze_ids)).to_list()


def test_a_record_matches_on_any_identifier() -> None:
    first, _ = build_day(
        empty_snapshot(), [(rules(), changes({"braze_id": "b1", "external_id": "u1", "email": "a@x.com"}))], D1
    )
    day2 = changes({"braze_id": "b9", "email": "a@x.com", "first_name": "Ann"})
    second, report = build_day(first, [(rules(), day2)], D2)
    assert second.profiles.height == 1
    assert find_profile(second, "email", "a@x.com")["properties"] == {"first_name": "Ann"}
    assert (report.profiles_created, report.profiles_updated) == (0, 1)


def test_a_user_alias_is_an_identifier() -> None:
    alias = [{"alias_name": "c-17", "alias_label": "crm"}, {"alias_name": "w-1", "alias_label": "web"}]
    first, _ = build_day(empty_snapshot(), [(rules(), changes({"braze_id": "b1", "user_aliases": alias}))], D1)
    found = find_profile(first, "crm_id", "c-17")
    assert found is not None and found["identifiers"] == {"crm_id": ["c-17"]}


def test_a_record_linking_two_profiles_merges_them_by_the_rule() -> None:
    day1 = changes(
        {
            "braze_id": "b1",
            "external_id": "u1",
            "first_name": None,
            "custom_attributes.points": 5,
            "custom_attributes.tags": ["a"],
        }
    )
    first, _ = build_day(empty_snapshot(), [(rules(), day1)], D1)
    day2 = changes(
        {
            "braze_id": "b2",
            "email": "a@x.com",
            "first_name": "Bea",
            "custom_attributes.points": 2,
            "custom_attributes.tags": ["b", "a"],
        }
    )
    second, _ = build_day(first, [(rules(), day2)], D2)
    older, newer = pid(D1, "b1")[0], pid(D2, "b2")[0]
    # b3 holds u1 (older profile) and a@x.com (newer one): the older one survives
    day3 = changes({"braze_id": "b3", "external_id": "u1", "email": "a@x.com"})
    third, report = build_day(second, [(rules(), day3)], D3)

    expected = pl.DataFrame(
        {
            "profile_id": [older],
            "_created": [D1],
            "_updated": [D3],
            "first_name": ["Bea"],
            "points": [7],
            "tags": [["a", "b"]],
        }
    )
    assert_frame_equal(third.profiles, expected)
    assert_frame_equal(
        third.identifiers,
        pl.DataFrame({"profile_id": [older, older], "kind": ["email", "external_id"], "value": ["a@x.com", "u1"]}),
    )
    assert_frame_equal(
        third.merges,
        pl.DataFrame(
            {
                "goal": ["acme/vip"],
                "braze_id": ["b3"],
                "survivor_id": [older],
                "merged_id": [newer],
                "identifiers": [["email=a@x.com"]],
            }
        ),
    )
    assert (report.merges, report.profiles_updated, report.profiles_unchanged) == (1, 1, 0)


def test_merge_tie_on_created_day_keeps_the_smaller_profile_id() -> None:
    day1 = changes(
        {"braze_id": "b1", "external_id": "u1", "first_name": "Ann"},
        {"braze_id": "b2", "external_id": "u2", "email": "bea@x.com", "first_name": "Bea"},
    )
    first, _ = build_day(empty_snapshot(), [(rules(), day1)], D1)
    link = changes({"braze_id": "b9", "external_id": "u1", "email": "bea@x.com"})
    after, _ = build_day(first, [(rules(), link)], D2)
    smaller, larger = sorted(pid(D1, "b1", "b2"))
    assert after.profiles["profile_id"].to_list() == [smaller]
    assert after.merges.select("survivor_id", "merged_id").rows() == [(smaller, larger)]
    survivor_name = "Ann" if smaller == pid(D1, "b1")[0] else "Bea"
    assert after.profiles["first_name"].to_list() == [survivor_name]


def test_new_records_sharing_an_email_become_one_profile() -> None:
    day1 = changes(
        {"braze_id": "b2", "external_id": "u2", "email": "same@x.com", "custom_attributes.points": 3},
        {"braze_id": "b1", "external_id": "u1", "email": "same@x.com", "custom_attributes.points": 4},
    )
    first, report = build_day(empty_snapshot(), [(rules(), day1)], D1)
    created_by = pid(D1, "b1")[0]
    assert first.profiles["profile_id"].to_list() == [created_by]
    assert first.identifiers.filter(pl.col("kind") == "external_id")["value"].to_list() == ["u1", "u2"]
    assert find_profile(first, "external_id", "u2")["properties"] == {"points": 7}
    assert (report.profiles_created, report.merges) == (1, 0)


def test_allow_create_off_skips_unmatched_records_but_updates_matched_ones() -> None:
    first, _ = build_day(empty_snapshot(), [(rules(), changes({"braze_id": "b1", "external_id": "u1"}))], D1)
    day2 = changes(
        {"braze_id": "b1", "external_id": "u1", "first_name": "Ann"},
        {"braze_id": "b2", "external_id": "u2", "first_name": "Bea"},
    )
    second, report = build_day(first, [(rules(allow_create=False), day2)], D2)
    assert second.profiles.height == 1
    assert find_profile(second, "external_id", "u2") is None
    assert find_profile(second, "external_id", "u1")["properties"] == {"first_name": "Ann"}
    goal = report.goals[0]
    assert (goal.skipped_no_match, goal.profiles_created, goal.profiles_updated) == (1, 0, 1)
    on, report_on = build_day(first, [(rules(allow_create=True), day2)], D2)
    assert on.profiles.height == 2 and report_on.goals[0].profiles_created == 1


def test_records_without_identifier_values_are_counted_not_created() -> None:
    snapshot, report = apply_goal(
        empty_snapshot(), rules(), changes({"braze_id": "b1", "first_name": "Ann", "external_id": None}), D1
    )
    assert snapshot.profiles.is_empty()
    assert report.skipped_no_identifier == 1


def test_remaining_fields_get_the_prefix_except_mapped_and_identifier_fields() -> None:
    day1 = changes(
        {
            "braze_id": "b1",
            "external_id": "u1",
            "email": "a@x.com",
            "first_name": "Ann",
            "home_city": "Paris",
            "custom_attributes.vip": True,
            "custom_attributes.home_city": "Lyon",  # clashes with the standard field once shortened
        }
    )
    snapshot, _ = build_day(empty_snapshot(), [(rules(remaining=RemainingRule("braze_", "set")), day1)], D1)
    assert snapshot.properties() == ["braze_custom_attributes.home_city", "braze_home_city", "braze_vip", "first_name"]
    assert find_profile(snapshot, "external_id", "u1")["properties"] == {
        "braze_vip": True,
        "braze_custom_attributes.home_city": "Lyon",
        "braze_home_city": "Paris",
        "first_name": "Ann",
    }


def test_removed_users_keep_their_profiles_and_are_counted() -> None:
    first, _ = build_day(
        empty_snapshot(), [(rules(), changes({"braze_id": "b1", "external_id": "u1", "first_name": "Ann"}))], D1
    )
    gone = changes(
        {"braze_id": "b1", "_change": "removed", "_changed_fields": [], "external_id": "u1", "first_name": "Ann"}
    )
    second, report = build_day(first, [(rules(), gone)], D2)
    assert_frame_equal(second.profiles, first.profiles)
    goal = report.goals[0]
    assert (goal.removed, goal.left_segment, goal.profiles_unchanged, goal.profiles_updated) == (1, 1, 1, 0)
