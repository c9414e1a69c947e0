"""The limiter's pacing on a controlled clock: no real time passes."""

import time

import anyio
import anyio.lowlevel
import pytest
from fakes import Clock

from benchmarks.rate import busiest_window
from scanner.dns.ratelimit import RateLimiter


def send_times(limiter, clock, count, arrivals=None, lag=None):
    """Simulate `count` callers of acquire(); returns when each one sent.

    Caller i arrives at `arrivals(i)` (or all at once) and reserves a slot; it
    wakes at its slot, or later if `lag(slot)` says the event loop was busy,
    and is then admitted or sent back to sleep. Events run in time order.
    """
    import heapq

    events = []  # (time, order, phase)
    for i in range(count):
        if arrivals:
            clock.now = max(clock.now, arrivals(i))
        slot = clock.now + limiter.reserve()
        wake = max(slot, lag(slot)) if lag else slot
        heapq.heappush(events, (wake, i))
    times = []
    while events:
        wake, i = heapq.heappop(events)
        clock.now = max(clock.now, wake)
        extra = limiter.admit()
        if extra > 0:
            heapq.heappush(events, (clock.now + extra, i))
        else:
            times.append(clock.now)
    return times


def max_in_window(times, width=1.0):
    # The same measure the rate benchmark applies to arrivals at the server.
    return busiest_window(sorted(times), width)


@pytest.mark.parametrize(("rate", "burst"), [(2000, 20), (100, 1), (50, 10)])
def test_saturated_limiter_holds_rate_plus_burst(rate, burst):
    clock = Clock(1000.0, checkpoint=False)
    limiter = RateLimiter(rate, burst, clock=clock)
    times = send_times(limiter, clock, rate * 10)
    assert max_in_window(times) <= rate + burst
    span = times[-1] - times[burst - 1]
    assert (len(times) - burst) / span == pytest.approx(rate, rel=1e-6)


def test_idle_time_lends_at_most_burst():
    clock = Clock(1000.0, checkpoint=False)
    limiter = RateLimiter(10, 20, clock=clock)
    send_times(limiter, clock, 3)
    clock.now += 3600  # a long idle spell
    start = clock.now
    times = send_times(limiter, clock, 14)
    # The schedule lends half the burst (and the slot of now): the other half
    # is room for a tick's waiters, let out together at its end, so that they
    # fit the bucket too and are never held back one by one.
    assert times[:11] == pytest.approx([start] * 11)
    assert times[11:] == pytest.approx([start + 0.1, start + 0.2, start + 0.3])


def test_bursty_arrivals_never_exceed_the_bound():
    import random

    rng = random.Random(3)
    clock = Clock(1000.0, checkpoint=False)
    limiter = RateLimiter(500, 20, clock=clock)
    start = clock.now
    # Arrivals in clumps with pauses: worst case for a token bucket.
    arrivals = sorted(start + rng.choice([0, 0.5, 1.3, 2.0, 2.01, 4.0]) for _ in range(3000))
    times = send_times(limiter, clock, len(arrivals), lambda i: arrivals[i])
    assert max_in_window(times) <= 520


def test_a_late_event_loop_does_not_let_sleepers_out_together():
    clock = Clock(1000.0, checkpoint=False)
    limiter = RateLimiter(2000, 20, clock=clock)

    def lag(slot):
        # Every 50 ms the loop is stuck for 30 ms: sleepers wake in a heap.
        start = slot - slot % 0.05
        return start + 0.03 if slot - start < 0.03 else slot

    times = send_times(limiter, clock, 10_000, lag=lag)
    assert max_in_window(times) <= 2020
    assert max_in_window(times, 0.05) <= 2000 * 0.05 + 20
    assert (len(times) - 1) / (times[-1] - times[0]) == pytest.approx(2000, rel=0.01)


def test_rate_changes_apply_to_new_reservations():
    clock = Clock(1000.0, checkpoint=False)
    limiter = RateLimiter(100, 1, clock=clock)
    first = send_times(limiter, clock, 3)
    limiter.rate = 10
    later = send_times(limiter, clock, 2)
    assert first == pytest.approx([1000.0, 1000.01, 1000.02])
    assert later == pytest.approx([1000.03, 1000.13])


def test_zero_is_unlimited_and_acquire_reports_waiting():
    clock = Clock(1000.0, checkpoint=False)
    unlimited = RateLimiter(0, clock=clock, sleep=clock.sleep)
    assert send_times(unlimited, clock, 1000) == [1000.0] * 1000

    limiter = RateLimiter(10, 1, clock=clock, sleep=clock.sleep)

    async def two():
        return await limiter.acquire(), await limiter.acquire()

    assert anyio.run(two) == (False, True)
    assert clock.now == pytest.approx(1000.1)
    assert repr(limiter) == "<RateLimiter [10/s, burst 1] acquired=2>"


def test_acquire_nowait_takes_a_slot_only_without_a_rate():
    clock = Clock(1000.0, checkpoint=False)
    unlimited = RateLimiter(0, clock=clock, sleep=clock.sleep)
    assert unlimited.acquire_nowait() and unlimited.acquire_nowait()
    assert unlimited.acquired == 2
    limited = RateLimiter(10, 5, clock=clock, sleep=clock.sleep)
    assert not limited.acquire_nowait()
    assert limited.acquired == 0  # nothing taken: the caller awaits acquire()
    limited.rate = 0  # the adaptive mode never sets 0, but a user-changed rate may
    assert limited.acquire_nowait()


def test_try_acquire_takes_only_a_slot_that_is_free_now_and_keeps_the_bound():
    clock = Clock(1000.0, checkpoint=False)
    limiter = RateLimiter(10, 2, clock=clock, sleep=clock.sleep)
    clock.now += 60  # idle: the burst is there to lend
    assert limiter.try_acquire() and limiter.try_acquire()
    assert not limiter.try_acquire()  # the next slot is 0.1 s away: not taken
    assert limiter.acquired == 2
    clock.now += 0.1
    assert limiter.try_acquire()
    # Mixed with callers that wait, the bound still holds: a slot a waiter
    # reserved is never taken by try_acquire.
    slot = limiter.reserve()
    assert slot > 0 and not limiter.try_acquire()
    times = [clock.now + slot]
    for _ in range(200):
        clock.now += 0.013
        if limiter.try_acquire():
            times.append(clock.now)
    assert max_in_window(times) <= 10 + 2


def test_bad_settings_fail_fast():
    with pytest.raises(ValueError):
        RateLimiter(-1)
    with pytest.raises(ValueError):
        RateLimiter(10, burst=0)


def sender(limiter: RateLimiter, times: list[float]):
    """A caller that takes a slot and notes when (real time) it may send."""

    async def send():
        await limiter.acquire()
        times.append(time.monotonic())

    return send


async def all_at_once(send, count, *others):
    """Run `count` copies of `send` (and `others`) as tasks together, until all end."""
    async with anyio.create_task_group() as group:
        for _ in range(count):
            group.start_soon(send)
        for other in others:
            group.start_soon(other)


def test_the_waiters_of_one_tick_share_one_sleep():
    # Issue 23: one sleep (a timer, a wakeup, anyio's look-up) per query was
    # most of a rate-limited scan's CPU. Real time here: the tasks wait together.
    limiter = RateLimiter(1000, 20)
    times: list[float] = []
    anyio.run(all_at_once, sender(limiter, times), 200)
    assert limiter.acquired == len(times) == 200
    # At most 200 waited for a slot (fewer: a new limiter lends its burst only
    # back to when it was made), 200 ms of slots at most: ticks of 10 slots
    # (10 ms), so at most 21 sleeps where each waiter slept before.
    assert limiter.tick_sleeps <= 21, limiter.tick_sleeps
    for width in (0.01, 0.05, 0.1):
        assert max_in_window(times, width) <= 1000 * width + 20


def test_a_cancelled_sleeper_lets_its_tick_go_without_breaking_the_bound():
    limiter = RateLimiter(100, 4)
    times: list[float] = []
    one = sender(limiter, times)

    async def main():
        async with anyio.create_task_group() as group:
            for _ in range(4):  # the burst
                await one()
            leader = anyio.CancelScope()

            async def cancelled_first():
                with leader:
                    await limiter.acquire()

            # Tasks started run in order at the next checkpoint (no time passes).
            group.start_soon(cancelled_first)
            await anyio.lowlevel.checkpoint()  # it sleeps for the tick now
            for _ in range(3):
                group.start_soon(one)
            await anyio.lowlevel.checkpoint()  # they wait on its future
            leader.cancel()

    anyio.run(main)
    assert len(times) == 7
    assert max_in_window(times, 0.05) <= 100 * 0.05 + 4


def test_a_cancelled_waiter_leaves_the_others_of_its_tick_waiting_and_sending():
    # A SIGTERM during a rate-limited walk cancelled waiters of a shared tick: the
    # first one cancelled the tick's future itself, the others got its CancelledError
    # and the sleeper's set_result() raised InvalidStateError (a crash, exit 3).
    limiter = RateLimiter(100, 20)  # ticks of 10 slots: 100 ms, shared by the waiters
    times: list[float] = []
    one = sender(limiter, times)

    async def main():
        async with anyio.create_task_group() as group:
            for _ in range(20):  # the burst
                await one()
            scopes = [anyio.CancelScope() for _ in range(3)]

            async def cancelled_waiter(scope):
                with scope:
                    await limiter.acquire()

            for index in range(12):  # waiters over a tick or two, three of them cancelled
                if index in (3, 6, 9):
                    group.start_soon(cancelled_waiter, scopes[index // 3 - 1])
                else:
                    group.start_soon(one)
            await anyio.lowlevel.checkpoint()  # they all wait now
            for scope in scopes:
                scope.cancel()

    anyio.run(main)
    assert len(times) == 20 + 9  # every waiter not cancelled still sent
    assert max_in_window(times, 0.1) <= 100 * 0.1 + 20


def test_a_waiter_held_back_by_the_bucket_waits_for_a_later_tick_and_the_bound_holds():
    # Two ticks let out at once (the loop woke late): more waiters than the
    # bucket takes. Those held back take new slots and wait for those ticks,
    # sharing their sleeps; nobody sends outside the bound.
    limiter = RateLimiter(1000, 20)
    times: list[float] = []

    async def busy():
        await anyio.wait_all_tasks_blocked()  # every sender waits for its tick
        time.sleep(0.03)  # a busy loop: nothing runs while the first ticks fall due

    anyio.run(all_at_once, sender(limiter, times), 60, busy)
    assert len(times) == 60 and limiter.late_sleeps > 0
    assert limiter.tick_sleeps + limiter.late_sleeps < 60  # fewer sleeps than senders
    for width in (0.005, 0.01, 0.05):
        assert max_in_window(times, width) <= 1000 * width + 20
