"""How many `/users/track` requests a push keeps in flight: adapted to the round trip and Braze's limit.

A fixed number cannot be right everywhere: at 63 ms round trips and 100 requests/s allowed, 4 in
flight reach 58% of the limit; at 200 ms and 1,000/s it would take 200. By Little's law the
requests in flight needed to send at rate R with round trip T are R x T, so the target is

    target = ceil(HEADROOM x R x T), bounded to 1 .. cap

with R the window's rate from the `X-RateLimit-*` headers: Limit over the longest time-to-reset
seen, which is the window's length once a window has been seen from its start (before that R
comes out higher, so more requests wait on the pacer, which holds them at the window's end;
harmless). HEADROOM keeps the window spent before it ends although round trips vary; the pacer,
not this count, stops the client at the window's end. Without headers the target is the cap.

T is the shortest round trip (send to answer, no pacing waits) the client measured in the last
BASE_WINDOW_S seconds, not their average: when Braze (or the machine) is saturated, answers
queue and round trips grow with the requests in flight, and Little's law on the grown round trip
would ask for still more requests, which only queue longer (BBR's reasoning: the path's own
delay is its minimum). For the same reason the limit does not grow while the smoothed round trip
is over QUEUEING times that minimum (TCP Vegas' signal): more requests would only wait longer.

The limit moves toward the target the way TCP's congestion window does: until the first 429 it
grows by one per answer (doubling every round trip, "slow start": at long round trips one per
round would take most of a short push to get there), after that additively, by one per round of
answers (one answer per request in flight); it shrinks at once to a lower target, and halves on
429s, at most once per round trip (the 429s of one burst are one signal), after which it does not
grow for one round. While the window is nearly spent (fewer requests left in it than are in
flight) it does not grow either: the pacer is holding requests.

`cap` is the connection's `braze.max_requests_in_flight` (and the client's connection pool): an
upper bound, and with 1 a fixed single request in flight. The journal's promise (at most `cap`
batches resent after a kill) holds because the worker threads never exceed the cap.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.braze import BrazeClient

START = 4  # the old fixed default: where a push starts before it has measured anything
HEADROOM = 1.5
SMOOTHING = 0.2  # weight of the newest round-trip sample in the moving average
BASE_WINDOW_S = 10.0  # the shortest round trip is taken over this many seconds of samples
QUEUEING = 2.0  # a smoothed round trip this many times the shortest: answers are queueing


@dataclass(frozen=True)
class Window:
    """The rate-limit window as the client last saw it (see `pipeline.braze.pacing`)."""

    limit: int | None  # X-RateLimit-Limit
    remaining: int | None  # requests left in it, less those already sent
    seconds_to_reset: float  # <= 0 when the window has ended or is unknown


class InFlightLimit:
    """The AIMD controller; pure arithmetic, fed by the push after each answered batch."""

    def __init__(self, cap: int, start: int = START) -> None:
        if cap < 1:
            raise ValueError(f"the cap on requests in flight must be at least 1, not {cap}")
        self.cap = cap
        self.limit = max(1, min(start, cap))
        self.round_trip_s: float | None = None  # smoothed: how long 429s of one burst keep arriving
        self._recent: deque[tuple[float, float]] = deque()  # (when, round trip), oldest first
        self.target = self.cap
        self._window_s = 0.0  # longest time-to-reset seen: the window's length, once seen from its start
        self._credit = 0.0  # answers toward the next step up
        self._slow_start = True  # until the first 429: one step per answer, not per round
        self._hold_answers = 0  # answers to wait after a decrease before growing again
        self._quiet_until = -math.inf  # no second decrease for 429s of the same burst

    def observe(
        self, *, answers: int, round_trip_s: float | None, rate_limited: int, window: Window | None, now: float
    ) -> int:
        """Take what came back since the last call; returns the new limit.

        `answers` answered requests (any status) whose mean round trip was `round_trip_s`,
        `rate_limited` of them 429s, `window` the client's view of the rate-limit window, `now` a
        monotonic clock reading (only compared with itself)."""
        if round_trip_s is not None and round_trip_s > 0:
            rtt = self.round_trip_s
            self.round_trip_s = round_trip_s if rtt is None else rtt + SMOOTHING * (round_trip_s - rtt)
            self._recent.append((now, round_trip_s))
            while self._recent[0][0] < now - BASE_WINDOW_S:
                self._recent.popleft()
        self.target = self._target(window)
        if rate_limited:
            self._slow_start = False
            if now >= self._quiet_until:
                self.limit = max(1, min(self.limit // 2, self.target))
                self._quiet_until = now + (self.round_trip_s or 0.0)
                self._hold_answers, self._credit = self.limit, 0.0
            return self.limit
        if self.target < self.limit:
            self.limit, self._credit = self.target, 0.0
            return self.limit
        if self._hold_answers > 0:
            self._hold_answers = max(0, self._hold_answers - answers)
            return self.limit
        nearly_spent = window is not None and window.remaining is not None and window.remaining < self.limit
        queueing = self.round_trip_s is not None and self._recent and self.round_trip_s > QUEUEING * self._base()
        if self.limit < self.target and not nearly_spent and not queueing:
            self._credit += answers if self._slow_start else answers / self.limit
            while self._credit >= 1 and self.limit < self.target:
                self._credit -= 1
                self.limit += 1
            if self.limit == self.target:
                self._credit = 0.0  # no saved-up steps for a later, higher target
        return self.limit

    def _target(self, window: Window | None) -> int:
        if window is None or not window.limit or window.seconds_to_reset <= 0 or not self._recent:
            return self.cap
        self._window_s = max(self._window_s, window.seconds_to_reset)
        rate = window.limit / self._window_s
        return max(1, min(self.cap, math.ceil(HEADROOM * rate * self._base())))

    def _base(self) -> float:
        """The shortest recent round trip: the path's own delay, without queueing."""
        return min(rtt for _, rtt in self._recent)


class Gate:
    """Lets at most `limit` threads through at once; the limit may change while threads wait."""

    def __init__(self, limit: int) -> None:
        self._cond = threading.Condition()
        self._limit = limit
        self.busy = 0
        self.peak = 0  # most threads through at once

    def set_limit(self, limit: int) -> None:
        with self._cond:
            self._limit = limit
            self._cond.notify_all()

    def __enter__(self) -> Gate:
        with self._cond:
            while self.busy >= self._limit:
                self._cond.wait()
            self.busy += 1
            self.peak = max(self.peak, self.busy)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self.busy -= 1
            self._cond.notify()


class TrackConcurrency:
    """The controller and the gate of one push, fed from its client's counters and rate-limit view.

    Counters are the client's (shared by every thread), so `update` reads what changed since its
    last call; called by the push's calling thread after it collects answered batches."""

    def __init__(self, client: BrazeClient, endpoint: str, cap: int) -> None:
        self.client, self.endpoint = client, endpoint
        self.control = InFlightLimit(cap)
        self.gate = Gate(self.control.limit)
        self._seen = self._counters()

    @property
    def limit(self) -> int:
        return self.control.limit

    def _counters(self) -> tuple[int, float, int]:
        stats = self.client.stats
        return stats.answers, stats.answer_s, stats.rate_limited

    def update(self) -> int:
        counters = self._counters()
        answers, seconds, limited = (now - before for now, before in zip(counters, self._seen, strict=True))
        self._seen = counters
        limit, remaining, to_reset = self.client.rate_window(self.endpoint)
        window = Window(limit, remaining, to_reset) if limit else None
        new = self.control.observe(
            answers=int(answers),
            round_trip_s=seconds / answers if answers else None,
            rate_limited=int(limited),
            window=window,
            now=time.monotonic(),
        )
        self.gate.set_limit(new)
        return new
