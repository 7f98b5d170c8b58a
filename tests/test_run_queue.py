"""Runs the Dagster daemon launches queue behind each other: one run per profile store at a time.

Two runs of the demo connection's job for one day are submitted at once through the webserver's
GraphQL API, as the UI or two schedule ticks would; the daemon's run queue, configured by the
`dagster.yaml` that `profilesync run` writes (`INSTANCE_SETTINGS`), starts the second only after
the first has ended.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from conftest import free_port, wait_for_http
from dagster_ui import REPOSITORY, demo_env, graphql, start, stop_group
from test_backfill_order import FAST_DAEMON, IN_PROCESS, QUICK_QUEUE

from assets.app.demo import INTERACTIONS
from assets.run_lock import INSTANCE_SETTINGS
from pipeline import layout
from pipeline.sandbox.server import SandboxServer
from pipeline.sandbox.settings import DEMO_API_KEY

DAY = "2026-11-01"
LAUNCH = """mutation ($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
RUN = """query ($id: ID!) { runOrError(runId: $id) {
  ... on Run { status startTime endTime tags { key value } } } }"""
DONE = {"SUCCESS", "FAILURE", "CANCELED"}


@pytest.fixture
def dagster(tmp_path: Path) -> Iterator[str]:
    """Sandbox, webserver and daemon on loopback over the demo connection; yields the webserver's URL."""
    inbox = tmp_path / "store" / layout.INTERACTIONS_INBOX
    inbox.mkdir(parents=True)
    shutil.copy(INTERACTIONS, inbox / INTERACTIONS.name)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_SETTINGS + QUICK_QUEUE)
    with dg.DagsterInstance.from_config(str(home)):
        pass  # creates the SQLite tables once, before the webserver and the daemon race to
    with SandboxServer(str(tmp_path / "braze-exports"), seed_data={"demo_users": 300}) as sandbox:
        env = {**demo_env(tmp_path, sandbox.url, home), "BRAZE_API_KEY": DEMO_API_KEY}
        port = free_port()
        webserver = start(["dagster-webserver", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"], env,
                          tmp_path / "webserver.log")  # fmt: skip
        daemon = start(["python", "-c", FAST_DAEMON, "run", "-w", "workspace.yaml"], env, tmp_path / "daemon.log")
        try:
            wait_for_http(f"http://127.0.0.1:{port}/server_info", webserver, timeout=180)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_group(daemon, webserver, grace=5)


def launch(url: str) -> str:
    params = {
        "selector": {**REPOSITORY, "jobName": "demo_sync"},
        "runConfigData": IN_PROCESS,
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": DAY}]},
    }
    deadline = time.monotonic() + 120
    launched = graphql(url, LAUNCH, {"params": params})["launchRun"]
    while launched["__typename"] == "PipelineNotFoundError" and time.monotonic() < deadline:
        time.sleep(1)  # the webserver answers before its code location has loaded
        launched = graphql(url, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def test_two_runs_of_one_store_never_overlap(dagster: str, tmp_path: Path) -> None:
    ids = [launch(dagster), launch(dagster)]
    deadline, runs = time.monotonic() + 400, {}
    while time.monotonic() < deadline:
        runs = {i: graphql(dagster, RUN, {"id": i})["runOrError"] for i in ids}
        if all(r["status"] in DONE for r in runs.values()):
            break
        time.sleep(1)
    assert all(r["status"] in DONE for r in runs.values()), runs
    for run in runs.values():
        assert {"key": "profilesync/store", "value": str(tmp_path / "store")} in run["tags"]
    first, second = sorted(runs.values(), key=lambda r: r["startTime"])
    assert second["startTime"] >= first["endTime"], (first, second)
    assert first["status"] == "SUCCESS", first
