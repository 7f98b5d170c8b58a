"""The import through the command line: validate, run, profiles show."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import SandboxHandle, make_bucket, run_cli

CONNECTION = """\
connection: shop
schedule: "0 3 * * *"
start_date: "2026-11-01"
braze: {{rest_endpoint: "{url}", api_key: "${{BRAZE_API_KEY}}", export_quiet_period_s: 1, export_poll_interval_s: 1}}
storage: {{root: "s3://{bucket}/p", braze_exports: "s3://{exports}"}}
import:
  - goal: buyers
    segment: Buyers
    identifiers: [{{braze: external_id, profile: external_id}}]
    allow_create: true
    fields:
      - {{braze: first_name, profile: first_name, strategy: set}}
      - {{braze: custom_attributes.spent, profile: spent, strategy: {strategy}}}
"""


def test_validate_run_and_show(sandbox: SandboxHandle, tmp_path: Path) -> None:
    sandbox.admin.define_segment("Buyers", {"all": []})
    sandbox.admin.upsert_users([{"external_id": "b1", "first_name": "Bo", "custom_attributes": {"spent": 42}}])
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    text = CONNECTION.format(url=sandbox.url, bucket=make_bucket(), exports=sandbox.bucket, strategy="summ")
    (mappings / "shop.yaml").write_text(text)
    env = {
        "PROFILESYNC_MAPPINGS": str(mappings),
        "BRAZE_API_KEY": sandbox.api_key,
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "COLUMNS": "200",
    }

    invalid = run_cli("validate", env=env)
    assert invalid.returncode == 1
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "summ" in row)
    column = text.splitlines()[line - 1].index("summ") + 1
    assert f"{mappings / 'shop.yaml'}:{line}:{column}: unknown strategy 'summ': did you mean 'sum'?" in invalid.stderr

    (mappings / "shop.yaml").write_text(text.replace("summ", "sum"))
    assert run_cli("validate", env=env).returncode == 0

    ran = run_cli("run", "--date", "2026-11-01", env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "shop/buyers/segment_export" in ran.stdout and "succeeded" in ran.stdout
    runs = list((tmp_path / "dagster").rglob("*.db"))
    assert runs, "the run is recorded in the Dagster instance"

    shown = run_cli("profiles", "show", "external_id=b1", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    profile = json.loads(shown.stdout)
    assert profile["day"] == "2026-11-01"
    assert profile["properties"] == {"first_name": "Bo", "spent": 42}
    assert profile["identifiers"] == {"external_id": ["b1"]}

    sandbox.admin.upsert_users([{"external_id": "b2", "first_name": "Cy"}])
    refreshed = run_cli("run", "--date", "2026-11-01", "--refresh", env=env)
    assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
    assert "rows 2, files 1, completion callback, reused False" in refreshed.stdout
    assert run_cli("profiles", "show", "external_id=b2", env=env).returncode == 0  # the new export was staged

    missing = run_cli("profiles", "show", "external_id=nobody", env=env)
    assert missing.returncode == 1 and "no profile has external_id=nobody" in missing.stderr

    outside = run_cli("run", "--date", "2026-10-01", env=env)
    assert outside.returncode != 0 and "outside connection shop's partitions" in outside.stdout + outside.stderr
