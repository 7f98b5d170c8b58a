"""A date-range backfill launched like the UI launches it materialises the self-dependent assets in day order.

`profiles` and `braze_push` read their own previous day, so Dagster's asset backfill must start
day N only after day N-1 succeeded. Proved end to end: the webserver takes the backfill through
GraphQL, the daemon (the one `dagster dev` runs) plans and queues the runs, run workers sync the
demo connection against the sandbox, and the asset history tells the order.

Two things keep it within a minute on a small machine. The inputs of the three days (every other
asset) are materialised in this process first, so the backfill is the two self-dependent assets
only: three runs in a chain instead of about twenty. And the daemon started here waits 1 s
between backfill iterations, where `dagster dev`'s waits 30 s (`DEFAULT_DAEMON_INTERVAL_SECONDS`,
not configurable). The planning, the queue and the runs are Dagster's own.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from conftest import free_port, wait_for_http
from dagster_ui import dagster_home, demo_env, graphql, start, stop_group

from assets.app.demo import INTERACTIONS
from assets.build import build_definitions
from pipeline import layout
from pipeline.mapping import load_connections
from pipeline.sandbox.server import SandboxServer
from pipeline.sandbox.settings import DEMO_API_KEY

DAYS = ["2026-11-01", "2026-11-02", "2026-11-03"]
SELF_DEPENDENT = ["demo/profiles", "demo/vip_to_braze/braze_push"]
QUICK_QUEUE = """run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config: {dequeue_interval_seconds: 1}
"""
FAST_DAEMON = (  # `dagster-daemon run`, its backfill iterations 1 s apart instead of 30 s
    "import dagster._daemon.controller as c; c.DEFAULT_DAEMON_INTERVAL_SECONDS = 1; "
    "from dagster._daemon.cli import main; main()"
)
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}  # one process a run, not one a step
LAUNCH = """mutation ($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
STATUS = """query ($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status } ... on PythonError { message } } }"""
RUNS = """query ($id: String!) { runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
  ... on Runs { results { runId status startTime endTime } } } }"""
HISTORY = """query ($key: AssetKeyInput!) { assetOrError(assetKey: $key) {
  ... on Asset { assetMaterializations { partition runId timestamp } } } }"""
DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


@pytest.fixture
def dagster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Sandbox, webserver and daemon on loopback over the demo connection, with the three days'
    inputs in place; yields the webserver's URL."""
    inbox = tmp_path / "store" / layout.INTERACTIONS_INBOX
    inbox.mkdir(parents=True)
    shutil.copy(INTERACTIONS, inbox / INTERACTIONS.name)
    home = dagster_home(tmp_path / "dagster_home", QUICK_QUEUE)
    with dg.DagsterInstance.from_config(str(home)):
        pass  # creates the SQLite tables once, before two processes race to
    with SandboxServer(str(tmp_path / "braze-exports"), seed_data={"demo_users": 300}) as sandbox:
        env = {**demo_env(tmp_path, sandbox.url, home), "BRAZE_API_KEY": DEMO_API_KEY}
        port = free_port()
        webserver = start(["dagster-webserver", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"], env,
                          tmp_path / "webserver.log")  # fmt: skip
        daemon = start(["python", "-c", FAST_DAEMON, "run", "-w", "workspace.yaml"], env, tmp_path / "daemon.log")
        try:
            _materialize_inputs(env, home, monkeypatch)  # while both processes start
            wait_for_http(f"http://127.0.0.1:{port}/server_info", webserver, timeout=90)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_group(daemon, webserver, grace=5)


def _materialize_inputs(env: dict[str, str], home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every asset of the three days, in day order, recorded in the same instance."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    job = build_definitions(load_connections()).resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for day in DAYS:
            assert job.execute_in_process(partition_key=day, instance=instance).success, day


def _wait(url: str, backfill: str, timeout: float) -> str:
    deadline, status = time.monotonic() + timeout, "unknown"
    while time.monotonic() < deadline:
        status = graphql(url, STATUS, {"id": backfill})["partitionBackfillOrError"]["status"]
        if status in DONE:
            return status
        time.sleep(0.5)
    raise AssertionError(f"backfill {backfill} still {status} after {timeout} s")


def _materializations(url: str, asset: str, runs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The asset's materialisations by the backfill's runs, oldest first, each with its run."""
    events = graphql(url, HISTORY, {"key": {"path": asset.split("/")}})["assetOrError"]["assetMaterializations"]
    ours = [{**e, "run": runs[e["runId"]]} for e in events if e["runId"] in runs]
    return sorted(ours, key=lambda e: float(e["timestamp"]))


def test_a_date_range_backfill_runs_the_days_in_order(dagster: str) -> None:
    # By asset: with assetSelection + partitionNames, Dagster keeps only assets reachable from the
    # selection's roots through selected assets, and braze_push is not (the export steps lie between).
    days = {"range": {"start": DAYS[0], "end": DAYS[-1]}}
    params = {
        "partitionsByAssets": [{"assetKey": {"path": a.split("/")}, "partitions": days} for a in SELF_DEPENDENT],
        "runConfigData": IN_PROCESS,
    }
    launched = graphql(dagster, LAUNCH, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill = launched["backfillId"]
    assert _wait(dagster, backfill, timeout=150) == "COMPLETED_SUCCESS"  # ~15 s here; slack for slow CI

    runs = {r["runId"]: r for r in graphql(dagster, RUNS, {"id": backfill})["runsOrError"]["results"]}
    assert {r["status"] for r in runs.values()} == {"SUCCESS"}
    for asset in SELF_DEPENDENT:
        history = _materializations(dagster, asset, runs)
        assert [e["partition"] for e in history] == DAYS, asset
        for before, after in pairwise(history):
            # the next day's run started only after the run that built the day before had finished
            assert after["run"]["startTime"] >= before["run"]["endTime"], (asset, before, after)
