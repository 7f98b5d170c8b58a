"""`make demo`: the main job on embedded defaults, from nothing to a summary.

A local folder stands in for S3 and the sandbox for Braze, started in this process on a
free loopback port with deterministic demo users, so the demo needs no credentials and
no network.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.braze import BrazeClient
from pipeline.check import run_checks
from pipeline.console import console, print_checks
from pipeline.sandbox.server import SandboxServer
from pipeline.sandbox.settings import DEMO_API_KEY

DEMO_USERS = 10_000


def demo_environment(folder: Path, sandbox_url: str) -> dict[str, str]:
    """The variables the demo connection file (mappings/demo.yaml) reads."""
    return {
        "BRAZE_REST_ENDPOINT": sandbox_url,
        "BRAZE_API_KEY": DEMO_API_KEY,
        "PROFILESYNC_STORAGE_ROOT": str(folder / "store"),
        "PROFILESYNC_BRAZE_EXPORTS": str(folder / "braze-exports"),
    }


def run_demo(folder: Path, users: int = DEMO_USERS) -> bool:
    """Start the sandbox, test the connection; True when everything passed."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    with SandboxServer(str(folder / "braze-exports"), seed_data={"demo_users": users}) as server:
        console.print(f"Braze sandbox with {users:,} demo users at {server.url}")
        env = demo_environment(folder, server.url)
        os.environ.update(env)
        with BrazeClient(server.url, max_retries=2) as client:
            results = run_checks(
                client,
                {"Profile store": env["PROFILESYNC_STORAGE_ROOT"], "Export bucket": env["PROFILESYNC_BRAZE_EXPORTS"]},
            )
        print_checks(results)
        return not any(r.status == "FAIL" for r in results)
