"""Run e-mails: the settings from the environment, the message, and plain `smtplib` to send it.

The password is kept out of every repr, log line, exception and message this module makes.
"""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage

from pipeline.runs import COUNTS, RunRecord

VARIABLES = (
    "PROFILESYNC_SMTP_HOST",
    "PROFILESYNC_SMTP_PORT",
    "PROFILESYNC_SMTP_USER",
    "PROFILESYNC_SMTP_PASSWORD",
    "PROFILESYNC_SMTP_STARTTLS",
    "PROFILESYNC_SMTP_FROM",
)
LOOPBACK = {"localhost", "127.0.0.1", "::1"}
LABELS = {
    "created": "profiles created",
    "updated": "profiles updated",
    "unchanged": "profiles unchanged",
    "quarantined": "quarantined",
    "sent": "users sent",
    "rejected": "users rejected",
    "data_points": "data points",
}


class NotifyError(RuntimeError):
    """Settings that cannot work, or a mail the server did not take; the message names the fix."""


def _flag(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise NotifyError(f"{name}={text!r} is not a boolean; write true or false")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    starttls: bool = True
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SmtpSettings | None:
        """The settings in `PROFILESYNC_SMTP_*`; None when no host is set (mail is off).

        Port defaults to 587 with STARTTLS (the default) and 25 without; the sender to
        `profilesync@<this host>`. A user means `login()`, allowed without STARTTLS only on loopback.
        """
        env = os.environ if environ is None else environ
        host = env.get("PROFILESYNC_SMTP_HOST", "").strip()
        if not host:
            return None
        starttls = _flag("PROFILESYNC_SMTP_STARTTLS", env.get("PROFILESYNC_SMTP_STARTTLS") or "true")
        port_text = (env.get("PROFILESYNC_SMTP_PORT") or "").strip() or ("587" if starttls else "25")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise NotifyError(f"PROFILESYNC_SMTP_PORT={port_text!r} is not a port; write e.g. 587")
        user = (env.get("PROFILESYNC_SMTP_USER") or "").strip() or None
        if user and not starttls and host not in LOOPBACK:
            raise NotifyError(
                f"PROFILESYNC_SMTP_USER is set but PROFILESYNC_SMTP_STARTTLS is off: the password would cross "
                f"the network to {host} in clear; turn STARTTLS on, or unset the user for a relay without login"
            )
        sender = (env.get("PROFILESYNC_SMTP_FROM") or "").strip() or f"profilesync@{socket.getfqdn()}"
        return cls(host, int(port_text), sender, starttls, user, env.get("PROFILESYNC_SMTP_PASSWORD") or None)


def wants_mail(on: str, record: RunRecord) -> bool:
    """`notify.on`: `every_run` mails every finished run, `failure` only failed ones."""
    return on == "every_run" or not record.succeeded


def _n(value: int) -> str:
    return f"{value:,}"


def subject(record: RunRecord) -> str:
    head = f"[profilesync] {record.connection} {record.day}"
    if not record.succeeded:
        what = record.failed_step or (record.error or "see the run").splitlines()[0][:80]
        return f"{head} failed: {what}"
    shown = ", ".join(f"{_n(record.counts.get(name, 0))} {name}" for name in ("created", "updated", "sent"))
    return f"{head} succeeded: {shown}"


def _when(text: str) -> str:
    return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M:%S UTC")


def _took(record: RunRecord) -> str:
    took = datetime.fromisoformat(record.ended_at) - datetime.fromisoformat(record.started_at)
    seconds = round(took.total_seconds())
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def body(record: RunRecord) -> str:
    status = "succeeded" if record.succeeded else "FAILED"
    link = record.url or f"{record.run_id} (set PROFILESYNC_UI_URL to get a link)"
    lines = [f"Connection {record.connection}, day {record.day}: {status}.", ""]
    if not record.succeeded:
        lines += [f"Failed step: {record.failed_step or 'none (the run failed outside a step)'}", "Error:"]
        lines += [f"  {line}" for line in (record.error or "no message").splitlines()]
        lines.append("")
    if record.budget_overrides:
        lines += ["Pushed over budget by override:", *(f"  {note}" for note in record.budget_overrides), ""]
    lines += [
        f"Goals:    {', '.join(record.goals) or 'none'}",
        f"Run:      {link}",
        f"Job:      {record.job}",
        f"Started:  {_when(record.started_at)}",
        f"Ended:    {_when(record.ended_at)} ({_took(record)})",
        "",
    ]
    width = max(len(label) for label in LABELS.values())
    lines += [f"{LABELS[name]:<{width}}  {_n(record.counts.get(name, 0)):>12}" for name in COUNTS]
    if record.goal_counts:
        lines += ["", "Per goal:"]
        for goal, counts in record.goal_counts.items():
            shown = ", ".join(_goal_count(name, value) for name, value in counts.items())
            lines.append(f"  {goal}: {shown or 'nothing materialised'}")
    return "\n".join(lines) + "\n"


# Read as a phrase, value first: "706,163 seen, 20,000 changed, 686,163 echoes of our own pushes".
VALUE_FIRST = {"seen": "seen", "changed": "changed", "echoes": "echoes of our own pushes"}


def _goal_count(name: str, value: int) -> str:
    if name in VALUE_FIRST:
        return f"{_n(value)} {VALUE_FIRST[name]}"
    return f"{name.replace('_', ' ')} {_n(value)}"


def compose(record: RunRecord) -> EmailMessage:
    """The run's e-mail without sender and recipients (`send` sets them)."""
    message = EmailMessage()
    message["Subject"] = subject(record)
    message.set_content(body(record))
    return message


def _clean(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def send(settings: SmtpSettings, recipients: Iterable[str], message: EmailMessage) -> None:
    """Deliver `message` to `recipients`: STARTTLS and login only when configured."""
    to = list(recipients)
    del message["From"], message["To"]
    message["From"] = settings.sender
    message["To"] = ", ".join(to)
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.user:
                smtp.login(settings.user, settings.password or "")
            smtp.send_message(message, from_addr=settings.sender, to_addrs=to)
    except (smtplib.SMTPException, OSError) as exc:
        detail = _clean(f"{type(exc).__name__}: {exc}", settings.password)
        raise NotifyError(
            f"could not mail {', '.join(to)} through {settings.host}:{settings.port}: {detail}; "
            f"check {', '.join(VARIABLES[:-1])}"
        ) from None  # the chained exception could carry the server's echo of what was sent
