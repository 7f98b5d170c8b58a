"""Everything one sandbox holds: config, keys, users, segments, campaigns, exports, log, counters.

One re-entrant lock guards it; handlers take it for the whole of their work (they are short),
export jobs take it only to snapshot their segment's members.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeline.sandbox.auth import ApiKey
from pipeline.sandbox.export_jobs import ExportRegistry
from pipeline.sandbox.faults import Faults
from pipeline.sandbox.ratelimit import RateLimiter
from pipeline.sandbox.settings import (
    DEFAULT_RATE_LIMITS,
    DEFAULT_SEED,
    DEFAULT_USERS_PER_FILE,
    REQUEST_LOG_LIMIT,
)
from pipeline.sandbox.users import UserStore


@dataclass
class Config:
    """Settable with `POST /_sandbox/config`; `reset` restores the start-up values."""

    storage: str
    rate_limits: dict[str, dict[str, float]] = field(default_factory=lambda: copy.deepcopy(DEFAULT_RATE_LIMITS))
    track_object_limit_mode: str = "combined"  # combined: 75 objects in total; per_array: 75 per array
    reset_header: str = "epoch"  # epoch: X-RateLimit-Reset is the window's end; seconds: seconds left
    retry_after_on_429: bool = False  # MAU contracts: a 429 carries only X-Ratelimit-Retry-After
    users_per_file: int = DEFAULT_USERS_PER_FILE
    export_date: str | None = None  # YYYY-MM-DD to use in export keys instead of today (UTC)
    request_log_limit: int = REQUEST_LOG_LIMIT

    def update(self, data: Any) -> None:
        if not isinstance(data, dict):
            raise ValueError("config must be a JSON object")
        known = set(asdict(self))
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config fields {unknown}; use {sorted(known)}")
        limits = data.get("rate_limits", {})
        for pool, limit in limits.items():
            if not (isinstance(limit, dict) and limit.get("limit", 0) >= 1 and limit.get("window_s", 0) > 0):
                raise ValueError(f"rate_limits[{pool!r}] needs 'limit' >= 1 and 'window_s' > 0")
        choices = {
            "track_object_limit_mode": ("combined", "per_array"),
            "reset_header": ("epoch", "seconds"),
            "retry_after_on_429": (True, False),
        }
        for name, allowed in choices.items():
            if name in data and data[name] not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}")
        if "users_per_file" in data and not (isinstance(data["users_per_file"], int) and data["users_per_file"] >= 1):
            raise ValueError("users_per_file must be an integer >= 1")
        if data.get("export_date") is not None:
            datetime.strptime(data["export_date"], "%Y-%m-%d")
        for name, value in data.items():
            if name == "rate_limits":
                self.rate_limits.update({pool: dict(limit) for pool, limit in value.items()})
            else:
                setattr(self, name, value)


class RequestLog:
    def __init__(self, limit: int) -> None:
        self.entries: deque[dict[str, Any]] = deque(maxlen=limit)
        self.seq = 0

    def add(self, entry: dict[str, Any]) -> int:
        self.seq += 1
        self.entries.append({"seq": self.seq, **entry})
        return self.seq

    def since(self, seq: int) -> list[dict[str, Any]]:
        return [e for e in self.entries if e["seq"] > seq]


class Sandbox:
    def __init__(self, storage_uri: str, keys: list[ApiKey], seed: int = DEFAULT_SEED) -> None:
        self.lock = threading.RLock()
        self._start_storage = storage_uri
        self._start_keys = list(keys)
        self.seed = seed
        self.exports: Any = None
        self.reset()

    def reset(self) -> None:
        with self.lock:
            if self.exports is not None:
                self.exports.shutdown()
            self.config = Config(storage=self._start_storage)
            self.keys: dict[str, ApiKey] = {k.key: k for k in self._start_keys}
            self.users = UserStore(self.seed)
            self.segments: dict[str, Any] = {}
            self.campaigns: dict[str, dict[str, Any]] = {}
            self.exports = ExportRegistry()
            self.log = RequestLog(self.config.request_log_limit)
            self.datapoints: dict[str, Any] = {"total": 0, "by_endpoint": {}, "by_kind": {}}
            self.faults = Faults()
            self.limiter = RateLimiter()
            self.created = 0  # creation order of segments and campaigns

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    @staticmethod
    def clock() -> float:
        return time.time()

    def next_order(self) -> int:
        self.created += 1
        return self.created

    def charge(self, endpoint: str, by_kind: dict[str, int]) -> int:
        points = sum(by_kind.values())
        self.datapoints["total"] += points
        self.datapoints["by_endpoint"][endpoint] = self.datapoints["by_endpoint"].get(endpoint, 0) + points
        for kind, n in by_kind.items():
            self.datapoints["by_kind"][kind] = self.datapoints["by_kind"].get(kind, 0) + n
        return points

    def set_log_limit(self) -> None:
        if self.log.entries.maxlen != self.config.request_log_limit:
            old = self.log
            self.log = RequestLog(self.config.request_log_limit)
            self.log.seq = old.seq
            self.log.entries.extend(list(old.entries)[-self.config.request_log_limit :])
