"""The push's progress line carries rate, 429s and an ETA."""

from __future__ import annotations

from pipeline.push.progress import progress_line


def test_progress_line_has_rate_429s_and_eta() -> None:
    line = progress_line("acme/vip", 40_000, 100_000, 534, 3, elapsed_s=32.0, rate_limited=2)
    assert line == "acme/vip: 40,000/100,000 users sent in 534 batches, 3 rejected; 1,250 users/s, 2 x 429, ETA 48 s"
    slow = progress_line("acme/vip", 1_000, 10_000_000, 10, 0, elapsed_s=10.0, rate_limited=0)
    assert slow.endswith("100 users/s, 0 x 429, ETA 27 h 46 min")
    assert progress_line("acme/vip", 0, 10, 0, 0, elapsed_s=0.0, rate_limited=0) == (
        "acme/vip: 0/10 users sent in 0 batches, 0 rejected"
    )
