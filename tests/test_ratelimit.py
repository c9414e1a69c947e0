"""The limiter's pacing on a controlled clock: no real time passes."""

import anyio
import pytest

from scanner.ratelimit import RateLimiter


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    async def sleep(self, seconds):
        self.now += seconds


def send_times(limiter, clock, count, arrivals=None):
    """Reserve `count` slots; each caller arrives at `arrivals(i)` (or all at once)."""
    times = []
    for i in range(count):
        if arrivals:
            clock.now = max(clock.now, arrivals(i))
        times.append(clock.now + limiter.reserve())
    return times


def max_in_window(times, width=1.0):
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= width:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.parametrize(("rate", "burst"), [(2000, 20), (100, 1), (50, 10)])
def test_saturated_limiter_holds_rate_plus_burst(rate, burst):
    clock = Clock()
    limiter = RateLimiter(rate, burst, clock=clock)
    times = send_times(limiter, clock, rate * 10)
    assert max_in_window(times) <= rate + burst
    span = times[-1] - times[burst - 1]
    assert (len(times) - burst) / span == pytest.approx(rate, rel=1e-6)


def test_idle_time_lends_at_most_burst():
    clock = Clock()
    limiter = RateLimiter(10, 5, clock=clock)
    send_times(limiter, clock, 3)
    clock.now += 3600  # a long idle spell
    times = send_times(limiter, clock, 8)
    assert times[:5] == pytest.approx([clock.now] * 5)  # the burst goes at once
    assert times[5:] == pytest.approx([clock.now + 0.1, clock.now + 0.2, clock.now + 0.3])


def test_bursty_arrivals_never_exceed_the_bound():
    import random

    rng = random.Random(3)
    clock = Clock()
    limiter = RateLimiter(500, 20, clock=clock)
    start = clock.now
    # Arrivals in clumps with pauses: worst case for a token bucket.
    arrivals = sorted(start + rng.choice([0, 0.5, 1.3, 2.0, 2.01, 4.0]) for _ in range(3000))
    times = send_times(limiter, clock, len(arrivals), lambda i: arrivals[i])
    assert max_in_window(times) <= 520


def test_rate_changes_apply_to_new_reservations():
    clock = Clock()
    limiter = RateLimiter(100, 1, clock=clock)
    first = send_times(limiter, clock, 3)
    limiter.rate = 10
    later = send_times(limiter, clock, 2)
    assert first == pytest.approx([1000.0, 1000.01, 1000.02])
    assert later == pytest.approx([1000.03, 1000.13])


def test_zero_is_unlimited_and_acquire_reports_waiting():
    clock = Clock()
    unlimited = RateLimiter(0, clock=clock, sleep=clock.sleep)
    assert send_times(unlimited, clock, 1000) == [1000.0] * 1000

    limiter = RateLimiter(10, 1, clock=clock, sleep=clock.sleep)

    async def two():
        return await limiter.acquire(), await limiter.acquire()

    assert anyio.run(two) == (False, True)
    assert clock.now == pytest.approx(1000.1)
    assert repr(limiter) == "<RateLimiter [10/s, burst 1] acquired=2>"


def test_bad_settings_fail_fast():
    with pytest.raises(ValueError):
        RateLimiter(-1)
    with pytest.raises(ValueError):
        RateLimiter(10, burst=0)
