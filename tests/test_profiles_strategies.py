"""The five merge strategies of pipeline.profiles, one goal at a time, on hand-made changes frames."""

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
    apply_goal,
    build_day,
    empty_snapshot,
    find_profile,
)

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
IDS = [IdentifierRule("external_id", "external_id")]


def changes(*rows: dict[str, Any], schema: dict[str, pl.DataType] | None = None) -> pl.DataFrame:
    """A changes frame; `_change` defaults to added and `_changed_fields` to every non-null data field."""
    filled = []
    for row in rows:
        row = {"_change": "added", **row}
        if "_changed_fields" not in row:
            row["_changed_fields"] = [k for k, v in row.items() if not k.startswith("_") and v is not None]
        filled.append(row)
    overrides = {"_changed_fields": pl.List(pl.String), **(schema or {})}
    return pl.DataFrame(filled, schema_overrides=overrides)


def goal(*fields: FieldRule, name: str = "acme/vip") -> GoalRules:
    return GoalRules(name, IDS, True, list(fields))


def props(snapshot: Snapshot, external_id: str = "u1") -> dict[str, Any]:
    found = find_profile(snapshot, "external_id", external_id)
    assert found is not None
    return found["properties"]


def two_days(rules: GoalRules, day1: pl.DataFrame, day2: pl.DataFrame) -> Snapshot:
    first, _ = build_day(empty_snapshot(), [(rules, day1)], D1)
    second, _ = build_day(first, [(rules, day2)], D2)
    return second


def test_set_replaces_and_an_empty_value_leaves_the_property_alone() -> None:
    rules = goal(FieldRule("first_name", "first_name", "set"), FieldRule("home_city", "city", "set"))
    day1 = changes({"braze_id": "b1", "external_id": "u1", "first_name": "Ann", "home_city": "Paris"})
    day2 = changes(
        {
            "braze_id": "b1",
            "_change": "changed",
            "_changed_fields": ["first_name", "home_city"],
            "external_id": "u1",
            "first_name": "Anna",
            "home_city": "",
        }
    )
    assert props(two_days(rules, day1, day2)) == {"first_name": "Anna", "city": "Paris"}


def test_set_with_a_null_value_leaves_the_property_alone() -> None:
    rules = goal(FieldRule("first_name", "first_name", "set"))
    day1 = changes({"braze_id": "b1", "external_id": "u1", "first_name": "Ann"})
    day2 = changes(
        {
            "braze_id": "b1",
            "_change": "changed",
            "_changed_fields": ["first_name"],
            "external_id": "u1",
            "first_name": None,
        },
        schema={"first_name": pl.String},
    )
    assert props(two_days(rules, day1, day2)) == {"first_name": "Ann"}


def test_add_appends_new_values_in_order_without_duplicates() -> None:
    rules = goal(FieldRule("custom_attributes.tags", "tags", "add"), FieldRule("home_city", "cities", "add"))
    day1 = changes(
        {"braze_id": "b1", "external_id": "u1", "custom_attributes.tags": ["a", "b", "a"], "home_city": "Paris"}
    )
    day2 = changes(
        {
            "braze_id": "b1",
            "_change": "changed",
            "_changed_fields": ["custom_attributes.tags", "home_city"],
            "external_id": "u1",
            "custom_attributes.tags": ["b", "c", "a", "d"],
            "home_city": "Rome",
        }
    )
    snapshot = two_days(rules, day1, day2)
    expected = pl.DataFrame({"cities": [["Paris", "Rome"]], "tags": [["a", "b", "c", "d"]]})
    assert_frame_equal(snapshot.profiles.select("cities", "tags"), expected)


def test_sum_with_an_empty_stored_value_adds_the_whole_braze_value() -> None:
    rules = goal(FieldRule("custom_attributes.points", "points", "sum"))
    day1 = changes(
        {"braze_id": "b1", "external_id": "u1", "custom_attributes.points": None},
        schema={"custom_attributes.points": pl.Int64},
    )
    day2 = changes(
        {
            "braze_id": "b1",
            "_change": "changed",
            "_changed_fields": ["custom_attributes.points"],
            "external_id": "u1",
            "custom_attributes.points": 7,
        }
    )
    snapshot = two_days(rules, day1, day2)
    assert props(snapshot) == {"points": 7}
    expected = pl.DataFrame({"goal": ["acme/vip"], "braze_id": ["b1"], "property": ["points"], "value": [7.0]})
    assert_frame_equal(snapshot.sum_basis, expected)


def test_sum_adds_only_the_change_since_the_basis_and_keeps_other_goals_share() -> None:
    braze = goal(FieldRule("custom_attributes.points", "points", "sum"))
    store = goal(FieldRule("custom_attributes.store_points", "points", "sum"), name="acme/store")
    day1 = [
        (braze, changes({"braze_id": "b1", "external_id": "u1", "custom_attributes.points": 10})),
        (store, changes({"braze_id": "s1", "external_id": "u1", "custom_attributes.store_points": 3})),
    ]
    first, _ = build_day(empty_snapshot(), day1, D1)
    assert props(first) == {"points": 13}
    day2 = changes(
        {
            "braze_id": "b1",
            "_change": "changed",
            "_changed_fields": ["custom_attributes.points"],
            "external_id": "u1",
            "custom_attributes.points": 15,
        }
    )
    second, _ = build_day(first, [(braze, day2)], D2)
    assert props(second) == {"points": 18}


def test_sum_of_a_non_number_is_quarantined_and_leaves_property_and_basis_alone() -> None:
    rules = goal(FieldRule("custom_attributes.points", "points", "sum"))
    day1 = changes({"braze_id": "b1", "external_id": "u1", "custom_attributes.points": 10})
    first, _ = build_day(empty_snapshot(), [(rules, day1)], D1)
    for bad, text in (("lots", "lots"), (True, "true")):
        day2 = changes(
            {
                "braze_id": "b1",
                "_change": "changed",
                "_changed_fields": ["custom_attributes.points"],
                "external_id": "u1",
                "custom_attributes.points": bad,
            }
        )
        second, report = build_day(first, [(rules, day2)], D2)
        assert props(second) == {"points": 10}
        assert_frame_equal(second.sum_basis, first.sum_basis)
        assert second.quarantine.select("goal", "braze_id", "property", "value").rows() == [
            ("acme/vip", "b1", "points", text)
        ]
        assert "number" in second.quarantine["reason"][0]
        assert report.quarantined == 1 and report.goals[0].quarantined == 1


def test_json_text_columns_are_decoded_and_sum_only_their_numbers() -> None:
    rules = goal(FieldRule("custom_attributes.points", "points", "sum"), FieldRule("custom_attributes.level", "level"))
    # staging writes an attribute whose values mix types as JSON text: 4 is `4`, "lots" is `"lots"`
    day1 = changes(
        {"braze_id": "b1", "external_id": "u1", "custom_attributes.points": "4", "custom_attributes.level": '"gold"'},
        {"braze_id": "b2", "external_id": "u2", "custom_attributes.points": '"4"', "custom_attributes.level": "4"},
    )
    json_text = {"custom_attributes.points", "custom_attributes.level"}
    snapshot, _ = build_day(empty_snapshot(), [(rules, day1, json_text)], D1)
    assert props(snapshot) == {"points": 4, "level": "gold"}
    assert props(snapshot, "u2") == {"level": "4"}
    assert snapshot.profiles.schema["points"] == pl.Int64
    assert snapshot.quarantine.select("braze_id", "value").rows() == [("b2", '"4"')]
    # without the JSON-text list the same column is plain text: no number in it
    plain, _ = build_day(empty_snapshot(), [(rules, day1)], D1)
    assert plain.quarantine["braze_id"].to_list() == ["b1", "b2"]
    assert props(plain)["level"] == '"gold"'


def test_set_if_empty_writes_only_into_an_empty_property() -> None:
    rules = goal(FieldRule("first_name", "first_name", "set_if_empty"), FieldRule("home_city", "city", "set_if_empty"))
    day1 = changes({"braze_id": "b1", "external_id": "u1", "first_name": "Ann"})
    day2 = changes(
        {
            "braze_id": "b1",
            "_change": "changed",
            "_changed_fields": ["first_name", "home_city"],
            "external_id": "u1",
            "first_name": "Anna",
            "home_city": "Paris",
        }
    )
    assert props(two_days(rules, day1, day2)) == {"first_name": "Ann", "city": "Paris"}


def test_clear_empties_on_an_empty_value_and_sets_otherwise() -> None:
    rules = goal(FieldRule("first_name", "first_name", "clear"), FieldRule("home_city", "city", "clear"))
    day1 = changes({"braze_id": "b1", "external_id": "u1", "first_name": "Ann", "home_city": "Paris"})
    day2 = changes(
        {
            "braze_id": "b1",
            "_change": "changed",
            "_changed_fields": ["first_name", "home_city"],
            "external_id": "u1",
            "first_name": None,
            "home_city": "Rome",
        },
        schema={"first_name": pl.String},
    )
    snapshot = two_days(rules, day1, day2)
    assert_frame_equal(
        snapshot.profiles.select("city", "first_name"),
        pl.DataFrame({"city": ["Rome"], "first_name": [None]}, schema={"city": pl.String, "first_name": pl.String}),
    )


def test_fields_not_in_changed_fields_are_not_reapplied() -> None:
    braze = goal(FieldRule("first_name", "first_name", "set"), FieldRule("custom_attributes.points", "points", "sum"))
    crm = goal(FieldRule("first_name", "first_name", "set"), name="acme/crm")
    day1 = changes({"braze_id": "b1", "external_id": "u1", "first_name": "Ann", "custom_attributes.points": 10})
    first, _ = build_day(empty_snapshot(), [(braze, day1)], D1)
    crm_day2 = changes({"braze_id": "c1", "external_id": "u1", "first_name": "Annie"})
    # b1 changed only its home city: its (unchanged) first name and points must not be applied again
    braze_day2 = changes(
        {
            "braze_id": "b1",
            "_change": "changed",
            "_changed_fields": ["home_city"],
            "external_id": "u1",
            "first_name": "Ann",
            "custom_attributes.points": 10,
            "home_city": "Rome",
        }
    )
    second, report = build_day(first, [(crm, crm_day2), (braze, braze_day2)], D2)
    assert props(second) == {"first_name": "Annie", "points": 10}
    assert report.goals[1].profiles_updated == 0


def test_apply_goal_is_pure_and_repeatable() -> None:
    rules = goal(
        FieldRule("custom_attributes.points", "points", "sum"), FieldRule("custom_attributes.tags", "tags", "add")
    )
    day1 = changes(
        {"braze_id": "b1", "external_id": "u1", "custom_attributes.points": 4, "custom_attributes.tags": ["x"]}
    )
    start = empty_snapshot()
    once, report_once = apply_goal(start, rules, day1, D1)
    again, report_again = apply_goal(start, rules, day1, D1)
    for name in ("profiles", "identifiers", "sum_basis", "merges", "quarantine"):
        assert_frame_equal(getattr(once, name), getattr(again, name))
    assert report_once == report_again
    assert start.profiles.is_empty()


def test_records_of_one_goal_on_one_profile_apply_in_braze_id_order() -> None:
    rules = GoalRules(
        "acme/vip",
        [IdentifierRule("external_id", "external_id"), IdentifierRule("email", "email")],
        True,
        [
            FieldRule("first_name", "last_first_name", "set"),
            FieldRule("last_name", "first_last_name", "set_if_empty"),
            FieldRule("home_city", "cities", "add"),
        ],
    )
    first, _ = build_day(
        empty_snapshot(), [(rules, changes({"braze_id": "b0", "external_id": "u1", "email": "a@x"}))], D1
    )
    # three records reach the same profile (two by e-mail, one by external_id), listed out of order
    day2 = changes(
        {"braze_id": "b3", "email": "a@x", "first_name": "C", "last_name": "Z", "home_city": "Rome"},
        {"braze_id": "b1", "external_id": "u1", "first_name": "A", "last_name": "X", "home_city": "Oslo"},
        {"braze_id": "b2", "email": "a@x", "first_name": "B", "last_name": "Y", "home_city": "Oslo"},
    )
    second, _ = build_day(first, [(rules, day2)], D2)
    assert props(second) == {"cities": ["Oslo", "Rome"], "first_last_name": "X", "last_first_name": "C"}


def test_rules_refuse_reserved_names_and_unknown_strategies() -> None:
    with pytest.raises(ValueError, match="reserved"):
        FieldRule("first_name", "_updated", "set")
    with pytest.raises(ValueError, match="reserved"):
        FieldRule("first_name", "profile_id", "set")
    with pytest.raises(ValueError, match="use one of set, add, sum, set_if_empty, clear"):
        FieldRule("first_name", "name", "replace")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="user_alias:<label>"):
        IdentifierRule("alias", "crm_id")
    with pytest.raises(ValueError, match="written twice"):
        goal(FieldRule("first_name", "name"), FieldRule("last_name", "name"))
