"""Days build on days: a day's profiles apply changes only onto the snapshot they were diffed for.

The first tests drive `check_day_order` over a real store (local folder); the last ones replay
issue 8's scenario end to end: sandbox → moto S3 → Dagster → profiles → /users/track.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import SandboxHandle
from import_harness import ImportHarness, step

from assets.run_summary import error_text
from pipeline import layout
from pipeline.day_order import GoalOfDay, StaleChanges, UnpublishedDay, check_day_order
from pipeline.delta import ChangesBase, changes_base, compute_changes
from pipeline.profiles import build_day, empty_snapshot, read_snapshot, write_snapshot
from pipeline.storage import ObjectStore, open_store
from pipeline.storage.parquet import write_parquet

DAY1, DAY2, DAY3, DAY4 = "2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"
A, B = GoalOfDay("acme", "members", True), GoalOfDay("acme", "vips", True)


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return open_store(str(tmp_path / "store"))


def stage(store: ObjectStore, goal: GoalOfDay, day: str, points: int = 1) -> None:
    users = pl.DataFrame({"braze_id": ["b1"], "custom_attributes.points": [points]})
    write_parquet(store, layout.staged_users(goal.connection, goal.goal, day), users)


def changes(store: ObjectStore, goal: GoalOfDay, day: str) -> None:
    compute_changes(store, goal.connection, goal.goal, day)


def publish(store: ObjectStore, day: str) -> None:
    write_snapshot(store, day, *build_day(empty_snapshot(), [], day))


def test_changes_record_the_day_they_were_diffed_against(store: ObjectStore) -> None:
    stage(store, A, DAY1)
    changes(store, A, DAY1)
    stage(store, A, DAY3)
    changes(store, A, DAY3)
    assert changes_base(store, layout.user_changes("acme", "members", DAY1)) == ChangesBase("staged_users", None)
    assert changes_base(store, layout.user_changes("acme", "members", DAY3)) == ChangesBase("staged_users", DAY1)


def test_a_staged_day_without_a_snapshot_is_named(store: ObjectStore) -> None:
    for day in (DAY1, DAY2, DAY3):
        stage(store, A, day)
        changes(store, A, day)
    publish(store, DAY1)
    with pytest.raises(UnpublishedDay) as raised:
        check_day_order(store, DAY3, [A])
    assert raised.value.run_first == DAY2
    assert str(raised.value) == (
        "profiles of 2026-11-02 were never published (the latest snapshot before 2026-11-03 is 2026-11-01), "
        "so the changes acme/members staged that day would be lost on 2026-11-03; "
        "materialize acme for 2026-11-02 first (profilesync run --date 2026-11-02), then 2026-11-03"
    )
    publish(store, DAY2)
    check_day_order(store, DAY3, [A])


def test_every_unpublished_day_is_listed_and_a_first_day_too(store: ObjectStore) -> None:
    for day in (DAY1, DAY2, DAY3, DAY4):
        stage(store, A, day)
    with pytest.raises(UnpublishedDay, match="profiles of 2026-11-01, 2026-11-02, 2026-11-03 were never") as raised:
        check_day_order(store, DAY4, [GoalOfDay("acme", "members", False)])  # switched off today: checked all the same
    assert raised.value.run_first == DAY1
    assert "(profilesync run --date 2026-11-01), then each later day up to 2026-11-04, in order" in str(raised.value)


def test_a_goal_that_skipped_days_builds_on_the_newer_snapshot(store: ObjectStore) -> None:
    for day in (DAY1, DAY2, DAY3):
        stage(store, A, day)
        changes(store, A, day)
    for day in (DAY1, DAY3):  # no export of vips on day 2
        stage(store, B, day)
        changes(store, B, day)
    publish(store, DAY1)
    publish(store, DAY2)
    check_day_order(store, DAY3, [A, B])  # vips' base is day 1, which the day-2 snapshot already holds
    check_day_order(store, DAY3, [A, GoalOfDay("acme", "vips", False)])


def test_changes_computed_before_an_earlier_day_was_backfilled_are_stale(store: ObjectStore) -> None:
    stage(store, A, DAY1)
    changes(store, A, DAY1)
    publish(store, DAY1)
    stage(store, A, DAY3)
    changes(store, A, DAY3)  # against day 1: day 2 was not staged yet
    check_day_order(store, DAY3, [A])
    stage(store, A, DAY2)  # the backfill of day 2
    changes(store, A, DAY2)
    publish(store, DAY2)
    with pytest.raises(StaleChanges) as raised:
        check_day_order(store, DAY3, [A])
    assert raised.value.run_first == DAY3
    assert str(raised.value) == (
        "the changes of acme/members for 2026-11-03 are stale: they were diffed against its copy of 2026-11-01, "
        "but its latest staged_users before 2026-11-03 is now 2026-11-02; "
        "materialize acme/members/user_changes for 2026-11-03 again (profilesync run --date 2026-11-03)"
    )
    changes(store, A, DAY3)
    check_day_order(store, DAY3, [A])


def test_changes_that_do_not_say_what_they_were_diffed_against_are_refused(store: ObjectStore) -> None:
    write_parquet(store, layout.user_changes("acme", "members", DAY1), pl.DataFrame({"braze_id": ["b1"]}))
    with pytest.raises(StaleChanges, match="do not record the day they were diffed against"):
        check_day_order(store, DAY1, [A])


# -- end to end ------------------------------------------------------------------------------------

IMPORTS = """\
- goal: members
  segment: Members
  identifiers: [{braze: external_id, profile: external_id}]
  allow_create: true
  fields:
    - {braze: custom_attributes.points, profile: points, strategy: set}
"""
SEGMENTS = """\
segments:
  everyone: "points >= 0"
"""
EXPORTS = """\
- goal: points_to_braze
  segment: everyone
  identifiers: [{profile: external_id, braze: external_id}]
  fields:
    - {from: {property: points}, braze: loyalty_points}
"""
IMPORT_STEPS = {"segment_export", "staged_users", "user_changes"}


@pytest.fixture
def harness(sandbox: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ImportHarness:
    monkeypatch.setenv("BRAZE_API_KEY", sandbox.api_key)
    sandbox.admin.define_segment("Members", {"all": []})
    sandbox.admin.upsert_users([{"external_id": "u1", "custom_attributes": {"points": 962}}])
    return ImportHarness(sandbox, tmp_path)


def pushed_points(sandbox: SandboxHandle, since: int) -> list[Any]:
    """Every loyalty_points value sent to /users/track after request `since`."""
    return [
        obj["loyalty_points"]
        for request in sandbox.admin.requests(since=since)
        if request["path"] == "/users/track" and request["status"] < 300
        for obj in (request.get("body") or {}).get("attributes", [])
        if "loyalty_points" in obj
    ]


def test_a_day_killed_after_staging_stops_the_next_day_until_it_is_run(harness: ImportHarness) -> None:
    sandbox = harness.sandbox
    connection = harness.connection(IMPORTS, extra=SEGMENTS, exports=EXPORTS)
    assert harness.run(DAY1, connection).success
    assert sandbox.admin.user("external_id", "u1")["custom_attributes"]["loyalty_points"] == 962

    harness.track({"external_id": "u1", "points": 990})
    # Day 2 killed after staging: its changes (962 → 990) exist, its profiles never got published.
    assert harness.materialize(DAY2, connection, IMPORT_STEPS).success
    start = sandbox.admin.last_seq()
    third = harness.run(DAY3, connection)
    assert not third.success
    assert third.failures == [
        "acme__profiles: UnpublishedDay: profiles of 2026-11-02 were never published (the latest snapshot before "
        "2026-11-03 is 2026-11-01), so the changes acme/members staged that day would be lost on 2026-11-03; "
        "materialize acme for 2026-11-02 first (profilesync run --date 2026-11-02), then 2026-11-03"
    ]
    assert read_snapshot(harness.store, DAY3) is None
    assert not any(s.key.endswith(("segment_members", "braze_push")) for s in third.steps)
    assert pushed_points(sandbox, start) == []

    assert harness.run(DAY2, connection).success
    assert harness.profile(DAY2, "external_id", "u1")["properties"]["points"] == 990
    third = harness.run(DAY3, connection)
    assert third.success, third.failures
    assert step(third, "user_changes")["previous_day"] == DAY2
    assert harness.profile(DAY3, "external_id", "u1")["properties"]["points"] == 990
    assert pushed_points(sandbox, start) == [990]  # once, on day 2; never 962 again
    assert sandbox.admin.user("external_id", "u1")["custom_attributes"]["loyalty_points"] == 990


def test_profiles_alone_refuse_changes_computed_before_a_backfill(harness: ImportHarness) -> None:
    connection = harness.connection(IMPORTS)
    assert harness.run(DAY1, connection).success  # 962
    assert harness.materialize(DAY3, connection, IMPORT_STEPS).success  # still 962: unchanged since day 1
    harness.track({"external_id": "u1", "points": 990})
    assert harness.run(DAY2, connection).success  # backfilled later, exports today's 990
    # Day 3's changes (none, against day 1) on day 2's snapshot would keep 990; day 3's export says 962.
    alone = harness.materialize(DAY3, connection, {"profiles"})
    (failure,) = [error_text(e.step_failure_data.error) for e in alone.all_events if e.is_step_failure]
    assert failure.startswith("StaleChanges: the changes of acme/members for 2026-11-03 are stale"), failure
    assert read_snapshot(harness.store, DAY3) is None
    third = harness.run(DAY3, connection)  # re-runs user_changes too, now against day 2
    assert third.success, third.failures
    assert harness.profile(DAY3, "external_id", "u1")["properties"]["points"] == 962
