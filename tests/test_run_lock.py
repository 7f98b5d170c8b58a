"""One writer: the lease per store and day, its compare-and-swap on both stores, and the CLI's use of it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import make_bucket

from pipeline import layout
from pipeline.run_lock import Lease, RunLocked, acquire, release
from pipeline.storage import ObjectStore, open_store

DAY = "2026-11-01"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return open_store(str(tmp_path / "store"))
    request.getfixturevalue("moto_s3")
    return open_store(f"s3://{make_bucket()}/p")


def test_compare_and_swap_writes_only_over_the_version_read(store: ObjectStore) -> None:
    key = "locks/x.json"
    assert not store.write_if(key, b"a", "no-such-version")  # replacing needs an object
    assert store.write_if(key, b"a", None)
    assert not store.write_if(key, b"b", None)  # creating needs its absence
    data, version = store.read_versioned(key)
    assert data == b"a"
    assert store.write_if(key, b"c", version)
    assert not store.write_if(key, b"d", version), "a stale version must not overwrite"
    assert not store.delete_if(key, version)
    assert store.read_bytes(key) == b"c"
    assert store.delete_if(key, store.read_versioned(key)[1])
    assert not store.exists(key)
    assert [info.key for info in store.list("")] == []  # no lock files left behind


def test_a_second_run_of_the_day_is_refused_with_the_holder_named(store: ObjectStore) -> None:
    held = acquire(store, DAY, ["acme", "beta"])
    with pytest.raises(RunLocked) as refused:
        acquire(store, DAY, ["acme"])
    message = str(refused.value)
    assert message.startswith(f"acme {DAY} is being run by pid {os.getpid()} on host {socket.gethostname()} since ")
    assert "(connections acme, beta); wait for it" in message
    assert "--wait" in message and store.uri(layout.run_lease(DAY)) in message
    other_day = acquire(store, "2026-11-02", ["acme"])  # days are independent
    release(store, held)
    assert not store.exists(layout.run_lease(DAY))
    release(store, acquire(store, DAY, ["acme"]))
    release(store, other_day)


def write_lease(store: ObjectStore, lease: Lease) -> None:
    store.write_bytes(layout.run_lease(DAY), json.dumps(asdict(lease)).encode())


def a_lease(**changes: object) -> Lease:
    made = Lease("t0", socket.gethostname(), os.getpid(), None, datetime.now(UTC).isoformat(), DAY, ["acme"])
    return replace(made, **changes)


def test_a_lease_whose_process_is_gone_is_taken_over(store: ObjectStore) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    write_lease(store, a_lease(pid=dead_pid))
    said: list[str] = []
    mine = acquire(store, DAY, ["acme"], say=said.append)
    assert said == [
        f"took over the lease of {DAY} at {store.uri(layout.run_lease(DAY))} from pid {dead_pid} on host "
        f"{socket.gethostname()} since {said[0].split(' since ')[1].split(' (')[0]} (connections acme): "
        f"its process (pid {dead_pid}) is gone"
    ]
    assert json.loads(store.read_bytes(layout.run_lease(DAY)))["token"] == mine.token


def test_a_reused_pid_does_not_keep_a_dead_holders_lease(store: ObjectStore) -> None:
    write_lease(store, a_lease(process_start="1"))  # our pid, but a process that started at another time
    said: list[str] = []
    acquire(store, DAY, ["acme"], say=said.append)
    assert len(said) == 1 and "is gone" in said[0]


def test_another_hosts_lease_is_kept_until_it_is_older_than_the_limit(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROFILESYNC_LEASE_HOURS", "2")
    write_lease(store, a_lease(host="elsewhere", pid=1))
    with pytest.raises(RunLocked, match="pid 1 on host elsewhere"):
        acquire(store, DAY, ["acme"])
    write_lease(store, a_lease(host="elsewhere", started_at=(datetime.now(UTC) - timedelta(hours=3)).isoformat()))
    said: list[str] = []
    acquire(store, DAY, ["acme"], say=said.append)
    assert len(said) == 1 and "older than 2 hours (PROFILESYNC_LEASE_HOURS)" in said[0]


def test_a_lease_held_by_a_run_that_ended_is_not_released_by_it_after_a_takeover(store: ObjectStore) -> None:
    first = acquire(store, DAY, ["acme"])
    write_lease(store, a_lease(token="someone-else", host="elsewhere"))  # as if taken over meanwhile
    release(store, first)
    assert json.loads(store.read_bytes(layout.run_lease(DAY)))["token"] == "someone-else"


RACER = """
import sys
import time
from pipeline.run_lock import RunLocked, acquire
from pipeline.storage import open_store
sys.stdin.readline()
try:
    acquire(open_store(sys.argv[1]), "2026-11-01", ["acme"])
    print("held", flush=True)
    sys.stdin.read()  # the holder lives until the test has every answer
except RunLocked:
    print("refused", flush=True)
"""


def test_of_many_processes_racing_for_a_local_lease_exactly_one_wins(tmp_path: Path) -> None:
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path / "store")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(6)
    ]  # fmt: skip
    for racer in racers:  # released together, once all have imported
        assert racer.stdin is not None
        racer.stdin.write("go\n")
        racer.stdin.flush()
    outcomes = sorted(racer.stdout.readline().strip() for racer in racers if racer.stdout)
    for racer in racers:
        racer.communicate(timeout=60)
    assert outcomes == ["held"] + ["refused"] * 5


def test_jobs_carry_the_store_tag_the_instance_allows_one_run_of(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_schedules import definitions

    from assets.app.run import dagster_instance

    job = definitions(tmp_path).resolve_job_def("acme_sync")
    assert job.run_tags["profilesync/store"] == str(tmp_path / "store")
    assert job.run_tags["profilesync/connection"] == "acme"
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))  # dagster_instance sets it; restored after
    instance = dagster_instance(tmp_path / "home")
    limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    assert limits == [{"key": "profilesync/store", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
    assert instance.run_monitoring_enabled


def test_a_holder_that_ended_but_was_not_yet_reaped_is_gone(store: ObjectStore) -> None:
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    while Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.05)  # ended, not waited for: what a killed run is until its parent reaps it
    write_lease(store, a_lease(pid=zombie.pid))
    said: list[str] = []
    acquire(store, DAY, ["acme"], say=said.append)
    zombie.wait()
    assert len(said) == 1 and f"its process (pid {zombie.pid}) is gone" in said[0]
