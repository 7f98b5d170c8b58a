"""Injected faults: 5xx, dropped connections, latency, partial errors (reference 2.3, 11)."""

from __future__ import annotations

import time

import pytest
import requests

from pipeline.braze.errors import BrazeConnectionError, BrazeServerError


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


def test_added_latency(sandbox) -> None:
    sandbox.admin.set_faults(latency_ms=300)
    started = time.monotonic()
    requests.get(f"{sandbox.url}/segments/list", headers=sandbox.headers())
    assert time.monotonic() - started >= 0.3
    sandbox.admin.clear_faults()
    started = time.monotonic()
    requests.get(f"{sandbox.url}/segments/list", headers=sandbox.headers())
    assert time.monotonic() - started < 0.3


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
