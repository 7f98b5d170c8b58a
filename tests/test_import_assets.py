"""Import goals end to end: sandbox → moto S3 → Dagster materialisation → profiles."""

from __future__ import annotations

import json

import pytest
from conftest import SandboxHandle
from import_harness import ImportHarness, step

from pipeline import layout

DAY1, DAY2, DAY3 = "2026-11-01", "2026-11-02", "2026-11-03"

EVERY_STRATEGY = """\
- goal: members
  segment: Members
  identifiers: [{braze: external_id, profile: external_id}]
  allow_create: true
  fields:
    - {braze: first_name, profile: first_name, strategy: set}
    - {braze: custom_attributes.points, profile: points, strategy: sum}
    - {braze: custom_attributes.tags, profile: interests, strategy: add}
    - {braze: email_subscribe, profile: email_consent, strategy: set_if_empty}
    - {braze: home_city, profile: city, strategy: clear}
"""


@pytest.fixture
def harness(sandbox: SandboxHandle, tmp_path, monkeypatch: pytest.MonkeyPatch) -> ImportHarness:
    monkeypatch.setenv("BRAZE_API_KEY", sandbox.api_key)
    sandbox.admin.define_segment("Members", {"all": []})
    return ImportHarness(sandbox, tmp_path)


def harness_reports(harness: ImportHarness, day: str) -> list:
    from pipeline.profiles.report import GoalReport

    manifest = json.loads(harness.store.read_bytes(layout.profiles_dir(day) + "manifest.json"))
    return [GoalReport(**g) for g in manifest["report"]["goals"]]


def seed_members(harness: ImportHarness) -> None:
    harness.sandbox.admin.upsert_users(
        [
            {"external_id": "u1", "first_name": "Ana", "home_city": "Paris", "email_subscribe": "subscribed",
             "custom_attributes": {"points": 10, "tags": ["a", "b"]}},
            {"external_id": "u2", "first_name": "Ben", "custom_attributes": {"points": 5}},
            {"external_id": "u3", "first_name": "Cleo", "custom_attributes": {"points": 7, "tags": ["x"]}},
        ]
    )  # fmt: skip


def test_every_strategy_over_days_reruns_and_identical_exports(harness: ImportHarness) -> None:
    seed_members(harness)
    connection = harness.connection(EVERY_STRATEGY)
    first = harness.run(DAY1, connection)
    assert first.success, first.failures
    assert step(first, "segment_export")["dagster/row_count"] == 3
    assert step(first, "profiles")["profiles_created"] == 3
    u1 = harness.profile(DAY1, "external_id", "u1")["properties"]
    assert u1 == {"first_name": "Ana", "points": 10, "interests": ["a", "b"], "email_consent": "subscribed",
                  "city": "Paris"}  # fmt: skip

    harness.track(
        {"external_id": "u1", "first_name": "Anna", "points": 15, "tags": {"add": ["c"]},
         "email_subscribe": "unsubscribed", "home_city": None},
    )  # fmt: skip
    second = harness.run(DAY2, connection)
    assert second.success, second.failures
    changes = step(second, "user_changes")
    assert (changes["added"], changes["changed"], changes["removed"], changes["unchanged"]) == (0, 1, 0, 2)
    u1 = harness.profile(DAY2, "external_id", "u1")["properties"]
    assert u1["first_name"] == "Anna"  # set replaces
    assert u1["points"] == 15  # sum adds the change 10 → 15, not the whole 15
    assert u1["interests"] == ["a", "b", "c"]  # add appends what is new
    assert u1["email_consent"] == "subscribed"  # set_if_empty keeps the first value
    assert "city" not in u1  # clear empties on an empty Braze field
    assert step(second, "profiles")["profiles_updated"] == 1

    profiles_key = layout.profiles_dir(DAY2) + "profiles.parquet"
    before = harness.store.read_bytes(profiles_key)
    rerun = harness.run(DAY2, connection)
    assert rerun.success and step(rerun, "segment_export")["reused"] is True
    assert harness.store.read_bytes(profiles_key) == before  # byte-identical, nothing applied twice

    third = harness.run(DAY3, connection)  # the same full export again
    assert third.success
    assert step(third, "user_changes")["unchanged"] == 3 and step(third, "user_changes")["changed"] == 0
    assert step(third, "profiles")["profiles_unchanged"] == 3
    assert harness.profile(DAY3, "external_id", "u1")["properties"]["points"] == 15


def test_several_identifiers_merge_two_profiles(harness: ImportHarness) -> None:
    harness.sandbox.admin.upsert_users(
        [
            {"external_id": "e1", "email": "one@example.com", "first_name": "One"},
            {"external_id": "e2", "email": "two@example.com", "first_name": "Two"},
        ]
    )
    connection = harness.connection(
        """\
        - goal: people
          segment: Members
          identifiers:
            - {braze: external_id, profile: external_id}
            - {braze: email, profile: email}
          allow_create: true
          fields: [{braze: first_name, profile: first_name, strategy: set}]
        """
    )
    assert harness.run(DAY1, connection).success
    assert harness.snapshot(DAY1).profiles.height == 2

    harness.track({"external_id": "e2", "email": "one@example.com"})  # e2 now shares e1's email
    summary = harness.run(DAY2, connection)
    assert summary.success, summary.failures
    snapshot = harness.snapshot(DAY2)
    assert snapshot.profiles.height == 1
    assert snapshot.merges.height == 1 and step(summary, "profiles")["merges"] == 1
    merged = harness.profile(DAY2, "email", "one@example.com")
    assert sorted(merged["identifiers"]["external_id"]) == ["e1", "e2"]
    assert merged == harness.profile(DAY2, "external_id", "e2")
    record = snapshot.merges.row(0, named=True)
    assert {record["survivor_id"], record["merged_id"]} == set(harness.snapshot(DAY1).profiles["profile_id"])


def test_allow_create_off_updates_only_existing_profiles(harness: ImportHarness) -> None:
    admin = harness.sandbox.admin
    admin.define_segment("Gold", {"field": "custom_attributes.tier", "op": "eq", "value": "gold"})
    admin.upsert_users(
        [
            {"external_id": "g1", "first_name": "Gail", "custom_attributes": {"tier": "gold"}},
            {"external_id": "s1", "first_name": "Sam", "custom_attributes": {"tier": "silver"}},
        ]
    )
    connection = harness.connection(
        """\
        - goal: gold
          segment: Gold
          identifiers: [{braze: external_id, profile: external_id}]
          allow_create: true
          fields: [{braze: custom_attributes.tier, profile: tier, strategy: set}]
        - goal: everyone
          segment: Members
          identifiers: [{braze: external_id, profile: external_id}]
          allow_create: false
          fields: [{braze: first_name, profile: first_name, strategy: set}]
        """
    )
    summary = harness.run(DAY1, connection)
    assert summary.success, summary.failures
    goal_reports = {g.goal: g for g in harness_reports(harness, DAY1)}
    assert goal_reports["acme/everyone"].skipped_no_match == 1  # s1 matched nobody and was not created
    assert goal_reports["acme/gold"].profiles_created == 1
    snapshot = harness.snapshot(DAY1)
    assert snapshot.profiles.height == 1  # only the gold user became a profile
    assert harness.profile(DAY1, "external_id", "g1")["properties"] == {"tier": "gold", "first_name": "Gail"}
    assert snapshot.identifiers.filter(snapshot.identifiers["value"] == "s1").is_empty()


def test_remaining_fields_get_the_prefix(harness: ImportHarness) -> None:
    harness.sandbox.admin.upsert_users(
        [{"external_id": "r1", "first_name": "Rae", "last_name": "Ng", "custom_attributes": {"plan": "pro"}}]
    )
    connection = harness.connection(
        """\
        - goal: everything
          segment: Members
          identifiers: [{braze: external_id, profile: external_id}]
          allow_create: true
          fields: [{braze: first_name, profile: given_name, strategy: set}]
          remaining_fields: {prefix: bz_, strategy: set}
        """
    )
    assert harness.run(DAY1, connection).success
    properties = harness.profile(DAY1, "external_id", "r1")["properties"]
    assert properties["given_name"] == "Rae"
    assert properties["bz_last_name"] == "Ng"
    assert properties["bz_plan"] == "pro"  # custom attributes lose their custom_attributes. prefix
    assert "bz_first_name" not in properties and "bz_external_id" not in properties  # mapped fields stay single


def test_bad_lines_and_bad_sums_are_quarantined(harness: ImportHarness) -> None:
    harness.sandbox.admin.upsert_users(
        [
            {"external_id": "q1", "custom_attributes": {"points": 4}},
            {"external_id": "q2", "custom_attributes": {"points": "lots"}},
        ]
    )
    connection = harness.connection(
        """\
        - goal: points
          segment: Members
          identifiers: [{braze: external_id, profile: external_id}]
          allow_create: true
          max_quarantine_rate: 0.5
          fields: [{braze: custom_attributes.points, profile: points, strategy: sum}]
        """
    )
    exported = harness.materialize(DAY1, connection, {"segment_export"})
    assert exported.success
    manifest = json.loads(harness.store.read_bytes(layout.export_manifest("acme", "points", DAY1)))
    harness.tamper_export(manifest, [b'{"braze_id": "broken", "external_id": "q3"'])
    summary = harness.run(DAY1, connection)
    assert summary.success, summary.failures
    assert step(summary, "staged_users")["quarantined"] == 1
    lines = harness.store.read_bytes(layout.staged_quarantine("acme", "points", DAY1)).decode().splitlines()
    (bad,) = [json.loads(line) for line in lines]
    assert bad["source"].endswith(manifest["files"][0]["key"].rsplit("/", 1)[-1]) and bad["line"] == 3
    assert bad["reason"] and bad["raw"].startswith('{"braze_id": "broken"')

    snapshot = harness.snapshot(DAY1)
    (sum_problem,) = snapshot.quarantine.to_dicts()
    assert sum_problem["property"] == "points" and "number" in sum_problem["reason"]
    assert harness.profile(DAY1, "external_id", "q1")["properties"] == {"points": 4}
    assert "points" not in harness.profile(DAY1, "external_id", "q2")["properties"]


def test_quarantine_over_the_threshold_stops_the_run_before_profiles(harness: ImportHarness) -> None:
    harness.sandbox.admin.upsert_users([{"external_id": "t1", "first_name": "T"}])
    connection = harness.connection(
        """\
        - goal: strict
          segment: Members
          identifiers: [{braze: external_id, profile: external_id}]
          allow_create: true
          fields: [{braze: first_name, profile: first_name, strategy: set}]
        """
    )
    assert harness.materialize(DAY1, connection, {"segment_export"}).success
    manifest = json.loads(harness.store.read_bytes(layout.export_manifest("acme", "strict", DAY1)))
    harness.tamper_export(manifest, [b"not json at all"])
    summary = harness.run(DAY1, connection)
    assert not summary.success
    assert any("quarantine_rate_below_threshold" in failure for failure in summary.failures)
    assert harness.store.exists(layout.staged_users("acme", "strict", DAY1))  # staged, but blocked there
    assert not harness.store.exists(layout.profiles_dir(DAY1) + "manifest.json")


def test_new_attribute_and_changed_type_between_days(harness: ImportHarness) -> None:
    harness.sandbox.admin.upsert_users(
        [
            {"external_id": "n1", "custom_attributes": {"level": 3}},
            {"external_id": "n2", "custom_attributes": {"level": 4}},
        ]
    )
    connection = harness.connection(
        """\
        - goal: levels
          segment: Members
          identifiers: [{braze: external_id, profile: external_id}]
          allow_create: true
          fields: [{braze: custom_attributes.level, profile: level, strategy: set}]
          remaining_fields: {prefix: bz_, strategy: set}
        """
    )
    assert harness.run(DAY1, connection).success
    harness.track({"external_id": "n1", "level": "gold", "nickname": "Nina"})
    summary = harness.run(DAY2, connection)
    assert summary.success, summary.failures
    changes = step(summary, "user_changes")
    assert changes["changed"] == 1 and changes["unchanged"] == 1
    n1 = harness.profile(DAY2, "external_id", "n1")["properties"]
    n2 = harness.profile(DAY2, "external_id", "n2")["properties"]
    assert n1["level"] == "gold"  # the new type arrives
    assert str(n2["level"]) == "4"  # the old value survives the column's new type
    assert n1["bz_nickname"] == "Nina"  # an attribute first seen on day 2


SIMPLE = """\
- goal: plain
  segment: Members
  identifiers: [{braze: external_id, profile: external_id}]
  allow_create: true
  fields: [{braze: first_name, profile: first_name, strategy: set}]
"""


def test_without_a_callback_the_export_completes_when_its_count_matches_the_segment(harness: ImportHarness) -> None:
    harness.sandbox.admin.upsert_users([{"external_id": "c1", "first_name": "Cy"}])
    harness.sandbox.admin.define_segment("Counted", {"all": []}, analytics_tracking=True)
    harness.sandbox.admin.set_faults(callback="missing")
    summary = harness.run(DAY1, harness.connection(SIMPLE.replace("segment: Members", "segment: Counted")))
    assert summary.success, summary.failures
    export = step(summary, "segment_export")
    assert export["completion"] == "segment_size" and export["segment_size"] == 1
    assert export["waited_s"] >= 1.0  # counted only once the bucket was quiet for the configured period
    assert harness.profile(DAY1, "external_id", "c1")["properties"] == {"first_name": "Cy"}


def test_an_export_that_never_arrives_fails_the_run_with_the_fix(harness: ImportHarness) -> None:
    harness.sandbox.admin.upsert_users([{"external_id": "f1"}])
    harness.sandbox.admin.set_faults(export_fail=True)
    wait = "export_quiet_period_s: 1, export_poll_interval_s: 1, export_timeout_s: 3"
    summary = harness.run(DAY1, harness.connection(SIMPLE, wait=wait))
    assert not summary.success
    (failure,) = summary.failures
    assert "segment_export" in failure
    assert "did not complete within 3 s (no file appeared" in failure
    assert "check that Braze's S3 export integration writes to this bucket" in failure
    assert not harness.store.exists(layout.export_manifest("acme", "plain", DAY1))  # nothing half-recorded


def test_users_without_a_mapped_identifier_stop_the_run_before_profiles(harness: ImportHarness) -> None:
    harness.sandbox.admin.upsert_users(
        [{"external_id": "k1", "first_name": "Kim"}, {"email": "anonymous@example.com", "first_name": "Anon"}]
    )
    summary = harness.run(DAY1, harness.connection(SIMPLE))  # SIMPLE matches on external_id only
    assert not summary.success
    assert any("identifiers_present" in failure for failure in summary.failures)
    assert not harness.store.exists(layout.profiles_dir(DAY1) + "manifest.json")
