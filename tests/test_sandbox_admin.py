"""The admin API (`/_sandbox/`): seeding, profiles, segment filters, log, counters, reset."""

from __future__ import annotations

import gzip
import json

import pytest
import requests

from pipeline.sandbox.admin_client import SandboxAdminError
from pipeline.sandbox.demo import LOYAL_USERS_SEGMENT, demo_users


def members(sandbox, flt: dict) -> list[str]:
    segment = sandbox.admin.define_segment("probe", flt)
    with sandbox.client() as client:
        prefix = client.export_segment(segment, ["external_id"])
    job = sandbox.admin.wait_for_export(prefix)
    return sorted(line["external_id"] for key in job["files"] for line in _lines(sandbox, key))


def _lines(sandbox, key: str) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(sandbox.store().read_bytes(key)).decode().splitlines()]


USERS = [
    {"external_id": "a", "points": 100, "tier": "gold", "tags": ["x", "y"], "country": "DE", "car": {"hp": 90}},
    {"external_id": "b", "points": 50, "tier": "silver", "tags": ["y"], "country": "FR"},
    {"external_id": "c", "points": 500, "email": "c@example.com"},
]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"all": []}, ["a", "b", "c"]),
        ({"field": "custom_attributes.points", "op": "gte", "value": 100}, ["a", "c"]),
        ({"field": "custom_attributes.points", "op": "lt", "value": 100}, ["b"]),
        ({"field": "custom_attributes.tier", "op": "eq", "value": "gold"}, ["a"]),
        ({"field": "custom_attributes.tier", "op": "ne", "value": "gold"}, ["b", "c"]),  # missing counts as "not"
        ({"field": "custom_attributes.tier", "op": "in", "value": ["gold", "silver"]}, ["a", "b"]),
        ({"field": "custom_attributes.tags", "op": "contains", "value": "x"}, ["a"]),
        ({"field": "email", "op": "exists"}, ["c"]),
        ({"field": "email", "op": "not_exists"}, ["a", "b"]),
        ({"field": "custom_attributes.car.hp", "op": "gt", "value": 80}, ["a"]),
        (
            {
                "any": [
                    {"field": "country", "op": "eq", "value": "FR"},
                    {"field": "custom_attributes.points", "op": "gte", "value": 500},
                ]
            },
            ["b", "c"],
        ),
        ({"not": {"field": "country", "op": "eq", "value": "DE"}}, ["b", "c"]),
        (
            {
                "all": [
                    {"field": "custom_attributes.points", "op": "gte", "value": 50},
                    {"not": {"field": "custom_attributes.tier", "op": "eq", "value": "silver"}},
                ]
            },
            ["a", "c"],
        ),
        ({"field": "custom_attributes.points", "op": "gt", "value": "a string"}, []),  # type mismatch fails
    ],
)
def test_segment_filters(sandbox, flt: dict, expected: list[str]) -> None:
    sandbox.admin.upsert_users(USERS)
    assert members(sandbox, flt) == expected


def test_random_bucket_ranges_partition_users(sandbox) -> None:
    sandbox.admin.upsert_users([{"external_id": f"u{i:03d}", "a": 1} for i in range(200)])
    low = members(sandbox, {"random_bucket": [0, 4999]})
    high = members(sandbox, {"random_bucket": [5000, 9999]})
    assert sorted(low + high) == [f"u{i:03d}" for i in range(200)]
    assert 50 < len(low) < 150  # buckets are spread over 0..9999


@pytest.mark.parametrize(
    "flt",
    [
        {"field": "x", "op": "like", "value": 1},
        {"random_bucket": [5, 1]},
        {"random_bucket": [0, 10000]},
        {"all": {"field": "x"}},
        {"field": "x", "op": "in", "value": 3},
        {"field": "x", "op": "eq"},
        {},
    ],
)
def test_invalid_filters_are_refused(sandbox, flt: dict) -> None:
    with pytest.raises(SandboxAdminError, match="HTTP 400"):
        sandbox.admin.define_segment("bad", flt)


def test_profiles_by_every_kind_of_identifier(sandbox) -> None:
    sandbox.admin.upsert_users(
        [
            {
                "external_id": "u1",
                "email": "ana@example.com",
                "phone": "+1 555 555 0123",
                "user_aliases": [{"alias_name": "n1", "alias_label": "crm"}],
                "braze_id": "aaaaaaaaaaaaaaaaaaaaaaaa",
            }
        ]
    )
    for kind, value in [
        ("external_id", "u1"),
        ("email", "ana@example.com"),
        ("phone", "+15555550123"),
        ("alias", "crm:n1"),
        ("braze_id", "aaaaaaaaaaaaaaaaaaaaaaaa"),
    ]:
        assert sandbox.admin.user(kind, value)["external_id"] == "u1"
    assert sandbox.admin.user("external_id", "nobody") is None
    with pytest.raises(SandboxAdminError, match="unknown kind"):
        sandbox.admin.user("shoe_size", "42")


def test_seeding_export_shaped_users_round_trips_through_an_export(sandbox) -> None:
    demo = demo_users(3)
    assert sandbox.admin.upsert_users(demo) == {"users_created": 3, "users_updated": 0}
    assert sandbox.admin.upsert_users(demo[:1]) == {"users_created": 0, "users_updated": 1}
    stored = sandbox.admin.user("external_id", demo[0]["external_id"])
    for field in ("braze_id", "created_at", "random_bucket", "email", "custom_events"):
        assert stored[field] == demo[0][field]
    assert stored["custom_attributes"]["points"] == demo[0]["custom_attributes"]["points"]


def test_demo_data_is_deterministic(sandbox) -> None:
    assert demo_users(5) == demo_users(5) and demo_users(2, start=4) == demo_users(5)[3:]
    sandbox.admin.seed(demo_users=50)
    first = sandbox.admin.user("external_id", "demo-000007")
    loyal = {s["name"]: s["members"] for s in sandbox.admin.segments()}
    sandbox.admin.reset()
    sandbox.admin.seed(demo_users=50)
    assert sandbox.admin.user("external_id", "demo-000007") == first
    assert {s["name"]: s["members"] for s in sandbox.admin.segments()} == loyal
    assert loyal["All users"] == 50 and 0 < loyal["Loyal users"] < 50
    with sandbox.client() as client:
        assert client.segment_details(LOYAL_USERS_SEGMENT)["name"] == "Loyal users"
        assert [c["name"] for c in client.iter_campaigns()] == ["Welcome series", "Loyalty rewards"]


def test_request_log_and_since(sandbox) -> None:
    with sandbox.client() as client:
        client.get("/segments/list", params={"page": 0})
        mark = sandbox.admin.last_seq()
        client.track(attributes=[{"external_id": "u1", "a": 1}, {"external_id": "u2", "email": "bad"}])
    later = sandbox.admin.requests(since=mark)
    assert [e["path"] for e in later] == ["/users/track"]
    entry = later[0]
    assert entry["method"] == "POST" and entry["status"] == 201 and entry["key"] == "default"
    assert entry["body"]["attributes"][0] == {"external_id": "u1", "a": 1}
    assert entry["data_points"] == 1
    outcomes = entry["outcome"]["objects"]
    assert [o["result"] for o in outcomes] == ["created", "rejected"]
    assert sandbox.admin.requests()[0]["query"] == {"page": "0"}


def test_reset_clears_everything_and_restores_config(sandbox) -> None:
    sandbox.admin.seed(demo_users=5)
    sandbox.admin.set_faults(latency_ms=10)
    sandbox.admin.configure(users_per_file=2, track_object_limit_mode="per_array")
    sandbox.admin.add_keys([{"name": "extra", "key": "extra-key", "permissions": []}])
    with sandbox.client() as client:
        client.track(attributes=[{"external_id": "u1", "a": 1}])
    sandbox.admin.reset()
    info = sandbox.admin.info()
    assert (info["users"], info["segments"], info["campaigns"]) == (0, 0, 0)
    assert info["config"]["users_per_file"] == 5000 and info["config"]["track_object_limit_mode"] == "combined"
    assert sandbox.admin.requests() == [] and sandbox.admin.datapoints()["total"] == 0
    assert sandbox.admin.faults()["faults"]["latency_ms"] == 0
    assert [k["name"] for k in sandbox.admin.add_keys([])] == ["default"]


def test_config_is_validated(sandbox) -> None:
    for bad in (
        {"track_object_limit_mode": "none"},
        {"users_per_file": 0},
        {"rate_limits": {"x": {"limit": 0}}},
        {"colour": "red"},
        {"reset_header": "never"},
    ):
        answer = requests.post(f"{sandbox.url}/_sandbox/config", json=bad)
        assert answer.status_code == 400 and "message" in answer.json()


def test_admin_needs_no_key_and_answers_json_errors(sandbox) -> None:
    assert requests.get(f"{sandbox.url}/_sandbox/").json()["sandbox"] == "profilesync local Braze"
    missing = requests.get(f"{sandbox.url}/_sandbox/nothing-here")
    assert missing.status_code == 404 and "message" in missing.json()
    bad = requests.post(f"{sandbox.url}/_sandbox/users", data="{oops", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
