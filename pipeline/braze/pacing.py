"""Pacing from Braze's rate-limit headers, shared by every thread of one client.

Braze reports the window it counts in on each response. Keeping one state per endpoint and
reserving a slot before each request lets several requests be in flight while the client
still stops at the end of a window instead of collecting 429s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# A reset value above this is a Unix epoch second; below it, seconds left (reference 2.2).
_EPOCH_THRESHOLD = 1_000_000_000


@dataclass
class _Window:
    limit: int | None = None
    remaining: int | None = None
    reset_at: float = 0.0  # wall-clock epoch seconds
    blocked_until: float = 0.0
    in_flight: int = 0  # requests sent whose answers have not been recorded


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


class RateLimitPacer:
    """Waits before a request that the current window has no room for."""

    def __init__(
        self, clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    def acquire(self, endpoint: str) -> float:
        """Block until `endpoint` may be called; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                window = self._windows.setdefault(endpoint, _Window())
                now = self._clock()
                wait = window.blocked_until - now
                if window.remaining is not None and window.remaining <= 0 and window.reset_at > now:
                    wait = max(wait, window.reset_at - now)
                if wait <= 0:
                    window.in_flight += 1
                    if window.remaining is not None and window.reset_at > now:
                        window.remaining -= 1  # reserve a slot for this request
                    elif window.remaining is not None:
                        window.remaining = None  # the window we knew has ended
                    return waited
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

    def record(self, endpoint: str, status: int, headers: Mapping[str, str]) -> float | None:
        """Learn the window from a response; for a 429 return how long to hold off."""
        now = self._clock()
        limit = _number(_header(headers, "X-RateLimit-Limit"))
        remaining = _number(_header(headers, "X-RateLimit-Remaining"))
        reset_at = reset_time(_header(headers, "X-RateLimit-Reset"), now)
        retry_after = _number(_header(headers, "X-Ratelimit-Retry-After") or _header(headers, "Retry-After"))
        with self._lock:
            window = self._windows.setdefault(endpoint, _Window())
            window.in_flight = max(0, window.in_flight - 1)
            if limit is not None:
                window.limit = int(limit)
            if remaining is not None and reset_at is not None:
                if reset_at != window.reset_at or window.remaining is None:
                    # A new window: Braze's count is the truth, less what is on its way already.
                    window.remaining = max(0, int(remaining) - window.in_flight)
                else:
                    window.remaining = min(window.remaining, int(remaining))  # others are in flight
                window.reset_at = reset_at
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
