"""The push's progress line: how far, how fast, how throttled, and when it should end."""

from __future__ import annotations

from pipeline.progress import Counts, ProgressLine


def progress_line(label: str, sent: int, total: int, batches: int, rejected: int, elapsed_s: float,
                  rate_limited: int) -> ProgressLine:  # fmt: skip
    """e.g. `acme/vip: 40,000/100,000 users sent in 534 batches, 3 rejected; 1,250 users/s, 2 x 429, ETA 48 s`.

    The rate is over the whole push so far (pacing makes it steady); the ETA assumes it holds.
    The line carries the same numbers as `Counts`, for a terminal's progress bar.
    """
    text = f"{label}: {sent:,}/{total:,} users sent in {batches:,} batches, {rejected:,} rejected"
    note = f"{rejected:,} rejected" if rejected else ""
    if elapsed_s > 0 and sent > 0:
        rate = sent / elapsed_s
        speed = f"{rate:,.0f} users/s, {rate_limited:,} x 429, ETA {_duration(max(0, total - sent) / rate)}"
        text, note = f"{text}; {speed}", ", ".join(part for part in (note, speed) if part)
    counts = Counts(label, sent, total, "users", note, finished=sent >= total)
    return ProgressLine(text, counts)


def done_line(label: str, described: str, total: int) -> ProgressLine:
    """`acme/vip: done: ...`; its counts fill the push's bar, whose last tick may have come before the end."""
    return ProgressLine(f"{label}: done: {described}", Counts(label, total, total, "users", described, finished=True))


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
