"""Fixed-window rate limits, their headers and 429s (reference section 2)."""

from __future__ import annotations

import math
import time

import pytest
import requests

from pipeline.braze.errors import BrazeRateLimitError

TRACK = {"attributes": [{"external_id": "u1", "a": 1}]}
STABLE_WINDOW_S = 1_000_000  # windows align to multiples of this: no test sees one end


def get(sandbox, path: str = "/segments/list") -> requests.Response:
    return requests.get(f"{sandbox.url}{path}", headers=sandbox.headers())


def wait_for_fresh_window(window_s: float, margin: float = 0.25) -> None:
    """Sleep until a new window has just begun, so a test's requests fall in one window."""
    left = window_s - (time.time() % window_s)
    if left < window_s - margin:
        time.sleep(left + 0.01)


def test_default_limits_follow_the_reference(sandbox) -> None:
    limits = sandbox.admin.config()["rate_limits"]
    assert limits["/users/track"] == {"limit": 3000, "window_s": 3}
    assert limits["/users/export/ids"] == {"limit": 250, "window_s": 60}
    assert limits["default"] == {"limit": 250_000, "window_s": 3600}
    before = time.time()
    answer = requests.post(f"{sandbox.url}/users/track", json=TRACK, headers=sandbox.headers())
    assert answer.headers["X-RateLimit-Limit"] == "3000"
    reset = int(answer.headers["X-RateLimit-Reset"])
    assert reset % 3 == 0 and before < reset <= before + 3  # epoch second where the aligned window ends
    hourly = int(get(sandbox).headers["X-RateLimit-Reset"])
    assert hourly % 3600 == 0 and before < hourly <= time.time() + 3600  # hourly windows end on the clock hour


def test_every_authenticated_answer_carries_the_headers_and_remaining_counts_down(sandbox) -> None:
    sandbox.admin.set_rate_limit("/users/track", 50, STABLE_WINDOW_S)
    answers = [
        requests.post(f"{sandbox.url}/users/track", json=TRACK, headers=sandbox.headers()),
        requests.post(f"{sandbox.url}/users/track", json={"attributes": []}, headers=sandbox.headers()),  # 400
        requests.post(f"{sandbox.url}/users/track", data="x", headers=sandbox.headers()),  # 415
    ]
    assert [a.status_code for a in answers] == [201, 400, 415]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["49", "48", "47"]
    assert all(a.headers["X-RateLimit-Limit"] == "50" for a in answers)


def test_over_the_limit_is_429_until_the_window_ends(sandbox) -> None:
    sandbox.admin.set_rate_limit("/users/track", 3, 1)
    wait_for_fresh_window(1, margin=0.5)
    statuses = [requests.post(f"{sandbox.url}/users/track", json=TRACK, headers=sandbox.headers()) for _ in range(5)]
    assert [a.status_code for a in statuses] == [201, 201, 201, 429, 429]
    refused = statuses[3]
    assert refused.headers["X-RateLimit-Remaining"] == "0" and "message" in refused.json()
    reset = int(refused.headers["X-RateLimit-Reset"])
    time.sleep(max(0.0, reset - time.time()) + 0.05)
    assert requests.post(f"{sandbox.url}/users/track", json=TRACK, headers=sandbox.headers()).status_code == 201


def test_reset_header_can_count_seconds_left(sandbox) -> None:
    sandbox.admin.configure(reset_header="seconds")
    sandbox.admin.set_rate_limit("default", 100, 30)
    reset = int(get(sandbox).headers["X-RateLimit-Reset"])
    assert 1 <= reset <= 30 and abs(reset - math.ceil(30 - time.time() % 30)) <= 1


def test_segments_and_campaigns_share_the_default_pool(sandbox) -> None:
    sandbox.admin.set_rate_limit("default", 4, STABLE_WINDOW_S)
    paths = ["/segments/list", "/campaigns/list", "/segments/list", "/campaigns/list", "/campaigns/list"]
    answers = [get(sandbox, path) for path in paths]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["3", "2", "1", "0", "0"]
    assert requests.post(f"{sandbox.url}/users/track", json=TRACK, headers=sandbox.headers()).status_code == 201


def test_mau_mode_429_carries_only_retry_after(sandbox) -> None:
    sandbox.admin.configure(retry_after_on_429=True)
    sandbox.admin.set_rate_limit("/users/track", 1, STABLE_WINDOW_S)
    ok = requests.post(f"{sandbox.url}/users/track", json=TRACK, headers=sandbox.headers())
    refused = requests.post(f"{sandbox.url}/users/track", json=TRACK, headers=sandbox.headers())
    assert ok.status_code == 201 and "X-RateLimit-Remaining" in ok.headers
    assert refused.status_code == 429
    assert not any(
        h.lower().startswith("x-ratelimit-") and h.lower() != "x-ratelimit-retry-after" for h in refused.headers
    )
    assert 1 <= int(refused.headers["X-Ratelimit-Retry-After"]) <= STABLE_WINDOW_S


def test_the_client_waits_out_a_429_and_succeeds(sandbox) -> None:
    sandbox.admin.set_rate_limit("/users/track", 2, 1)
    with sandbox.client(max_retries=4) as client:
        for i in range(5):
            client.track(attributes=[{"external_id": f"u{i}", "a": i}])
        assert client.stats.waited_s > 0
    assert sandbox.admin.user_count() == 5
    statuses = [r["status"] for r in sandbox.admin.requests()]
    assert statuses.count(201) == 5  # the client paced itself (and retried any 429) until all were in


def test_429_bursts_surface_as_errors_without_retries(sandbox) -> None:
    sandbox.admin.set_faults(burst_429=2, burst_429_retry_s=1)
    with sandbox.client(max_retries=0) as client:
        with pytest.raises(BrazeRateLimitError) as caught:
            client.get("/segments/list")
        assert caught.value.status == 429
    raw = get(sandbox)
    assert raw.status_code == 429 and raw.headers["X-RateLimit-Remaining"] == "0"
    assert int(raw.headers["X-RateLimit-Reset"]) - time.time() <= 2
    assert get(sandbox).status_code == 200
    assert sandbox.admin.faults()["injected"]["429"] == 2


def test_429_burst_is_retried_by_the_client(sandbox) -> None:
    sandbox.admin.set_faults(burst_429=1, burst_429_retry_s=1)
    with sandbox.client(max_retries=2) as client:
        assert client.get("/segments/list")["message"] == "success"
        assert client.stats.rate_limited == 1
