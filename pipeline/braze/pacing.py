"""Pacing from Braze's rate-limit headers, shared by every thread of one client.

Braze reports the window it counts in on each response. Keeping one state per endpoint and
reserving a slot before each request lets several requests be in flight while the client
still stops at the end of a window instead of collecting 429s.

How many are left is read from each answer without losing any of the window (`left_after`):
Braze's `X-RateLimit-Remaining` on an answer counts the answered request and every request that
reached Braze before it; of the requests still in flight, only those sent *after* it can be
missing from that count. Subtracting every request in flight instead (as this module once did)
counted again the ones sent just before it, and lost up to the number in flight of every window.
Windows are fixed (reference 2.2): when the one the client knew ends, the next starts with its
whole `X-RateLimit-Limit`, less what the client sends before Braze's first answer says more.
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
    limit: int | None = None
    remaining: int | None = None  # requests left in it, less those sent since
    reset_at: float = 0.0  # wall-clock epoch seconds
    slack: float = 0.0  # how far two answers of this window may disagree about reset_at
    assumed: bool = False  # a window begun by the clock, not yet confirmed by an answer from it
    blocked_until: float = 0.0
    in_flight: int = 0  # requests sent whose answers have not been recorded
    sent: int = 0  # requests let through so far, every window


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
                if window.remaining is not None and window.reset_at <= now and not window.assumed:
                    # The known window has ended; fixed windows: the next starts with the whole limit.
                    window.remaining, window.assumed = window.limit, window.limit is not None
                wait = window.blocked_until - now
                if window.remaining is not None and window.remaining <= 0:
                    if window.reset_at > now:
                        wait = max(wait, window.reset_at - now)
                    elif window.assumed and window.in_flight:
                        wait = max(wait, _ANSWER_POLL_S)  # spent before Braze said when it ends: wait for an answer
                if wait <= 0:
                    slot = Slot(waited, window.sent)
                    window.sent += 1
                    window.in_flight += 1
                    if window.remaining is not None:
                        window.remaining -= 1  # reserve a slot for this request
                    return slot
            self._sleep(wait)
            waited += wait

    def view(self, endpoint: str) -> tuple[int | None, int | None, float]:
        """(limit, requests left less those sent, seconds to the reset) of `endpoint`'s window as last seen.

        Seconds are 0 or less when no window is known or it has ended; read by the push's
        concurrency control (`pipeline.push.concurrency`)."""
        with self._lock:
            window = self._windows.get(endpoint) or _Window()
            return window.limit, window.remaining, window.reset_at - self._clock()

    def release(self, endpoint: str) -> None:
        """A request ended without an answer (connection lost): it is no longer in flight."""
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
                self._learn(window, left_after(int(remaining), sent_before, window.sent), reset_at, reset_value)
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
    def _learn(window: _Window, left: int, reset_at: float, reset_value: str | None) -> None:
        slack = 0.0 if (_number(reset_value) or 0) > _EPOCH_THRESHOLD else _SECONDS_LEFT_SLACK
        if window.remaining is None and not window.assumed:
            change = 1  # no window known
        else:
            change = window_change(reset_at, window.reset_at, max(slack, window.slack))
        if change < 0 or (change == 0 and window.assumed):
            return  # a late answer from a window that is over: its count says nothing of this one
        if change > 0 and not window.assumed:
            window.remaining = left  # a window not seen before: Braze's count is the truth
        else:
            # The same window (or the one the clock began): each answer bounds what is left.
            window.remaining = left if window.remaining is None else min(window.remaining, left)
        window.reset_at = reset_at if change > 0 else min(window.reset_at, reset_at)
        window.slack, window.assumed = slack, False
