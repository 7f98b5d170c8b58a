"""`push_changes`: send a day's changes with `/users/track`, journal what Braze accepts, fold it into the baseline."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from pipeline import layout
from pipeline.braze import BrazeClient
from pipeline.braze.errors import BrazeAnswerLost, BrazeError
from pipeline.braze.rules import MAX_BODY_BYTES, MAX_TRACK_OBJECTS
from pipeline.braze.track import ENDPOINT as TRACK_ENDPOINT
from pipeline.push.checkpoint import (
    apply_journal,
    new_run_id,
    newer_than,
    read_baseline,
    read_journal,
    write_baseline,
    write_journal,
)
from pipeline.push.concurrency import TrackConcurrency
from pipeline.push.frames import KEY, ROW, check_changes
from pipeline.push.objects import UserObject, batches, fits_alone, payload_points, user_objects
from pipeline.push.progress import done_line, progress_line
from pipeline.push.replaced import write_replaced
from pipeline.push.report import DeadLetter, PushError, PushReport, write_dead_letters, write_summary
from pipeline.storage import ObjectStore

Progress = Callable[[str], None]
ObjectLimitMode = Literal["combined", "per_array"]
PROGRESS_EVERY_S = 5.0
_log = logging.getLogger(__name__)
_STATS = ("requests", "rate_limited", "retries", "timeouts", "resends_after_timeout")


def push_changes(
    client: BrazeClient,
    store: ObjectStore,
    connection: str,
    goal: str,
    day: str,
    changes: pl.DataFrame,
    *,
    allow_create: bool,
    object_limit_mode: ObjectLimitMode = "combined",
    max_in_flight: int = 32,
    held_back: int = 0,
    progress: Progress = _log.info,
    as_of: str | None = None,
    baseline: pl.DataFrame | None = None,
) -> PushReport:
    """Send `changes` for `day`, resuming from the day's journal; see `pipeline.push` for the contracts.

    Both object-limit modes allow 75 attributes objects a request: the legacy mode's 75 per
    array only differs once events or purchases share a request, which a push never sends.
    The requests in flight adapt to the measured round trip and Braze's rate-limit headers
    (`pipeline.push.concurrency`), starting at 4, never above `max_in_flight` nor the client's
    `pool_size` (more threads than pooled connections would reconnect for every request);
    `progress` gets a line every 10% of the users or 5 seconds.
    A row for a pair the baseline holds as of a later day is held back, never sent; `held_back`
    is how many the diff already held back, added to the report's count. `as_of` is the day the sent
    values count as of in the baseline when it is not `day` (an undo's, `pipeline.push.undo`).
    `baseline`: the acknowledged baseline when the caller has just read it (else it is read here).
    Raises `PushError` (with `.report`) when requests fail whole after the client's retries.
    """
    if object_limit_mode not in ("combined", "per_array"):
        raise ValueError(f"object_limit_mode {object_limit_mode!r}: use 'combined' or 'per_array'")
    if max_in_flight < 1:
        raise ValueError(f"max_in_flight must be at least 1, not {max_in_flight}")
    started = time.monotonic()
    before = client.stats.as_dict()
    frame = check_changes(changes)
    journal = read_journal(store, connection, goal, day)
    baseline = read_baseline(store, connection, goal) if baseline is None else baseline
    as_of = as_of or day
    unjournaled, todo = _pending(frame, journal, baseline, as_of)
    run_id = new_run_id()
    write_replaced(store, connection, goal, day, run_id, baseline, todo, allow_create=allow_create)  # for undo
    run = _Run(
        client,
        store,
        lambda number: layout.push_journal(connection, goal, day, run_id, number),
        progress,
        f"braze_push {connection}/{goal} {day}",
        todo["identity"].n_unique(),
    )
    try:
        run.send(user_objects(todo, allow_create=allow_create), min(max_in_flight, client.pool_size))
    except BaseException as exc:
        if lost := _dead_letters_lost(store, connection, goal, day, run.dead):
            exc.add_note(lost)
        raise
    if run.failures:
        lost = _dead_letters_lost(store, connection, goal, day, run.dead)
    else:
        write_dead_letters(store, connection, goal, day, run.dead)

    # Folded in even when requests failed: what Braze accepted is what it holds, and a re-run of an
    # older day meanwhile must hold back against it.
    accepted = pl.DataFrame(run.accepted_rows, schema=journal.schema, orient="row")
    new_baseline = apply_journal(baseline, pl.concat([journal, accepted], how="vertical"), as_of)
    if not new_baseline.equals(baseline):  # unchanged: keep its version, so computed changes stay valid
        write_baseline(store, connection, goal, new_baseline, f"{day}/{run_id}")
    after = client.stats.as_dict()
    report = PushReport(
        users_to_send=run.users_total,
        attributes_to_send=todo.height,
        already_acknowledged=frame.height - unjournaled.height,
        held_back=held_back + unjournaled.height - todo.height,
        data_points_full_profile=full_profile_points(baseline, todo),
        baseline_rows=new_baseline["value"].count(),
        seconds=round(time.monotonic() - started, 3),
        requests_in_flight_peak=run.concurrency.gate.peak if run.concurrency else 0,
        **{name: int(after[name] - before[name]) for name in _STATS},
        **run.counts(),
    )
    if run.failures and isinstance(run.failures[0][1], BrazeAnswerLost):
        raise PushError(f"{run.label}: {run.answer_lost_message()}", report)
    if run.failures:
        number, error = run.failures[0]
        what = "requests failed after the client's retries" if isinstance(error, BrazeError) else "batches failed"
        raise PushError(
            f"{run.label}: {len(run.failures)} of {run.batches} {what} (batch {number}: {error}); "
            f"this run's {run.journaled} accepted batches are journaled under "
            f"{store.uri(layout.push_journal_folder(connection, goal, day))}, so rerunning this day sends only the rest"
            + (f"; {lost}" if lost else ""),
            report,
        )
    write_summary(
        store, connection, goal, day, {"connection": connection, "goal": goal, "day": day, **report.as_dict()}
    )
    run.progress(done_line(run.label, _describe(report), run.users_total))
    return report


def pending_changes(
    store: ObjectStore, connection: str, goal: str, day: str, changes: pl.DataFrame,
    baseline: pl.DataFrame | None = None,
) -> pl.DataFrame:  # fmt: skip
    """The rows of `changes` a push of `day` would send now, in the order it sends them.

    What `plan` shows and budgets weigh: exactly the rows `push_changes` would send if it ran now.
    `baseline`: the acknowledged baseline when the caller holds it already (else it is read)."""
    journal = read_journal(store, connection, goal, day)
    held = read_baseline(store, connection, goal) if baseline is None else baseline
    return _pending(check_changes(changes), journal, held, day)[1]


def _pending(
    frame: pl.DataFrame, journal: pl.DataFrame, baseline: pl.DataFrame, as_of: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows the day's journal does not hold yet, those of them to send) of a checked changes frame
    whose values count as of `as_of` (the day, or an undo's label)."""
    unjournaled = frame.join(journal, on=ROW, how="anti", nulls_equal=True)
    # Changes computed before a later day's push would otherwise send that day's values back.
    return unjournaled, unjournaled.join(newer_than(baseline, as_of), on=KEY, how="anti").sort(KEY)


def full_profile_points(baseline: pl.DataFrame, todo: pl.DataFrame) -> int:
    """Data points of sending each user in `todo` whole: what they hold acknowledged, with the changes applied.

    Unchanged attributes are exactly the baseline's (the changes are a diff against it), so this is
    what a pusher without change detection would have spent on the same users.
    """
    if todo.is_empty():
        return 0
    users = todo.select("identity").unique()
    held = baseline.filter(pl.col("value").is_not_null())  # without the removals Braze accepted
    kept = held.join(users, on="identity", how="semi").join(todo.select(KEY), on=KEY, how="anti")
    return payload_points(pl.concat([kept.select(ROW), todo.select(ROW)], how="vertical"))


def _dead_letters_lost(store: ObjectStore, connection: str, goal: str, day: str, letters: list[DeadLetter]) -> str:
    """Write the day's dead letters while the push is failing; '' when written, else why not.

    The push's own error is the one to report: a store that fails under the push usually fails
    here too, and that second error must not take the first one's place."""
    try:
        write_dead_letters(store, connection, goal, day, letters)
    except Exception as exc:
        return f"the {len(letters)} dead letter(s) were not written either: {exc}"
    return ""


def _describe(report: PushReport) -> str:
    lost = (
        f", {report.timeouts:,} answers lost ({report.resends_after_timeout:,} resent; up to "
        f"{report.data_points_maybe_twice:,} data points may have been spent twice)"
        if report.timeouts
        else ""
    )
    return (
        f"{report.users_accepted:,} users accepted, {report.users_rejected:,} rejected, "
        f"{report.requests:,} requests, {report.rate_limited:,} rate limited, {report.data_points:,} data points"
        f"{lost}"
    )


@dataclass
class _Outcome:
    number: int
    batch: list[UserObject]
    rejected: dict[int, str] = field(default_factory=dict)  # index in the batch -> Braze's reason
    rows: list[tuple[str, str, str | None]] = field(default_factory=list)  # what Braze accepted
    answered: bool = False  # Braze answered 2xx (or refused every object by name)
    lost: int = 0  # times the batch went out without an answer: each may have been applied
    error: Exception | None = None
    skipped: bool = False  # never sent: an earlier batch had already failed


class _Run:
    """One push's batches in flight and its tallies; tallies are kept by the calling thread only."""

    def __init__(
        self,
        client: BrazeClient,
        store: ObjectStore,
        journal_key_of: Callable[[int], str],
        progress: Progress,
        label: str,
        users_total: int,
    ) -> None:
        self.client, self.store, self.journal_key_of = client, store, journal_key_of
        self.progress, self.label, self.users_total = progress, label, users_total
        self.dead: list[DeadLetter] = []
        self.accepted_rows: list[tuple[str, str, str | None]] = []
        self.failures: list[tuple[int, Exception]] = []
        # Set by the worker whose batch failed, so queued batches are not sent before the calling
        # thread sees the failure: a resend then covers at most the batches in flight.
        self.stopping = threading.Event()
        self.unanswered: dict[int, int] = {}  # batch number -> users, for batches that failed whole
        self.batches = self.finished = self.journaled = 0
        self.tally = dict.fromkeys(
            ("users_sent", "attributes_sent", "users_accepted", "attributes_accepted", "users_rejected",
             "attributes_rejected", "users_failed", "data_points", "data_points_maybe_twice"), 0)  # fmt: skip
        self._step = max(1, math.ceil(users_total / 10))
        self._next_mark = self._step
        self._last_progress = self._started = time.monotonic()
        self._rate_limited_before = client.stats.rate_limited  # 429s of this push only
        self.concurrency: TrackConcurrency | None = None

    def counts(self) -> dict[str, int]:
        return {**self.tally, "batches": self.batches}

    def send(self, objects: Iterable[UserObject], max_in_flight: int) -> None:
        """Send every batch with at most `max_in_flight` worker threads; the gate of `self.concurrency`
        lets through as many requests at once as its controller allows."""
        self.concurrency = control = TrackConcurrency(self.client, TRACK_ENDPOINT, max_in_flight)
        self.progress(
            f"{self.label}: sending {self.users_total:,} users, {control.limit} requests in flight "
            f"(adapting to Braze's round trip and rate limit, at most {max_in_flight})"
        )
        pending: set[Future[_Outcome]] = set()
        with ThreadPoolExecutor(max_in_flight, thread_name_prefix="braze-push") as pool:
            try:
                for batch in batches(self._sendable(objects), MAX_TRACK_OBJECTS, MAX_BODY_BYTES):
                    # A short queue keeps every slot busy while batches are built lazily.
                    while len(pending) >= 2 * control.limit and not self.failures:
                        pending = self._collect_some(pending)
                    if self.failures:
                        break  # a request failed whole: send nothing more, keep what is journaled
                    pending.add(pool.submit(self._send_batch, self.batches, batch))
                    self.batches += 1
            except BaseException:
                self._cancel(pending)
                raise
            finally:
                while pending:
                    pending = self._collect_some(pending)

    def _collect_some(self, pending: set[Future[_Outcome]]) -> set[Future[_Outcome]]:
        done, rest = wait(pending, return_when=FIRST_COMPLETED)
        self._collect(done)
        if self.concurrency:
            self.concurrency.update()
        if self.failures:
            self._cancel(rest)
        return {future for future in rest if not future.cancelled()}

    def _cancel(self, pending: set[Future[_Outcome]]) -> None:
        for future in pending:
            if future.cancel():
                self.batches -= 1  # never started, so never sent

    def _sendable(self, objects: Iterable[UserObject]) -> Iterator[UserObject]:
        for obj in objects:
            if fits_alone(obj):
                yield obj
            else:
                reason = f"the object alone is {obj.size:,} bytes, over Braze's {MAX_BODY_BYTES:,}-byte body limit"
                self._dead(obj, reason)

    def _send_batch(self, number: int, batch: list[UserObject]) -> _Outcome:
        """In a worker: one request, then at once the journal of what Braze accepted."""
        outcome = _Outcome(number, batch)
        try:
            assert self.concurrency is not None
            with self.concurrency.gate:  # a slot for the request only: the journal write below holds none
                if self.stopping.is_set():
                    outcome.skipped = True
                    return outcome
                result = self.client.track(attributes=[obj.body for obj in batch])
            outcome.answered, outcome.lost = True, result.lost_answers
            outcome.rejected = {r.index: r.reason for r in result.rejected if r.input_array == "attributes"}
            rows = [
                (obj.identity, name, value)
                for index, obj in enumerate(batch)
                if index not in outcome.rejected
                for name, value in zip(obj.attributes, obj.values, strict=True)
            ]
            outcome.rows = rows
            if rows:
                write_journal(self.store, self.journal_key_of(number), rows)
        except Exception as exc:  # reported by the calling thread, which stops the run
            self.stopping.set()
            outcome.error = exc
            outcome.lost = exc.sent if isinstance(exc, BrazeAnswerLost) else outcome.lost
        return outcome

    def _collect(self, futures: Iterable[Future[_Outcome]]) -> None:
        for future in futures:
            outcome = future.result()
            if outcome.skipped:
                self.batches -= 1  # never sent, like a cancelled one
                continue
            self.finished += 1
            self._add("users_sent", "attributes_sent", outcome.batch)
            if not outcome.answered:
                self.failures.append((outcome.number, outcome.error))
                self.tally["users_failed"] += len(outcome.batch)
                self.unanswered[outcome.number] = len(outcome.batch)
                if outcome.lost >= 2:  # each send may have been applied
                    self.tally["data_points_maybe_twice"] += sum(obj.points for obj in outcome.batch)
                continue
            if outcome.error is not None:  # accepted by Braze, but the journal write failed: resent next run
                self.failures.append((outcome.number, outcome.error))
            else:
                self.journaled += bool(outcome.rows)
                self.accepted_rows.extend(outcome.rows)
            accepted = [obj for i, obj in enumerate(outcome.batch) if i not in outcome.rejected]
            self._add("users_accepted", "attributes_accepted", accepted)
            self.tally["data_points"] += sum(obj.points for obj in accepted)
            if outcome.lost:  # the unanswered send may have been applied as well as the answered one
                self.tally["data_points_maybe_twice"] += sum(obj.points for obj in accepted)
            for index, reason in outcome.rejected.items():
                self._dead(outcome.batch[index], reason)
            self._tick()

    def answer_lost_message(self) -> str:
        """The failure when Braze's answers were lost: what may have been applied, and what to do."""
        number, error = self.failures[0]
        assert isinstance(error, BrazeAnswerLost)
        users, more = self.unanswered[number], sum(isinstance(e, BrazeAnswerLost) for _, e in self.failures) - 1
        others = f" (and {more} more {'batch' if more == 1 else 'batches'} the same way)" if more else ""
        times = {1: "", 2: " twice"}.get(error.sent, f" {error.sent} times")
        return (
            f"Braze {error.what}{times} for batch {number} ({users:,} user{'s' * (users != 1)}){others}; "
            "it may have applied it: "
            f"up to {self.tally['data_points_maybe_twice']:,} data points may have been spent twice. The push "
            f"stopped; re-run to resend what was not journaled (raise braze.request_timeout_s if Braze is slow)"
        )

    def _dead(self, obj: UserObject, reason: str) -> None:
        self.dead.append(DeadLetter(obj.identity, obj.profile_id, obj.sent_attributes(), reason))
        self._add("users_rejected", "attributes_rejected", [obj])

    def _add(self, users: str, attributes: str, objects: list[UserObject]) -> None:
        self.tally[users] += len(objects)
        self.tally[attributes] += sum(len(obj.attributes) for obj in objects)

    def _tick(self) -> None:
        sent, now = self.tally["users_sent"], time.monotonic()
        if sent < self._next_mark and now - self._last_progress < PROGRESS_EVERY_S:
            return
        while self._next_mark <= sent:
            self._next_mark += self._step
        self._last_progress = now
        self.progress(
            progress_line(self.label, sent, self.users_total, self.finished, self.tally["users_rejected"],
                          now - self._started, self.client.stats.rate_limited - self._rate_limited_before)
        )  # fmt: skip
