"""Fault matrix, a backfill after later days: an older day pushed (under 5xx) after a newer one.

The older day's values for attributes Braze holds newer are never sent; its other changes
arrive once; the baseline keeps each pair's newest value with the day it came from.
"""

from __future__ import annotations

from collections import Counter

import polars as pl
from cells import TRACK, USERS, C, G, payload

from pipeline.push import PushError, canonical, push_changes, read_baseline
from pipeline.storage import open_store

OLDER, LATER = "2026-11-01", "2026-11-02"


def older_day() -> pl.DataFrame:
    """Day 1 as computed before day 2 was pushed: tier silver (older), plus a new attribute."""
    tiers = payload().with_columns(pl.lit(canonical("silver")).alias("value"))
    joined = payload().with_columns(pl.lit("joined").alias("attribute"), pl.lit(canonical("2026")).alias("value"))
    return pl.concat([tiers, joined]).sort("identity", "attribute")


def test_backfill_after_later_days_never_rolls_braze_back(sandbox, bucket) -> None:
    store = open_store(f"s3://{bucket}/root")
    with sandbox.client(max_retries=1) as client:
        push_changes(client, store, C, G, LATER, payload(), allow_create=True, max_in_flight=2)
        since = sandbox.admin.last_seq()
        sandbox.admin.set_faults(error_rate_5xx=0.5, error_status=503, seed=2, endpoints=[TRACK])
        try:
            push_changes(client, store, C, G, OLDER, older_day(), allow_create=True, max_in_flight=2)
        except PushError as exc:
            assert "\n" not in str(exc) and "rerunning this day sends only the rest" in str(exc)
        sandbox.admin.clear_faults()
        report = push_changes(client, store, C, G, OLDER, older_day(), allow_create=True, max_in_flight=2)
    sent = [
        obj
        for e in sandbox.admin.requests(since)
        if e["path"] == TRACK and e["status"] == 201
        for obj in e["body"]["attributes"]
    ]
    assert all("tier" not in obj for obj in sent)  # the older tier was held back, never sent
    assert Counter(obj["external_id"] for obj in sent) == Counter({f"u{i:03d}": 1 for i in range(USERS)})
    assert report.held_back == USERS
    assert sandbox.admin.user("external_id", "u123")["custom_attributes"] == {"tier": "gold", "joined": "2026"}
    baseline = read_baseline(store, C, G)
    assert baseline.group_by("attribute", "value", "as_of").len().sort("attribute").rows() == [
        ("joined", canonical("2026"), OLDER, USERS),
        ("tier", canonical("gold"), LATER, USERS),
    ]
