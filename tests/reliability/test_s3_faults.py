"""Fault matrix, the store's S3 failing: gone before a run, gone in the middle of a push.

The store goes through a relay (s3_relay.py) in front of moto that the test cuts, so S3
is unreachable for the pipeline while its objects survive for the re-run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from cells import DAY, GOAL, TRACK, USERS, C, G, applied, make_harness, nothing_published, payload, seed, wait
from conftest import SandboxHandle
from import_harness import ImportHarness, step
from polars.testing import assert_frame_equal
from s3_relay import S3Relay

from pipeline import layout
from pipeline.push import push_changes, read_baseline
from pipeline.storage import StorageError, open_store


@pytest.fixture
def relay(moto_s3: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Relay]:
    """This process reaches S3 through a relay the test can cut (the sandbox writes to moto directly)."""
    relay = S3Relay(moto_s3)
    monkeypatch.setenv("AWS_ENDPOINT_URL", relay.url)
    try:
        yield relay
    finally:
        relay.close()


def test_s3_gone_in_the_middle_of_a_push_fails_clearly_and_the_rerun_completes(sandbox, bucket, relay) -> None:
    store = open_store(f"s3://{bucket}/root")
    changes = payload()
    sent: list[str] = []

    def cut_after_the_first_batch(message: str) -> None:
        sent.append(message)
        if sum("users sent" in m for m in sent) == 1:
            relay.cut()

    with sandbox.client() as client, pytest.raises(Exception) as caught:
        push_changes(
            client, store, C, G, DAY, changes, allow_create=True, max_in_flight=1, progress=cut_after_the_first_batch
        )
    message = str(caught.value)
    assert isinstance(caught.value, StorageError) or "StorageError" in message or store.uri("") in message, message
    assert "\n" not in message and relay.refused > 0
    first = applied(sandbox)
    assert 75 <= sum(first.values()) < USERS  # it stopped

    relay.restore()
    with sandbox.client() as client:
        push_changes(client, store, C, G, DAY, changes, allow_create=True, max_in_flight=1)
    counts = applied(sandbox)
    assert set(counts) == {f"u{i:03d}" for i in range(USERS)}
    assert sum(n - 1 for n in counts.values()) <= 75  # only the batch whose journal could not be written
    assert_frame_equal(
        read_baseline(store, C, G).select("identity", "attribute", "value").sort("identity"),
        changes.select("identity", "attribute", "value").sort("identity"),
    )
    assert store.exists(layout.push_summary(C, G, DAY))
    assert len([e for e in sandbox.admin.requests() if e["path"] == TRACK]) >= USERS // 75


@pytest.fixture
def harness(sandbox: SandboxHandle, tmp_path, monkeypatch: pytest.MonkeyPatch) -> ImportHarness:
    return make_harness(sandbox, tmp_path, monkeypatch)


def test_s3_gone_before_an_import_run_fails_clearly_and_the_rerun_completes(harness: ImportHarness, relay) -> None:
    seed(harness, 30)
    connection = harness.connection(GOAL, wait=wait(20))
    relay.cut()
    with pytest.raises(StorageError) as failed:  # taking the day's lease in the store is the first write
        harness.run(DAY, connection)
    message = str(failed.value)
    assert "\n" not in message and harness.bucket in message and "check AWS_ENDPOINT_URL" in message, message
    assert Counter(r["path"] for r in harness.sandbox.admin.requests())["/users/export/segment"] == 0
    relay.restore()
    nothing_published(harness)

    rerun = harness.run(DAY, connection)
    assert rerun.success, rerun.failures
    assert step(rerun, "segment_export")["dagster/row_count"] == 30
    assert harness.snapshot(DAY).profiles.height == 30
