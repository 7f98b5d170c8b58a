"""The Braze API key and the AWS secret never reach a log line, an exception or a file."""

from __future__ import annotations

import logging
import os
import traceback
import uuid
from pathlib import Path

import pytest
from conftest import SandboxHandle, free_port, run_cli

from pipeline.braze.errors import PERMISSION_BY_ENDPOINT, BrazeError
from pipeline.storage import open_store

SECRET_KEY = f"sk-profilesync-{uuid.uuid4().hex}"
ALL_PERMISSIONS = set(PERMISSION_BY_ENDPOINT.values())


def exception_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc)


def files_containing(folder: Path, secret: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_client_failures_never_show_the_key(
    sandbox: SandboxHandle, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    sandbox.admin.add_keys([{"name": "secret-holder", "key": SECRET_KEY, "permissions": ["users.track"]}])
    caplog.set_level(logging.DEBUG)  # urllib3 and requests log every request at DEBUG
    texts: list[str] = []
    with sandbox.client(api_key=SECRET_KEY, max_retries=1) as client:
        texts.append(repr(client))
        attempts = [
            lambda: client.get("/segments/list"),  # permission denied
            lambda: client.post("/users/track", {"attributes": [{"external_id": "u" * 2000}]}),  # invalid
            lambda: client.track(attributes=[{"external_id": "u1", "email": "not-an-email"}]),
            lambda: client.track(attributes=[{"external_id": "u2", "first_name": "A"}]),  # 5xx, retried
        ]
        for number, attempt in enumerate(attempts):
            if number == 3:
                sandbox.admin.set_faults(error_rate_5xx=1.0)
            try:
                texts.append(repr(attempt()))
            except BrazeError as exc:
                texts.append(exception_text(exc))
        sandbox.admin.clear_faults()
        texts.append(repr(client.stats))
    texts += [record.getMessage() for record in caplog.records]
    texts.append(str(sandbox.admin.requests()))  # the sandbox's own log names the key, never shows it
    assert "BrazePermissionError" in texts[1] and "EXTERNAL_USER_ID_TOO_LARGE" in texts[2]
    assert "EMAIL_BAD_FORMAT" in texts[3] and "BrazeServerError" in texts[4]
    assert not [t for t in texts if SECRET_KEY in t]
    assert "secret-holder" in texts[-1]


def test_cli_output_and_written_files_hold_no_secret(sandbox: SandboxHandle, tmp_path: Path) -> None:
    sandbox.admin.add_keys([{"name": "secret-holder", "key": SECRET_KEY, "permissions": ["segments.list"]}])
    store = tmp_path / "store"
    env = {
        "BRAZE_REST_ENDPOINT": sandbox.url,
        "BRAZE_API_KEY": SECRET_KEY,
        "PROFILESYNC_STORAGE_ROOT": str(store),
        "PROFILESYNC_BRAZE_EXPORTS": f"s3://{sandbox.bucket}",
    }
    aws_secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    done = run_cli("check", env=env, timeout=60)
    assert done.returncode == 1  # most permissions are missing: failures are reported...
    assert "'users.track' permission" in done.stdout
    output = done.stdout + done.stderr
    assert SECRET_KEY not in output and aws_secret not in output  # ...without the secrets
    assert files_containing(tmp_path, SECRET_KEY) == []
    assert not [o.key for o in open_store(f"s3://{sandbox.bucket}").list() if SECRET_KEY.encode() in
                open_store(f"s3://{sandbox.bucket}").read_bytes(o.key)]


def test_a_dagster_run_keeps_the_key_out_of_its_event_log_and_store(sandbox: SandboxHandle, tmp_path: Path) -> None:
    sandbox.admin.add_keys([{"name": "secret-holder", "key": SECRET_KEY, "permissions": sorted(ALL_PERMISSIONS)}])
    sandbox.admin.define_segment("Members", {"all": []})
    sandbox.admin.upsert_users([{"external_id": "s1", "first_name": "Sam", "custom_attributes": {"points": 3}}])
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "secret.yaml").write_text(
        f"""\
connection: secret
schedule: "0 3 * * *"
start_date: "2026-11-01"
braze: {{rest_endpoint: "{sandbox.url}", api_key: "${{BRAZE_API_KEY}}", export_quiet_period_s: 1}}
storage: {{root: "{tmp_path / 'store'}", braze_exports: "s3://{sandbox.bucket}"}}
import:
  - goal: members
    segment: Members
    identifiers: [{{braze: external_id, profile: external_id}}]
    allow_create: true
    fields: [{{braze: custom_attributes.points, profile: points, strategy: sum}}]
segments: {{all: "points >= 0"}}
export:
  - goal: back
    segment: all
    identifiers: [{{profile: external_id, braze: external_id}}]
    fields: [{{from: {{property: points}}, braze: points_copy}}]
"""
    )
    env = {
        "PROFILESYNC_MAPPINGS": str(mappings),
        "BRAZE_API_KEY": SECRET_KEY,
        "DAGSTER_HOME": str(tmp_path / "dagster"),
    }
    done = run_cli("run", "--date", "2026-11-01", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "secret/back/braze_push" in done.stdout  # the run really talked to Braze with the key
    # Off a terminal (here a pipe) long work reports plain lines, the counts in words, no bars.
    assert "secret/members staging: 1/1 export files parsed" in done.stderr, done.stderr
    assert "braze_push secret/back 2026-11-01: 1/1 users sent in 1 batches" in done.stderr, done.stderr
    assert "complete (Braze's callback)" in done.stderr or "complete (segment size)" in done.stderr
    assert "━" not in done.stderr and "\x1b[" not in done.stderr
    assert SECRET_KEY not in done.stdout + done.stderr
    assert files_containing(tmp_path, SECRET_KEY) == []  # event log, run storage, profile store


def broken_keys() -> dict[str, tuple[str, list[str]]]:
    """Keys a copy-paste can produce, and the pieces of each that must never be shown."""
    first, second = f"sk-{uuid.uuid4().hex}", uuid.uuid4().hex
    injected = f"X-Injected-{second}: yes"
    return {
        "line break and a header": (f"{first}\r\n{injected}", [first, second]),
        "not latin-1": (f"{first}\u2603{second}", [first, second]),
    }


BROKEN = broken_keys()
KEY_MESSAGE = "BRAZE_API_KEY holds characters a key cannot have"


@pytest.mark.parametrize("kind", BROKEN)
def test_a_key_a_header_cannot_hold_is_refused_without_being_shown(kind: str, tmp_path: Path) -> None:
    key, pieces = BROKEN[kind]
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "shop.yaml").write_text(
        f"""\
connection: shop
schedule: "0 3 * * *"
start_date: "2026-11-01"
braze: {{rest_endpoint: "http://127.0.0.1:{free_port()}", api_key: "${{BRAZE_API_KEY}}"}}
storage: {{root: "{tmp_path / 'store'}", braze_exports: "{tmp_path / 'exports'}"}}
"""
    )
    env = {
        "BRAZE_API_KEY": key,
        "BRAZE_REST_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        "PROFILESYNC_MAPPINGS": str(mappings),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
    }
    for args in (["check"], ["check", "--connection", "shop"], ["run", "--date", "2026-11-02"], ["validate"]):
        done = run_cli(*args, env=env)
        output = done.stdout + done.stderr
        assert done.returncode != 0 and KEY_MESSAGE in output, (args, output)
        assert "Traceback" not in output, (args, output)
        assert [p for p in pieces if p in output] == [], (args, output)
    assert [p for piece in pieces for p in files_containing(tmp_path, piece)] == []


@pytest.mark.parametrize("kind", BROKEN)
def test_a_dagster_run_with_such_a_key_fails_without_showing_it(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the daemon runs a schedule: straight into Dagster, without the CLI's checks first."""
    from assets.app.run import dagster_instance, run_day
    from pipeline.mapping import load_connection_file
    from pipeline.runs import list_runs

    key, pieces = BROKEN[kind]
    (tmp_path / "shop.yaml").write_text(
        f"""\
connection: shop
schedule: "0 3 * * *"
start_date: "2026-11-01"
braze: {{rest_endpoint: "http://127.0.0.1:{free_port()}", api_key: "${{BRAZE_API_KEY}}"}}
storage: {{root: "{tmp_path / 'store'}", braze_exports: "{tmp_path / 'exports'}"}}
import:
  - goal: buyers
    segment: Buyers
    identifiers: [{{braze: external_id, profile: external_id}}]
    allow_create: true
    fields: [{{braze: first_name, profile: first_name, strategy: set}}]
"""
    )
    monkeypatch.setenv("BRAZE_API_KEY", key)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    connection = load_connection_file(tmp_path / "shop.yaml")
    (summary,) = run_day("2026-11-02", [connection], dagster_instance())
    assert not summary.success
    assert [f for f in summary.failures if KEY_MESSAGE in f], summary.failures
    texts = [*summary.failures, *(str(r.as_dict()) for r in list_runs(open_store(str(tmp_path / "store"))))]
    assert [t for t in texts for p in pieces if p in t] == []
    assert [p for piece in pieces for p in files_containing(tmp_path, piece)] == []  # event log, compute logs
    assert list((tmp_path / "dagster").rglob("*.db")), "the run is recorded in the Dagster instance"
