"""Query pacing: a rate limiter with a small burst, on a clock that tests can control.

Each `acquire()` reserves the next free send slot at once (so waiters are served
in order) and sleeps until it comes. Slots are spaced 1/rate apart, and an idle
limiter lends at most `burst` slots from the past. A busy event loop wakes
sleepers late, and late sleepers would go out together; so on waking each one is
also admitted against the same bucket in real time (GCRA), and waits a little
more if it would break it. In any window of T seconds at most rate*T + burst
queries go out. The rate can change while running (the adaptive mode does),
which is why this is ours and not aiolimiter's: its rate is fixed at
construction.

Waiting costs one sleep per tick, not per query. A timer and a wakeup for
every query were most of the CPU of a rate-limited scan (issue 23: at
--rate 1000, `acquire` was 18% of the profile, most of it anyio's sleep and
its look-up of the async library, once per query). Time is cut into ticks of
half a burst's slots; the first waiter whose slot falls in a tick sleeps to
the tick's end, and every later one of the same tick waits on a plain future
the sleeper settles. Nobody leaves before their slot (the tick ends after
it), a tick lets out at most half a burst at once, and the bucket check on
waking still holds each one to the bound.

The schedule lends only the other half of the burst from idle time, so that
its credit and a tick's waiters let out together fit the bucket: lending the
whole burst on both, a third of a scan's queries at --rate 1500 found the
bucket full on waking and slept again (11,310 of 31,549; none now). One
held back still (a busy loop let out two ticks at once) takes a new slot at
the back of the schedule and waits for its tick with the others; the slot it
gave up goes unused, so the rate errs low, never high.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

import anyio


class RateLimiter:
    """At most `rate` acquisitions per second, plus `burst`; rate 0 means unlimited."""

    def __init__(
        self,
        rate: float,
        burst: int = 10,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if rate < 0 or burst < 1:
            raise ValueError("rate must be >= 0 and burst >= 1")
        self._clock = clock
        self._sleep = sleep
        self.burst = burst
        self.rate = float(rate)
        self._next = clock()  # the next free reserved slot
        self._admitted = clock()  # GCRA: when the bucket would be empty again
        self.acquired = 0
        # (tick length, tick number) -> the future its sleeper settles when it ends.
        self._ticks: dict[tuple[float, int], asyncio.Future[None]] = {}
        self.tick_sleeps = 0  # sleeps to a tick's end: one per tick, however many wait
        self.late_sleeps = 0  # sleeps of a waiter woken late, held back by the bucket

    @property
    def rate(self) -> float:
        return self._rate

    @rate.setter
    def rate(self, value: float) -> None:
        if value < 0:
            raise ValueError("rate must be >= 0")
        self._rate = float(value)
        self._interval = 1.0 / value if value else 0.0
        # Half a burst's slots: with a burst of 20 at 1,000 q/s, a tick of 10 ms.
        tick_slots = max(1.0, self.burst / 2)
        self._tick = self._interval * tick_slots
        self._slack = (self.burst - 1) * self._interval  # the bucket's: `burst` at once
        # The schedule lends less from idle time than the bucket allows. A tick
        # of k slots lets out at once k sends the schedule spread over k
        # intervals, so credit + 1 + (k - 1) must fit the burst; lending the
        # whole burst, every tick had waiters the bucket held back (a third of
        # all acquisitions at --rate 1500, each a sleep more).
        self._credit = max(0.0, self.burst - tick_slots) * self._interval

    def reserve(self) -> float:
        """Take the next slot; returns how long to wait for it (0 if it is now)."""
        self.acquired += 1
        return self._next_slot()

    def _next_slot(self) -> float:
        """Book the schedule's next slot; how long from now it is (0 if it is now)."""
        if not self._interval:
            return 0.0
        now = self._clock()
        slot = max(self._next, now - self._credit)
        self._next = slot + self._interval
        if slot > now + 1e-9:  # not float noise from the burst arithmetic
            return slot - now
        return 0.0

    def admit(self) -> float:
        """At the moment of sending: 0 if the send keeps to the bucket (and count it),
        otherwise how much longer to wait."""
        if not self._interval:
            return 0.0
        now = self._clock()
        earliest = self._admitted - self._slack
        if now + 1e-9 < earliest:
            return earliest - now
        self._admitted = max(self._admitted, now) + self._interval
        return 0.0

    def acquire_nowait(self) -> bool:
        """Take a slot when that can never mean waiting, i.e. without a rate limit.

        True: the slot is taken. False (a rate is set): `await acquire()`. The
        unlimited case is every query of a `--rate 0` scan, and skipping a
        coroutine there is measurable.
        """
        if self._interval:
            return False
        self.acquired += 1
        return True

    def try_acquire(self) -> bool:
        """Take a slot only if it is free now (by both the schedule and the bucket).

        For sends worth making only at once, such as a second copy of a query
        that seems lost: False leaves the limiter as it was.
        """
        if not self._interval:
            self.acquired += 1
            return True
        now = self._clock()
        slot = max(self._next, now - self._credit)
        if slot > now + 1e-9 or now + 1e-9 < self._admitted - self._slack:
            return False
        self._next = slot + self._interval
        self._admitted = max(self._admitted, now) + self._interval
        self.acquired += 1
        return True

    async def acquire(self) -> bool:
        """Wait for the next slot; True if the limiter made the caller wait."""
        delay = self.reserve()
        waited = delay > 0
        if waited:
            await self._wait_for_tick(self._clock() + delay)
        while (extra := self.admit()) > 0:
            waited = True
            self.late_sleeps += 1
            # Woken late (a busy loop let out two ticks at once), and the bucket
            # is full: take a new slot at the back of the schedule and wait for
            # its tick with the others. Sleeping alone to the bucket's next free
            # moment, every late waiter slept once per send, and they kept the
            # bucket full for the ticks after them, which were late in turn:
            # 82% of a scan's queries at --rate 1500 slept alone (issue 23).
            # The slot given up is not sent in: the rate stays at most the rate.
            await self._wait_for_tick(self._clock() + max(extra, self._next_slot()))
        return waited

    async def _wait_for_tick(self, slot: float) -> None:
        """Wait until the end of the tick holding `slot`, sharing one sleep per tick."""
        length = self._tick  # the rate may change while this tick runs
        tick = (length, math.ceil(slot / length))
        shared = self._ticks.get(tick)
        if shared is not None:
            # Shielded: a waiter cancelled (a signal, a scope) would otherwise cancel
            # the tick's future itself, and every other waiter of the tick with it.
            await asyncio.shield(shared)
            return
        shared = self._ticks[tick] = asyncio.get_running_loop().create_future()
        try:
            self.tick_sleeps += 1
            await self._sleep(max(0.0, tick[1] * length - self._clock()))
        finally:
            # Cancelled or not, the tick's others are let go: a cancelled sleeper
            # may free them early, and the bucket check then holds them back.
            del self._ticks[tick]
            if not shared.done():
                shared.set_result(None)

    def __repr__(self) -> str:
        rate = f"{self._rate:g}/s" if self._rate else "unlimited"
        return f"<RateLimiter [{rate}, burst {self.burst}] acquired={self.acquired}>"
