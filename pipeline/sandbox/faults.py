"""Injectable faults: what a real Braze does on a bad day, on demand and reproducibly.

Set with `POST /_sandbox/faults` (replaces every fault; omitted fields are off), cleared with
`DELETE /_sandbox/faults`. Fields:

- `error_rate_5xx` (0..1) and/or `error_count` (the next N requests): answer `error_status`
  (default 500; 502/503/504 also sensible) before authentication, as a gateway would;
- `burst_429`: the next N authenticated requests get a 429 with the rate-limit headers (or
  `X-Ratelimit-Retry-After` in MAU mode), retryable after `burst_429_retry_s` (default 1);
- `latency_ms`: added before a request is handled; past the client's timeout, the client gives
  up while the request is still applied afterwards (its body was sent whole);
- `answer_delay_ms`: held after a request has been handled (applied and logged), before its
  answer goes out: Braze slower to answer than the client waits, with the work done all the
  same; `answer_delay_count` limits it to the next N requests (0: every request);
- `drop_connections` (the next N requests) and/or `drop_rate` (0..1): the socket is shut down
  without an answer;
- `track_reject_rate` (0..1): that share of otherwise valid `/users/track` objects comes back
  as a minor error (partial errors);
- `export_delay_s` before an export writes its first file, `export_file_delay_s` between files,
  `export_fail` (with `export_fail_after_files`, default 0: the job writes that many files, then
  fails, never calls back), `callback`: `normal`, `missing` (never sent) or `slow`
  (`callback_delay_s` late);
- `endpoints`: list of API paths the request faults apply to (default: every API endpoint);
- `seed`: makes the random choices reproducible.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any

CALLBACK_MODES = ("normal", "missing", "slow")


@dataclass
class FaultSpec:
    error_rate_5xx: float = 0.0
    error_count: int = 0
    error_status: int = 500
    burst_429: int = 0
    burst_429_retry_s: int = 1
    latency_ms: int = 0
    answer_delay_ms: int = 0
    answer_delay_count: int = 0
    drop_connections: int = 0
    drop_rate: float = 0.0
    track_reject_rate: float = 0.0
    export_delay_s: float = 0.0
    export_file_delay_s: float = 0.0
    export_fail: bool = False
    export_fail_after_files: int = 0
    callback: str = "normal"
    callback_delay_s: float = 0.0
    endpoints: list[str] | None = None
    seed: int | None = None

    @classmethod
    def parse(cls, data: Any) -> FaultSpec:
        if not isinstance(data, dict):
            raise ValueError("faults must be a JSON object")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown fault fields {unknown}; use {sorted(known)}")
        spec = cls(**data)
        for name in ("error_rate_5xx", "drop_rate", "track_reject_rate"):
            if not 0 <= float(getattr(spec, name)) <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        if int(spec.latency_ms) < 0 or int(spec.answer_delay_ms) < 0 or int(spec.answer_delay_count) < 0:
            raise ValueError("latency_ms, answer_delay_ms and answer_delay_count must not be negative")
        if not 500 <= int(spec.error_status) <= 599:
            raise ValueError("error_status must be a 5xx status")
        if spec.callback not in CALLBACK_MODES:
            raise ValueError(f"callback must be one of {list(CALLBACK_MODES)}")
        if spec.endpoints is not None and not isinstance(spec.endpoints, list):
            raise ValueError("endpoints must be a list of API paths")
        return spec


class Faults:
    """The active faults, consumed thread-safely by the request path and export jobs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.set(FaultSpec())

    def set(self, spec: FaultSpec) -> None:
        with self._lock:
            self.spec = spec
            self._rng = random.Random(spec.seed)
            self._delayed_all = spec.answer_delay_count == 0  # a count runs out; none means every answer
            self.injected: dict[str, int] = {"5xx": 0, "429": 0, "dropped": 0, "track_rejected": 0}

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {"faults": asdict(self.spec), "injected": dict(self.injected)}

    def _applies(self, path: str) -> bool:
        return self.spec.endpoints is None or path in self.spec.endpoints

    def latency_s(self, path: str) -> float:
        return self.spec.latency_ms / 1000 if self._applies(path) else 0.0

    def answer_delay_s(self, path: str) -> float:
        """Seconds to hold this answer back after handling the request."""
        with self._lock:
            if not self.spec.answer_delay_ms or not self._applies(path):
                return 0.0
            if self._delayed_all or self._take("answer_delay_count"):
                return self.spec.answer_delay_ms / 1000
            return 0.0

    def drop(self, path: str) -> bool:
        with self._lock:
            if not self._applies(path):
                return False
            hit = self._take("drop_connections") or self._chance(self.spec.drop_rate)
            self.injected["dropped"] += hit
            return hit

    def server_error(self, path: str) -> int | None:
        with self._lock:
            if not self._applies(path):
                return None
            hit = self._take("error_count") or self._chance(self.spec.error_rate_5xx)
            self.injected["5xx"] += hit
            return int(self.spec.error_status) if hit else None

    def burst_429(self, path: str) -> int | None:
        """Seconds to wait when this request is refused by a 429 burst, else None."""
        with self._lock:
            if not self._applies(path) or not self._take("burst_429"):
                return None
            self.injected["429"] += 1
            return max(1, int(self.spec.burst_429_retry_s))

    def reject_track_object(self) -> bool:
        with self._lock:
            if not self._applies("/users/track"):
                return False
            hit = self._chance(self.spec.track_reject_rate)
            self.injected["track_rejected"] += hit
            return hit

    def _take(self, counter: str) -> bool:
        left = getattr(self.spec, counter)
        if left > 0:
            setattr(self.spec, counter, left - 1)
            return True
        return False

    def _chance(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate
