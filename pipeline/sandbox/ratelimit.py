"""Fixed-window rate limits per pool, and the headers Braze sends with them (reference 2.1–2.2).

Windows are aligned to multiples of their length since the epoch, as Braze's hourly windows
reset on the clock hour. One workspace: every key draws from the same counters.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from pipeline.sandbox.settings import DEFAULT_POOL


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    window_end: float
    now: float

    def headers(self, reset_mode: str = "epoch") -> dict[str, str]:
        """`X-RateLimit-*`; Reset is the epoch second the window ends, or seconds left."""
        reset = math.ceil(self.window_end) if reset_mode == "epoch" else self.retry_after()
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(reset),
        }

    def retry_after(self) -> int:
        return max(1, math.ceil(self.window_end - self.now))


def pool_for(path: str, limits: dict[str, dict[str, float]]) -> str:
    return path if path in limits else DEFAULT_POOL


class RateLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}  # pool -> (window start, requests counted)

    def hit(self, pool: str, limit: int, window_s: float, now: float) -> Decision:
        """Count one request against `pool`; refuse it when the window is already full."""
        start = math.floor(now / window_s) * window_s
        with self._lock:
            window_start, used = self._windows.get(pool, (start, 0))
            if window_start != start:
                used = 0
            allowed = used < limit
            if allowed:
                used += 1
            self._windows[pool] = (start, used)
        return Decision(allowed, int(limit), max(0, int(limit) - used), start + window_s, now)

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
