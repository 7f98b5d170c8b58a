"""A push killed with SIGKILL mid-run and restarted ends with every change in Braze and no journaled batch resent."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import requests
from polars.testing import assert_frame_equal
from push_worker import CONNECTION, DAY, GOAL, changes

from pipeline import layout
from pipeline.push import read_baseline
from pipeline.storage import open_store

WORKER = Path(__file__).with_name("push_worker.py")
USERS, IN_FLIGHT = 2400, 2  # 32 batches
KILL_AFTER = 6  # batches answered 201
RERUN_KEY = "sandbox-rerun-key-5b7d"  # not a secret: a sandbox key of this test


def worker(sandbox, key: str, store_uri: str) -> list[str]:
    return [sys.executable, str(WORKER), sandbox.url, key, store_uri, str(USERS), str(IN_FLIGHT)]


def external_ids(body: dict) -> frozenset[str]:
    return frozenset(obj["external_id"] for obj in body["attributes"])


def test_a_killed_push_resumes_without_resending_what_it_journaled(sandbox, tmp_path) -> None:
    sandbox.admin.set_faults(latency_ms=80, endpoints=["/users/track"])
    sandbox.admin.add_keys([{"name": "rerun", "key": RERUN_KEY, "permissions": "all"}])
    store_uri = str(tmp_path / "store")
    store = open_store(store_uri)

    first = subprocess.Popen(
        worker(sandbox, sandbox.api_key, store_uri), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    answered, seq, deadline = 0, 0, time.monotonic() + 30
    while answered < KILL_AFTER:
        assert first.poll() is None, f"the push ended before it could be killed: {first.communicate()}"
        assert time.monotonic() < deadline, "the push sent nothing within 30 s"
        entries = sandbox.admin.requests(seq)
        seq = max([seq, *(e["seq"] for e in entries)])
        answered += sum(e["path"] == "/users/track" and e["status"] == 201 for e in entries)
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    assert first.returncode == -signal.SIGKILL
    time.sleep(0.5)  # requests the dead process left in flight are still answered and logged

    journal = [
        frozenset(pl.read_parquet(io.BytesIO(store.read_bytes(info.key)))["identity"].map_elements(
            lambda identity: json.loads(identity)["external_id"], return_dtype=pl.String
        ))
        for info in store.list(layout.push_journal_folder(CONNECTION, GOAL, DAY))
    ]  # fmt: skip
    # Every batch answered before the kill is journaled, but for those still being journaled.
    assert KILL_AFTER - IN_FLIGHT <= len(journal) < 32

    second = subprocess.run(worker(sandbox, RERUN_KEY, store_uri), capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout.strip().splitlines()[-1])

    log = [e for e in sandbox.admin.requests() if e["path"] == "/users/track"]
    accepted_first = [external_ids(e["body"]) for e in log if e["key"] == "default" and e["status"] == 201]
    sent_second = [uid for e in log if e["key"] == "rerun" for uid in external_ids(e["body"])]
    journaled = frozenset().union(*journal)
    assert set(journal) <= set(accepted_first)  # a journal file is exactly one accepted batch
    assert not journaled & set(sent_second), "the restart resent a batch the first run had journaled"
    # Batches Braze accepted while the process died before journaling them are the only resends.
    unjournaled = [batch for batch in accepted_first if batch not in journal]
    assert len(unjournaled) <= IN_FLIGHT
    assert set(sent_second) & frozenset().union(*accepted_first) == frozenset().union(*unjournaled)
    everyone = {f"k{i:05d}" for i in range(USERS)}
    assert len(sent_second) == len(set(sent_second)) == len(everyone - journaled)
    assert set(sent_second) | journaled == everyone
    assert report["already_acknowledged"] == 2 * len(journaled)
    assert report["users_accepted"] == USERS - len(journaled)

    expected = changes(USERS).select("identity", "attribute", "value").sort("identity", "attribute")
    assert_frame_equal(read_baseline(store, CONNECTION, GOAL).select("identity", "attribute", "value"), expected)

    sessions = threading.local()  # one keep-alive connection per thread

    def profile(i: int) -> dict:
        session = sessions.__dict__.setdefault("session", requests.Session())
        return session.get(f"{sandbox.url}/_sandbox/users/external_id/k{i:05d}", timeout=10).json()

    with ThreadPoolExecutor(4) as pool:
        profiles = list(pool.map(profile, range(USERS)))
    assert [p.get("custom_attributes") for p in profiles] == [{"points": i, "tier": f"t{i % 7}"} for i in range(USERS)]
