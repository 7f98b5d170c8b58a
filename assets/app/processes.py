"""Dagster's own processes on loopback (webserver, daemon): start, query, stop.

Used by the screenshot tool and by the tests that talk to the real webserver. `dagster-webserver`
and `dagster dev` spawn children (code servers, run workers), so each is started in a process
group of its own and stopped as a group.
"""

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

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


class DagsterProcessError(RuntimeError):
    """A Dagster process did not start, or its GraphQL API answered with errors."""


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


def wait_until_serving(base: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DagsterProcessError(f"{process.args[0]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(requests.ConnectionError):
            requests.get(f"{base}/server_info", timeout=1)
            return
        time.sleep(0.2)
    raise DagsterProcessError(f"nothing answered at {base} within {timeout} s; see {log}")


def stop_group(*processes: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM to each whole group; SIGKILL what is left after `grace`."""
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
    """The `data` of a GraphQL answer; errors raise."""
    response = requests.post(f"{base_url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30)
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise DagsterProcessError(f"GraphQL errors from {base_url}: {body['errors']}")
    return body["data"]
