"""`/users/track` on the sandbox, through the Braze client (reference section 3)."""

from __future__ import annotations

import pytest
import requests

from pipeline.braze.errors import BrazeValidationError

ALIAS = {"alias_name": "crm-42", "alias_label": "crm_id"}


def profile(sandbox, kind: str, value: str) -> dict | None:
    return sandbox.admin.user(kind, value)


# -- batch size, status, fatal errors -----------------------------------------------------------


def test_success_is_201_with_processed_counts_for_arrays_sent(sandbox) -> None:
    answer = requests.post(
        f"{sandbox.url}/users/track",
        json={"attributes": [{"external_id": "u1", "first_name": "Ana"}]},
        headers=sandbox.headers(),
    )
    assert answer.status_code == 201
    assert answer.json() == {"message": "success", "attributes_processed": 1}
    with sandbox.client() as client:
        result = client.track(
            events=[{"external_id": "u1", "name": "login", "time": "2026-01-05T10:00:00Z"}],
            purchases=[{"external_id": "u1", "product_id": "p", "currency": "EUR", "price": 2.5, "time": "2026-01-05"}],
        )
    assert (result.events_processed, result.purchases_processed, result.rejected) == (1, 1, [])
    assert "attributes_processed" not in result.response


def test_75_objects_in_total_pass_and_76_are_refused_whole(sandbox) -> None:
    with sandbox.client(max_retries=0) as client:
        attributes = [{"external_id": f"u{i}", "n": i} for i in range(50)]
        events = [{"external_id": f"u{i}", "name": "e", "time": "2026-01-05T10:00:00Z"} for i in range(25)]
        assert client.track(attributes=attributes, events=events).attributes_processed == 50
        with pytest.raises(BrazeValidationError, match="Max Input Length Exceeded") as caught:
            client.track(attributes=attributes, events=[*events, events[0]])
    assert caught.value.status == 400
    assert sandbox.admin.user_count() == 50  # nothing of the refused request was applied


def test_legacy_per_array_limit_allows_75_in_each_array(sandbox) -> None:
    sandbox.admin.configure(track_object_limit_mode="per_array")
    attributes = [{"external_id": f"u{i}", "n": i} for i in range(75)]
    events = [{"external_id": f"u{i}", "name": "e", "time": "2026-01-05T10:00:00Z"} for i in range(75)]
    with sandbox.client(max_retries=0) as client:
        result = client.track(attributes=attributes, events=events)
        assert (result.attributes_processed, result.events_processed) == (75, 75)
        with pytest.raises(BrazeValidationError, match="Max Input Length Exceeded"):
            client.track(attributes=[*attributes, {"external_id": "x"}])


def test_minor_errors_name_array_and_index_and_the_rest_is_applied(sandbox) -> None:
    with sandbox.client() as client:
        result = client.track(
            attributes=[
                {"external_id": "u1", "first_name": "Ana"},
                {"external_id": "u2", "email": "not-an-email"},
                {"external_id": "u3", "email_subscribe": "maybe"},
            ],
            events=[{"external_id": "u1", "name": "login"}],  # no time
        )
    assert result.attributes_processed == 1
    errors = result.response["errors"]
    assert {(e["input_array"], e["index"]) for e in errors} == {("attributes", 1), ("attributes", 2), ("events", 0)}
    types = {(e["input_array"], e["index"]): e["type"] for e in errors}
    assert types[("attributes", 1)].startswith("EMAIL_BAD_FORMAT: ")
    assert types[("attributes", 2)].startswith("BAD_EMAIL_SUBSCRIPTION_STATE: ")
    assert [(r.input_array, r.index) for r in result.rejected] == [("attributes", 1), ("attributes", 2), ("events", 0)]
    assert profile(sandbox, "external_id", "u1")["first_name"] == "Ana"
    assert profile(sandbox, "external_id", "u2") is None  # an object with an invalid value is refused whole


def test_fatal_400_when_no_object_is_valid(sandbox) -> None:
    body = {"attributes": [{"first_name": "no identifier"}, {"external_id": "u", "gender": "male"}]}
    answer = requests.post(f"{sandbox.url}/users/track", json=body, headers=sandbox.headers())
    assert answer.status_code == 400
    assert (
        answer.json()["message"] == "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields."
    )
    assert [e["index"] for e in answer.json()["errors"]] == [0, 1]
    assert "is required" in answer.json()["errors"][0]["type"]
    with sandbox.client() as client:
        result = client.track(attributes=body["attributes"])
    assert len(result.rejected) == 2 and result.attributes_processed == 0
    assert sandbox.admin.user_count() == 0


def test_empty_request_is_fatal(sandbox) -> None:
    answer = requests.post(f"{sandbox.url}/users/track", json={"attributes": []}, headers=sandbox.headers())
    assert answer.status_code == 400 and "Valid data must be provided" in answer.json()["message"]


# -- identifiers (3.2) and _update_existing_only (3.3) -------------------------------------------


def test_one_primary_identifier_only(sandbox) -> None:
    with sandbox.client() as client:
        result = client.track(
            attributes=[
                {"external_id": "u1", "user_alias": ALIAS, "a": 1},
                {"external_id": "u1", "braze_id": "abc", "a": 1},
                {"external_id": "u1", "a": 1},
            ]
        )
    assert [r.index for r in result.rejected] == [0, 1]
    assert "only one of" in result.rejected[0].reason


def test_external_id_limits(sandbox) -> None:
    with sandbox.client() as client:
        result = client.track(attributes=[{"external_id": "x" * 988, "a": 1}, {"external_id": "y" * 987, "a": 1}])
    assert [r.index for r in result.rejected] == [0]
    assert result.rejected[0].reason.startswith("EXTERNAL_USER_ID_TOO_LARGE")


def test_external_id_creates_unless_update_existing_only(sandbox) -> None:
    with sandbox.client() as client:
        client.track(attributes=[{"external_id": "new", "a": 1}])
        result = client.track(attributes=[{"external_id": "ghost", "a": 1, "_update_existing_only": True}])
        client.track(attributes=[{"external_id": "new", "a": 2, "_update_existing_only": True}])
    assert result.attributes_processed == 1 and not result.rejected  # a silent skip, as Braze queues it
    assert profile(sandbox, "external_id", "ghost") is None
    assert profile(sandbox, "external_id", "new")["custom_attributes"] == {"a": 2}
    outcome = sandbox.admin.requests()[1]["outcome"]["objects"][0]
    assert outcome["result"] == "skipped" and "_update_existing_only" in outcome["reason"]


def test_user_alias_creates_only_when_update_existing_only_is_false(sandbox) -> None:
    with sandbox.client() as client:
        client.track(attributes=[{"user_alias": ALIAS, "a": 1}])  # default true for aliases
        assert profile(sandbox, "alias", "crm_id:crm-42") is None
        client.track(
            events=[{"user_alias": ALIAS, "name": "e", "time": "2026-01-05T10:00:00Z", "_update_existing_only": False}]
        )
        assert profile(sandbox, "alias", "crm_id:crm-42") is None  # events never create alias users
        client.track(attributes=[{"user_alias": ALIAS, "a": 1, "_update_existing_only": False}])
        client.track(events=[{"user_alias": ALIAS, "name": "e", "time": "2026-01-05T10:00:00Z"}])
    user = profile(sandbox, "alias", "crm_id:crm-42")
    assert user["user_aliases"] == [ALIAS] and user["external_id"] is None
    assert user["custom_attributes"] == {"a": 1} and user["custom_events"][0]["count"] == 1


def test_alias_rules(sandbox) -> None:
    with sandbox.client() as client:
        result = client.track(
            attributes=[
                {"user_alias": {"alias_name": "", "alias_label": "l"}, "_update_existing_only": False},
                {"user_alias": {"alias_name": "n" * 237, "alias_label": "l"}, "_update_existing_only": False},
                {"user_alias": {"alias_name": "n"}, "_update_existing_only": False},
            ]
        )
    assert len(result.rejected) == 3 and sandbox.admin.user_count() == 0


def test_braze_id_updates_but_never_creates(sandbox) -> None:
    with sandbox.client() as client:
        client.track(attributes=[{"external_id": "u1", "a": 1}])
        braze_id = profile(sandbox, "external_id", "u1")["braze_id"]
        client.track(attributes=[{"braze_id": braze_id, "a": 2}, {"braze_id": "ffffffffffffffffffffffff", "a": 3}])
    assert profile(sandbox, "external_id", "u1")["custom_attributes"]["a"] == 2
    assert sandbox.admin.user_count() == 1


def test_email_lookup_creates_email_only_profile_then_finds_it(sandbox) -> None:
    with sandbox.client() as client:
        client.track(attributes=[{"email": "ana@example.com", "first_name": "Ana"}])
        client.track(attributes=[{"email": "ana@example.com", "last_name": "Silva"}])
    user = profile(sandbox, "email", "ana@example.com")
    assert (user["first_name"], user["last_name"], user["external_id"]) == ("Ana", "Silva", None)
    assert sandbox.admin.user_count() == 1


def test_email_beside_a_primary_identifier_is_an_attribute_not_a_lookup(sandbox) -> None:
    with sandbox.client() as client:
        client.track(attributes=[{"email": "ana@example.com", "first_name": "Ana"}])
        client.track(attributes=[{"external_id": "u1", "email": "ana@example.com"}])  # creates a second profile
        assert sandbox.admin.user_count() == 2
        client.track(attributes=[{"email": "ana@example.com", "tier": "gold"}])
    # several profiles share the email: the one with an external_id is updated
    assert profile(sandbox, "external_id", "u1")["custom_attributes"] == {"tier": "gold"}


def test_phone_lookup_normalises_and_needs_a_valid_number(sandbox) -> None:
    with sandbox.client() as client:
        client.track(attributes=[{"phone": "+1 (724) 123-4567", "first_name": "Ana"}])
        client.track(attributes=[{"phone": "+17241234567", "last_name": "Silva"}])
        result = client.track(attributes=[{"phone": "12", "first_name": "X"}])
    user = profile(sandbox, "phone", "+17241234567")
    assert (user["phone"], user["first_name"], user["last_name"]) == ("+17241234567", "Ana", "Silva")
    assert len(result.rejected) == 1


def test_missing_identifier_is_a_minor_error(sandbox) -> None:
    with sandbox.client() as client:
        result = client.track(attributes=[{"first_name": "Ana"}, {"external_id": "u1", "first_name": "Ben"}])
    assert result.rejected[0].reason == "'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required"


# -- attribute semantics (3.4–3.5) -------------------------------------------------------------


def custom(sandbox, external_id: str = "u1") -> dict:
    return profile(sandbox, "external_id", external_id)["custom_attributes"]


def test_set_null_removes_and_inc(sandbox) -> None:
    with sandbox.client() as client:
        client.track(attributes=[{"external_id": "u1", "tier": "gold", "points": 10, "vip": True, "ratio": 0.5}])
        client.track(attributes=[{"external_id": "u1", "tier": None, "points": {"inc": 5}}])
        client.track(attributes=[{"external_id": "u1", "points": {"inc": -20}, "fresh": {"inc": 3}}])
        result = client.track(attributes=[{"external_id": "u1", "vip": {"inc": 1}}])  # not an integer
    assert custom(sandbox) == {"points": -5, "vip": True, "ratio": 0.5, "fresh": 3}
    assert len(result.rejected) == 1


def test_standard_fields_and_their_null(sandbox) -> None:
    with sandbox.client() as client:
        client.track(
            attributes=[
                {
                    "external_id": "u1",
                    "first_name": "Ana",
                    "gender": "F",
                    "dob": "1990-02-03",
                    "country": "de",
                    "language": "EN",
                    "time_zone": "Europe/Berlin",
                    "email_subscribe": "opted_in",
                    "current_location": {"longitude": 13.4, "latitude": 52.5},
                    "home_city": "Berlin",
                }
            ]
        )
        client.track(
            attributes=[{"external_id": "u1", "home_city": None, "time_zone": "Mars/Olympus", "country": "Germany"}]
        )
    user = profile(sandbox, "external_id", "u1")
    assert (user["first_name"], user["gender"], user["dob"], user["language"]) == ("Ana", "F", "1990-02-03", "en")
    assert user["last_coordinates"] == [13.4, 52.5] and user["email_subscribe"] == "opted_in"
    assert "home_city" not in user
    assert user["time_zone"] == "Europe/Berlin"  # an invalid zone is ignored
    assert "country" not in user  # a name Braze cannot map is stored as null


def test_arrays_set_add_remove_unique_and_at_most_500(sandbox) -> None:
    with sandbox.client() as client:
        client.track(attributes=[{"external_id": "u1", "tags": ["a", "b", "a", "c"]}])
        assert custom(sandbox)["tags"] == ["a", "b", "c"]
        client.track(attributes=[{"external_id": "u1", "tags": {"add": ["a", "d"], "remove": ["b"]}}])
        assert custom(sandbox)["tags"] == ["c", "a", "d"]  # a re-added value moves to the end
        result = client.track(
            attributes=[
                {"external_id": "u1", "big": [str(i) for i in range(501)]},
                {"external_id": "u1", "tags": {"add": [str(i) for i in range(498)]}},  # 3 + 498 > 500
                {"external_id": "u1", "ok": [str(i) for i in range(500)]},
            ]
        )
    assert [r.index for r in result.rejected] == [0, 1]
    assert len(custom(sandbox)["ok"]) == 500 and "big" not in custom(sandbox)


def test_strings_longer_than_255_characters_are_invalid(sandbox) -> None:
    with sandbox.client() as client:
        result = client.track(
            attributes=[
                {"external_id": "u1", "note": "é" * 255},
                {"external_id": "u2", "note": "x" * 256},
                {"external_id": "u3", "first_name": "x" * 256},
                {"external_id": "u4", "tags": ["x" * 256]},
            ]
        )
    assert [r.index for r in result.rejected] == [1, 2, 3]


def test_time_strings_are_stored_as_times(sandbox) -> None:
    with sandbox.client() as client:
        client.track(attributes=[{"external_id": "u1", "joined": "2026-01-05", "word": "soon"}])
    assert custom(sandbox) == {"joined": "2026-01-05T00:00:00.000Z", "word": "soon"}


def test_nested_objects_replace_or_merge(sandbox) -> None:
    with sandbox.client() as client:
        client.track(attributes=[{"external_id": "u1", "car": {"make": "VW", "engine": {"hp": 90, "fuel": "e"}}}])
        client.track(attributes=[{"external_id": "u1", "car": {"engine": {"hp": 110}}, "_merge_objects": True}])
        assert custom(sandbox)["car"] == {"make": "VW", "engine": {"hp": 110, "fuel": "e"}}
        client.track(attributes=[{"external_id": "u1", "car": {"model": "Golf"}}])
        assert custom(sandbox)["car"] == {"model": "Golf"}
        client.track(attributes=[{"external_id": "u1", "car": {"bought": {"$time": "2020-01-02"}}}])
        assert custom(sandbox)["car"] == {"bought": "2020-01-02T00:00:00.000Z"}
        client.track(attributes=[{"external_id": "u1", "car": None}])
    assert "car" not in custom(sandbox)


def test_an_invalid_nested_value_drops_every_nested_update_of_the_request(sandbox) -> None:
    with sandbox.client() as client:
        result = client.track(
            attributes=[
                {"external_id": "u1", "car": {"make": "VW"}, "name_tag": "kept"},
                {"external_id": "u2", "pet": {"name": None}},  # null inside an object is invalid
            ]
        )
    assert [r.index for r in result.rejected] == [1]
    assert custom(sandbox) == {"name_tag": "kept"}  # u1's flat attribute applied, its nested one dropped
    points = sandbox.admin.requests()[-1]["data_points"]
    assert points == 1


@pytest.mark.parametrize("bad", [{"a b": 1}, {"a.b": 1}, {"$a": 1}, {"when": {"$time": "not a date"}}])
def test_invalid_nested_keys_and_times(sandbox, bad: dict) -> None:
    with sandbox.client() as client:
        result = client.track(attributes=[{"external_id": "u1", "obj": bad}])
    assert len(result.rejected) == 1


def test_arrays_of_objects(sandbox) -> None:
    pets = [{"id": 1, "name": "Rex"}, {"id": 2, "name": "Tom"}]
    with sandbox.client() as client:
        client.track(attributes=[{"external_id": "u1", "pets": pets}])
        client.track(
            attributes=[
                {
                    "external_id": "u1",
                    "pets": {
                        "$add": [{"id": 3, "name": "Kit"}],
                        "$remove": [{"$identifier_key": "id", "$identifier_value": 1}],
                        "$update": [{"$identifier_key": "id", "$identifier_value": 2, "$new_object": {"age": 4}}],
                    },
                }
            ]
        )
    assert custom(sandbox)["pets"] == [{"id": 2, "name": "Tom", "age": 4}, {"id": 3, "name": "Kit"}]


def test_subscription_and_group_validation(sandbox) -> None:
    group = "2ec6f36a-ef46-4f3d-8b2d-0d5bc4a0a6f5"
    with sandbox.client() as client:
        result = client.track(
            attributes=[
                {
                    "external_id": "u1",
                    "push_subscribe": "opted_in",
                    "subscription_groups": [{"subscription_group_id": group, "subscription_state": "subscribed"}],
                },
                {"external_id": "u2", "push_subscribe": "yes"},
                {"external_id": "u3", "subscription_groups": {"subscription_group_id": group}},
                {"external_id": "u4", "subscription_groups": [{"subscription_group_id": group}]},
                {
                    "external_id": "u5",
                    "subscription_groups": [{"subscription_group_id": "nope", "subscription_state": "subscribed"}],
                },
                {
                    "external_id": "u6",
                    "subscription_groups": [{"subscription_group_id": group, "subscription_state": "opted_in"}],
                },
            ]
        )
    codes = [r.reason.split(":")[0] for r in result.rejected]
    assert codes == [
        "BAD_PUSH_SUBSCRIPTION_STATE",
        "BAD_SUBSCRIPTION_GROUP_ARRAY",
        "BAD_SUBSCRIPTION_GROUP_HASH",
        "BAD_SUBSCRIPTION_GROUP_ID",
        "BAD_SUBSCRIPTION_GROUP_STATE",
    ]
    user = profile(sandbox, "external_id", "u1")
    assert user["subscription_groups"] == [{"subscription_group_id": group, "subscription_state": "subscribed"}]


def test_email_syntax_includes_the_microsoft_rule(sandbox) -> None:
    with sandbox.client() as client:
        result = client.track(
            attributes=[
                {"external_id": "u1", "email": "a#b@example.com"},
                {"external_id": "u2", "email": "a#b@hotmail.com"},
                {"external_id": "u3", "email": "a b@example.com"},
            ]
        )
    assert [r.index for r in result.rejected] == [1, 2]
    assert all(r.reason.startswith("EMAIL_BAD_FORMAT") for r in result.rejected)


def test_email_subscribe_reaches_every_profile_sharing_the_email(sandbox) -> None:
    with sandbox.client() as client:
        client.track(attributes=[{"email": "ana@example.com", "first_name": "Ana"}])
        client.track(attributes=[{"external_id": "u1", "email": "ana@example.com"}])
        client.track(attributes=[{"external_id": "u1", "email_subscribe": "unsubscribed"}])
    users = [sandbox.admin.user("braze_id", u["braze_id"]) for u in sandbox.admin.users()]
    assert [u["email_subscribe"] for u in users] == ["unsubscribed", "unsubscribed"]


# -- events, purchases, data points (3.6, 4.4, 8) -----------------------------------------------


def test_events_and_purchases_are_summarised_on_the_profile(sandbox) -> None:
    with sandbox.client() as client:
        client.track(
            events=[
                {"external_id": "u1", "name": "login", "time": "2026-01-05T10:00:00Z"},
                {"external_id": "u1", "name": "login", "time": "2026-01-03T10:00:00Z"},
            ],
            purchases=[
                {
                    "external_id": "u1",
                    "product_id": "plan",
                    "currency": "EUR",
                    "price": 9.99,
                    "quantity": 2,
                    "time": "2026-01-05T10:00:00Z",
                },
                {"external_id": "u1", "product_id": "plan", "currency": "eur", "price": 1, "time": "2026-01-05"},
            ],
        )
    user = profile(sandbox, "external_id", "u1")
    assert user["custom_events"] == [
        {"name": "login", "first": "2026-01-03T10:00:00.000Z", "last": "2026-01-05T10:00:00.000Z", "count": 2}
    ]
    assert user["purchases"][0]["count"] == 2 and user["total_revenue"] == 19.98  # lower-case currency refused


def test_data_points_are_charged_at_face_value_for_applied_objects_only(sandbox) -> None:
    with sandbox.client() as client:
        client.track(
            attributes=[
                {"external_id": "u1", "first_name": "Ana", "email_subscribe": "opted_in", "tags": {"add": ["a", "b"]}},
                {"external_id": "u2", "email": "bad"},  # refused: not charged
                {"external_id": "ghost", "a": 1, "_update_existing_only": True},  # skipped: not charged
            ],
            events=[{"external_id": "u1", "name": "e", "time": "2026-01-05T10:00:00Z"}],
        )
        client.track(attributes=[{"external_id": "u1", "first_name": "Ana"}])  # unchanged, still charged
    counts = sandbox.admin.datapoints()
    assert counts["total"] == 3 + 1 + 1
    assert counts["by_endpoint"] == {"/users/track": 5}
    assert counts["by_kind"] == {"attributes": 4, "events": 1}
    assert [r["data_points"] for r in sandbox.admin.requests()] == [4, 1]


def test_attribute_names_are_trimmed_and_case_sensitive(sandbox) -> None:
    with sandbox.client() as client:
        client.track(attributes=[{"external_id": "u1", " Tier ": "gold", "tier": "silver"}])
    assert custom(sandbox) == {"Tier": "gold", "tier": "silver"}


def test_future_event_times_become_now(sandbox) -> None:
    with sandbox.client() as client:
        client.track(events=[{"external_id": "u1", "name": "e", "time": "2999-01-01T00:00:00Z"}])
    (event,) = profile(sandbox, "external_id", "u1")["custom_events"]
    assert event["first"] < "2999" and event["first"] == event["last"]


def test_nested_size_limits(sandbox) -> None:
    big = {f"k{i}": "x" * 200 for i in range(600)}  # about 125 KB
    with sandbox.client() as client:
        result = client.track(attributes=[{"external_id": "u1", "blob": big}])
        assert len(result.rejected) == 1 and "KB" in result.rejected[0].reason
        client.track(attributes=[{"external_id": "u2", "a": 1, "rows": [big]}])  # arrays of objects: dropped silently
    assert custom(sandbox, "u2") == {"a": 1}
