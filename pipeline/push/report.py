"""What a push did (its report and summary file) and what Braze refused (the dead-letter file)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from pipeline import layout
from pipeline.storage import ObjectNotFound, ObjectStore


@dataclass(frozen=True)
class PushReport:
    """Counts for the run's metadata. `users_*` count attributes objects, `attributes_*` changes rows.

    `*_to_send` is what this run had to send after skipping rows the day's journal already holds
    (`already_acknowledged` rows) and holding back `held_back` rows (values older than the ones
    Braze acknowledged from a later day's push: never sent). `*_sent` went out in a request;
    `*_accepted` Braze took; `*_rejected` went to the dead-letter file (Braze's minor errors, or too
    large for a request); `users_failed` were in requests that failed whole. `requests`,
    `rate_limited` (429s) and `retries` are the client's counters for this run; `timeouts` requests
    whose answer never came (read timeout, or the connection closed after sending),
    `resends_after_timeout` how many of those were sent again. `data_points` is what the accepted
    objects cost as Braze bills them; `data_points_maybe_twice` the points of batches resent after
    a lost answer, which Braze may have applied (and billed) twice; `data_points_full_profile` what
    sending every attribute of each user to send would have cost (the previous baseline with the
    changes applied). `baseline_rows` counts the values the baseline holds after the run;
    `requests_in_flight_peak` the most `/users/track` requests the run had in flight at once (the
    number adapts to Braze's round trip and rate limit, see `pipeline.push.concurrency`).
    """

    users_to_send: int
    attributes_to_send: int
    users_sent: int
    attributes_sent: int
    users_accepted: int
    attributes_accepted: int
    users_rejected: int
    attributes_rejected: int
    users_failed: int
    already_acknowledged: int
    held_back: int
    batches: int
    requests: int
    rate_limited: int
    retries: int
    timeouts: int
    resends_after_timeout: int
    data_points: int
    data_points_maybe_twice: int
    data_points_full_profile: int
    baseline_rows: int
    seconds: float
    requests_in_flight_peak: int = 0

    def as_dict(self) -> dict[str, int | float]:
        return asdict(self)


class PushError(RuntimeError):
    """Requests failed whole after every retry; the accepted batches are journaled for a rerun."""

    def __init__(self, message: str, report: PushReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class DeadLetter:
    identity: str
    profile_id: str | None
    attributes: dict[str, Any]
    reason: str

    def line(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=False)


def write_dead_letters(store: ObjectStore, connection: str, goal: str, day: str, letters: list[DeadLetter]) -> str:
    """Replace the day's dead-letter file (empty when nothing was refused)."""
    key = layout.push_dead_letter(connection, goal, day)
    ordered = sorted(letters, key=lambda letter: letter.identity)
    store.write_bytes(key, "".join(letter.line() + "\n" for letter in ordered).encode())
    return key


def read_dead_letters(store: ObjectStore, connection: str, goal: str, day: str) -> list[dict[str, Any]]:
    try:
        text = store.read_bytes(layout.push_dead_letter(connection, goal, day)).decode()
    except ObjectNotFound:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def write_summary(store: ObjectStore, connection: str, goal: str, day: str, summary: dict[str, Any]) -> str:
    key = layout.push_summary(connection, goal, day)
    store.write_bytes(key, (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode())
    return key
