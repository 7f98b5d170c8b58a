"""Pacing from rate-limit headers, on a fake clock (pure logic, no HTTP)."""

from __future__ import annotations

import pytest

from pipeline.braze.pacing import RateLimitPacer, left_after, reset_time, window_change


class FakeClock:
    def __init__(self, now: float = 2_000_000_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def headers(limit: int, remaining: int, reset: float | str) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": str(reset)}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2000000003", 2_000_000_003.0), ("3", 2_000_000_003.0), ("0", 2_000_000_000.0), (None, None), ("x", None)],
)
def test_reset_is_epoch_above_1e9_and_seconds_left_below(value: str | None, expected: float | None) -> None:
    assert reset_time(value, now=2_000_000_000.0) == expected


def test_waits_for_the_window_end_once_remaining_is_used_up() -> None:
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    pacer.record("/users/track", 201, headers(3, 2, clock.now + 3))
    assert pacer.acquire("/users/track").waited == 0  # reserves the 2nd of 3
    assert pacer.acquire("/users/track").waited == 0  # reserves the 3rd
    assert pacer.acquire("/users/track").waited == pytest.approx(3.0)  # the window is full: wait for it to end
    assert clock.slept == [pytest.approx(3.0)]


def test_lower_case_headers_are_read() -> None:
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    pacer.record("/x", 200, {"x-ratelimit-limit": "1", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "2"})
    assert pacer.acquire("/x").waited == pytest.approx(2.0)


def test_429_with_retry_after_holds_that_long() -> None:
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    assert pacer.record("/users/track", 429, {"X-Ratelimit-Retry-After": "7"}) == 7
    assert pacer.acquire("/users/track").waited == pytest.approx(7.0)


def test_429_with_room_left_is_not_a_window_wait() -> None:
    # A second export of one segment is refused with 429 while the hourly pool has room:
    # holding off until the pool resets would wait up to an hour for nothing.
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    assert pacer.record("/users/export/segment", 429, headers(250_000, 249_990, clock.now + 3000)) is None
    assert pacer.acquire("/users/export/segment").waited == 0


def test_in_flight_reservations_are_not_overwritten_by_a_stale_count() -> None:
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    reset = clock.now + 3
    pacer.record("/e", 201, headers(10, 5, reset))
    for _ in range(4):
        pacer.acquire("/e")  # four requests in flight: one slot left locally
    pacer.record("/e", 201, headers(10, 4, reset))  # an answer counted before the others
    pacer.acquire("/e")
    assert pacer.acquire("/e").waited == pytest.approx(3.0)


def test_a_new_window_restores_braze_count() -> None:
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    pacer.record("/e", 201, headers(2, 0, clock.now + 1))
    clock.now += 1.5
    assert pacer.acquire("/e").waited == 0  # the known window has ended
    pacer.record("/e", 201, headers(2, 1, clock.now + 2.5))
    assert pacer.acquire("/e").waited == 0


def test_a_new_window_counts_requests_already_in_flight() -> None:
    # Braze's count for a new window cannot include requests still on their way to it.
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    for _ in range(3):
        pacer.acquire("/e")  # three requests in flight
    pacer.record("/e", 201, headers(10, 3, clock.now + 3))  # one answer: a window with 3 left
    assert pacer.acquire("/e").waited == 0  # 3 left less the 2 still in flight: 1 slot
    assert pacer.acquire("/e").waited == pytest.approx(3.0)


def test_a_lost_request_leaves_the_in_flight_count() -> None:
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    pacer.acquire("/e")
    pacer.release("/e")  # the connection dropped
    pacer.acquire("/e")
    pacer.record("/e", 201, headers(10, 2, clock.now + 3))
    assert pacer.acquire("/e").waited == 0 and pacer.acquire("/e").waited == 0
    assert pacer.acquire("/e").waited == pytest.approx(3.0)


# -- the window boundary: no slot of a new window is lost to requests Braze counted already --


def sent_without_waiting(pacer: RateLimitPacer, endpoint: str, most: int = 100) -> int:
    """How many requests go out before one has to wait (the one that waited is sent too)."""
    for n in range(most):
        if pacer.acquire(endpoint).waited > 0:
            return n
    return most


def test_left_after_an_answer_subtracts_only_requests_sent_after_it() -> None:
    # Six sent; the 4th sent (3 ahead of it) is answered with 6 left: only the 5th and 6th are not counted.
    assert left_after(remaining=6, sent_before=3, sent=6) == 4
    assert left_after(remaining=6, sent_before=5, sent=6) == 6  # the newest request: nothing after it
    assert left_after(remaining=6, sent_before=0, sent=6) == 1  # the oldest: all five after it
    assert left_after(remaining=0, sent_before=2, sent=6) == -3  # over: the pacer waits for the reset


@pytest.mark.parametrize(
    ("reset_at", "known", "slack", "change"),
    [(103.0, 103.0, 0.0, 0), (106.0, 103.0, 0.0, 1), (100.0, 103.0, 0.0, -1),  # epoch seconds: exact
     (102.6, 103.1, 1.0, 0), (106.1, 103.1, 1.0, 1), (101.9, 103.1, 1.0, -1)],  # seconds left: whole seconds
)  # fmt: skip
def test_window_change_tells_the_same_window_from_a_later_and_an_earlier_one(
    reset_at: float, known: float, slack: float, change: int
) -> None:
    assert window_change(reset_at, known, slack) == change


def test_a_burst_at_a_new_window_uses_the_whole_window() -> None:
    # Six requests leave together when a window of 10 opens; answers come back in any order, the
    # first from the 4th to arrive (6 left). The two sent after it are all Braze has not counted:
    # four more may go. Subtracting all five still in flight left 1 and lost 3 of every 10.
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    pacer.record("/e", 201, headers(10, 0, clock.now + 1))  # the current window is spent
    clock.now += 1.0  # ... and over
    slots = [pacer.acquire("/e") for _ in range(6)]
    assert [s.waited for s in slots] == [0] * 6
    pacer.record("/e", 201, headers(10, 6, clock.now + 3), slots[3])
    assert sent_without_waiting(pacer, "/e") == 4  # 10 in the window in all, then the reset
    assert sum(clock.slept) == pytest.approx(3.0)


def test_every_answer_of_a_window_bounds_what_is_left() -> None:
    # Answers of one window out of order: each says at most this many are left after it.
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    reset = clock.now + 3
    pacer.record("/e", 201, headers(20, 20, reset))
    slots = [pacer.acquire("/e") for _ in range(8)]  # 12 left locally
    pacer.record("/e", 201, headers(20, 12, reset), slots[7])  # the last sent, yet Braze counted 8: 12 left
    pacer.record("/e", 201, headers(20, 16, reset), slots[0])  # an early one, answered late: says 16 - 7 = 9
    assert sent_without_waiting(pacer, "/e") == 9


def test_a_late_answer_from_an_ended_window_does_not_reopen_the_next() -> None:
    clock = FakeClock()
    start = clock.now
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    early = pacer.acquire("/e")  # sent in the window ending at start + 1
    clock.now += 1.5
    late = pacer.acquire("/e")  # sent in the next one, ending at start + 3
    pacer.record("/e", 201, headers(10, 9, start + 3), late)
    pacer.record("/e", 201, headers(10, 9, start + 1), early)  # the earlier window's count, arriving last
    assert sent_without_waiting(pacer, "/e") == 9  # the window ending at start + 3 still has 9
    assert clock.now == pytest.approx(start + 3)


def test_a_new_window_starts_with_the_limit_until_braze_answers() -> None:
    # Fixed windows: when the known one ends, the next holds `limit` requests; with more
    # requests wanting to go than that, the rest wait for Braze's first answer from it.
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=lambda s: answer_while_waiting(s))
    pacer.record("/e", 201, headers(3, 0, clock.now + 1))
    clock.now += 1.0
    slots = [pacer.acquire("/e") for _ in range(3)]
    assert [s.waited for s in slots] == [0, 0, 0]
    answered: list[float] = []

    def answer_while_waiting(seconds: float) -> None:
        clock.now += seconds
        if not answered:  # the first answer from the new window arrives while the 4th waits
            answered.append(clock.now)
            pacer.record("/e", 201, headers(3, 2, clock.now + 2), slots[0])

    fourth = pacer.acquire("/e")
    assert answered and fourth.waited == pytest.approx(2.0, abs=0.05)  # until the new window's end


def test_seconds_left_that_round_differently_are_the_same_window() -> None:
    # X-RateLimit-Reset as seconds left (the MAU page's reading): whole seconds, so two answers of
    # one window can put its end 0.9 s apart; the second must not look like a fresh window.
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    slots = [pacer.acquire("/e") for _ in range(4)]
    pacer.record("/e", 201, headers(10, 5, "2"), slots[3])  # the newest sent: 5 left
    clock.now += 0.9
    pacer.record("/e", 201, headers(10, 9, "1"), slots[1])  # counted early, answered late: at most 9 - 2 = 7
    assert sent_without_waiting(pacer, "/e") == 5


def test_a_window_the_clock_began_is_counted_by_the_client_and_lowered_by_braze() -> None:
    # Requests sent together reach Braze in any order. The answer to the first sent, overtaken
    # by the five after it, under-counts what is left (4 - 5 = -1) only until the next answer;
    # an answer that over-counts (9 left) cannot let more out than the client knows it sent.
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    pacer.record("/e", 201, headers(10, 0, clock.now + 1))
    clock.now += 1.0
    slots = [pacer.acquire("/e") for _ in range(6)]
    reset = clock.now + 3
    pacer.record("/e", 201, headers(10, 4, reset), slots[0])
    pacer.record("/e", 201, headers(10, 9, reset), slots[5])
    assert sent_without_waiting(pacer, "/e") == 4
    assert sum(clock.slept) == pytest.approx(3.0)


def test_braze_s_count_lowers_a_window_the_clock_began() -> None:
    # Another workspace of the company shares the limit and took 6 of this window: Braze says so.
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    pacer.record("/e", 201, headers(10, 0, clock.now + 1))
    clock.now += 1.0
    slots = [pacer.acquire("/e") for _ in range(2)]
    pacer.record("/e", 201, headers(10, 2, clock.now + 3), slots[1])
    assert sent_without_waiting(pacer, "/e") == 2


def test_a_request_sent_before_the_window_began_gives_its_slot_back_when_counted_in_the_last() -> None:
    clock = FakeClock()
    start = clock.now
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    pacer.record("/e", 201, headers(10, 5, start + 1))
    early = [pacer.acquire("/e") for _ in range(2)]  # still in flight when the window ends
    clock.now = start + 1.0
    pacer.acquire("/e")  # the clock begins the next window: 10 less the 2 that may land in it
    pacer.record("/e", 201, headers(10, 3, start + 1), early[0])  # counted in the last window after all
    assert pacer.view("/e")[1] == 8  # 10 - 1 sent since - 1 still in flight, perhaps counted here
