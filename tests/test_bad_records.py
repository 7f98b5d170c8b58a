"""Issue 8, defects 4 and 5 end to end: one bad record never changes a column, never sends null."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import pytest
from conftest import SandboxHandle
from import_harness import ImportHarness, step

from pipeline import layout
from pipeline.staging import json_text_columns
from pipeline.storage.parquet import read_parquet

DAY1, DAY2 = "2026-11-01", "2026-11-02"

TAGS = """\
- goal: members
  segment: Members
  identifiers: [{braze: external_id, profile: external_id}]
  allow_create: true
  fields:
    - {braze: custom_attributes.tags, profile: interests, strategy: add}
"""


@pytest.fixture
def harness(sandbox: SandboxHandle, tmp_path, monkeypatch: pytest.MonkeyPatch) -> ImportHarness:
    monkeypatch.setenv("BRAZE_API_KEY", sandbox.api_key)
    sandbox.admin.define_segment("Members", {"all": []})
    return ImportHarness(sandbox, tmp_path)


def staged_quarantine(harness: ImportHarness, goal: str, day: str) -> list[dict[str, Any]]:
    text = harness.store.read_bytes(layout.staged_quarantine("acme", goal, day)).decode()
    return [json.loads(line) for line in text.splitlines()]


def test_one_object_among_lists_is_quarantined_and_the_column_stays_a_list(harness: ImportHarness) -> None:
    harness.sandbox.admin.upsert_users(
        [
            {"external_id": "u1", "custom_attributes": {"tags": ["food", "sports", "music"]}},
            {"external_id": "u2", "custom_attributes": {"tags": ["music"]}},
            {"external_id": "u3", "custom_attributes": {"tags": ["travel", "food"]}},
            {"external_id": "odd", "custom_attributes": {"tags": {"favourite": "food"}}},
        ]
    )
    connection = harness.connection(TAGS)
    first = harness.run(DAY1, connection)
    assert first.success, first.failures

    staged_key = layout.staged_users("acme", "members", DAY1)
    staged = read_parquet(harness.store, staged_key)
    assert staged.schema["custom_attributes.tags"] == pl.List(pl.String)
    assert json_text_columns(harness.store, staged_key) == []
    (entry,) = staged_quarantine(harness, "members", DAY1)
    assert entry["field"] == "custom_attributes.tags"
    assert "an object" in entry["reason"] and "lists" in entry["reason"]
    assert json.loads(entry["raw"]) == {"favourite": "food"}
    odd_braze_id = harness.sandbox.admin.user("external_id", "odd")["braze_id"]
    assert entry["braze_id"] == odd_braze_id
    assert step(first, "staged_users")["quarantined_fields"] == 1
    assert step(first, "staged_users")["dagster/row_count"] == 4  # the user is staged, without the field

    assert harness.profile(DAY1, "external_id", "u1")["properties"] == {"interests": ["food", "sports", "music"]}
    assert harness.profile(DAY1, "external_id", "u2")["properties"] == {"interests": ["music"]}
    assert harness.profile(DAY1, "external_id", "odd")["properties"] == {}

    harness.track({"external_id": "u2", "tags": {"add": ["cinema"]}})
    second = harness.run(DAY2, connection)  # the bad value is still there: later days stay right too
    assert second.success, second.failures
    assert harness.profile(DAY2, "external_id", "u2")["properties"] == {"interests": ["music", "cinema"]}
    assert harness.profile(DAY2, "external_id", "u3")["properties"] == {"interests": ["travel", "food"]}
    changes_key = layout.user_changes("acme", "members", DAY2)
    assert read_parquet(harness.store, changes_key).schema["custom_attributes.tags"] == pl.List(pl.String)


POINTS = """\
- goal: members
  segment: Members
  identifiers:
    - {braze: external_id, profile: external_id}
    - {braze: email, profile: email}
  allow_create: true
  fields:
    - {braze: custom_attributes.points, profile: points, strategy: sum}
"""
VIP_EXPORT = """\
- goal: vip_to_braze
  segment: vip
  identifiers: [{profile: external_id, braze: external_id}]
  allow_create: false
  fields:
    - {from: {property: points}, braze: loyalty_points}
    - {from: {static: profilesync}, braze: source}
"""


def test_an_overflowing_sum_is_dead_lettered_never_sent_as_null(harness: ImportHarness) -> None:
    sandbox = harness.sandbox
    sandbox.admin.upsert_users(
        [
            {"external_id": "big1", "email": "same@example.com", "custom_attributes": {"points": 1.7e308}},
            {"external_id": "big2", "email": "same@example.com", "custom_attributes": {"points": 1.7e308}},
            {"external_id": "fine", "email": "fine@example.com", "custom_attributes": {"points": 150}},
        ]
    )
    connection = harness.connection(POINTS, extra='segments:\n  vip: "points >= 100"\n', exports=VIP_EXPORT)
    start = sandbox.admin.last_seq()
    summary = harness.run(DAY1, connection)
    assert summary.success, summary.failures

    sent = {
        obj["external_id"]: obj
        for request in sandbox.admin.requests(since=start)
        if request["path"] == "/users/track" and request["status"] < 300
        for obj in (request.get("body") or {}).get("attributes", [])
    }
    assert sent["fine"]["loyalty_points"] == 150
    for merged in ("big1", "big2"):  # the merged profile is sent to both users, without the bad value
        assert "loyalty_points" not in sent[merged], sent[merged]
        assert sent[merged]["source"] == "profilesync"
        assert sandbox.admin.user("external_id", merged)["custom_attributes"].get("loyalty_points") is None

    dead_key = layout.step_file("acme", "vip_to_braze", "export_payload", DAY1, "dead_letter.jsonl")
    (dead,) = [json.loads(line) for line in harness.store.read_bytes(dead_key).decode().splitlines()]
    merged_profile = harness.profile(DAY1, "external_id", "big1")
    assert dead["profile_id"] == merged_profile["profile_id"]
    assert sorted(json.loads(i)["external_id"] for i in dead["identities"]) == ["big1", "big2"]
    assert dead["attribute"] == "loyalty_points" and "not a finite number" in dead["reason"]
    assert dead["value"] == "inf"
    assert step(summary, "export_payload")["dead_letters"] == 1
