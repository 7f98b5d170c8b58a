"""Keys, permissions and request checks of the sandbox (reference 1.1, 1.3, 1.4, 3.1)."""

from __future__ import annotations

import http.client
import json

import pytest
import requests

from pipeline.braze.errors import BrazeAuthError, BrazeNotFoundError, BrazePermissionError
from pipeline.sandbox.settings import PERMISSION_BY_ENDPOINT

TRACK_BODY = {"attributes": [{"external_id": "u1", "a": 1}]}


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "sandbox-test-key-3f9a1c",
        "Basic sandbox-test-key-3f9a1c",
        'Bearer "sandbox-test-key-3f9a1c"',
        "Bearer wrong-key",
        "bearer sandbox-test-key-3f9a1c",
    ],
)
def test_missing_malformed_or_unknown_key_is_401(sandbox, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    answer = requests.post(f"{sandbox.url}/users/track", json=TRACK_BODY, headers=headers)
    assert answer.status_code == 401
    assert answer.json() == {"message": "Invalid API Key"}
    assert "X-RateLimit-Limit" not in answer.headers  # limits count after authentication
    assert sandbox.admin.user_count() == 0


def test_unknown_key_through_the_client(sandbox) -> None:
    with sandbox.client(api_key="not-a-key") as client, pytest.raises(BrazeAuthError) as caught:
        client.get("/segments/list")
    assert caught.value.status == 401 and "/segments/list" in str(caught.value)


def test_key_without_the_permission_is_403_access_denied(sandbox) -> None:
    sandbox.admin.add_keys([{"name": "readonly", "key": "ro-key-1", "permissions": ["segments.list"]}])
    with sandbox.client(api_key="ro-key-1") as client:
        assert list(client.iter_segments()) == []
        with pytest.raises(BrazePermissionError) as caught:
            client.track(attributes=TRACK_BODY["attributes"])
    assert caught.value.status == 403 and caught.value.braze_message == "Access Denied"
    assert "users.track" in str(caught.value)
    assert sandbox.admin.user_count() == 0
    assert sandbox.admin.requests()[-1]["key"] == "readonly"


@pytest.mark.parametrize(("path", "permission"), sorted(PERMISSION_BY_ENDPOINT.items()))
def test_each_endpoint_needs_its_permission(sandbox, path: str, permission: str) -> None:
    sandbox.admin.add_keys([{"name": "none", "key": "no-perms", "permissions": []}])
    sandbox.admin.add_keys([{"name": "only", "key": "only-this", "permissions": [permission]}])
    method = "GET" if path.startswith(("/segments", "/campaigns")) else "POST"
    denied = requests.request(method, f"{sandbox.url}{path}", json={}, headers={"Authorization": "Bearer no-perms"})
    allowed = requests.request(method, f"{sandbox.url}{path}", json={}, headers={"Authorization": "Bearer only-this"})
    assert denied.status_code == 403 and denied.json()["message"] == "Access Denied"
    assert allowed.status_code not in (401, 403)


def test_unknown_path_is_404_and_a_trailing_slash_is_403(sandbox) -> None:
    unknown = requests.get(f"{sandbox.url}/users/list", headers=sandbox.headers())
    assert unknown.status_code == 404 and "message" in unknown.json()
    slashed = requests.post(f"{sandbox.url}/users/track/", json=TRACK_BODY, headers=sandbox.headers())
    assert slashed.status_code == 403 and "trailing slash" in slashed.json()["message"]
    assert sandbox.admin.user_count() == 0
    with sandbox.client() as client, pytest.raises(BrazeNotFoundError):
        client.get("/users/list")


def test_wrong_method_is_405(sandbox) -> None:
    answer = requests.get(f"{sandbox.url}/users/track", headers=sandbox.headers())
    assert answer.status_code == 405 and "POST" in answer.json()["message"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_json_endpoints_need_the_json_content_type(sandbox, content_type: str | None) -> None:
    headers = sandbox.headers(**({"Content-Type": content_type} if content_type else {}))
    answer = requests.post(f"{sandbox.url}/users/track", data=json.dumps(TRACK_BODY), headers=headers)
    assert answer.status_code == 415 and "application/json" in answer.json()["message"]
    charset = sandbox.headers(**{"Content-Type": "application/json; charset=utf-8"})
    assert requests.post(f"{sandbox.url}/users/track", data=json.dumps(TRACK_BODY), headers=charset).status_code == 201


def test_body_over_4_mb_is_413_and_the_connection_stays_usable(sandbox) -> None:
    filler = "x" * 200
    objects = [{"external_id": f"u{i}", **{f"k{j}": filler for j in range(300)}} for i in range(75)]
    body = json.dumps({"attributes": objects})
    assert len(body) > 4 * 1024 * 1024
    with requests.Session() as session:
        answer = session.post(
            f"{sandbox.url}/users/track", data=body, headers=sandbox.headers(**{"Content-Type": "application/json"})
        )
        assert answer.status_code == 413 and "4 MB" in answer.json()["message"]
        assert session.get(f"{sandbox.url}/segments/list", headers=sandbox.headers()).status_code == 200
    assert sandbox.admin.user_count() == 0


def test_invalid_json_is_400_with_brazes_message(sandbox) -> None:
    for data in ('{"attributes": [', "NaN", ""):
        answer = requests.post(
            f"{sandbox.url}/users/track", data=data, headers=sandbox.headers(**{"Content-Type": "application/json"})
        )
        assert answer.status_code == 400
        assert answer.json() == {"message": "Error while parsing request body. Please check your syntax."}


def test_the_request_log_never_holds_the_key(sandbox) -> None:
    requests.post(f"{sandbox.url}/users/track", json=TRACK_BODY, headers=sandbox.headers())
    requests.post(f"{sandbox.url}/users/track", json=TRACK_BODY, headers={"Authorization": "Bearer leaked-guess"})
    log = sandbox.admin.requests()
    assert [entry["key"] for entry in log] == ["default", None]
    assert sandbox.api_key not in json.dumps(log) and "leaked-guess" not in json.dumps(log)


def test_keep_alive_connections_are_reused(sandbox) -> None:
    host, port = sandbox.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        answers, sockets = [], []
        for _ in range(3):
            connection.request("GET", "/segments/list", headers=sandbox.headers())
            answer = connection.getresponse()
            answers.append((answer.status, answer.getheader("Connection"), json.loads(answer.read())))
            sockets.append(connection.sock)  # http.client drops its socket when the server closes
        assert [a[0] for a in answers] == [200, 200, 200] and all(a[1] != "close" for a in answers)
        assert sockets[0] is not None and all(s is sockets[0] for s in sockets)
    finally:
        connection.close()


def test_the_retired_api_key_parameter_is_not_accepted(sandbox) -> None:
    by_query = requests.get(f"{sandbox.url}/segments/list", params={"api_key": sandbox.api_key})
    by_body = requests.post(f"{sandbox.url}/users/track", json={**TRACK_BODY, "api_key": sandbox.api_key})
    assert (by_query.status_code, by_body.status_code) == (401, 401)
