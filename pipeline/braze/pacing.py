"""Pacing from Braze's rate-limit headers, shared by every thread of one client.

Braze reports the window it counts in on each response. Keeping one state per endpoint and
reserving a slot before each request lets several requests be in flight while the client
still stops at the end of a window instead of collecting 429s.

Requests are numbered as they are let through; a window's budget is the number below which
they may go. Two sources set it, and the lower wins:

- Braze's answers (`left_after`): `X-RateLimit-Remaining` counts the answered request and every
  request that reached Braze before it; of the requests still in flight, only those sent *after*
  it can be missing from that count. Subtracting every request in flight instead (as this module
  once did) counted the ones sent just before it twice and lost up to the number in flight of
  every window.
- The client's own count: windows are fixed (reference 2.2), so when the known one ends the next
  holds the whole `X-RateLimit-Limit`, less the requests still in flight (they may land in it
  until their answers say otherwise). In such a window each answer's count replaces the last
  (an answer overtaken by requests sent after it under-counts until the next one) and can only
  lower the client's count (another workspace sharing the limit).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# A reset value above this is a Unix epoch second; below it, seconds left (reference 2.2).
_EPOCH_THRESHOLD = 1_000_000_000
# Seconds left arrive as whole seconds counted at the answer: two answers of one window can
# disagree by up to this much about its end, while the next window ends a window length later.
_SECONDS_LEFT_SLACK = 1.0
# Polling interval while a window that has not been confirmed yet has no room and answers are due.
_ANSWER_POLL_S = 0.01


@dataclass(frozen=True)
class Slot:
    """A request let through: how long it waited, and how many went out on its endpoint before it."""

    waited: float
    sent_before: int


@dataclass
class _Window:
    """What one endpoint's pacer knows of the current window.

    Requests are numbered in the order they are let through (`sent` is the next number); the
    window has room for the requests numbered below `budget`, so `budget - sent` are left."""

    limit: int | None = None
    budget: int | None = None  # None: no window known, nothing to hold requests for
    reset_at: float = 0.0  # wall-clock epoch seconds
    slack: float = 0.0  # how far two answers of this window may disagree about reset_at
    own_budget: int | None = None  # a window the clock began: its limit after what was sent before it
    begun_at: int = 0  # `sent` when the clock began it
    answered_budget: int | None = None  # the latest answer's budget, in a window the clock began
    assumed: bool = False  # begun by the clock and not yet confirmed by an answer from it
    blocked_until: float = 0.0
    in_flight: int = 0  # requests sent whose answers have not been recorded
    sent: int = 0  # requests let through so far, every window

    def begin(self) -> None:
        """The known window has ended; fixed windows: the next holds the whole limit.

        Requests still in flight from the last one may yet be counted in it, so they take their
        slots until their answers say otherwise."""
        if self.limit is None:
            self.budget, self.own_budget = None, None
            return
        self.own_budget = self.budget = self.limit + self.sent - self.in_flight
        self.begun_at, self.assumed, self.answered_budget = self.sent, True, None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # requests' headers are case-insensitive already; plain dicts (tests, HTTP/2 names) may not be.
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def reset_time(value: str | None, now: float) -> float | None:
    """`X-RateLimit-Reset` as an epoch second, whichever of Braze's two meanings it carries."""
    number = _number(value)
    if number is None:
        return None
    return number if number > _EPOCH_THRESHOLD else now + number


def left_after(remaining: int, sent_before: int, sent: int) -> int:
    """Requests left in the window once everything sent so far is counted.

    `remaining` is Braze's count on the answer to the request that had `sent_before` requests
    sent ahead of it; `sent` requests have been let through in all. The requests sent after the
    answered one reached Braze after it, so each takes one more slot; those sent before it are
    in Braze's count already, answered or not."""
    return remaining - max(0, sent - sent_before - 1)


def window_change(reset_at: float, known_reset_at: float, slack: float) -> int:
    """+1: the answer comes from a later window than the one known; 0: the same; -1: an earlier one.

    With epoch resets every answer of a window carries the same second; with seconds left they
    may differ by `slack`, a window length being longer than that."""
    if reset_at > known_reset_at + slack:
        return 1
    if reset_at < known_reset_at - slack:
        return -1
    return 0


class RateLimitPacer:
    """Waits before a request that the current window has no room for."""

    def __init__(self, clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    def acquire(self, endpoint: str) -> Slot:
        """Block until `endpoint` may be called; the slot is given back to `record` with the answer."""
        waited = 0.0
        while True:
            with self._lock:
                window = self._windows.setdefault(endpoint, _Window())
                now = self._clock()
                if window.budget is not None and window.reset_at <= now and not window.assumed:
                    window.begin()
                wait = window.blocked_until - now
                if window.budget is not None and window.budget <= window.sent:
                    wait = max(wait, self._hold(window, now))
                if wait <= 0:
                    slot = Slot(waited, window.sent)
                    window.sent += 1
                    window.in_flight += 1
                    return slot
            self._sleep(wait)
            waited += wait

    @staticmethod
    def _hold(window: _Window, now: float) -> float:
        """How long to wait before looking again at a window with no room left."""
        if window.reset_at > now:
            # A window the clock began takes each answer's count as it comes (see `_learn`):
            # an answer due may show room that an earlier, overtaken answer hid.
            if window.own_budget is not None and window.in_flight:
                return min(window.reset_at - now, _ANSWER_POLL_S)
            return window.reset_at - now
        if window.assumed and window.in_flight:
            return _ANSWER_POLL_S  # spent before Braze said when it ends: wait for an answer
        return 0.0

    def view(self, endpoint: str) -> tuple[int | None, int | None, float]:
        """(limit, requests left less those sent, seconds to the reset) of `endpoint`'s window as last seen.

        Seconds are 0 or less when no window is known or it has ended; read by the push's
        concurrency control (`pipeline.push.concurrency`)."""
        with self._lock:
            window = self._windows.get(endpoint) or _Window()
            left = None if window.budget is None else window.budget - window.sent
            return window.limit, left, window.reset_at - self._clock()

    def release(self, endpoint: str) -> None:
        """A request ended without an answer (connection lost): it is no longer in flight.

        It may have been counted, so its slot is not given back."""
        with self._lock:
            window = self._windows.setdefault(endpoint, _Window())
            window.in_flight = max(0, window.in_flight - 1)

    def record(self, endpoint: str, status: int, headers: Mapping[str, str], slot: Slot | None = None) -> float | None:
        """Learn the window from the answer to `slot`'s request; for a 429 return how long to hold off.

        Without the slot the answered request is taken for the oldest in flight (every other
        request in flight may be missing from Braze's count)."""
        now = self._clock()
        limit = _number(_header(headers, "X-RateLimit-Limit"))
        remaining = _number(_header(headers, "X-RateLimit-Remaining"))
        reset_value = _header(headers, "X-RateLimit-Reset")
        reset_at = reset_time(reset_value, now)
        retry_after = _number(_header(headers, "X-Ratelimit-Retry-After") or _header(headers, "Retry-After"))
        with self._lock:
            window = self._windows.setdefault(endpoint, _Window())
            sent_before = slot.sent_before if slot is not None else window.sent - window.in_flight
            window.in_flight = max(0, window.in_flight - 1)
            if limit is not None:
                window.limit = int(limit)
            if remaining is not None and reset_at is not None:
                budget = left_after(int(remaining), sent_before, window.sent) + window.sent
                slack = 0.0 if (_number(reset_value) or 0) > _EPOCH_THRESHOLD else _SECONDS_LEFT_SLACK
                self._learn(window, budget, sent_before, reset_at, slack, now)
            if status != 429:
                return None
            if retry_after is not None:
                hold = retry_after
            elif remaining is not None and remaining > 0:
                return None  # the window has room: this 429 is about something else (a running export)
            elif reset_at is not None and reset_at > now:
                hold = reset_at - now
            else:
                return None
            window.blocked_until = max(window.blocked_until, now + hold)
            return hold

    @staticmethod
    def _learn(window: _Window, budget: int, sent_before: int, reset_at: float, slack: float, now: float) -> None:
        """Fold one answer's count (as a budget, see `_Window`) into what is known of the window.

        A window the clock began is counted by the client itself: it knows what it sent since, so
        Braze's answers only lower that (another client sharing the limit), and each answer
        replaces the last, because one overtaken by requests sent after it under-counts only
        until the next answer. A window first seen in an answer (the first, or after a gap) is
        not: the lowest count any of its answers gives is kept."""
        if window.budget is not None and window.reset_at <= now and not window.assumed:
            window.begin()  # the clock began a window no request has asked about yet
        if window.budget is None and not window.assumed:
            change = 1  # no window known
        else:
            change = window_change(reset_at, window.reset_at, max(slack, window.slack))
        if change < 0 or (change == 0 and window.assumed):
            # From a window that is over: a request sent before the clock began this one and
            # counted in the last takes no slot here.
            if window.own_budget is not None and sent_before < window.begun_at:
                window.own_budget += 1
                answered = window.answered_budget
                window.budget = window.own_budget if answered is None else min(window.own_budget, answered)
            return
        if change > 0 and not window.assumed:
            window.budget, window.own_budget = budget, None
        elif window.own_budget is None:
            window.budget = budget if window.budget is None else min(window.budget, budget)
        else:
            window.answered_budget = budget
            window.budget = min(window.own_budget, budget)
        window.reset_at = reset_at if change > 0 else min(window.reset_at, reset_at)
        window.slack, window.assumed = slack, False
