"""Shared pieces of the fault matrix: a small goal, what reached the sandbox, what the store holds."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import SandboxHandle
from import_harness import ImportHarness

from pipeline import layout
from pipeline.push import CHANGES_SCHEMA, canonical

DAY = "2026-11-01"
C, G = "acme", "vip"  # the export goal the push cells push for
USERS, TRACK = 300, "/users/track"
GOAL = """\
- goal: plain
  segment: Everyone
  identifiers: [{braze: external_id, profile: external_id}]
  allow_create: true
  fields: [{braze: first_name, profile: first_name, strategy: set}]
"""


def wait(timeout: float, request_timeout: float = 10) -> str:
    """Braze settings short enough for a test: 1 s polls, `timeout` s for an export."""
    return (
        f"export_quiet_period_s: 1, export_poll_interval_s: 1, export_timeout_s: {timeout}, "
        f"request_timeout_s: {request_timeout}"
    )


def seed(harness: ImportHarness, count: int) -> None:
    """`count` users in segment Everyone (tracked, so Braze knows its size)."""
    harness.sandbox.admin.upsert_users([{"external_id": f"u{n}", "first_name": f"N{n}"} for n in range(count)])
    harness.sandbox.admin.define_segment("Everyone", {"all": []}, analytics_tracking=True)


def calls(harness: ImportHarness, path: str, since: int = 0) -> list[dict[str, Any]]:
    """The requests to `path` that reached the sandbox after sequence number `since`."""
    return [r for r in harness.sandbox.admin.requests(since) if r["path"] == path]


def nothing_published(harness: ImportHarness, day: str = DAY) -> None:
    """No manifest of the day's export and no snapshot: a failed day leaves nothing half written."""
    assert not harness.store.exists(layout.export_manifest("acme", "plain", day))
    assert not harness.store.exists(layout.profiles_dir(day) + "manifest.json")


def make_harness(sandbox: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ImportHarness:
    """An import harness on the sandbox, 10 users per export file (each test module's `harness` fixture)."""
    monkeypatch.setenv("BRAZE_API_KEY", sandbox.api_key)
    sandbox.admin.configure(users_per_file=10)
    return ImportHarness(sandbox, tmp_path)


def payload() -> pl.DataFrame:
    rows = [(canonical({"external_id": f"u{i:03d}"}), "tier", canonical("gold"), None, f"p{i}") for i in range(USERS)]
    return pl.DataFrame(rows, schema=CHANGES_SCHEMA, orient="row")


def applied(sandbox) -> Counter[str]:
    """How often each user was applied: /users/track requests the sandbox handled (2xx, answered or not)."""
    return Counter(
        obj["external_id"]
        for entry in sandbox.admin.requests()
        if entry["path"] == TRACK and entry["status"] == 201
        for obj in entry["body"]["attributes"]
    )
