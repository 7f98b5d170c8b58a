"""Fault matrix, segment exports: slow, stalled, failing, silent, already running, answer lost.

Issue 9, defect 3: an export we gave up on kept running in Braze, so the next run met a 429
"already running" and was told to lower its request rate. Now what we give up on is cancelled,
and an export found running is waited for (up to the export timeout), then cancelled.
"""

from __future__ import annotations

import threading
import time

import pytest
from cells import DAY, GOAL, calls, make_harness, nothing_published, seed, wait
from conftest import SandboxHandle
from import_harness import ImportHarness, step

from pipeline.braze.errors import BrazeExportRunning

EXPORT, CANCEL = "/users/export/segment", "/export/segment/cancel"


@pytest.fixture
def harness(sandbox: SandboxHandle, tmp_path, monkeypatch: pytest.MonkeyPatch) -> ImportHarness:
    return make_harness(sandbox, tmp_path, monkeypatch)


def start_foreign_export(harness: ImportHarness, delay_s: float) -> str:
    """An export of segment Everyone started outside the run (another tool, a killed run)."""
    harness.sandbox.admin.set_faults(export_delay_s=delay_s)
    with harness.sandbox.client() as client:
        (segment,) = [s["id"] for s in client.iter_segments() if s["name"] == "Everyone"]
        prefix = client.export_segment(segment, ["external_id"])
    while harness.sandbox.admin.export(prefix)["users"] is None:  # the job has taken its faults
        time.sleep(0.01)
    harness.sandbox.admin.clear_faults()
    return prefix


def clear_faults_once_an_export_runs(harness: ImportHarness) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(job["users"] is not None for job in harness.sandbox.admin.exports()):
        time.sleep(0.01)
    harness.sandbox.admin.clear_faults()


def test_export_stalled_past_the_timeout_is_cancelled_and_the_next_run_succeeds(harness: ImportHarness) -> None:
    seed(harness, 30)
    harness.sandbox.admin.set_faults(export_delay_s=60)  # no file ever comes within the timeout
    connection = harness.connection(GOAL, wait=wait(2))
    failed = harness.run(DAY, connection)
    assert not failed.success
    (failure,) = failed.failures
    assert "did not complete within 2 s" in failure
    assert "its export was cancelled in Braze, so the next run can request a new one" in failure
    (cancel,) = calls(harness, CANCEL)
    assert cancel["status"] == 200 and cancel["outcome"] == {"cancelled": 1}
    assert [job["status"] for job in harness.sandbox.admin.exports()] == ["cancelled"]
    nothing_published(harness)

    harness.sandbox.admin.clear_faults()
    since = harness.sandbox.admin.last_seq()
    rerun = harness.run(DAY, connection)
    assert rerun.success, rerun.failures
    assert step(rerun, "segment_export")["dagster/row_count"] == 30
    assert [r["status"] for r in calls(harness, EXPORT, since)] == [201]  # no 429: nothing was left running
    assert harness.snapshot(DAY).profiles.height == 30


def test_export_already_running_is_waited_for_then_cancelled_and_requested_again(harness: ImportHarness) -> None:
    seed(harness, 30)
    foreign = start_foreign_export(harness, delay_s=60)
    since = harness.sandbox.admin.last_seq()
    summary = harness.run(DAY, harness.connection(GOAL, wait=wait(2)))
    assert summary.success, summary.failures
    assert step(summary, "segment_export")["dagster/row_count"] == 30
    assert harness.sandbox.admin.export(foreign)["status"] == "cancelled"
    statuses = [r["status"] for r in calls(harness, EXPORT, since)]
    assert statuses[0] == 429 and statuses[-1] == 201 and set(statuses[:-1]) == {429}
    assert 2 <= len(statuses) <= 5  # asked about once a second for 2 s, then once after the cancel
    assert len(calls(harness, CANCEL, since)) == 1


def test_export_already_running_that_ends_meanwhile_is_not_cancelled(harness: ImportHarness) -> None:
    seed(harness, 30)
    foreign = start_foreign_export(harness, delay_s=4)
    since = harness.sandbox.admin.last_seq()
    summary = harness.run(DAY, harness.connection(GOAL, wait=wait(20)))
    assert summary.success, summary.failures
    assert harness.sandbox.admin.export(foreign)["status"] == "completed"
    assert calls(harness, CANCEL, since) == []
    statuses = [r["status"] for r in calls(harness, EXPORT, since)]
    assert statuses[0] == 429 and statuses[-1] == 201


def test_export_already_running_is_not_reported_as_a_rate_limit(harness: ImportHarness) -> None:
    seed(harness, 5)
    start_foreign_export(harness, delay_s=60)
    since = harness.sandbox.admin.last_seq()
    with harness.sandbox.client() as client:
        (segment,) = [s["id"] for s in client.iter_segments() if s["name"] == "Everyone"]
        with pytest.raises(BrazeExportRunning) as refused:
            client.export_segment(segment, ["external_id"])
    message = str(refused.value)
    assert "is already running" in message and "cancel it with POST /export/segment/cancel" in message
    assert "lower the request rate" not in message
    assert len(calls(harness, EXPORT, since)) == 1  # not retried like a rate limit


def test_export_request_whose_answer_is_lost_is_cancelled_and_requested_again(harness: ImportHarness) -> None:
    # Braze starts the export but its answer comes after the client stopped waiting (seen at 2M users)
    seed(harness, 30)
    harness.sandbox.admin.set_faults(answer_delay_ms=2500, answer_delay_count=1, endpoints=[EXPORT], export_delay_s=60)
    clearing = threading.Thread(target=clear_faults_once_an_export_runs, args=(harness,))
    clearing.start()  # the first export stays running; the one requested again is quick
    summary = harness.run(DAY, harness.connection(GOAL, wait=wait(20, request_timeout=1)))
    clearing.join()
    assert summary.success, summary.failures
    first, second = harness.sandbox.admin.exports()[:2]
    assert (first["status"], second["status"]) == ("cancelled", "completed")
    assert step(summary, "segment_export")["object_prefix"] == second["object_prefix"]
    assert [r["status"] for r in calls(harness, EXPORT)] == [201, 201]  # lost, then asked again once
    assert len(calls(harness, CANCEL)) == 1


def test_export_failing_after_some_files_publishes_nothing_and_the_rerun_completes(harness: ImportHarness) -> None:
    seed(harness, 30)
    harness.sandbox.admin.set_faults(export_fail=True, export_fail_after_files=2, callback="missing")
    connection = harness.connection(GOAL, wait=wait(3))
    failed = harness.run(DAY, connection)
    assert not failed.success
    (failure,) = failed.failures
    assert "20 users in 2 file(s), Braze counts 30" in failure
    nothing_published(harness)
    harness.sandbox.admin.clear_faults()
    rerun = harness.run(DAY, connection)
    assert rerun.success, rerun.failures
    assert harness.snapshot(DAY).profiles.height == 30


def test_export_slow_between_files_waits_for_the_callback(harness: ImportHarness) -> None:
    seed(harness, 30)
    harness.sandbox.admin.set_faults(export_file_delay_s=1.5)
    summary = harness.run(DAY, harness.connection(GOAL, wait=wait(30)))
    assert summary.success, summary.failures
    export = step(summary, "segment_export")
    # Never judged complete on the first files: all three, proven by Braze's callback or, once the
    # files stopped changing, by the segment's size (whichever a loaded machine sees first).
    assert (export["files"], export["completion"] in ("callback", "segment_size")) == (3, True), export
    assert harness.snapshot(DAY).profiles.height == 30


def test_export_that_never_calls_back_completes_on_the_segment_size(harness: ImportHarness) -> None:
    seed(harness, 30)
    harness.sandbox.admin.set_faults(callback="missing")
    summary = harness.run(DAY, harness.connection(GOAL, wait=wait(30)))
    assert summary.success, summary.failures
    assert step(summary, "segment_export")["completion"] == "segment_size"
    assert harness.snapshot(DAY).profiles.height == 30
