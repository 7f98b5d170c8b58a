"""The Braze REST surface of the sandbox: routing, faults, auth, rate limits, body checks.

Order of checks for an API call, first failure wins:
unknown path 404 (a known path with a trailing slash 403; wrong method 405) → injected faults
(latency, dropped connection, 5xx) → `Authorization: Bearer KEY` 401 → permission 403 → rate
limit 429 (and injected 429 bursts) → `Content-Type: application/json` 415 → body over 4 MB 413
→ invalid JSON 400 → the endpoint; an injected answer delay then holds the answer back. Every
answer after authentication carries the `X-RateLimit-*` headers; every error is a JSON object with `message`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request

from pipeline.braze.rules import MAX_BODY_BYTES
from pipeline.sandbox import exports, readers, track
from pipeline.sandbox.auth import bearer_token
from pipeline.sandbox.calls import Answer, Call, error
from pipeline.sandbox.ratelimit import pool_for
from pipeline.sandbox.settings import JSON_BODY_ENDPOINTS, PERMISSION_BY_ENDPOINT
from pipeline.sandbox.state import Sandbox

Handler = Callable[[Sandbox, Call], Answer]
HANDLERS: dict[str, tuple[str, Handler]] = {
    "/users/track": ("POST", track.handle),
    "/users/export/segment": ("POST", exports.handle_export),
    "/export/segment/cancel": ("POST", exports.handle_cancel),
    "/users/export/ids": ("POST", readers.export_ids),
    "/segments/list": ("GET", readers.segments_list),
    "/segments/details": ("GET", readers.segments_details),
    "/segments/data_series": ("GET", readers.segments_data_series),
    "/campaigns/list": ("GET", readers.campaigns_list),
    "/campaigns/details": ("GET", readers.campaigns_details),
}
ROUTES = Map([Rule(path, endpoint=path, methods=[method]) for path, (method, _) in HANDLERS.items()])
PARSE_ERROR = "Error while parsing request body. Please check your syntax."
DROPPED = Answer(0, {})


def answer_call(sb: Sandbox, request: Request) -> Answer:
    """Answer one API request and record it in the request log."""
    started = time.monotonic()
    call = Call(path=request.path, args=request.args)
    answer = _answer(sb, request, call)
    entry = {
        "time": datetime.now(UTC).isoformat(),
        "method": request.method,
        "path": request.path,
        "query": request.args.to_dict(),
        "status": answer.status or None,
        "dropped": answer is DROPPED,
        "key": call.key_name or None,
        "body": call.body,
        "data_points": call.data_points,
        "outcome": call.outcome,
        "duration_ms": round((time.monotonic() - started) * 1000, 2),
    }
    with sb.lock:
        sb.log.add(entry)
    delay = 0.0 if answer is DROPPED else sb.faults.answer_delay_s(request.path)
    if delay:
        time.sleep(delay)  # the request is applied and logged; only its answer is late
    return answer


def _answer(sb: Sandbox, request: Request, call: Call) -> Answer:
    path = request.path
    try:
        ROUTES.bind_to_environ(request.environ).match()
    except NotFound:
        if path.rstrip("/") in HANDLERS:
            return error(403, f"Access Denied: '{path}' is not a Braze path; remove the trailing slash")
        return error(404, f"Not Found: no endpoint {path}")
    except MethodNotAllowed:
        return error(405, f"Method Not Allowed: {path} takes {HANDLERS[path][0]}")

    delay = sb.faults.latency_s(path)
    if delay:
        time.sleep(delay)
    if sb.faults.drop(path):
        _drop(request.environ)
        return DROPPED
    status = sb.faults.server_error(path)
    if status:
        return error(status, HTTPStatus(status).phrase)

    key = sb.keys.get(bearer_token(request.headers.get("Authorization")) or "")
    if key is None:
        return error(401, "Invalid API Key")
    call.key_name = key.name
    if PERMISSION_BY_ENDPOINT[path] not in key.permissions:
        return error(403, "Access Denied")

    headers, refused = _rate_limit(sb, path)
    answer = refused or _endpoint(sb, request, call)
    answer.headers.update(headers)
    return answer


def _rate_limit(sb: Sandbox, path: str) -> tuple[dict[str, str], Answer | None]:
    limits = sb.config.rate_limits
    pool = pool_for(path, limits)
    now = time.time()
    decision = sb.limiter.hit(pool, int(limits[pool]["limit"]), float(limits[pool]["window_s"]), now)
    headers = decision.headers(sb.config.reset_header)
    burst = sb.faults.burst_429(path)
    if decision.allowed and not burst:
        return headers, None
    wait = burst or decision.retry_after()
    if sb.config.retry_after_on_429:  # MAU contracts: the three headers give way to Retry-After
        headers = {"X-Ratelimit-Retry-After": str(wait)}
    elif burst:
        reset = int(now) + wait if sb.config.reset_header == "epoch" else wait
        headers = {**headers, "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    return headers, error(429, f"API rate limit exceeded for {path}; retry after the window resets")


def _endpoint(sb: Sandbox, request: Request, call: Call) -> Answer:
    path = request.path
    if path in JSON_BODY_ENDPOINTS:
        if request.mimetype != "application/json":
            return error(415, "Unsupported Media Type: send the body as JSON with Content-Type: application/json")
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return error(413, f"Payload Too Large: the body exceeds {MAX_BODY_BYTES // (1024 * 1024)} MB")
        data = request.stream.read(MAX_BODY_BYTES + 1)
        if len(data) > MAX_BODY_BYTES:
            return error(413, f"Payload Too Large: the body exceeds {MAX_BODY_BYTES // (1024 * 1024)} MB")
        try:
            call.body = json.loads(data.decode("utf-8"), parse_constant=_no_constants)
        except (ValueError, UnicodeDecodeError):
            return error(400, PARSE_ERROR)
    return HANDLERS[path][1](sb, call)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _drop(environ: dict[str, Any]) -> None:
    """Shut the connection down without a byte of answer, as a failing load balancer would."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    environ["sandbox.dropped"] = True
