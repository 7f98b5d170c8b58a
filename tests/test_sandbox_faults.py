"""Injected faults: 5xx, dropped connections, latency, partial errors (reference 2.3, 11)."""

from __future__ import annotations

import socket
import time

import pytest
import requests

from pipeline.braze import BrazeClient
from pipeline.braze.errors import BrazeAnswerLost, BrazeConnectionError, BrazeServerError


def test_5xx_surface_as_server_errors_and_are_retried(sandbox) -> None:
    sandbox.admin.set_faults(error_count=2, error_status=503)
    with sandbox.client(max_retries=0) as client, pytest.raises(BrazeServerError) as caught:
        client.get("/segments/list")
    assert caught.value.status == 503
    with sandbox.client(max_retries=3) as client:
        assert client.get("/segments/list")["message"] == "success"
        assert client.stats.server_errors == 1 and client.stats.retries == 1
    log = sandbox.admin.requests()
    assert [entry["status"] for entry in log] == [503, 503, 200]
    assert log[0]["key"] is None  # the gateway failed before the key was looked at


def test_error_rate_is_reproducible_with_a_seed(sandbox) -> None:
    def pattern() -> list[int]:
        sandbox.admin.set_faults(error_rate_5xx=0.5, seed=42)
        return [requests.get(f"{sandbox.url}/segments/list", headers=sandbox.headers()).status_code for _ in range(20)]

    first, second = pattern(), pattern()
    assert first == second
    assert 500 in first and 200 in first


def test_faults_can_be_scoped_to_endpoints(sandbox) -> None:
    sandbox.admin.set_faults(error_rate_5xx=1.0, endpoints=["/users/track"])
    assert requests.get(f"{sandbox.url}/segments/list", headers=sandbox.headers()).status_code == 200
    track = requests.post(
        f"{sandbox.url}/users/track", json={"attributes": [{"external_id": "u", "a": 1}]}, headers=sandbox.headers()
    )
    assert track.status_code == 500 and track.json()["message"] == "Internal Server Error"
    assert sandbox.admin.user_count() == 0


def test_dropped_connections_close_without_an_answer(sandbox) -> None:
    sandbox.admin.set_faults(drop_connections=1)
    with requests.Session() as session:
        with pytest.raises(requests.ConnectionError):
            session.get(f"{sandbox.url}/segments/list", headers=sandbox.headers())
        assert session.get(f"{sandbox.url}/segments/list", headers=sandbox.headers()).status_code == 200
    assert sandbox.admin.requests()[0]["dropped"] is True


def test_the_client_retries_a_dropped_connection_when_replay_is_safe(sandbox) -> None:
    sandbox.admin.set_faults(drop_connections=1)
    with sandbox.client(max_retries=2) as client:
        assert client.get("/segments/list")["message"] == "success"
        assert client.stats.connection_errors == 1
    sandbox.admin.set_faults(drop_connections=1)
    with sandbox.client(max_retries=0) as client, pytest.raises(BrazeConnectionError):
        client.get("/segments/list")


def test_a_connection_never_made_is_retried_and_counts_no_lost_answer() -> None:
    with socket.socket() as unused:  # a loopback port nobody listens on: nothing can be sent
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    client = BrazeClient(f"http://127.0.0.1:{port}", api_key="k", max_retries=2, backoff_base=0.01, timeout=1.0)
    with client, pytest.raises(BrazeConnectionError) as caught:
        client.track(attributes=[{"external_id": "u", "a": 1}])
    assert not isinstance(caught.value, BrazeAnswerLost)
    assert (client.stats.requests, client.stats.timeouts, client.stats.resends_after_timeout) == (3, 0, 0)


def test_a_track_body_that_is_not_replay_safe_is_never_resent_after_a_lost_answer(sandbox) -> None:
    sandbox.admin.set_faults(answer_delay_ms=1500, endpoints=["/users/track"])
    with sandbox.client(timeout=0.5, max_retries=4) as client, pytest.raises(BrazeAnswerLost) as caught:
        client.track(attributes=[{"external_id": "u", "visits": {"inc": 1}}])
    assert caught.value.sent == 1 and caught.value.timeout_s == 0.5
    assert "did not answer /users/track within 0.5 s" in str(caught.value)
    assert len(sandbox.admin.requests()) == 1
    assert (client.stats.timeouts, client.stats.resends_after_timeout) == (1, 0)


def test_a_replay_safe_track_body_is_resent_once_after_a_lost_answer(sandbox) -> None:
    sandbox.admin.set_faults(answer_delay_ms=1500, endpoints=["/users/track"])
    with sandbox.client(timeout=0.5, max_retries=4) as client, pytest.raises(BrazeAnswerLost) as caught:
        client.track(attributes=[{"external_id": "u", "tier": "gold"}])
    assert caught.value.sent == 2
    assert [e["status"] for e in sandbox.admin.requests()] == [201, 201]  # applied both times
    assert (client.stats.timeouts, client.stats.resends_after_timeout) == (2, 1)


def test_added_latency(sandbox) -> None:
    sandbox.admin.set_faults(latency_ms=300)
    started = time.monotonic()
    requests.get(f"{sandbox.url}/segments/list", headers=sandbox.headers())
    assert time.monotonic() - started >= 0.3
    sandbox.admin.clear_faults()
    started = time.monotonic()
    requests.get(f"{sandbox.url}/segments/list", headers=sandbox.headers())
    assert time.monotonic() - started < 0.3


def until(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_latency_past_the_client_timeout_still_applies_the_request(sandbox) -> None:
    sandbox.admin.set_faults(latency_ms=800, endpoints=["/users/track"])
    body = {"attributes": [{"external_id": "late", "a": 1}]}
    with pytest.raises(requests.ReadTimeout):
        requests.post(f"{sandbox.url}/users/track", json=body, headers=sandbox.headers(), timeout=0.3)
    assert sandbox.admin.user_count() == 0  # still waiting on the sandbox's side
    assert until(lambda: sandbox.admin.user_count() == 1)  # the client gave up; Braze did not


def test_a_delayed_answer_comes_after_the_request_is_applied_and_logged(sandbox) -> None:
    sandbox.admin.set_faults(answer_delay_ms=1000, answer_delay_count=1, endpoints=["/users/track"])
    body = {"attributes": [{"external_id": "late", "a": 1}]}
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        requests.post(f"{sandbox.url}/users/track", json=body, headers=sandbox.headers(), timeout=0.3)
    assert time.monotonic() - started < 0.9
    assert sandbox.admin.user_count() == 1
    assert [(e["status"], e["data_points"]) for e in sandbox.admin.requests()] == [(201, 1)]
    answer = requests.post(f"{sandbox.url}/users/track", json=body, headers=sandbox.headers(), timeout=0.3)
    assert answer.status_code == 201  # the count ran out: answers are on time again
    assert sandbox.admin.datapoints()["total"] == 2  # both applied, both billed


def test_partial_errors_on_demand(sandbox) -> None:
    sandbox.admin.set_faults(track_reject_rate=0.5, seed=7)
    with sandbox.client() as client:
        result = client.track(attributes=[{"external_id": f"u{i}", "a": i} for i in range(40)])
    rejected = {r.index for r in result.rejected}
    assert 5 < len(rejected) < 35
    assert all(r.reason.startswith("SANDBOX_FAULT") for r in result.rejected)
    assert result.attributes_processed == 40 - len(rejected)
    stored = {u["external_id"] for u in sandbox.admin.users()}
    assert stored == {f"u{i}" for i in range(40) if i not in rejected}


def test_clearing_faults_restores_normal_answers(sandbox) -> None:
    state = sandbox.admin.set_faults(error_rate_5xx=1.0)
    assert state["faults"]["error_rate_5xx"] == 1.0
    sandbox.admin.clear_faults()
    assert requests.get(f"{sandbox.url}/segments/list", headers=sandbox.headers()).status_code == 200
    with pytest.raises(Exception, match="unknown fault"):
        sandbox.admin.set_faults(explode=True)
