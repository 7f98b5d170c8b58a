"""`profilesync check` against the sandbox and moto's S3 server."""

from __future__ import annotations

from pathlib import Path

from conftest import SandboxHandle, make_bucket, run_cli

from pipeline.check import run_checks

PERMISSIONS = [
    "users.track",
    "users.export.segment",
    "segments.list",
    "segments.details",
    "segments.data_series",
    "campaigns.list",
    "campaigns.details",
]


def test_every_permission_granted_and_buckets_listed(sandbox: SandboxHandle) -> None:
    profiles, exports = make_bucket(), sandbox.bucket
    with sandbox.client() as client:
        results = run_checks(client, {"Profile store": f"s3://{profiles}/root", "Export bucket": f"s3://{exports}"})
    by_name = {r.name: r for r in results}
    assert [by_name[f"Braze permission {p}"].status for p in PERMISSIONS] == ["OK"] * len(PERMISSIONS)
    from pipeline.storage.s3 import list_buckets

    assert by_name["S3 buckets"].status == "OK"
    assert {profiles, exports} <= set(list_buckets())
    assert by_name["S3 buckets"].detail.startswith(f"{len(list_buckets())} listable: ")
    for label in ("Profile store", "Export bucket"):
        assert by_name[f"{label} readable"].status == "OK"
        assert by_name[f"{label} writable"].status == "OK"
    # The probes changed nothing: no user was created, no export started, no probe object left.
    assert sandbox.admin.user_count() == 0
    assert sandbox.admin.exports() == []
    assert list(sandbox.store().list("")) == []


def test_denied_permissions_fail_with_the_fix(sandbox: SandboxHandle) -> None:
    sandbox.admin.add_keys([{"name": "narrow", "key": "narrow-key-1", "permissions": ["segments.list", "users.track"]}])
    with sandbox.client(api_key="narrow-key-1") as client:
        results = {r.name: r for r in run_checks(client, {})}
    granted = {p for p in PERMISSIONS if results[f"Braze permission {p}"].status == "OK"}
    assert granted == {"segments.list", "users.track"}
    denied = results["Braze permission campaigns.details"]
    assert denied.status == "FAIL"
    assert "'campaigns.details' permission" in denied.fix and "new REST API key" in denied.fix


def test_unknown_key_is_reported_once(sandbox: SandboxHandle) -> None:
    with sandbox.client(api_key="not-a-key") as client:
        results = run_checks(client, {})
    braze = [r for r in results if r.name.startswith("Braze")]
    assert [(r.name, r.status) for r in braze] == [("Braze API key", "FAIL")]
    assert "BRAZE_API_KEY" in braze[0].fix


def test_missing_bucket_fails_read_and_write(sandbox: SandboxHandle) -> None:
    results = {r.name: r for r in run_checks(None, {"Profile store": "s3://no-such-bucket-xyz/p"})}
    assert results["Profile store readable"].status == "FAIL"
    assert results["Profile store writable"].status == "FAIL"
    assert "create the bucket" in results["Profile store writable"].detail


def test_cli_prints_table_and_exit_code(sandbox: SandboxHandle, tmp_path: Path) -> None:
    env = {
        "BRAZE_REST_ENDPOINT": sandbox.url,
        "BRAZE_API_KEY": sandbox.api_key,
        "PROFILESYNC_STORAGE_ROOT": str(tmp_path / "store"),
        "PROFILESYNC_BRAZE_EXPORTS": f"s3://{sandbox.bucket}",
    }
    passed = run_cli("check", env=env)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Braze permission users.export.segment" in passed.stdout and "all checks passed" in passed.stdout

    failed = run_cli("check", env={**env, "PROFILESYNC_BRAZE_EXPORTS": "s3://no-such-bucket-xyz"})
    assert failed.returncode == 1
    assert "FAIL" in failed.stdout and "create the bucket" in failed.stdout


def test_cli_checks_a_connection_file(sandbox: SandboxHandle, tmp_path: Path) -> None:
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "shop.yaml").write_text(
        f"""\
connection: shop
schedule: "0 3 * * *"
start_date: "2026-11-01"
braze: {{rest_endpoint: "{sandbox.url}", api_key: "${{SHOP_BRAZE_KEY}}"}}
storage: {{root: "{tmp_path / 'store'}", braze_exports: "s3://{sandbox.bucket}"}}
"""
    )
    env = {"PROFILESYNC_MAPPINGS": str(mappings), "SHOP_BRAZE_KEY": sandbox.api_key}
    passed = run_cli("check", "--connection", "shop", env=env)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Braze permission campaigns.details" in passed.stdout and "Export bucket writable" in passed.stdout

    unset = run_cli("check", "--connection", "shop", env={**env, "SHOP_BRAZE_KEY": ""})
    assert unset.returncode == 1 and "SHOP_BRAZE_KEY" in unset.stdout

    unknown = run_cli("check", "--connection", "nope", env=env)
    assert unknown.returncode == 1 and "use one of: shop" in unknown.stdout
