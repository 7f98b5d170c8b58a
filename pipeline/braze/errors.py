"""Typed Braze errors whose messages name the endpoint and the fix.

They never carry the API key or request headers, only the endpoint, the status and what
Braze said, so they are safe to show in logs and in the Dagster UI.
"""

from __future__ import annotations

from typing import Any

# Permission a key needs for each endpoint (reference section 1.3).
PERMISSION_BY_ENDPOINT = {
    "/users/track": "users.track",
    "/users/export/segment": "users.export.segment",
    "/export/segment/cancel": "segments.list",
    "/users/export/ids": "users.export.ids",
    "/segments/list": "segments.list",
    "/segments/details": "segments.details",
    "/segments/data_series": "segments.data_series",
    "/campaigns/list": "campaigns.list",
    "/campaigns/details": "campaigns.details",
}


class BrazeError(RuntimeError):
    """A Braze call failed; `str()` says where, what Braze answered and what to do."""

    fix = "see Braze's answer above"

    def __init__(
        self,
        endpoint: str,
        message: str,
        *,
        status: int | None = None,
        fix: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.status = status
        self.braze_message = message
        self.errors = errors or []
        if fix:
            self.fix = fix
        answer = f"HTTP {status}: {message}" if status else message
        if self.errors:
            shown = "; ".join(_describe(error) for error in self.errors[:3])
            more = f" and {len(self.errors) - 3} more" if len(self.errors) > 3 else ""
            answer += f" ({shown}{more})"
        super().__init__(f"Braze {endpoint}: {answer}; {self.fix}")


def _describe(error: dict[str, Any]) -> str:
    if isinstance(error, dict) and "input_array" in error:
        return f"{error.get('input_array')}[{error.get('index')}]: {error.get('type')}"
    return str(error)


class BrazeAuthError(BrazeError):
    fix = (
        "check that BRAZE_API_KEY holds a REST API key of this workspace and that the REST endpoint "
        "is your instance's (a key only works on its own instance)"
    )


class BrazePermissionError(BrazeError):
    def __init__(self, endpoint: str, message: str, *, status: int | None = 403, **kwargs: Any) -> None:
        permission = PERMISSION_BY_ENDPOINT.get(endpoint)
        if permission and "fix" not in kwargs:
            kwargs["fix"] = (
                f"the API key lacks the '{permission}' permission; permissions cannot be edited, "
                f"so create a new REST API key that has it"
            )
        super().__init__(endpoint, message, status=status, **kwargs)


class BrazeRateLimitError(BrazeError):
    fix = "the rate limit stayed exhausted through every retry; lower the request rate or ask Braze to raise the limit"


class BrazeExportRunning(BrazeError):
    """Braze refused a segment export because an export of the same segment still runs.

    Braze answers it with a 429 like a rate limit, but waiting out a window does not help and
    neither does a higher limit: the running export has to end or be cancelled.
    """

    fix = (
        "an export of this segment is still running (an earlier run that was stopped, or someone else's); "
        "wait for it to end, or cancel it with POST /export/segment/cancel"
    )


class BrazeValidationError(BrazeError):
    fix = "Braze refused the request body; correct the fields its message names"


class BrazeNotFoundError(BrazeError):
    fix = "the path does not exist on this host; check the REST endpoint (e.g. https://rest.iad-01.braze.com)"


class BrazeServerError(BrazeError):
    fix = "Braze kept failing on its side through every retry; try again later (Braze does not replay failed calls)"


class BrazeConnectionError(BrazeError):
    fix = "Braze could not be reached through every retry; check the REST endpoint and the network"


class BrazeAnswerLost(BrazeConnectionError):
    """The request went out but no answer came back (read timeout, or the connection closed after sending).

    Braze may have applied it. `sent` is how many times it went out without an answer, so a
    caller can say how often the same body may have been applied; `timeout_s` is None when
    the connection closed rather than timed out.
    """

    def __init__(self, endpoint: str, *, sent: int, timeout_s: float | None, cause: str = "") -> None:
        self.sent = sent
        self.timeout_s = timeout_s
        if timeout_s is not None:
            self.what = f"did not answer {endpoint} within {timeout_s:g} s"
        else:
            self.what = f"closed the connection before answering {endpoint}" + (f" ({cause})" if cause else "")
        times = {1: "once", 2: "twice"}.get(sent, f"{sent} times")
        super().__init__(
            endpoint,
            f"{self.what}; sent {times} without an answer",
            fix="Braze may have applied it although the answer was lost; "
            "raise braze.request_timeout_s if Braze is slow",
        )
