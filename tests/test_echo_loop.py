"""Two-way sync without echoes: what profilesync pushed never comes back as a change.

Import and export goals on the same Braze users, run day after day through Dagster with the
sandbox and moto, as in the measured case of issue 10 (at a few thousand users).
"""

from __future__ import annotations

import random

import dagster as dg
import pytest
from conftest import SandboxHandle
from import_harness import ImportHarness, step

from assets.app.run import describe
from pipeline.profiles import find_profile
from pipeline.runs import list_runs

DAYS = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"]
USERS = 2_000
CHANGED = USERS * 2 // 100  # 2% truly changed in Braze on day 2


@pytest.fixture
def harness(sandbox: SandboxHandle, tmp_path, monkeypatch: pytest.MonkeyPatch) -> ImportHarness:
    monkeypatch.setenv("BRAZE_API_KEY", sandbox.api_key)
    sandbox.admin.define_segment("All", {"all": []})
    return ImportHarness(sandbox, tmp_path)


def tracked(sandbox: SandboxHandle, since: int) -> list[dict]:
    return [
        obj
        for request in sandbox.admin.requests(since=since)
        if request["path"] == "/users/track" and request["status"] < 300
        for obj in (request.get("body") or {}).get("attributes", [])
    ]


MEASURED_IMPORT = """\
- goal: everyone
  segment: All
  identifiers: [{braze: external_id, profile: external_id}]
  allow_create: true
  fields: [{braze: custom_attributes.points, profile: points}]
  remaining_fields: {prefix: braze_}
"""
MEASURED_EXPORT = """\
- goal: back
  segment: members
  identifiers: [{profile: external_id, braze: external_id}]
  fields:
    - {from: {property: points}, braze: loyalty_points}
    - {from: {static: profilesync}, braze: source}
    - {from: segments, braze: cdp_segments}
    - {from: {static: Amsterdam}, braze: home_city}
    - {from: {static: gold}, braze: tier}
"""


def test_pushed_attributes_coming_back_are_echoes_not_changes(harness: ImportHarness) -> None:
    sandbox = harness.sandbox
    users = [{"external_id": f"u{i:05d}", "country": "NL", "custom_attributes": {"points": i}} for i in range(USERS)]
    sandbox.admin.upsert_users(users)
    connection = harness.connection(
        MEASURED_IMPORT, extra='segments:\n  members: "points >= 0"\n', exports=MEASURED_EXPORT
    )
    first = harness.run(DAYS[0], connection)
    assert first.success, first.failures
    assert step(first, "braze_push")["users_accepted"] == USERS  # five attributes to every user

    truly = random.Random(10).sample(range(USERS), CHANGED)
    harness.track(*({"external_id": f"u{i:05d}", "points": 10_000 + i} for i in truly))
    start = sandbox.admin.last_seq()
    second = harness.run(DAYS[1], connection)
    assert second.success, second.failures
    changes = step(second, "user_changes")
    assert (changes["changed"], changes["echoes"], changes["seen_changed"]) == (CHANGED, USERS - CHANGED, USERS)
    assert step(second, "profiles")["profiles_updated"] == CHANGED
    assert f"seen changed {USERS:,}, changed {CHANGED}, echoes of our own pushes {USERS - CHANGED:,}" in describe(
        next(s for s in second.steps if s.key.endswith("user_changes"))
    )
    (record,) = [r for r in list_runs(harness.store, "acme", last=None) if r.day == DAYS[1]]
    counted = {k: v for k, v in record.goal_counts["acme/everyone"].items() if k in {"seen", "changed", "echoes"}}
    assert counted == {"seen": USERS, "changed": CHANGED, "echoes": USERS - CHANGED}
    pushed = tracked(sandbox, start)
    assert sorted(o["external_id"] for o in pushed) == sorted(f"u{i:05d}" for i in truly)
    assert all(set(o) == {"external_id", "_update_existing_only", "loyalty_points"} for o in pushed)
    profile = harness.profile(DAYS[1], "external_id", f"u{truly[0]:05d}")["properties"]
    assert profile["points"] == 10_000 + truly[0]
    assert not {"braze_loyalty_points", "braze_source", "braze_tier", "braze_home_city"} & set(profile)

    third = harness.run(DAYS[2], connection)  # the day-2 pushes come back: echoes again, nothing changed
    assert third.success, third.failures
    assert (step(third, "user_changes")["changed"], step(third, "user_changes")["echoes"]) == (0, CHANGED)
    assert step(third, "profiles")["profiles_updated"] == 0

    # The UI's column lineage of the profiles, from the day's provenance: who set each property.
    event = harness.instance.get_latest_materialization_event(dg.AssetKey(["acme", "profiles"]))
    assert event is not None and event.asset_materialization is not None
    metadata = event.asset_materialization.metadata
    changes_key = dg.AssetKey(["acme", "everyone", "user_changes"])
    lineage = metadata["dagster/column_lineage"].value.deps_by_column
    assert lineage["points"] == [dg.TableColumnDep(changes_key, "custom_attributes.points")]
    assert lineage["braze_country"] == [dg.TableColumnDep(changes_key, "country")]  # known only from the data
    notes = {c.name: c.description for c in metadata["dagster/column_schema"].value.columns}
    assert notes["points"] == (
        "custom_attributes.points of acme/everyone/user_changes (set); "
        f"set by acme/everyone in {USERS:,} profiles, last on {DAYS[1]}"
    )
    assert notes["braze_country"] == f"set by acme/everyone in {USERS:,} profiles, last on {DAYS[0]}"
    table = {(r.data["property"], r.data["goal"]): r.data for r in metadata["provenance"].value.records}
    assert table["points", "acme/everyone"]["profiles"] == USERS


SUM_IMPORT = """\
- goal: braze_points
  segment: All
  identifiers: [{braze: external_id, profile: external_id}]
  allow_create: true
  fields: [{braze: custom_attributes.points, profile: points, strategy: sum, echo: accept}]
- goal: shop
  segment: All
  identifiers: [{braze: external_id, profile: external_id}]
  fields: [{braze: custom_attributes.shop_points, profile: points, strategy: sum}]
"""
SUM_EXPORT = """\
- goal: points_back
  segment: members
  identifiers: [{profile: external_id, braze: external_id}]
  fields: [{from: {property: points}, braze: points}]
"""


def test_a_summed_property_exported_and_imported_reaches_the_true_total(harness: ImportHarness) -> None:
    """Another source (the shop) adds to `points` every day; Braze holds the total we push."""
    sandbox = harness.sandbox
    sandbox.admin.upsert_users([{"external_id": "u1", "custom_attributes": {"points": 100, "shop_points": 0}}])
    connection = harness.connection(SUM_IMPORT, extra='segments:\n  members: "points >= 0"\n', exports=SUM_EXPORT)
    shop = 0
    for number, day in enumerate(DAYS):
        if number:
            shop += 10 * number  # the shop's own running total: 10, 30, 60, 100
            harness.track({"external_id": "u1", "shop_points": shop})
        summary = harness.run(day, connection)
        assert summary.success, summary.failures
    assert harness.profile(DAYS[-1], "external_id", "u1")["properties"]["points"] == 100 + shop
    assert sandbox.admin.user("external_id", "u1")["custom_attributes"]["points"] == 100 + shop
    # A real change in Braze on top adds only its own difference.
    harness.track({"external_id": "u1", "points": 100 + shop + 7})
    summary = harness.run("2026-11-06", connection)
    assert summary.success, summary.failures
    assert harness.profile("2026-11-06", "external_id", "u1")["properties"]["points"] == 100 + shop + 7


TIER_IMPORT = """\
- goal: tiers
  segment: All
  identifiers: [{braze: external_id, profile: external_id}]
  allow_create: true
  fields: [{braze: custom_attributes.tier, profile: tier}]
"""
TIER_EXPORT = """\
- goal: gold
  segment: members
  identifiers: [{profile: external_id, braze: external_id}]
  fields: [{from: {static: gold}, braze: tier}]
"""


def tier(harness: ImportHarness, day: str) -> str:
    return harness.profile(day, "external_id", "u1")["properties"]["tier"]


def test_back_to_our_value_then_changed_again_is_imported(harness: ImportHarness) -> None:
    harness.sandbox.admin.upsert_users([{"external_id": "u1", "custom_attributes": {"tier": "bronze"}}])
    connection = harness.connection(TIER_IMPORT, extra="segments:\n  members: \"tier != ''\"\n", exports=TIER_EXPORT)
    assert harness.run(DAYS[0], connection).success  # imports bronze, pushes gold
    second = harness.run(DAYS[1], connection)  # gold comes back: ours
    assert (step(second, "user_changes")["changed"], step(second, "user_changes")["echoes"]) == (0, 1)
    assert tier(harness, DAYS[1]) == "bronze"
    harness.track({"external_id": "u1", "tier": "silver"})
    assert harness.run(DAYS[2], connection).success
    assert tier(harness, DAYS[2]) == "silver"
    harness.track({"external_id": "u1", "tier": "gold"})  # someone writes the very value we pushed on day 1
    fourth = harness.run(DAYS[3], connection)  # day 3's copy showed silver after our push: not ours
    assert (step(fourth, "user_changes")["changed"], step(fourth, "user_changes")["echoes"]) == (1, 0)
    assert tier(harness, DAYS[3]) == "gold"
    harness.track({"external_id": "u1", "tier": "platinum"})
    fifth = harness.run(DAYS[4], connection)
    assert (step(fifth, "user_changes")["changed"], step(fifth, "user_changes")["echoes"]) == (1, 0)
    assert tier(harness, DAYS[4]) == "platinum"


def test_a_value_braze_refused_is_not_an_echo(harness: ImportHarness) -> None:
    sandbox = harness.sandbox
    sandbox.admin.upsert_users([{"external_id": "u1", "custom_attributes": {"tier": "bronze"}}])
    connection = harness.connection(TIER_IMPORT, extra="segments:\n  members: \"tier != ''\"\n", exports=TIER_EXPORT)
    sandbox.admin.set_faults(track_reject_rate=1.0, endpoints=["/users/track"], seed=1)
    first = harness.run(DAYS[0], connection)
    assert step(first, "braze_push")["users_rejected"] == 1  # gold is a dead letter
    sandbox.admin.clear_faults()
    harness.track({"external_id": "u1", "tier": "gold"})  # someone else writes gold
    second = harness.run(DAYS[1], connection)
    assert (step(second, "user_changes")["changed"], step(second, "user_changes")["echoes"]) == (1, 0)
    assert find_profile(harness.snapshot(DAYS[1]), "external_id", "u1")["properties"]["tier"] == "gold"
