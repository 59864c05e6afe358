"""The client-side rate limit: evenly spaced slots, a burst after idling, shared per connection."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_imm.hooks.rate_limit import RateLimiter, limiter_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@settings(max_examples=100, deadline=None)
@given(st.floats(0.5, 500), st.integers(1, 300), st.integers(1, 5))
def test_n_calls_take_at_least_n_minus_burst_slots(rate: float, calls: int, burst: int) -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate, burst=burst, clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(calls):
        limiter.acquire()
    elapsed = clock.now - start
    assert elapsed == pytest.approx(max(0, calls - burst) / rate, abs=1e-6)


def test_idle_time_is_not_saved_up_beyond_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, burst=2, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    clock.now += 60
    waits = [limiter.reserve() for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.0, 0.1, 0.2])


def test_threads_share_one_connection_s_limiter() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100, clock=clock, sleep=lambda s: None)
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(50):
            w = limiter.reserve()
            with lock:
                waits.append(w)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == pytest.approx([i / 100 for i in range(200)])
    assert limiter_for("c", 5) is limiter_for("c", 5) and limiter_for("c", 5) is not limiter_for("d", 5)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_bad_settings(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match=r"rate|burst"):
        RateLimiter(rate, burst=burst)
