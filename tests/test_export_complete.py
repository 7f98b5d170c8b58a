"""A segment export is complete only with evidence: Braze's callback or a count matching the segment.

Issue 8, defect 1: a quiet bucket used to complete an export, so a slow export (files further
apart than the quiet period) or a failed one (some files, no callback) was staged in part and
the run succeeded. Each test here stages through the real sandbox, moto and Dagster.
"""

from __future__ import annotations

import pytest
from conftest import SandboxHandle
from import_harness import ImportHarness, step

from assets.app.run import run_day
from pipeline import layout

DAY = "2026-11-01"
SIMPLE = """\
- goal: plain
  segment: {segment}
  identifiers: [{{braze: external_id, profile: external_id}}]
  allow_create: true
  fields: [{{braze: first_name, profile: first_name, strategy: set}}]
"""
# A quiet period far shorter than the gap between files: it must no longer decide anything.
WAIT = "export_quiet_period_s: 1, export_poll_interval_s: 1, export_timeout_s: {timeout}"


@pytest.fixture
def harness(sandbox: SandboxHandle, tmp_path, monkeypatch: pytest.MonkeyPatch) -> ImportHarness:
    monkeypatch.setenv("BRAZE_API_KEY", sandbox.api_key)
    sandbox.admin.configure(users_per_file=20)
    return ImportHarness(sandbox, tmp_path)


def seed(harness: ImportHarness, count: int, *, tracked: bool) -> str:
    """`count` users in segment Tracked (analytics tracking on, so Braze knows its size) or Untracked."""
    harness.sandbox.admin.upsert_users([{"external_id": f"u{n}", "first_name": f"N{n}"} for n in range(count)])
    name = "Tracked" if tracked else "Untracked"
    harness.sandbox.admin.define_segment(name, {"all": []}, analytics_tracking=tracked)
    return name


def nothing_published(harness: ImportHarness) -> None:
    assert not harness.store.exists(layout.export_manifest("acme", "plain", DAY))
    assert not harness.store.exists(layout.profiles_dir(DAY) + "manifest.json")


def test_a_slow_export_waits_past_the_quiet_period_for_the_callback(harness: ImportHarness) -> None:
    # issue (a): files 3 s apart, quiet period 1 s; the segment has no size, the callback decides
    segment = seed(harness, 50, tracked=False)
    harness.sandbox.admin.set_faults(export_file_delay_s=3)
    summary = harness.run(DAY, harness.connection(SIMPLE.format(segment=segment), wait=WAIT.format(timeout=60)))
    assert summary.success, summary.failures
    export = step(summary, "segment_export")
    assert (export["dagster/row_count"], export["files"], export["completion"]) == (50, 3, "callback")
    assert step(summary, "staged_users")["dagster/row_count"] == 50
    assert harness.snapshot(DAY).profiles.height == 50


def test_without_a_callback_a_count_matching_the_segment_size_completes(harness: ImportHarness) -> None:
    segment = seed(harness, 50, tracked=True)
    harness.sandbox.admin.set_faults(export_file_delay_s=3, callback="missing")
    summary = harness.run(DAY, harness.connection(SIMPLE.format(segment=segment), wait=WAIT.format(timeout=60)))
    assert summary.success, summary.failures
    export = step(summary, "segment_export")
    assert (export["dagster/row_count"], export["files"], export["completion"]) == (50, 3, "segment_size")
    assert export["manifest"]["segment_size"] == 50


def test_a_partial_export_fails_publishes_nothing_and_a_rerun_gets_the_whole(harness: ImportHarness) -> None:
    # issue (b): two files of five written, then the export fails and never calls back
    segment = seed(harness, 100, tracked=True)
    harness.sandbox.admin.set_faults(export_fail=True, export_fail_after_files=2, callback="missing")
    connection = harness.connection(SIMPLE.format(segment=segment), wait=WAIT.format(timeout=4))
    failed = harness.run(DAY, connection)
    assert not failed.success
    (failure,) = failed.failures
    assert "segment_export" in failure
    assert "incomplete after 4 s: 40 users in 2 file(s), Braze counts 100 in segment 'Tracked' (tolerance 1.0%)" in (
        failure
    )
    assert "Braze's callback never came" in failure and "re-run the day to request a new export" in failure
    nothing_published(harness)

    harness.sandbox.admin.clear_faults()
    rerun = harness.run(DAY, connection)
    assert rerun.success, rerun.failures
    export = step(rerun, "segment_export")
    assert (export["dagster/row_count"], export["reused"], export["completion"]) == (100, False, "callback")
    assert harness.snapshot(DAY).profiles.height == 100


def test_no_callback_and_no_segment_size_fails_naming_what_to_turn_on(harness: ImportHarness) -> None:
    segment = seed(harness, 30, tracked=False)
    harness.sandbox.admin.set_faults(callback="missing")
    summary = harness.run(DAY, harness.connection(SIMPLE.format(segment=segment), wait=WAIT.format(timeout=4)))
    assert not summary.success
    (failure,) = summary.failures
    assert "30 users in 2 file(s), and no size to compare with: Braze keeps no size for segment 'Untracked'" in failure
    assert "turn on analytics tracking for the segment in Braze" in failure
    nothing_published(harness)


def test_a_size_outside_the_tolerance_is_not_evidence_but_a_wider_tolerance_is(harness: ImportHarness) -> None:
    segment = seed(harness, 40, tracked=True)
    harness.sandbox.admin.set_faults(export_fail=True, export_fail_after_files=1, callback="missing")
    strict = harness.connection(SIMPLE.format(segment=segment), wait=WAIT.format(timeout=3))
    assert not harness.run(DAY, strict).success
    nothing_published(harness)
    loose = harness.connection(
        SIMPLE.format(segment=segment), wait=WAIT.format(timeout=3) + ", export_size_tolerance: 0.5"
    )
    summary = harness.run(DAY, loose)  # 20 of 40 is within 50%: the user said that is whole enough
    assert summary.success, summary.failures
    assert step(summary, "segment_export")["completion"] == "segment_size"


def test_refresh_asks_braze_for_a_new_export_of_the_day(harness: ImportHarness) -> None:
    segment = seed(harness, 3, tracked=False)
    connection = harness.connection(SIMPLE.format(segment=segment), wait=WAIT.format(timeout=60))
    first = harness.run(DAY, connection)
    assert first.success and step(first, "segment_export")["dagster/row_count"] == 3
    harness.sandbox.admin.upsert_users([{"external_id": "late", "first_name": "Lee"}])

    reused = harness.run(DAY, connection)
    assert step(reused, "segment_export")["reused"] is True
    assert step(reused, "segment_export")["dagster/row_count"] == 3

    (refreshed,) = run_day(DAY, [connection], harness.instance, refresh=True)
    assert refreshed.success, refreshed.failures
    export = step(refreshed, "segment_export")
    assert (export["reused"], export["dagster/row_count"]) == (False, 4)
    assert export["object_prefix"] != step(first, "segment_export")["object_prefix"]
    assert harness.profile(DAY, "external_id", "late")["properties"] == {"first_name": "Lee"}
