"""Pacing from rate-limit headers, on a fake clock (pure logic, no HTTP)."""

from __future__ import annotations

import pytest

from pipeline.braze.pacing import RateLimitPacer, reset_time


class FakeClock:
    def __init__(self, now: float = 2_000_000_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
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
    assert pacer.acquire("/users/track") == 0  # reserves the 2nd of 3
    assert pacer.acquire("/users/track") == 0  # reserves the 3rd
    assert pacer.acquire("/users/track") == pytest.approx(3.0)  # the window is full: wait for it to end
    assert clock.slept == [pytest.approx(3.0)]


def test_lower_case_headers_are_read() -> None:
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    pacer.record("/x", 200, {"x-ratelimit-limit": "1", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "2"})
    assert pacer.acquire("/x") == pytest.approx(2.0)


def test_429_with_retry_after_holds_that_long() -> None:
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    assert pacer.record("/users/track", 429, {"X-Ratelimit-Retry-After": "7"}) == 7
    assert pacer.acquire("/users/track") == pytest.approx(7.0)


def test_429_with_room_left_is_not_a_window_wait() -> None:
    # A second export of one segment is refused with 429 while the hourly pool has room:
    # holding off until the pool resets would wait up to an hour for nothing.
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    assert pacer.record("/users/export/segment", 429, headers(250_000, 249_990, clock.now + 3000)) is None
    assert pacer.acquire("/users/export/segment") == 0


def test_in_flight_reservations_are_not_overwritten_by_a_stale_count() -> None:
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    reset = clock.now + 3
    pacer.record("/e", 201, headers(10, 5, reset))
    for _ in range(4):
        pacer.acquire("/e")  # four requests in flight: one slot left locally
    pacer.record("/e", 201, headers(10, 4, reset))  # an answer counted before the others
    pacer.acquire("/e")
    assert pacer.acquire("/e") == pytest.approx(3.0)


def test_a_new_window_restores_braze_count() -> None:
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    pacer.record("/e", 201, headers(2, 0, clock.now + 1))
    clock.now += 1.5
    assert pacer.acquire("/e") == 0  # the known window has ended
    pacer.record("/e", 201, headers(2, 1, clock.now + 2.5))
    assert pacer.acquire("/e") == 0


def test_a_new_window_counts_requests_already_in_flight() -> None:
    # Braze's count for a new window cannot include requests still on their way to it.
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    for _ in range(3):
        pacer.acquire("/e")  # three requests in flight
    pacer.record("/e", 201, headers(10, 3, clock.now + 3))  # one answer: a window with 3 left
    assert pacer.acquire("/e") == 0  # 3 left less the 2 still in flight: 1 slot
    assert pacer.acquire("/e") == pytest.approx(3.0)


def test_a_lost_request_leaves_the_in_flight_count() -> None:
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    pacer.acquire("/e")
    pacer.release("/e")  # the connection dropped
    pacer.acquire("/e")
    pacer.record("/e", 201, headers(10, 2, clock.now + 3))
    assert pacer.acquire("/e") == 0 and pacer.acquire("/e") == 0
    assert pacer.acquire("/e") == pytest.approx(3.0)
