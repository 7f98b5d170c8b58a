"""Fault matrix, Braze answering the push badly: 429 storms, 5xx, slow answers, dropped connections.

Each cell pushes 300 users (4 batches, 2 in flight) to the sandbox with a store on moto's S3,
under one fault on `/users/track`. The push either succeeds or fails with one line saying to
re-run; then, faults cleared, a re-run completes. Counted from the sandbox's request log: every
user reached Braze, none was applied twice except a batch whose answer was lost (at most the
batches in flight), and the acknowledged baseline never holds a user Braze did not apply.
"""

from __future__ import annotations

import pytest
from cells import DAY, TRACK, USERS, C, G, applied, payload
from polars.testing import assert_frame_equal

from pipeline import layout
from pipeline.push import PushError, push_changes, read_baseline
from pipeline.storage import open_store

IN_FLIGHT, BATCH = 2, 75

CELLS = {
    "429 storm with rate-limit headers": ({"burst_429": 6}, {}, 10.0),
    "429 storm with X-Ratelimit-Retry-After": ({"burst_429": 6}, {"retry_after_on_429": True}, 10.0),
    "5xx at 30%": ({"error_rate_5xx": 0.3, "error_status": 503, "seed": 7}, {}, 10.0),
    "5xx at 100%": ({"error_rate_5xx": 1.0, "error_status": 502}, {}, 10.0),
    "answers slower than the client timeout": ({"answer_delay_ms": 1500, "answer_delay_count": 2}, {}, 1.0),
    "dropped connections": ({"drop_rate": 0.3, "seed": 3}, {}, 10.0),
}


def baseline_users(store) -> set[str]:
    return {f.removeprefix('{"external_id":"').removesuffix('"}') for f in read_baseline(store, C, G)["identity"]}


@pytest.mark.parametrize("cell", list(CELLS))
def test_push_under_braze_faults_delivers_every_change_once_or_fails_clearly(sandbox, bucket, cell: str) -> None:
    faults, config, timeout = CELLS[cell]
    store = open_store(f"s3://{bucket}/root")
    if config:
        sandbox.admin.configure(**config)
    sandbox.admin.set_faults(**faults, endpoints=[TRACK])
    changes = payload()
    with sandbox.client(timeout=timeout, max_retries=3, pool_size=IN_FLIGHT) as client:
        try:
            push_changes(client, store, C, G, DAY, changes, allow_create=True, max_in_flight=IN_FLIGHT)
            failure = None
        except PushError as exc:
            failure = str(exc)
    if failure is not None:
        assert "\n" not in failure and ("rerunning" in failure or "re-run" in failure), failure
        assert not store.exists(layout.push_summary(C, G, DAY))  # the day is not claimed done
    assert baseline_users(store) <= set(applied(sandbox))  # never claims what Braze did not apply
    state = sandbox.admin.faults()
    hits = state["injected"]["429"] + state["injected"]["5xx"] + state["injected"]["dropped"]
    assert hits > 0 or state["faults"]["answer_delay_count"] == 0, state  # the fault did happen

    sandbox.admin.clear_faults()
    with sandbox.client(timeout=10.0) as client:
        push_changes(client, store, C, G, DAY, changes, allow_create=True, max_in_flight=IN_FLIGHT)
    counts = applied(sandbox)
    assert set(counts) == {f"u{i:03d}" for i in range(USERS)}  # every change reached Braze
    twice = sum(n - 1 for n in counts.values())
    assert max(counts.values()) <= 2 and twice <= IN_FLIGHT * BATCH  # resends bounded by the requests in flight
    if "slower" not in cell:
        assert twice == 0  # refused, failed or dropped before Braze handled it: nothing applied twice
    assert_frame_equal(
        read_baseline(store, C, G).select("identity", "attribute", "value").sort("identity"),
        changes.select("identity", "attribute", "value").sort("identity"),
    )
    assert store.exists(layout.push_summary(C, G, DAY))
    assert sandbox.admin.user("external_id", "u299")["custom_attributes"]["tier"] == "gold"
