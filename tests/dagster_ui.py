"""Dagster's own processes on loopback for tests: the webserver (or daemon), and its GraphQL API."""

from __future__ import annotations

import os
from pathlib import Path

from assets.app.processes import BIN, REPO, graphql, start, stop_group

__all__ = ["BIN", "REPO", "dagster_home", "demo_env", "graphql", "key", "start", "stop_group"]

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


def key(path: list[str]) -> str:
    return "/".join(path)
