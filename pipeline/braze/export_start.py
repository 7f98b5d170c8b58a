"""Starting a segment export when an earlier one may still run, and cancelling one we give up on.

Braze runs one export per segment at a time and refuses a second with a 429 whose message
says so (`BrazeExportRunning`). Such an export is left behind by a run that was killed or
whose export request lost its answer, or was started by someone else. Braze does not say
which export runs nor where it writes, so we cannot wait for *its* files: we wait for it to
end (asking again every poll interval, up to the export timeout: a stray export of ours
ends within that), then cancel it and ask once more. A lost answer to our own request means
Braze may have started an export whose prefix we never learnt: we cancel it at once and ask
again. Whatever we give up on (a wait that timed out, a failure) is cancelled, so the next
run does not meet it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pipeline.braze.client import BrazeClient
from pipeline.braze.errors import BrazeAnswerLost, BrazeError, BrazeExportRunning

AFTER_CANCEL_S = 60.0  # how long a cancelled export may take to stop before we give up


class ExportNotStarted(RuntimeError):
    """Braze would not start the export: one kept running, or answers kept being lost."""


def start_export(
    client: BrazeClient,
    segment_id: str,
    request: Callable[[], str],
    *,
    wait_s: float,
    poll_s: float,
    progress: Callable[[str], None] = lambda message: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """`request()` (which asks Braze for the export and returns its object_prefix), recovering
    from an export of the segment that is already running and from a lost answer."""
    deadline = clock() + wait_s
    cancelled = lost = False
    told = False
    while True:
        try:
            return request()
        except BrazeAnswerLost as exc:
            if lost:
                note = cancel_export(client, segment_id, progress)
                raise ExportNotStarted(
                    f"Braze twice left the export request of segment {segment_id} unanswered ({exc.what}); {note}. "
                    "Nothing was recorded for the day; re-run it, and raise braze.request_timeout_s if Braze is slow"
                ) from None
            lost = True
            progress(
                f"Braze {exc.what}; it may have started the export, whose files we could not find, "
                "so it is cancelled and requested again"
            )
            cancel_export(client, segment_id, progress)
            deadline, cancelled = clock() + min(wait_s, AFTER_CANCEL_S), True
        except BrazeExportRunning:
            now = clock()
            if now < deadline:
                if not told:
                    what = (
                        "the export we cancelled has not stopped yet"
                        if cancelled
                        else (
                            "an export of this segment is already running (an earlier run that was stopped, "
                            "or someone else's)"
                        )
                    )
                    progress(f"segment {segment_id}: {what}; waiting up to {deadline - now:.0f} s for it to end")
                    told = True
                sleep(max(0.0, min(poll_s, deadline - now)))
                continue
            if cancelled:
                raise ExportNotStarted(
                    f"an export of segment {segment_id} was still running {AFTER_CANCEL_S:.0f} s after we "
                    "cancelled it, so Braze refused a new one; nothing was recorded for the day. Re-run the day "
                    "later, or ask Braze support about the stuck export"
                ) from None
            progress(
                f"segment {segment_id}: the running export did not end within {wait_s:.0f} s; "
                "cancelling it and requesting a new one"
            )
            cancel_export(client, segment_id, progress)
            deadline, cancelled, told = clock() + min(wait_s, AFTER_CANCEL_S), True, False


def cancel_export(client: BrazeClient, segment_id: str, progress: Callable[[str], None]) -> str:
    """Cancel the segment's running exports; returns what happened, for the message of a failure."""
    try:
        client.cancel_segment_export(segment_id)
    except BrazeError as exc:
        progress(f"cancelling the export of segment {segment_id} failed: {exc}")
        return f"cancelling its export failed too ({exc}); the next run waits for it to end or cancels it"
    progress(f"cancelled the running export of segment {segment_id} in Braze")
    return "its export was cancelled in Braze, so the next run can request a new one"
