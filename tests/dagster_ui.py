"""Dagster's own processes on loopback for tests: the webserver (or daemon), and its GraphQL API."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LOCATION = "profilesync"
REPOSITORY = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"}


def dagster_home(folder: Path, extra: str = "") -> Path:
    """An instance folder whose dagster.yaml turns telemetry off (and adds `extra`)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dagster.yaml").write_text("telemetry:\n  enabled: false\n" + extra)
    return folder


def demo_env(folder: Path, sandbox_url: str, home: Path) -> dict[str, str]:
    """The demo connection's variables, without the Braze key: loading must not need it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRAZE_", "PROFILESYNC_", "DAGSTER_"))}
    env.update(
        BRAZE_REST_ENDPOINT=sandbox_url,
        PROFILESYNC_STORAGE_ROOT=str(folder / "store"),
        PROFILESYNC_BRAZE_EXPORTS=str(folder / "braze-exports"),
        DAGSTER_HOME=str(home),
    )
    return env


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A Dagster CLI from the repository root, in its own process group, output to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(BIN / command[0]), *command[1:]],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_group(*processes: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM to each whole group (code servers, run workers); SIGKILL what is left after `grace`."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_group_alive(p) for p in processes):
        time.sleep(0.1)
    for process in processes:
        if _group_alive(process):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _group_alive(process: subprocess.Popen) -> bool:
    """Whether any process of the group still runs; zombies waiting for a reaper do not count."""
    process.poll()  # reap the leader
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: any member, zombie or not
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            state, _, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
            if int(group) == process.pid and state != "Z":
                return True
    return False


def graphql(base_url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = requests.post(f"{base_url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30)
    response.raise_for_status()
    body = response.json()
    assert not body.get("errors"), body["errors"]
    return body["data"]


def key(path: list[str]) -> str:
    return "/".join(path)
