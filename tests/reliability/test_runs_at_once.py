"""`profilesync run` as users start it: two at once on a fresh Dagster home, and one killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import PROFILESYNC, SandboxHandle, run_cli
from import_harness import ImportHarness
from test_export_assets import IMPORTS, SEGMENTS, exports, tracked

from pipeline import layout

DAY = "2026-11-01"


@pytest.fixture
def harness(sandbox: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ImportHarness:
    """Three Braze users, two of them in the exported `vip` segment (points >= 100)."""
    monkeypatch.setenv("BRAZE_API_KEY", sandbox.api_key)
    sandbox.admin.define_segment("Members", {"all": []})
    sandbox.admin.upsert_users(
        [{"external_id": f"u{n}", "email": f"u{n}@example.com", "custom_attributes": {"points": points}}
         for n, points in ((1, 150), (2, 50), (3, 200))]
    )  # fmt: skip
    return ImportHarness(sandbox, tmp_path)


def start_run(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(PROFILESYNC), "run", "--date", DAY, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "250", **env},
    )  # fmt: skip


def cli_env(harness: ImportHarness, home: Path) -> dict[str, str]:
    harness.connection(IMPORTS, extra=SEGMENTS, exports=exports())
    return {"PROFILESYNC_MAPPINGS": str(harness.folder), "DAGSTER_HOME": str(home)}


def export_requests(sandbox: SandboxHandle) -> int:
    return sum(r["path"] == "/users/export/segment" for r in sandbox.admin.requests())


def test_two_runs_of_one_day_started_together_run_once(harness: ImportHarness, tmp_path: Path) -> None:
    sandbox = harness.sandbox
    sandbox.admin.set_faults(latency_ms=1500, endpoints=["/users/track"])  # the winner is still running
    env = cli_env(harness, tmp_path / "fresh-dagster-home")
    runs = [start_run(env), start_run(env)]
    outputs = [run.communicate(timeout=300) for run in runs]
    codes = sorted(run.returncode for run in runs)
    assert codes == [0, 3], outputs
    for out, err in outputs:
        assert "Traceback" not in out + err, err
    winner, loser = (0, 1) if runs[0].returncode == 0 else (1, 0)
    (refusal,) = [line for line in outputs[loser][1].splitlines() if line.strip()]
    assert refusal.startswith(f"acme {DAY} is being run by pid {runs[winner].pid} on host "), refusal
    assert refusal.endswith(f"if that process is gone, delete s3://{harness.bucket}/profiles/{layout.run_lease(DAY)}")
    assert export_requests(sandbox) == 1
    sent = Counter(obj["external_id"] for obj in tracked(sandbox, 0))
    assert sent == {"u1": 1, "u3": 1}, "every change is pushed once"
    assert not harness.store.exists(layout.run_lease(DAY)), "the winner gives the day back"

    waited = start_run(env, "--wait")  # a later run of the same day waits for none and changes nothing
    out, err = waited.communicate(timeout=300)
    assert waited.returncode == 0, out + err
    assert Counter(obj["external_id"] for obj in tracked(sandbox, 0)) == sent


def test_a_killed_run_is_listed_as_failed_and_its_day_runs_again(harness: ImportHarness, tmp_path: Path) -> None:
    sandbox = harness.sandbox
    sandbox.admin.set_faults(latency_ms=60_000, endpoints=["/users/track"])  # the run hangs in braze_push
    env = cli_env(harness, tmp_path / "dagster-home")
    first = start_run(env)
    deadline = time.monotonic() + 240  # generous: only a failure waits this long
    while not list(harness.store.list(layout.profiles_dir(DAY))):  # profiles written: the export steps are next
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the run did not write the day's profiles within 240 s"
        time.sleep(0.2)
    time.sleep(1)
    held = harness.store.exists(layout.run_lease(DAY))
    first.send_signal(signal.SIGKILL)
    first.communicate()
    assert first.returncode == -signal.SIGKILL
    sandbox.admin.clear_faults()

    listed = run_cli("runs", "--json", env=env, timeout=120)
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert (row["connection"], row["day"], row["status"]) == ("acme", DAY, "FAILURE")
    assert f"the process running it (pid {first.pid} on host" in row["error"] and "was killed" in row["error"]
    assert f"run {row['run_id']} for {DAY} marked failed" in listed.stderr
    assert held, "the killed run held the day"

    again = run_cli("run", "--date", DAY, env=env, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"took over the lease of {DAY}" in again.stderr and f"its process (pid {first.pid}) is gone" in again.stderr
    rows = json.loads(run_cli("runs", "--json", env=env, timeout=120).stdout)
    assert [r["status"] for r in rows] == ["SUCCESS", "FAILURE"]  # the killed run is reported once
