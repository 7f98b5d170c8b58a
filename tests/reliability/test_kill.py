"""Fault matrix, SIGKILL: `profilesync run` killed during staging, the profiles, and the push, then run again.

The kill comes at a point seen from outside (the export recorded, the changes written, Braze
accepting the first batch), so where inside the step it lands varies from run to run. The
re-run must complete the day: every profile built once, every change in Braze, resends only
of batches that were in flight at the kill, and the baseline exactly what Braze holds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from cells import DAY, TRACK
from conftest import PROFILESYNC, SandboxHandle, make_bucket, run_cli

from pipeline import layout
from pipeline.profiles import read_snapshot
from pipeline.push import read_baseline
from pipeline.storage import ObjectStore, open_store

USERS = 300  # 4 batches of 75
CONNECTION = """\
connection: acme
schedule: "0 3 * * *"
start_date: "2026-11-01"
braze: {{rest_endpoint: "{url}", api_key: "${{BRAZE_API_KEY}}", export_quiet_period_s: 1, export_poll_interval_s: 1,
        export_timeout_s: 30, max_requests_in_flight: 1}}
storage: {{root: "{root}", braze_exports: "s3://{exports}"}}
segments: {{all: "points >= 0"}}
import:
  - goal: plain
    segment: Everyone
    identifiers: [{{braze: external_id, profile: external_id}}]
    allow_create: true
    fields: [{{braze: custom_attributes.points, profile: points, strategy: set}}]
export:
  - goal: back
    segment: all
    identifiers: [{{profile: external_id, braze: external_id}}]
    allow_create: false
    delta: attributes
    on_leave: ignore
    fields: [{{from: {{property: points}}, braze: cdp_points}}]
"""


def export_recorded(store: ObjectStore, sandbox: SandboxHandle) -> bool:
    return store.exists(layout.export_manifest("acme", "plain", DAY))


def changes_written(store: ObjectStore, sandbox: SandboxHandle) -> bool:
    return store.exists(layout.user_changes("acme", "plain", DAY))


def push_started(store: ObjectStore, sandbox: SandboxHandle) -> bool:
    return any(r["path"] == TRACK and r["status"] == 201 for r in sandbox.admin.requests())


KILL_POINTS: dict[str, Callable[[ObjectStore, SandboxHandle], bool]] = {
    "staging": export_recorded,
    "profiles": changes_written,
    "push": push_started,
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_run_killed_during_a_step_completes_on_the_rerun(sandbox: SandboxHandle, tmp_path: Path, point: str) -> None:
    sandbox.admin.upsert_users([{"external_id": f"u{n:03d}", "custom_attributes": {"points": n}} for n in range(USERS)])
    sandbox.admin.define_segment("Everyone", {"all": []})
    sandbox.admin.set_faults(latency_ms=300, endpoints=[TRACK])  # a push slow enough to be killed in
    root = f"s3://{make_bucket()}/p"
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "acme.yaml").write_text(CONNECTION.format(url=sandbox.url, root=root, exports=sandbox.bucket))
    env = {"PROFILESYNC_MAPPINGS": str(mappings), "BRAZE_API_KEY": sandbox.api_key, "DAGSTER_HOME": str(tmp_path)}
    store = open_store(root)

    first = subprocess.Popen(
        [str(PROFILESYNC), "run", "--date", DAY],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    reached = KILL_POINTS[point]
    deadline = time.monotonic() + 120
    while not reached(store, sandbox):
        assert first.poll() is None, f"the run ended before the {point} kill point: {first.communicate()}"
        assert time.monotonic() < deadline, f"the {point} kill point was not reached within 120 s"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    assert first.returncode == -signal.SIGKILL
    time.sleep(0.5)  # requests the dead process left in flight are still answered and logged
    killed = read_snapshot(store, DAY)
    assert killed is None or killed.profiles.height == USERS  # a day is published whole or not at all

    sandbox.admin.clear_faults()
    rerun = run_cli("run", "--date", DAY, env=env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    snapshot = read_snapshot(store, DAY)
    assert snapshot is not None and snapshot.profiles.height == USERS
    applied = Counter(
        obj["external_id"]
        for r in sandbox.admin.requests()
        if r["path"] == TRACK and r["status"] == 201
        for obj in r["body"]["attributes"]
    )
    assert set(applied) == {f"u{n:03d}" for n in range(USERS)}  # every change reached Braze
    assert sum(n - 1 for n in applied.values()) <= 75  # resent: at most the one batch in flight
    assert sandbox.admin.user("external_id", "u299")["custom_attributes"]["cdp_points"] == 299
    baseline = read_baseline(store, "acme", "back")
    assert baseline.height == USERS and store.list(layout.push_journal_folder("acme", "back", DAY))
