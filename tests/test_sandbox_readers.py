"""`/users/export/ids`, `/segments/*` and `/campaigns/*` on the sandbox (reference 5–7)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from pipeline.braze.errors import BrazeValidationError


def test_export_ids_returns_requested_fields_and_invalid_ids(sandbox) -> None:
    sandbox.admin.upsert_users(
        [
            {"external_id": "u1", "email": "ana@example.com", "tier": "gold", "first_name": "Ana"},
            {"user_aliases": [{"alias_name": "a2", "alias_label": "crm"}], "first_name": "Ben"},
        ]
    )
    with sandbox.client() as client:
        answer = client.export_ids(
            external_ids=["u1", "nobody"],
            user_aliases=[{"alias_name": "a2", "alias_label": "crm"}],
            fields_to_export=["external_id", "email", "custom_attributes", "first_name"],
        )
    assert answer["message"] == "success"
    assert answer["users"] == [
        {"external_id": "u1", "email": "ana@example.com", "first_name": "Ana", "custom_attributes": {"tier": "gold"}},
        {"first_name": "Ben"},
    ]
    assert answer["invalid_user_ids"] == ["nobody"]


def test_export_ids_by_email_address(sandbox) -> None:
    sandbox.admin.upsert_users([{"external_id": "u1", "email": "ana@example.com"}])
    answer = requests.post(
        f"{sandbox.url}/users/export/ids",
        json={"email_address": "ana@example.com", "fields_to_export": ["external_id"]},
        headers=sandbox.headers(),
    )
    assert answer.status_code == 200 and answer.json()["users"] == [{"external_id": "u1"}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"external_ids": [f"u{i}" for i in range(51)], "fields_to_export": ["external_id"]},
            "The max number of external_ids and aliases per request was exceeded",
        ),
        (
            {
                "external_ids": [f"u{i}" for i in range(30)],
                "fields_to_export": ["external_id"],
                "user_aliases": [{"alias_name": f"a{i}", "alias_label": "l"} for i in range(21)],
            },
            "max number",
        ),
        ({"external_ids": ["u1"]}, "fields_to_export"),
        ({"external_ids": ["u1"], "fields_to_export": ["nope"]}, "nope"),
        (
            {
                "external_ids": ["u1"],
                "fields_to_export": ["external_id"],
                "email_address": "a@example.com",
                "phone": "+15555550123",
            },
            "Only one",
        ),
        ({"fields_to_export": ["external_id"]}, "Provide"),
    ],
)
def test_export_ids_validation(sandbox, body: dict, message: str) -> None:
    with sandbox.client() as client, pytest.raises(BrazeValidationError, match=message) as caught:
        client.post("/users/export/ids", body)
    assert caught.value.status == 400


def test_export_ids_accepts_exactly_50_identifiers(sandbox) -> None:
    with sandbox.client() as client:
        answer = client.export_ids(external_ids=[f"u{i}" for i in range(50)], fields_to_export=["external_id"])
    assert answer["users"] == [] and len(answer["invalid_user_ids"]) == 50


def test_segments_list_pages_by_100_oldest_first_without_archived(sandbox) -> None:
    ids = [sandbox.admin.define_segment(f"Segment {i:03d}", tags=["t"]) for i in range(230)]
    sandbox.admin.define_segment("Archived", archived=True)
    with sandbox.client() as client:
        listed = list(client.iter_segments())
        newest_first = list(client.iter_segments(sort_direction="desc"))
    assert [s["id"] for s in listed] == ids
    assert [s["id"] for s in newest_first] == ids[::-1]
    assert listed[0] == {"id": ids[0], "name": "Segment 000", "analytics_tracking_enabled": False, "tags": ["t"]}
    pages = [
        requests.get(f"{sandbox.url}/segments/list", params={"page": p}, headers=sandbox.headers()).json()["segments"]
        for p in range(4)
    ]
    assert [len(p) for p in pages] == [100, 100, 30, 0]


def test_paging_parameters_are_validated(sandbox) -> None:
    for params in ({"page": "-1"}, {"page": "x"}, {"sort_direction": "up"}):
        answer = requests.get(f"{sandbox.url}/segments/list", params=params, headers=sandbox.headers())
        assert answer.status_code == 400 and "message" in answer.json()


def test_segment_details_and_unknown_segment(sandbox) -> None:
    segment = sandbox.admin.define_segment(
        "Loyal",
        {"field": "custom_attributes.points", "op": "gte", "value": 500},
        tags=["loyalty"],
        description="Loyal members",
    )
    with sandbox.client() as client:
        details = client.segment_details(segment)
        with pytest.raises(BrazeValidationError, match="not-a-segment") as caught:
            client.segment_details("not-a-segment")
    assert caught.value.status == 400
    assert details["message"] == "success" and details["name"] == "Loyal"
    assert details["text_description"] == "Loyal members" and details["tags"] == ["loyalty"]
    assert "custom_attributes.points" in details["description"] and details["teams"] == []
    assert {"created_at", "updated_at"} <= set(details)


def test_segment_data_series_gives_the_size_of_tracked_segments_only(sandbox) -> None:
    sandbox.admin.upsert_users([{"external_id": f"u{n}", "custom_attributes": {"points": n}} for n in range(5)])
    tracked = sandbox.admin.define_segment(
        "High", {"field": "custom_attributes.points", "op": "gte", "value": 2}, analytics_tracking=True
    )
    untracked = sandbox.admin.define_segment("All")
    today = datetime.now(UTC).date().isoformat()
    with sandbox.client() as client:
        assert client.segment_size(tracked) == 3
        assert client.segment_size(untracked) is None  # Braze keeps sizes only with analytics tracking on
        assert client.get("/segments/data_series", {"segment_id": tracked, "length": 7}) == {
            "message": "success",
            "data": [{"time": today, "size": 3}],  # no history before the segment existed
        }
        sandbox.admin.upsert_users([{"external_id": "u9", "custom_attributes": {"points": 9}}])
        assert client.segment_size(tracked) == 4
        assert [s["analytics_tracking_enabled"] for s in client.iter_segments()] == [True, False]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"length": 1}, "'segment_id' is required"),
        ({"segment_id": "SEG"}, "'length' is required"),
        ({"segment_id": "SEG", "length": 101}, "1 to 100"),
        ({"segment_id": "SEG", "length": 1, "ending_at": "yesterday"}, "'ending_at' must be"),
        ({"segment_id": "nope", "length": 1}, "Could not find segment with id 'nope'"),
    ],
)
def test_segment_data_series_parameters_are_validated(sandbox, params: dict, message: str) -> None:
    segment = sandbox.admin.define_segment("All", analytics_tracking=True)
    query = {k: (segment if v == "SEG" else v) for k, v in params.items()}
    answer = requests.get(f"{sandbox.url}/segments/data_series", params=query, headers=sandbox.headers())
    assert answer.status_code == 400 and message in answer.json()["message"]


def test_campaigns_list_details_and_archived(sandbox) -> None:
    ids = sandbox.admin.define_campaigns(
        [{"name": f"Campaign {i:03d}", "created_at": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z"} for i in range(120)]
        + [{"name": "Old", "archived": True, "tags": ["x"]}]
    )
    with sandbox.client() as client:
        live = list(client.iter_campaigns())
        everything = list(client.iter_campaigns(include_archived=True))
        details = client.campaign_details(ids[-1])
        with pytest.raises(BrazeValidationError, match="nope"):
            client.campaign_details("nope")
    assert [c["id"] for c in live] == ids[:-1]
    assert [c["id"] for c in everything] == ids
    assert set(live[0]) == {"id", "last_edited", "name", "is_api_campaign", "tags"}
    assert details["archived"] is True and details["name"] == "Old" and details["tags"] == ["x"]
    assert {"created_at", "updated_at", "draft", "enabled", "channels", "messages", "schedule_type"} <= set(details)


def test_campaigns_edited_after(sandbox) -> None:
    sandbox.admin.define_campaigns(
        [{"name": "Old", "last_edited": "2025-01-01T00:00:00Z"}, {"name": "New", "last_edited": "2026-03-01T00:00:00Z"}]
    )
    answer = requests.get(
        f"{sandbox.url}/campaigns/list", params={"last_edit.time[gt]": "2026-01-01T00:00:00"}, headers=sandbox.headers()
    )
    assert [c["name"] for c in answer.json()["campaigns"]] == ["New"]
