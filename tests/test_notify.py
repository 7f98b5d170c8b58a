"""Run e-mails from the real run-status sensors: a connection job in process on the sandbox and
moto, the sensor evaluated on the finished run, the mail caught by aiosmtpd on loopback."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from conftest import SandboxHandle, free_port
from import_harness import ImportHarness

from assets.build import build_definitions
from pipeline import notify
from pipeline.mapping import Connection
from pipeline.runs import COUNTS, RunRecord, list_runs

DAY1, DAY2 = "2026-11-01", "2026-11-02"
SECRET = "smtp-pass-5b2e9d-not-real"
UI = "https://dagster.example.com/"
IMPORTS = """\
- goal: members
  segment: Members
  identifiers: [{braze: external_id, profile: external_id}]
  allow_create: true
  fields: [{braze: custom_attributes.points, profile: points, strategy: set}]
"""
EXPORTS = """\
- goal: vip_to_braze
  segment: vip
  identifiers: [{profile: external_id, braze: external_id}]
  allow_create: false
  fields: [{from: {property: points}, braze: loyalty_points}]
"""


class Inbox:
    """aiosmtpd handler and authenticator: keeps every message and every login it sees."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins: list[tuple[str, str]] = []
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, _class=EmailMessage, policy=email.policy.default)
        self.messages.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        self.logins.append((login, password))
        return AuthResult(success=password == SECRET, handled=False)  # not handled: aiosmtpd answers 535


def start_smtp(inbox: Inbox, **options: Any) -> Controller:
    inbox.port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port, authenticator=inbox, **options)
    controller.start()
    return controller


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """A plain SMTP server on loopback that takes AUTH without TLS, and the variables pointing at it."""
    made = Inbox()
    controller = start_smtp(made, auth_require_tls=False)
    monkeypatch.setenv("PROFILESYNC_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PROFILESYNC_SMTP_PORT", str(made.port))
    monkeypatch.setenv("PROFILESYNC_SMTP_STARTTLS", "false")
    monkeypatch.setenv("PROFILESYNC_SMTP_USER", "profilesync")
    monkeypatch.setenv("PROFILESYNC_SMTP_PASSWORD", SECRET)
    monkeypatch.setenv("PROFILESYNC_SMTP_FROM", "profilesync@example.com")
    monkeypatch.setenv("PROFILESYNC_UI_URL", UI)
    try:
        yield made
    finally:
        controller.stop()


@pytest.fixture
def harness(sandbox: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ImportHarness:
    monkeypatch.setenv("BRAZE_API_KEY", sandbox.api_key)
    sandbox.admin.define_segment("Members", {"all": []})
    sandbox.admin.upsert_users(
        [
            {"external_id": "u1", "custom_attributes": {"points": 150}},
            {"external_id": "u2", "custom_attributes": {"points": 50}},
            {"external_id": "u3", "custom_attributes": {"points": 200}},
        ]
    )
    return ImportHarness(sandbox, tmp_path)


def connection(harness: ImportHarness, on: str, segment: str = "Members") -> Connection:
    extra = f'notify: {{emails: [data@example.com, crm@example.com], on: {on}}}\nsegments: {{vip: "points >= 100"}}\n'
    return harness.connection(IMPORTS.replace("Members", segment), extra=extra, exports=EXPORTS)


def run_job(harness: ImportHarness, conn: Connection, day: str) -> tuple[dg.Definitions, dg.ExecuteInProcessResult]:
    defs = build_definitions([conn])
    result = defs.resolve_job_def(f"{conn.name}_sync").execute_in_process(
        partition_key=day, instance=harness.instance, raise_on_error=False
    )
    return defs, result


def evaluate(defs: dg.Definitions, harness: ImportHarness, result: dg.ExecuteInProcessResult) -> None:
    """The sensor the daemon would run for this run's status, on exactly what the daemon passes it."""
    name = f"acme_on_{'success' if result.success else 'failure'}"
    event = result.get_run_success_event() if result.success else result.get_run_failure_event()
    context = dg.build_run_status_sensor_context(
        sensor_name=name, dagster_instance=harness.instance, dagster_run=result.dagster_run, dagster_event=event
    )
    defs.resolve_sensor_def(name)(context)


def tick(defs: dg.Definitions, harness: ImportHarness, name: str, cursor: str | None = None) -> str | None:
    """One daemon tick of the sensor: it picks up the runs finished since `cursor`, by job name."""
    context = dg.build_sensor_context(
        instance=harness.instance, repository_def=defs.get_repository_def(), cursor=cursor
    )
    return defs.resolve_sensor_def(name).evaluate_tick(context).cursor


def everything_written(harness: ImportHarness, result: dg.ExecuteInProcessResult, inbox: Inbox) -> str:
    """Mail, run logs and every object in the store, as one text to search for the password."""
    store = harness.store
    objects = [store.read_bytes(o.key).decode("utf-8", "replace") for o in store.list()]
    logs = [entry.message or "" for entry in harness.instance.all_logs(result.run_id)]
    return "\n".join([*(m.as_string() for m in inbox.messages), *objects, *logs])


def test_every_run_mails_a_success_once_with_counts_goals_day_and_link(
    harness: ImportHarness, inbox: Inbox, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = connection(harness, "every_run")
    cursor = tick(build_definitions([conn]), harness, "acme_on_success")  # the sensor was on before the run
    defs, result = run_job(harness, conn, DAY1)
    assert result.success
    evaluate(defs, harness, result)
    tick(defs, harness, "acme_on_success", cursor)  # the daemon's tick sees the same run: no second mail

    (record,) = list_runs(harness.store, "acme")
    assert record.status == "SUCCESS" and record.day == DAY1 and record.job == "acme_sync"
    assert record.goals == ["acme/members", "acme/vip_to_braze"]
    assert {k: record.counts[k] for k in COUNTS} == {
        "created": 3, "updated": 0, "unchanged": 0, "quarantined": 0, "sent": 2, "rejected": 0, "data_points": 2,
    }  # fmt: skip
    assert record.goal_counts["acme/members"]["exported"] == 3
    assert record.url == f"https://dagster.example.com/runs/{result.run_id}"

    (mail,) = inbox.messages
    assert inbox.envelopes == [("profilesync@example.com", ["data@example.com", "crm@example.com"])]
    assert mail["Subject"] == "[profilesync] acme 2026-11-01 succeeded: 3 created, 0 updated, 2 sent"
    text = mail.get_content()
    assert "Connection acme, day 2026-11-01: succeeded." in text
    assert "Goals:    acme/members, acme/vip_to_braze" in text
    assert f"Run:      https://dagster.example.com/runs/{result.run_id}" in text
    for label, value in [("profiles created", 3), ("users sent", 2), ("users rejected", 0), ("data points", 2)]:
        assert any(line.startswith(label) and line.endswith(f" {value}") for line in text.splitlines()), label

    assert inbox.logins == [("profilesync", SECRET)]  # the password was used, and shown nowhere:
    assert SECRET not in everything_written(harness, result, inbox) + "".join(capsys.readouterr())


def test_failure_mails_the_failing_step_and_on_failure_keeps_success_quiet(
    harness: ImportHarness, inbox: Inbox
) -> None:
    defs, ok = run_job(harness, connection(harness, "failure"), DAY1)
    assert ok.success
    evaluate(defs, harness, ok)
    assert inbox.messages == []  # on: failure, and the run succeeded

    lapsed = connection(harness, "failure", segment="Lapsed users")
    cursor = tick(build_definitions([lapsed]), harness, "acme_on_failure")
    defs, failed = run_job(harness, lapsed, DAY2)
    assert not failed.success
    tick(defs, harness, "acme_on_failure", cursor)  # as the daemon evaluates it: runs since the cursor

    (mail,) = inbox.messages
    assert mail["Subject"] == "[profilesync] acme 2026-11-02 failed: acme/members/segment_export"
    text = mail.get_content()
    assert "Failed step: acme/members/segment_export" in text
    assert "SegmentNotFound: no Braze segment has the id or name 'Lapsed users'" in text
    assert f"https://dagster.example.com/runs/{failed.run_id}" in text

    newest, oldest = list_runs(harness.store, "acme")
    assert (newest.run_id, newest.status, oldest.run_id, oldest.status) == (
        failed.run_id, "FAILURE", ok.run_id, "SUCCESS",
    )  # fmt: skip
    assert newest.failed_step == "acme/members/segment_export" and "Lapsed users" in (newest.error or "")
    assert SECRET not in everything_written(harness, failed, inbox)


def test_without_mail_settings_the_run_is_recorded_and_a_warning_names_the_variables(
    harness: ImportHarness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PROFILESYNC_SMTP_HOST", raising=False)
    defs, failed = run_job(harness, connection(harness, "failure", segment="Lapsed users"), DAY1)
    assert not failed.success
    evaluate(defs, harness, failed)  # does not raise
    (record,) = list_runs(harness.store, "acme")
    assert record.status == "FAILURE" and record.url is None  # no PROFILESYNC_UI_URL: no link
    logged = capsys.readouterr().err  # the sensor's log goes to Dagster's console handler
    assert "not mailing data@example.com, crm@example.com" in logged and "set PROFILESYNC_SMTP_HOST" in logged


# -- settings and the SMTP conversation, without a run ------------------------------------------


def record(**changes: Any) -> RunRecord:
    fields = {
        "run_id": "6464af0c-f3dc-4e98-bdd1-0b8834cfa28c", "connection": "demo", "job": "demo_sync",
        "day": "2026-11-02", "status": "SUCCESS", "started_at": "2026-11-02T03:00:01.000000Z",
        "ended_at": "2026-11-02T03:04:12.500000Z", "goals": ["demo/loyal_users", "demo/vip_to_braze"],
        "counts": {"created": 476, "updated": 1532, "unchanged": 10210, "quarantined": 3, "sent": 185,
                   "rejected": 2, "data_points": 740},
        "url": "https://dagster.example.com/runs/6464af0c-f3dc-4e98-bdd1-0b8834cfa28c",
    }  # fmt: skip
    return RunRecord(**{**fields, **changes})


def test_settings_from_the_environment_and_their_defaults() -> None:
    assert notify.SmtpSettings.from_env({}) is None  # no host: mail is off
    settings = notify.SmtpSettings.from_env({"PROFILESYNC_SMTP_HOST": "smtp.example.com"})
    assert settings is not None
    assert (settings.port, settings.starttls, settings.user, settings.password) == (587, True, None, None)
    assert settings.sender.startswith("profilesync@")
    plain = notify.SmtpSettings.from_env({"PROFILESYNC_SMTP_HOST": "relay", "PROFILESYNC_SMTP_STARTTLS": "false"})
    assert plain is not None and (plain.port, plain.starttls) == (25, False)
    full = notify.SmtpSettings.from_env(
        {"PROFILESYNC_SMTP_HOST": "smtp.example.com", "PROFILESYNC_SMTP_PORT": "2525",
         "PROFILESYNC_SMTP_USER": "apikey", "PROFILESYNC_SMTP_PASSWORD": SECRET,
         "PROFILESYNC_SMTP_STARTTLS": "yes", "PROFILESYNC_SMTP_FROM": "cdp@example.com"}
    )  # fmt: skip
    assert full is not None and (full.port, full.user, full.password, full.sender) == (
        2525, "apikey", SECRET, "cdp@example.com",
    )  # fmt: skip
    assert SECRET not in repr(full)
    with pytest.raises(notify.NotifyError, match=r"PROFILESYNC_SMTP_STARTTLS='maybe'.*true or false"):
        notify.SmtpSettings.from_env({"PROFILESYNC_SMTP_HOST": "h", "PROFILESYNC_SMTP_STARTTLS": "maybe"})
    with pytest.raises(notify.NotifyError, match="PROFILESYNC_SMTP_PORT='smtp'"):
        notify.SmtpSettings.from_env({"PROFILESYNC_SMTP_HOST": "h", "PROFILESYNC_SMTP_PORT": "smtp"})
    with pytest.raises(notify.NotifyError, match="in clear") as refused:
        notify.SmtpSettings.from_env(
            {"PROFILESYNC_SMTP_HOST": "smtp.example.com", "PROFILESYNC_SMTP_STARTTLS": "false",
             "PROFILESYNC_SMTP_USER": "u", "PROFILESYNC_SMTP_PASSWORD": SECRET}
        )  # fmt: skip
    assert SECRET not in str(refused.value)


def test_compose_a_success_and_a_failure() -> None:
    ok = notify.compose(record())
    assert ok["Subject"] == "[profilesync] demo 2026-11-02 succeeded: 476 created, 1,532 updated, 185 sent"
    text = ok.get_content()
    assert "Ended:    2026-11-02 03:04:12 UTC (4 min 12 s)" in text
    assert "profiles unchanged        10,210" in text
    failed = notify.compose(
        record(status="FAILURE", failed_step="demo/loyal_users/staged_users", error="ValueError: bad\nsecond line")
    )
    assert failed["Subject"] == "[profilesync] demo 2026-11-02 failed: demo/loyal_users/staged_users"
    assert "FAILED.\n\nFailed step: demo/loyal_users/staged_users\nError:\n  ValueError: bad\n  second line\n" in (
        failed.get_content()
    )


def test_the_mail_counts_echoes_apart_from_changes() -> None:
    counts = {"added": 0, "seen": 706_163, "changed": 20_000, "echoes": 686_163, "removed": 0}
    text = notify.compose(record(goal_counts={"demo/loyal_users": counts})).get_content()
    assert (
        "  demo/loyal_users: added 0, 706,163 seen, 20,000 changed, 686,163 echoes of our own pushes, removed 0\n"
        in text
    )


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, made on the spot."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_starttls_then_login_then_a_refused_password_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # what ssl.create_default_context() trusts
    inbox = Inbox()
    controller = start_smtp(inbox, tls_context=server_tls, require_starttls=True)
    try:
        env = {"PROFILESYNC_SMTP_HOST": "127.0.0.1", "PROFILESYNC_SMTP_PORT": str(inbox.port),
               "PROFILESYNC_SMTP_USER": "profilesync", "PROFILESYNC_SMTP_PASSWORD": SECRET,
               "PROFILESYNC_SMTP_FROM": "cdp@example.com"}  # fmt: skip
        settings = notify.SmtpSettings.from_env(env)
        assert settings is not None and settings.starttls
        notify.send(settings, ["data@example.com"], notify.compose(record()))
        assert inbox.logins == [("profilesync", SECRET)] and len(inbox.messages) == 1
        assert inbox.messages[0]["To"] == "data@example.com"

        wrong = notify.SmtpSettings.from_env({**env, "PROFILESYNC_SMTP_PASSWORD": "wrong-" + SECRET})
        assert wrong is not None
        with pytest.raises(notify.NotifyError, match=r"could not mail data@example.com through 127\.0\.0\.1") as exc:
            notify.send(wrong, ["data@example.com"], notify.compose(record()))
        assert SECRET not in str(exc.value) and exc.value.__cause__ is None
    finally:
        controller.stop()
