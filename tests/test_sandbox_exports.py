"""`/users/export/segment` on the sandbox: files in the bucket, callbacks, concurrency (reference 4)."""

from __future__ import annotations

import gzip
import io
import json
import re
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline.braze.errors import BrazeExportRunning, BrazeValidationError

FIELDS = ["external_id", "email", "created_at", "custom_attributes", "user_aliases", "random_bucket"]


class CallbackReceiver:
    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                receiver.arrived.set()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/braze-callback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def callback() -> Iterator[CallbackReceiver]:
    receiver = CallbackReceiver()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def seed_users(sandbox, count: int, **extra) -> None:
    users = [{"external_id": f"u{i:03d}", "email": f"u{i}@example.com", "points": i, **extra} for i in range(count)]
    sandbox.admin.upsert_users(users)


def read_lines(store, key: str) -> list[dict]:
    data = store.read_bytes(key)
    if key.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            (member,) = archive.namelist()
            assert re.fullmatch(r"[0-9a-f]{32}\.json", member)
            text = archive.read(member).decode()
    else:
        text = gzip.decompress(data).decode()
    return [json.loads(line) for line in text.splitlines()]


def files_of(sandbox, segment_id: str, prefix: str) -> list[str]:
    return sorted(info.key for info in sandbox.store().list(f"segment-export/{segment_id}/") if prefix in info.key)


def test_answers_at_once_then_writes_gzip_json_lines_under_the_documented_layout(sandbox, callback) -> None:
    seed_users(sandbox, 12)
    segment = sandbox.admin.define_segment(
        "Points >= 5", {"field": "custom_attributes.points", "op": "gte", "value": 5}
    )
    sandbox.admin.configure(users_per_file=3)
    with sandbox.client() as client:
        prefix = client.export_segment(segment, FIELDS, callback_endpoint=callback.url, output_format="gzip")
    assert re.fullmatch(r"[0-9a-f-]{36}-\d{10}", prefix)
    assert abs(int(prefix.rsplit("-", 1)[1]) - time.time()) < 60
    assert callback.arrived.wait(10)
    assert callback.bodies == [{"success": True}]
    keys = files_of(sandbox, segment, prefix)
    assert len(keys) == 3  # 7 users, 3 per file
    for key in keys:
        assert re.fullmatch(rf"segment-export/{segment}/\d{{4}}-\d{{2}}-\d{{2}}/{prefix}/[0-9a-f]{{32}}\.json\.gz", key)
    assert keys[0].split("/")[2] == time.strftime("%Y-%m-%d", time.gmtime())
    users = [user for key in keys for user in read_lines(sandbox.store(), key)]
    assert sorted(u["external_id"] for u in users) == [f"u{i:03d}" for i in range(5, 12)]


def test_zip_is_the_default_format(sandbox) -> None:
    seed_users(sandbox, 2)
    segment = sandbox.admin.define_segment("All")
    answer = sandbox.client().post("/users/export/segment", {"segment_id": segment, "fields_to_export": FIELDS})
    assert answer["message"] == "success"
    job = sandbox.admin.wait_for_export(answer["object_prefix"])
    (key,) = job["files"]
    assert key.endswith(".zip")
    assert len(read_lines(sandbox.store(), key)) == 2


def test_exported_users_follow_the_documented_shape(sandbox) -> None:
    sandbox.admin.upsert_users(
        [
            {
                "external_id": "u1",
                "email": "ana@example.com",
                "first_name": "Ana",
                "tier": "gold",
                "points": 7,
                "tags": ["a"],
                "user_aliases": [{"alias_name": "a1", "alias_label": "crm"}],
                "created_at": "2020-07-10 15:00:00.000 UTC",
            },
            {"external_id": "u2", "first_name": None, "points": 1},
        ]
    )
    segment = sandbox.admin.define_segment("All")
    with sandbox.client() as client:
        everything = client.export_segment(segment, [*FIELDS, "first_name", "phone"])
        (all_key,) = sandbox.admin.wait_for_export(everything)["files"]
        chosen = client.export_segment(segment, ["external_id"], custom_attributes_to_export=["tier"])
        (some_key,) = sandbox.admin.wait_for_export(chosen)["files"]
    ana, ben = read_lines(sandbox.store(), all_key)
    assert ana == {
        "external_id": "u1",
        "email": "ana@example.com",
        "created_at": "2020-07-10 15:00:00.000 UTC",
        "custom_attributes": {"tier": "gold", "points": 7, "tags": ["a"]},
        "user_aliases": [{"alias_name": "a1", "alias_label": "crm"}],
        "random_bucket": ana["random_bucket"],
        "first_name": "Ana",
    }
    assert 0 <= ana["random_bucket"] <= 9999
    assert set(ben) == {"external_id", "created_at", "custom_attributes", "random_bucket"}  # nothing null or empty
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} UTC", ben["created_at"])
    assert read_lines(sandbox.store(), some_key) == [
        {"external_id": "u1", "custom_attributes": {"tier": "gold"}},
        {"external_id": "u2"},
    ]


def test_an_empty_segment_gives_one_empty_file(sandbox, callback) -> None:
    segment = sandbox.admin.define_segment("Nobody", {"field": "email", "op": "exists"})
    with sandbox.client() as client:
        prefix = client.export_segment(segment, ["external_id"], callback_endpoint=callback.url)
    assert callback.arrived.wait(10)
    (key,) = files_of(sandbox, segment, prefix)
    assert read_lines(sandbox.store(), key) == []


def test_a_second_export_of_a_running_segment_is_429(sandbox) -> None:
    seed_users(sandbox, 3)
    segment = sandbox.admin.define_segment("All")
    other = sandbox.admin.define_segment("Other")
    sandbox.admin.set_faults(export_delay_s=1.5)
    with sandbox.client(max_retries=0) as client:
        first = client.export_segment(segment, ["external_id"])
        with pytest.raises(BrazeExportRunning, match="already running") as refused:
            client.export_segment(segment, ["external_id"])  # a 429, told apart from a rate limit
        assert refused.value.status == 429
        client.export_segment(other, ["external_id"])  # another segment may export meanwhile
        assert sandbox.admin.wait_for_export(first)["status"] == "completed"
        assert client.export_segment(segment, ["external_id"]) != first  # and once done, it may again


def test_slow_exports_write_files_one_at_a_time(sandbox, callback) -> None:
    seed_users(sandbox, 4)
    segment = sandbox.admin.define_segment("All")
    sandbox.admin.configure(users_per_file=1)
    sandbox.admin.set_faults(export_file_delay_s=0.4)
    with sandbox.client() as client:
        prefix = client.export_segment(segment, ["external_id"], callback_endpoint=callback.url)
    deadline = time.monotonic() + 10
    while not files_of(sandbox, segment, prefix) and time.monotonic() < deadline:
        time.sleep(0.02)
    early = len(files_of(sandbox, segment, prefix))
    assert 1 <= early < 4 and not callback.arrived.is_set()  # files appear one by one, the callback last
    assert callback.arrived.wait(10)
    assert len(files_of(sandbox, segment, prefix)) == 4


def test_failed_exports_write_nothing_and_never_call_back(sandbox, callback) -> None:
    seed_users(sandbox, 3)
    segment = sandbox.admin.define_segment("All")
    sandbox.admin.set_faults(export_fail=True)
    with sandbox.client() as client:
        prefix = client.export_segment(segment, ["external_id"], callback_endpoint=callback.url)
    job = sandbox.admin.wait_for_export(prefix)
    assert job["status"] == "failed" and job["files"] == []
    assert not callback.arrived.wait(0.5)
    assert files_of(sandbox, segment, prefix) == []


def test_partial_failure_and_missing_callback_faults(sandbox, callback) -> None:
    seed_users(sandbox, 4)
    segment = sandbox.admin.define_segment("All")
    sandbox.admin.configure(users_per_file=1)
    sandbox.admin.set_faults(export_fail=True, export_fail_after_files=2)
    with sandbox.client() as client:
        failed = client.export_segment(segment, ["external_id"], callback_endpoint=callback.url)
        assert len(sandbox.admin.wait_for_export(failed)["files"]) == 2
        sandbox.admin.set_faults(callback="missing")
        done = client.export_segment(segment, ["external_id"], callback_endpoint=callback.url)
    assert sandbox.admin.wait_for_export(done)["status"] == "completed"
    assert len(files_of(sandbox, segment, done)) == 4
    assert not callback.arrived.wait(0.5)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"fields_to_export": ["external_id"]}, "segment_id"),
        ({"segment_id": "no-such-segment", "fields_to_export": ["external_id"]}, "no-such-segment"),
        ({"segment_id": "SEG"}, "fields_to_export"),
        ({"segment_id": "SEG", "fields_to_export": []}, "fields_to_export"),
        ({"segment_id": "SEG", "fields_to_export": ["external_id", "favourite_colour"]}, "favourite_colour"),
        ({"segment_id": "SEG", "fields_to_export": ["external_id"], "output_format": "csv"}, "output_format"),
        ({"segment_id": "SEG", "fields_to_export": ["campaigns_received"]}, "campaigns_received"),
    ],
)
def test_invalid_export_requests_are_400_naming_the_problem(sandbox, body: dict, message: str) -> None:
    segment = sandbox.admin.define_segment("All")
    if body.get("segment_id") == "SEG":
        body = {**body, "segment_id": segment}
    with sandbox.client() as client, pytest.raises(BrazeValidationError, match=message) as caught:
        client.post("/users/export/segment", body)
    assert caught.value.status == 400
    assert sandbox.admin.exports() == []


def test_cancel_stops_a_running_export(sandbox) -> None:
    seed_users(sandbox, 3)
    segment = sandbox.admin.define_segment("All")
    sandbox.admin.set_faults(export_delay_s=5)
    with sandbox.client() as client:
        prefix = client.export_segment(segment, ["external_id"])
        assert client.post("/export/segment/cancel", {"segment_id": segment})["message"] == "success"
    assert sandbox.admin.export(prefix)["status"] == "cancelled"
    assert files_of(sandbox, segment, prefix) == []
