"""The worked extension example (assets/extensions/normalized_emails.py) is wired in and used."""

from __future__ import annotations

import polars as pl
import pytest
from conftest import SandboxHandle
from import_harness import ImportHarness, step

from pipeline import layout
from pipeline.storage.parquet import read_parquet

DAY1, DAY2 = "2026-11-01", "2026-11-02"
GOAL = """\
- goal: loyal_users
  segment: Members
  identifiers:
    - {braze: external_id, profile: external_id}
    - {braze: email, profile: email}
  allow_create: true
  fields: [{braze: first_name, profile: first_name, strategy: set}]
"""


@pytest.fixture
def harness(sandbox: SandboxHandle, tmp_path, monkeypatch: pytest.MonkeyPatch) -> ImportHarness:
    monkeypatch.setenv("BRAZE_API_KEY", sandbox.api_key)
    sandbox.admin.define_segment("Members", {"all": []})
    return ImportHarness(sandbox, tmp_path)


def test_normalized_emails_runs_between_staging_and_the_delta(harness: ImportHarness) -> None:
    harness.sandbox.admin.upsert_users([{"external_id": "e1", "email": "Ana.Silva@Example.COM", "first_name": "Ana"}])
    connection = harness.connection(GOAL, name="demo")  # the example's connection and goal
    summary = harness.run(DAY1, connection)
    assert summary.success, summary.failures
    assert [s.key for s in summary.steps][:4] == [
        "demo/loyal_users/segment_export",
        "demo/loyal_users/staged_users",
        "demo/loyal_users/normalized_emails",
        "demo/loyal_users/user_changes",
    ]
    staged = read_parquet(harness.store, layout.staged_users("demo", "loyal_users", DAY1))
    normalized = read_parquet(harness.store, layout.step_file("demo", "loyal_users", "normalized_emails", DAY1,
                                                              "users.parquet"))  # fmt: skip
    assert staged["email"].to_list() == ["Ana.Silva@Example.COM"]
    assert normalized["email"].to_list() == ["ana.silva@example.com"]
    assert normalized["_row_hash"].to_list() != staged["_row_hash"].to_list()  # hashed afresh
    assert harness.profile(DAY1, "email", "ana.silva@example.com")["identifiers"]["external_id"] == ["e1"]

    harness.track({"external_id": "e1", "email": "ana.silva@example.com"})  # only the case changed in Braze
    second = harness.run(DAY2, connection)
    assert second.success, second.failures
    assert step(second, "user_changes")["changed"] == 0  # the delta reads the normalised copy


def test_other_connections_are_untouched(harness: ImportHarness) -> None:
    harness.sandbox.admin.upsert_users([{"external_id": "e1", "email": "Ana@Example.com"}])
    summary = harness.run(DAY1, harness.connection(GOAL, name="acme"))
    assert summary.success
    assert not any(s.key.endswith("normalized_emails") for s in summary.steps)
    assert harness.snapshot(DAY1).identifiers.filter(pl.col("kind") == "email")["value"].to_list() == [
        "Ana@Example.com"
    ]
