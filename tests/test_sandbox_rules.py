"""Braze's validation facts and data-point counting (pipeline/braze/rules.py, datapoints.py): pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.braze import datapoints, rules


@pytest.mark.parametrize(
    "email",
    [
        "ana@example.com",
        "ana.silva+news@example.co.uk",
        "o-brien@example.com",
        "jürgen@example.de",
        "a_b@hotmail.com",
        "first.last@outlook.com",
        "x+tag@live.com",
        "ab@gmail.com",
        "#hash$@example.org",
    ],
)
def test_valid_emails(email: str) -> None:
    assert rules.is_valid_email(email)


@pytest.mark.parametrize(
    "email",
    [
        "",
        "no-at-sign.example.com",
        "two@@example.com",
        "space @example.com",
        "nbsp\u00a0x@example.com",
        ".dot@example.com",
        "dot.@example.com",
        "dou..ble@example.com",
        "ana@localhost",
        "ana@example.123",
        "ana@exämple.com",  # non-ASCII domains must be Punycode
        "ana@-bad-.com",
        "-dash@hotmail.com",  # Microsoft rule: must start with a letter, digit or underscore
        "a..b@outlook.com",
        "a#b@live.com",
        "a@gmail.com",  # Gmail local parts need two characters
        'quote"d@example.com',
        "x" * 250 + "@example.com",
    ],
)
def test_invalid_emails(email: str) -> None:
    assert not rules.is_valid_email(email)


def test_phone_normalisation_and_validity() -> None:
    assert rules.normalize_phone("+1 (724) 123-4567") == "+17241234567"
    assert rules.normalize_phone("1234567890") == "1234567890"
    assert rules.is_valid_phone("+1 (724) 123-4567")
    assert rules.is_valid_phone("7241234567")  # 10 digits without + are US numbers
    assert not rules.is_valid_phone("12345")
    assert not rules.is_valid_phone("+0123456789")
    assert not rules.is_valid_phone("+1234567890123456")  # 16 digits: longer than E.164 allows
    assert not rules.is_valid_phone("call me")
    assert rules.is_valid_phone("+33 6 12 34 56 78") and rules.is_valid_phone("+44 20 7946 0958")
    assert not rules.is_valid_phone("+33 1234 5678")  # French numbers have 9 digits after +33 (libphonenumber)
    assert not rules.is_valid_phone("+1 555 0123")  # a 7-digit US number is dialable only locally


def test_identifier_limits() -> None:
    assert rules.external_id_error("x" * 987) is None
    assert rules.external_id_error("x" * 988).startswith("EXTERNAL_USER_ID_TOO_LARGE")
    assert rules.external_id_error("é" * 494) is not None  # bytes, not characters: 988 bytes
    assert rules.external_id_error("") is not None
    assert rules.alias_error({"alias_name": "n", "alias_label": "l"}) is None
    assert rules.alias_error({"alias_name": "n" * 237, "alias_label": "l"}) is not None
    assert rules.alias_error({"alias_name": "", "alias_label": "l"}) is not None
    assert rules.alias_error({"alias_name": "n"}) is not None


def test_lookup_identifier_prefers_primary_then_email_then_phone() -> None:
    assert rules.lookup_identifier({"external_id": "u", "email": "a@example.com"}) == "external_id"
    assert rules.lookup_identifier({"email": "a@example.com", "phone": "+15555550123"}) == "email"
    assert rules.lookup_identifier({"phone": "+15555550123"}) == "phone"
    assert rules.lookup_identifier({"first_name": "Ana"}) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-05T10:00:00Z", datetime(2026, 1, 5, 10, tzinfo=UTC)),
        ("2026-01-05T12:00:00+02:00", datetime(2026, 1, 5, 10, tzinfo=UTC)),
        ("2026-01-05 10:00:00", datetime(2026, 1, 5, 10, tzinfo=UTC)),
        ("2026-01-05", datetime(2026, 1, 5, tzinfo=UTC)),
        ("01/05/2026", datetime(2026, 1, 5, tzinfo=UTC)),
        ("2026-01-05T10:00:00:123Z", datetime(2026, 1, 5, 10, 0, 0, 123000, tzinfo=UTC)),
        ("yesterday", None),
        ("3001-01-01", None),
    ],
)
def test_parse_time(text: str, expected: datetime | None) -> None:
    assert rules.parse_time(text) == expected


def test_export_field_lists() -> None:
    assert "custom_attributes" in rules.SEGMENT_EXPORT_FIELDS
    assert "campaigns_received" not in rules.SEGMENT_EXPORT_FIELDS
    assert "campaigns_received" in rules.EXPORT_IDS_FIELDS
    assert rules.invalid_names(["email", "emails"], rules.SEGMENT_EXPORT_FIELDS) == ["emails"]


@pytest.mark.parametrize(
    ("obj", "points"),
    [
        ({"external_id": "u", "first_name": "Ana"}, 1),
        ({"external_id": "u", "first_name": "Ana", "points": 3}, 2),
        ({"external_id": "u", "email": "a@example.com"}, 1),  # email set as an attribute is billed
        ({"email": "a@example.com", "first_name": "Ana"}, 1),  # email as the lookup key is free
        ({"email": "a@example.com", "phone": "+15555550123"}, 1),  # email looks up, phone is billed
        ({"user_alias": {"alias_name": "n", "alias_label": "l"}, "_update_existing_only": False}, 0),
        ({"external_id": "u", "email_subscribe": "opted_in", "push_subscribe": "subscribed"}, 0),
        ({"external_id": "u", "subscription_groups": [], "push_tokens": []}, 0),
        ({"external_id": "u", "_merge_objects": True, "tier": None}, 1),  # null (removal) costs 1
        ({"external_id": "u", "tags": ["a", "b", "c"]}, 1),  # a whole array is one
        ({"external_id": "u", "tags": {"add": ["a", "b"], "remove": ["c"]}}, 3),  # one per value
        ({"external_id": "u", "points": {"inc": 5}}, 1),
        ({"external_id": "u", "car": {"make": "VW", "engine": {"hp": 90, "fuel": "e"}}}, 3),  # leaf keys
        ({"external_id": "u", "car": None}, 1),
        ({"external_id": "u", "current_location": {"longitude": 1.0, "latitude": 2.0}}, 1),
        ({"external_id": "u", "pets": {"$add": [{"id": 1, "name": "Rex"}], "$remove": [{}]}}, 3),
    ],
)
def test_attribute_points(obj: dict, points: int) -> None:
    assert datapoints.attribute_points(obj) == points


def test_request_points_count_every_event_and_purchase() -> None:
    attributes = [{"external_id": "u", "a": 1, "b": 2}]
    assert datapoints.request_points(attributes, [{"name": "e"}] * 3, [{"product_id": "p"}] * 2) == 7
