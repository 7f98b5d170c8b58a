"""The push's requests in flight adapt to the round trip and the rate limit (`pipeline.push.concurrency`).

The controller is pure arithmetic and is fed by hand here; one push against the sandbox with a
long injected round trip checks that the requests the sandbox saw at once grew past the old fixed
4. No assertion on a time."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from pipeline.push import CHANGES_SCHEMA, canonical, push_changes
from pipeline.push.concurrency import START, InFlightLimit, Window
from pipeline.storage import open_store

ROOMY = Window(limit=3000, remaining=2500, seconds_to_reset=3.0)  # Braze's 3,000 requests / 3 s


def feed(control: InFlightLimit, rounds: int, *, rtt: float, window: Window | None, now: float = 0.0) -> int:
    """`rounds` rounds of answers without a 429 (one answer per request in flight), from `now` on."""
    for n in range(rounds):
        control.observe(answers=control.limit, round_trip_s=rtt, rate_limited=0, window=window, now=now + n * rtt)
    return control.limit


def test_long_round_trips_under_a_roomy_limit_grow_past_four_up_to_little_s_law() -> None:
    control = InFlightLimit(cap=64)
    assert control.limit == START == 4
    assert feed(control, 1, rtt=0.2, window=ROOMY) == 8  # until a 429: one more per answer, twice as many a round
    assert feed(control, 100, rtt=0.2, window=ROOMY) == 64  # 1,000/s x 0.2 s x headroom is past the cap
    slow_limit = InFlightLimit(cap=64)
    # 100 requests/s at 63 ms (the case): about 6.3 needed, a few more for headroom
    assert 7 <= feed(slow_limit, 100, rtt=0.063, window=Window(300, 250, 3.0)) <= 12


def test_round_trips_grown_by_queueing_do_not_ask_for_more_requests() -> None:
    control = InFlightLimit(cap=64)
    assert feed(control, 20, rtt=0.063, window=Window(300, 250, 3.0)) == 10  # ceil(1.5 x 100/s x 63 ms)
    assert feed(control, 5, rtt=1.0, window=Window(300, 250, 3.0), now=2) == 10  # a saturated server: answers queue
    saturated = InFlightLimit(cap=64)
    feed(saturated, 1, rtt=0.1, window=ROOMY)
    assert feed(saturated, 10, rtt=0.5, window=ROOMY, now=1) == 16  # round trips 5x the shortest: no more growth


def test_without_rate_limit_headers_it_grows_to_the_cap() -> None:
    control = InFlightLimit(cap=20)
    assert feed(control, 100, rtt=0.05, window=None) == 20


def test_short_round_trips_need_few_requests_in_flight() -> None:
    control = InFlightLimit(cap=32)
    assert feed(control, 3, rtt=0.005, window=Window(300, 250, 3.0)) == 1  # 100/s x 5 ms: one is plenty


def test_429s_halve_the_limit_once_per_burst_and_pause_growth_for_a_round() -> None:
    control = InFlightLimit(cap=64)
    feed(control, 100, rtt=0.2, window=ROOMY, now=10.0)
    assert control.limit == 64
    assert control.observe(answers=3, round_trip_s=0.2, rate_limited=3, window=ROOMY, now=10.0) == 32
    # more 429s of the same burst, within one round trip: one signal, one decrease
    assert control.observe(answers=2, round_trip_s=0.2, rate_limited=2, window=ROOMY, now=10.1) == 32
    assert feed(control, 1, rtt=0.2, window=ROOMY, now=10.2) == 32  # a round without growth
    assert control.observe(answers=1, round_trip_s=0.2, rate_limited=1, window=ROOMY, now=10.5) == 16
    assert feed(control, 1, rtt=0.2, window=ROOMY, now=11.0) == 16
    assert feed(control, 1, rtt=0.2, window=ROOMY, now=11.0) == 17  # then additive growth again


def test_a_nearly_spent_window_stops_growth_and_the_cap_bounds_everything() -> None:
    control = InFlightLimit(cap=64)
    assert feed(control, 5, rtt=0.2, window=Window(3000, 2, 3.0)) == START  # 2 left: the pacer holds anyway
    single = InFlightLimit(cap=1)
    assert feed(single, 50, rtt=0.5, window=ROOMY) == 1
    assert single.observe(answers=1, round_trip_s=0.5, rate_limited=1, window=ROOMY, now=0) == 1


def test_a_push_with_long_round_trips_has_more_than_four_requests_in_flight(sandbox, tmp_path) -> None:
    users = 40 * 75  # 40 requests
    ids = [canonical({"external_id": f"c{i:05d}"}) for i in range(users)]
    changes = pl.DataFrame(
        [(ident, "tier", canonical("gold"), None, f"p{i}") for i, ident in enumerate(ids)],
        schema=CHANGES_SCHEMA,
        orient="row",
    )
    sandbox.admin.set_faults(latency_ms=150, endpoints=["/users/track"])  # a far-away Braze
    since = sandbox.admin.last_seq()
    with sandbox.client() as client:
        report = push_changes(client, open_store(str(tmp_path / "store")), "acme", "vip", "2026-03-01", changes,
                              allow_create=True, progress=lambda line: None)  # fmt: skip
    assert (report.users_accepted, report.batches, report.rate_limited) == (users, 40, 0)
    assert report.requests_in_flight_peak > START
    # what the sandbox saw: the most /users/track requests being handled at the same moment
    spans = []
    for entry in sandbox.admin.requests(since):
        if entry["path"] == "/users/track":
            end = datetime.fromisoformat(entry["time"]).timestamp()
            spans += [(end - entry["duration_ms"] / 1000, 1), (end, -1)]
    at_once = peak = 0
    for _, step in sorted(spans, key=lambda span: (span[0], span[1])):  # an end before a start at a tie
        at_once += step
        peak = max(peak, at_once)
    assert peak > START
