"""A store failing under the push: the push's own error is the one reported."""

from __future__ import annotations

import polars as pl
import pytest

from pipeline import layout
from pipeline.push import CHANGES_SCHEMA, PushError, canonical, push_changes
from pipeline.storage import open_store


def test_the_push_error_is_reported_not_the_dead_letter_write_after_it(sandbox, tmp_path) -> None:
    store = open_store(str(tmp_path / "store"))
    folder = tmp_path / "store" / layout.push_folder("acme", "vip", "2026-03-01")
    folder.mkdir(parents=True)  # the replaced values are written (before sending); journal and dead letters fail
    (folder / "journal").write_text("a file where the journal folder goes\n")
    (folder / "dead_letter.jsonl").mkdir()
    changes = pl.DataFrame(
        [('{"external_id":"u1"}', "tier", canonical("gold"), None, "p1")], schema=CHANGES_SCHEMA, orient="row"
    )
    with sandbox.client(max_retries=0) as client, pytest.raises(PushError) as caught:
        push_changes(client, store, "acme", "vip", "2026-03-01", changes, allow_create=True)
    message = str(caught.value)
    assert "1 of 1 batches failed (batch 0:" in message and "rerunning this day sends only the rest" in message
    assert "dead letter(s) were not written either" in message
