"""The production Braze REST client: one keep-alive session, paced, retried, typed errors."""

from __future__ import annotations

import ipaddress
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from pipeline.braze import rules
from pipeline.braze.errors import (
    BrazeAnswerLost,
    BrazeAuthError,
    BrazeConnectionError,
    BrazeError,
    BrazeExportRunning,
    BrazeNotFoundError,
    BrazePermissionError,
    BrazeRateLimitError,
    BrazeServerError,
    BrazeValidationError,
)
from pipeline.braze.keys import KEY_FIX, key_problem
from pipeline.braze.pacing import RateLimitPacer
from pipeline.braze.track import TrackResult, track

API_KEY_ENV = "BRAZE_API_KEY"
_USER_AGENT = "profilesync/0.1 (+https://github.com/profilesync/profilesync)"


def validate_base_url(url: str) -> str:
    """The REST endpoint without a trailing slash; https everywhere but loopback."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    example = "use your instance's REST endpoint, e.g. https://rest.iad-01.braze.com"
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"Braze REST endpoint {url!r} is not an http(s) URL; {example}")
    if parts.scheme == "http" and not is_loopback(host):
        raise ValueError(f"Braze REST endpoint {url!r} must use https (plain http only on loopback); {example}")
    if host.startswith("sdk.") or host.startswith("dashboard"):
        raise ValueError(f"{host} is Braze's {host.split('.')[0]} host, not the REST API; {example}")
    if parts.query or parts.fragment:
        raise ValueError(f"Braze REST endpoint {url!r} must not carry a query or fragment; {example}")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def is_loopback(host: str) -> bool:
    """localhost or any loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class ClientStats:
    """What the client did, for run metadata."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    connection_errors: int = 0
    timeouts: int = 0  # sent, but no answer came back (read timeout, connection closed after sending)
    resends_after_timeout: int = 0
    waited_s: float = 0.0
    answers: int = 0  # requests answered (any status), and the seconds from sending to their answers
    answer_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: float) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, float]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


@dataclass(frozen=True)
class Reply:
    """A 2xx answer's JSON body and how often the request went out before it without an answer."""

    data: dict[str, Any]
    lost_answers: int = 0


class BrazeClient:
    """Calls Braze's REST API the way Braze asks: paced by its headers, retried with backoff.

    The API key comes from the caller or `BRAZE_API_KEY`; it lives only in the session's
    Authorization header and never appears in reprs, logs or error messages.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        max_retries: int = 4,
        timeout: float = 30.0,
        backoff_base: float = 0.25,
        backoff_cap: float = 30.0,
        pool_size: int = 32,
        sleep: Callable[[float], None] = time.sleep,
        api_key_env: str = API_KEY_ENV,
    ) -> None:
        """`api_key_env` names the variable the key came from, for messages about it."""
        self.base_url = validate_base_url(base_url)
        key = api_key if api_key is not None else os.environ.get(api_key_env, "")
        if not key.strip():
            raise BrazeAuthError("(configuration)", f"no API key given and {api_key_env} is not set")
        problem = key_problem(key, api_key_env)
        if problem:
            raise BrazeAuthError("(configuration)", problem, fix=KEY_FIX)
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.stats = ClientStats()
        self.pool_size = pool_size  # connections kept open: more threads than this reconnect each time
        self._sleep = sleep
        self._pacer = RateLimitPacer(sleep=sleep)
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers.update({"Authorization": f"Bearer {key.strip()}", "User-Agent": _USER_AGENT})

    def __repr__(self) -> str:
        return f"BrazeClient(base_url={self.base_url!r})"

    def rate_window(self, endpoint: str) -> tuple[int | None, int | None, float]:
        """(limit, requests left less those sent, seconds to the reset) of the endpoint's rate-limit window."""
        return self._pacer.view(endpoint)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> BrazeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -----------------------------------------------------------------------

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        replay_safe: bool = True,
    ) -> dict[str, Any]:
        """One call with pacing and bounded retries; returns the JSON body of a 2xx answer (see `exchange`)."""
        return self.exchange(method, endpoint, body=body, params=params, replay_safe=replay_safe).data

    def exchange(
        self,
        method: str,
        endpoint: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        replay_safe: bool = True,
        resends_after_lost_answer: int | None = None,
    ) -> Reply:
        """One call with pacing and bounded retries; the 2xx answer and how often its answer was lost.

        429s and connections that failed before sending are always retried (Braze processed
        nothing). 5xx answers and lost answers (read timeout, connection closed after sending)
        are retried only when `replay_safe`, because Braze may have processed the first attempt
        and a replayed increment or event would count twice; a lost answer is resent at most
        `resends_after_lost_answer` times (None: as often as `max_retries` allows), because even
        a harmless replay is billed again. Then `BrazeAnswerLost` says how often it went out.
        """
        url = self.base_url + endpoint
        lost = 0  # times the request went out and no answer came back
        for attempt in range(self.max_retries + 1):
            slot = self._pacer.acquire(endpoint)
            self.stats.add(waited_s=slot.waited)
            self.stats.add(requests=1, retries=1 if attempt else 0)
            last = attempt == self.max_retries
            try:
                response = self._send(method, url, body, params)
            except BrazeError:
                self._pacer.release(endpoint)
                raise
            except (requests.ConnectionError, requests.Timeout) as exc:
                self._pacer.release(endpoint)
                self.stats.add(connection_errors=1)
                if _never_sent(exc):
                    if last:
                        raise BrazeConnectionError(endpoint, f"{type(exc).__name__} contacting {url}") from None
                    self._backoff(attempt)
                    continue
                lost += 1
                self.stats.add(timeouts=1)
                allowed = self.max_retries if resends_after_lost_answer is None else resends_after_lost_answer
                if last or not replay_safe or lost > allowed:
                    raise _answer_lost(endpoint, exc, lost, self.timeout) from None
                self.stats.add(resends_after_timeout=1)
                self._backoff(attempt)
                continue
            self.stats.add(answers=1, answer_s=response.elapsed.total_seconds())
            hold = self._pacer.record(endpoint, response.status_code, response.headers, slot)
            if response.status_code == 429:
                if hold is None and _export_running(endpoint, response):
                    raise BrazeExportRunning(endpoint, _json(response).get("message", ""), status=429)
                self.stats.add(rate_limited=1)
                if last:
                    raise _error(endpoint, response)
                self._backoff(attempt, at_least=hold)
                continue
            if response.status_code >= 500:
                self.stats.add(server_errors=1)
                if last or not replay_safe:
                    raise _error(endpoint, response)
                self._backoff(attempt)
                continue
            if response.status_code >= 400:
                raise _error(endpoint, response)
            return Reply(_json(response), lost)
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt

    def _send(
        self, method: str, url: str, body: dict[str, Any] | None, params: dict[str, Any] | None
    ) -> requests.Response:
        """The request, with errors that would quote a header replaced by ones that do not.

        requests' InvalidHeader repeats the header (the key is one) and http.client's
        UnicodeEncodeError the character it could not encode. The key is checked when the client
        is made, so these mean a header went bad some other way; the original is dropped, not
        chained, so no traceback carries it."""
        refused = None
        try:
            return self._session.request(method, url, json=body, params=params, timeout=self.timeout)
        except (requests.exceptions.InvalidHeader, UnicodeError) as exc:
            refused = type(exc).__name__
        raise BrazeError(
            url.removeprefix(self.base_url),
            f"{refused}: a request header holds characters HTTP cannot carry (not shown, it may hold the key)",
            fix=KEY_FIX,
        )

    def _backoff(self, attempt: int, at_least: float | None = None) -> None:
        # Full jitter keeps many workers from retrying in lockstep.
        delay = random.uniform(0, min(self.backoff_cap, self.backoff_base * 2**attempt))
        if at_least is not None:
            delay = at_least + random.uniform(0, self.backoff_base)
        self.stats.add(waited_s=delay)
        self._sleep(delay)

    def get(self, endpoint: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.request("GET", endpoint, params=params)

    def post(self, endpoint: str, body: dict[str, Any], *, replay_safe: bool = True) -> dict[str, Any]:
        return self.request("POST", endpoint, body=body, replay_safe=replay_safe)

    # -- endpoints -----------------------------------------------------------------------

    def track(
        self,
        attributes: list[dict[str, Any]] | tuple[()] = (),
        events: list[dict[str, Any]] | tuple[()] = (),
        purchases: list[dict[str, Any]] | tuple[()] = (),
    ) -> TrackResult:
        """`/users/track`, with Braze's per-object errors mapped back to the records sent."""
        return track(self, list(attributes), list(events), list(purchases))

    def export_segment(
        self,
        segment_id: str,
        fields_to_export: list[str],
        *,
        custom_attributes_to_export: list[str] | None = None,
        callback_endpoint: str | None = None,
        output_format: str = "gzip",
    ) -> str:
        """Ask Braze to write a segment to the export bucket; returns the `object_prefix`.

        A lost answer is not resent: Braze may have started the export, and a second request
        would meet it (`BrazeExportRunning`). The caller cancels or waits (`export_start.py`).
        """
        body: dict[str, Any] = {
            "segment_id": segment_id,
            "fields_to_export": list(fields_to_export),
            "output_format": output_format,
        }
        if custom_attributes_to_export:
            body["custom_attributes_to_export"] = list(custom_attributes_to_export)
        if callback_endpoint:
            body["callback_endpoint"] = callback_endpoint
        answer = self.exchange("POST", "/users/export/segment", body=body, resends_after_lost_answer=0).data
        prefix = answer.get("object_prefix")
        if not prefix:
            raise BrazeError("/users/export/segment", f"answer carries no object_prefix: {answer}")
        return str(prefix)

    def cancel_segment_export(self, segment_id: str) -> dict[str, Any]:
        """`/export/segment/cancel`: stop every running export of the segment (harmless when none runs)."""
        return self.post("/export/segment/cancel", {"segment_id": segment_id})

    def export_ids(
        self,
        *,
        external_ids: list[str] | tuple[()] = (),
        user_aliases: list[dict[str, str]] | tuple[()] = (),
        fields_to_export: list[str],
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"fields_to_export": list(fields_to_export)}
        if external_ids:
            body["external_ids"] = list(external_ids)
        if user_aliases:
            body["user_aliases"] = list(user_aliases)
        return self.post("/users/export/ids", body)

    def iter_segments(self, sort_direction: str = "asc") -> Iterator[dict[str, Any]]:
        return self._pages("/segments/list", "segments", {"sort_direction": sort_direction})

    def segment_details(self, segment_id: str) -> dict[str, Any]:
        return self.get("/segments/details", {"segment_id": segment_id})

    def segment_size(self, segment_id: str) -> int | None:
        """Braze's latest daily size estimate of a segment, or None when Braze keeps none.

        `/segments/data_series` only has data for segments with analytics tracking turned on;
        Braze calls the figure an estimate, so compare with it within a tolerance.
        """
        series = self.get("/segments/data_series", {"segment_id": segment_id, "length": 1}).get("data") or []
        sizes = [point for point in series if isinstance(point, dict) and isinstance(point.get("size"), int)]
        return max(sizes, key=lambda point: str(point.get("time")))["size"] if sizes else None

    def iter_campaigns(self, include_archived: bool = False) -> Iterator[dict[str, Any]]:
        params = {"include_archived": str(include_archived).lower()}
        return self._pages("/campaigns/list", "campaigns", params)

    def campaign_details(self, campaign_id: str) -> dict[str, Any]:
        return self.get("/campaigns/details", {"campaign_id": campaign_id})

    def _pages(self, endpoint: str, key: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a paged list once, fetching pages only as they are consumed."""
        seen: set[str] = set()
        page = 0
        while True:
            items = self.get(endpoint, {**params, "page": page}).get(key) or []
            for item in items:
                if item.get("id") not in seen:  # a page shifting under us must not repeat items
                    seen.add(item.get("id"))
                    yield item
            if len(items) < rules.PAGE_SIZE:
                return
            page += 1


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the connection failed before the request left, so resending cannot duplicate it."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False  # a read timeout: the request went out
    reason = exc.args[0].reason if exc.args and isinstance(exc.args[0], MaxRetryError) else None
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def _answer_lost(endpoint: str, exc: requests.RequestException, sent: int, timeout: float) -> BrazeAnswerLost:
    timed_out = isinstance(exc, requests.Timeout)
    return BrazeAnswerLost(endpoint, sent=sent, timeout_s=timeout if timed_out else None, cause=type(exc).__name__)


def _export_running(endpoint: str, response: requests.Response) -> bool:
    """A 429 that refuses a second export of a running segment, not a rate limit.

    The caller has already found the rate-limit window open (no Retry-After, requests
    remaining); Braze's message then says the segment's export is already running. The cap on
    concurrent exports ("100 segment exports are already running") is not this: it clears as
    other exports end, so it stays with the retried 429s.
    """
    message = str(_json(response).get("message") or "").lower()
    return endpoint == "/users/export/segment" and "already running" in message and "exports are" not in message


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {"data": data}


def _error(endpoint: str, response: requests.Response) -> BrazeError:
    data = _json(response)
    message = str(data.get("message") or response.reason or "no message")
    errors = data.get("errors") if isinstance(data.get("errors"), list) else None
    status = response.status_code
    kinds: dict[int, type[BrazeError]] = {
        401: BrazeAuthError,
        403: BrazePermissionError,
        404: BrazeNotFoundError,
        429: BrazeRateLimitError,
    }
    kind = kinds.get(status) or (BrazeServerError if status >= 500 else BrazeValidationError)
    return kind(endpoint, message, status=status, errors=errors)
