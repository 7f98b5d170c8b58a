"""Progress of long work: bars on an interactive terminal, plain lines everywhere else.

The plain mode of a whole run (stderr a pipe) is checked in test_secrets.py's `profilesync run`.
"""

from __future__ import annotations

import io
import os
import re
import urllib.request
from pathlib import Path

import dagster as dg
import pytest
from rich.console import Console

from assets.app.progress import showing, wanted
from assets.app.run_logging import materialize_quietly
from assets.progress import step_progress
from pipeline.braze.callback import CallbackListener
from pipeline.braze.segment_export import wait_for_files
from pipeline.progress import Counts, Pace, ProgressLine, counts_of
from pipeline.push.progress import done_line, progress_line
from pipeline.staging.stage import stage_export
from pipeline.storage import open_store

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dg.asset(partitions_def=dg.StaticPartitionsDefinition(["2026-11-01"]))
def long_work(context) -> None:  # untyped: Dagster refuses a string annotation of `context`
    """Reports as the engine's export wait and push do, through the step's log."""
    report = step_progress(context.log)
    waiting = Counts("segment s1 export", 45, 600, "s", "3 file(s) so far, timeout 600 s")
    report(ProgressLine("waiting for export p1: 3 file(s) so far, 45 s of 600 s", waiting))
    report(progress_line("acme/vip", 40_000, 100_000, 534, 3, elapsed_s=32.0, rate_limited=2))
    report("acme/vip: sending 100,000 users, 4 requests in flight")  # a plain line: printed above the bars
    report(progress_line("acme/vip", 90_000, 100_000, 1_200, 3, elapsed_s=72.0, rate_limited=2))
    report(done_line("acme/vip", "99,997 users accepted, 3 rejected", 100_000))  # the last tick may come early


def test_a_terminal_gets_bars_with_the_counts() -> None:
    """Through a real Dagster run: the counts reach `profilesync run`'s console logger with the line."""
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=160, color_system=None)
    with showing(console=console), dg.DagsterInstance.ephemeral() as instance:
        result = materialize_quietly(
            [long_work],
            selection=[long_work.key],
            partition_key="2026-11-01",
            instance=instance,
            resources={},
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},  # as run_day gives it
        )
    assert result.success
    shown = ANSI.sub("", buffer.getvalue())
    assert "━" in shown  # a bar was drawn
    last = {}
    for line in shown.splitlines():
        for task in ("segment s1 export", "acme/vip "):
            if task in line:
                last[task] = line
    assert "45/600 s" in last["segment s1 export"] and "3 file(s) so far" in last["segment s1 export"]
    assert "40,000/100,000 users" in shown and "1,250 users/s, 2 x 429, ETA 48 s" in shown
    assert "100,000/100,000 users" in last["acme/vip "] and "99,997 users accepted" in last["acme/vip "]
    assert "acme/vip: sending 100,000 users, 4 requests in flight" in shown
    assert "40,000/100,000 users sent in 534 batches" not in shown  # a report with counts is a bar, not a line


def test_bars_only_on_an_interactive_terminal_that_asked_for_them(monkeypatch: pytest.MonkeyPatch) -> None:
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as terminal:
        monkeypatch.setenv("TERM", "xterm-256color")
        assert wanted(True, terminal)
        assert not wanted(False, terminal)  # --no-progress
        monkeypatch.setenv("TERM", "dumb")
        assert not wanted(True, terminal)
    os.close(leader)
    assert not wanted(True, io.StringIO())  # a pipe, a CI log, a file
    with showing(True) as display:  # pytest's stderr is captured, not a terminal
        assert display is None


def test_plain_lines_carry_the_same_counts(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    keys = []
    for number in range(12):
        keys.append(f"export/part-{number}.jsonl")
        store.write_bytes(keys[-1], f'{{"braze_id": "b{number}", "external_id": "u{number}"}}\n'.encode())
    reports: list[str] = []
    stage_export(store, keys, progress=reports.append, label="acme/members staging")
    counts = [counts_of(r) for r in reports]
    assert all(isinstance(c, Counts) for c in counts)
    assert reports[0] == "acme/members staging: 1/12 export files parsed"
    assert reports[-1] == "acme/members staging: 12/12 export files parsed" and counts[-1].finished  # type: ignore[union-attr]
    assert 3 <= len(reports) <= 12  # every tenth, not every file of a large export
    assert [c.done for c in counts] == sorted(c.done for c in counts)  # type: ignore[union-attr]


def test_pace_reports_every_tenth_and_after_a_quiet_while() -> None:
    now = [0.0]
    pace = Pace(1_000, clock=lambda: now[0])
    assert [done for done in range(0, 1_001, 50) if pace.due(done)] == list(range(0, 1_001, 100))
    pace = Pace(1_000, clock=lambda: now[0])
    assert pace.due(0) and not pace.due(1)
    now[0] = 6.0
    assert pace.due(2)  # 5 s without a report


def test_waiting_for_an_export_reports_files_elapsed_and_timeout(tmp_path: Path) -> None:
    """On a fake clock: a line when files appear, one every 15 s while nothing changes, one at the end."""
    store = open_store(str(tmp_path))
    part = "segment-export/s1/2026-11-01/p1/part-0.json.gz"
    now = [0.0]
    reports: list[str] = []
    with CallbackListener() as listener:

        def sleep(seconds: float) -> None:
            now[0] += seconds
            if now[0] >= 20 and not store.exists(part):
                store.write_bytes(part, b"x")
            if now[0] >= 40 and not listener.received.is_set():
                request = urllib.request.Request(listener.url, data=b'{"success": true}', method="POST")
                urllib.request.urlopen(request, timeout=10).close()

        files, evidence = wait_for_files(
            store, "s1", "p1", callback=listener, size=None, count=None,  # type: ignore[arg-type]
            quiet_period_s=1e9, timeout_s=600, poll_interval_s=5, progress=reports.append,
            clock=lambda: now[0], sleep=sleep,
        )  # fmt: skip
    assert evidence == "callback" and [f.key for f in files] == [part]
    assert reports == [
        "waiting for export p1: 0 file(s) so far, 17 s of 600 s",
        "1 export file(s) so far under p1",
        "waiting for export p1: 1 file(s) so far, 37 s of 600 s",
        "export p1 complete (Braze's callback): 1 file(s)",
    ]
    counts = [counts_of(r) for r in reports]
    assert [(c.done, c.total, c.unit) for c in counts] == [(t, 600, "s") for t in (17, 22, 37, 42)]  # type: ignore[union-attr]
    assert counts[-1].finished and counts[-1].note == "1 file(s) so far, timeout 600 s"  # type: ignore[union-attr]
