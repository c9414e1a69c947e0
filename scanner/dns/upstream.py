"""One resolver as the retry layer sees it: its health, in-flight window, rate limit and hedges."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from scanner.core.health import ResolverHealth
from scanner.core.lookups import Resolver
from scanner.core.poolstats import ResolverStats, WindowStats
from scanner.core.status import Outcome
from scanner.core.verdict import Lookup
from scanner.core.window import InflightWindow
from scanner.dns.ratelimit import RateLimiter


def result_of(future: asyncio.Future[Lookup]) -> Lookup | None:
    """The future's lookup if it ended with one, else None (not yet, cancelled, failed)."""
    if not future.done() or future.cancelled() or future.exception() is not None:
        return None
    return future.result()


def _unbounded_window() -> InflightWindow:
    return InflightWindow(ceiling=1 << 30)


@dataclass(slots=True)
class Upstream:
    """One resolver with its own health, in-flight window and, optionally, rate limit."""

    name: str
    resolver: Resolver
    health: ResolverHealth
    limiter: RateLimiter | None = None
    window: InflightWindow = field(default_factory=_unbounded_window)
    # Attempts waiting for room in the window, in order; each is handed its
    # slot before it is woken, so no later arrival can take it first. Plain
    # asyncio futures: an anyio Event costs an async-library lookup to make,
    # and thousands of attempts may wait at once.
    waiting: deque[asyncio.Future[None]] = field(default_factory=deque)
    # While attempts wait, a timer frees the slots of queries presumed lost
    # (every slot may be held by one, and then no answer would come to do it).
    _sweep: asyncio.TimerHandle | None = None
    # The last question it answered (name, type): asked again to check it is alive.
    canary: tuple[str, str] | None = None
    clock: Callable[[], float] = time.monotonic  # the pool's, set by the pool
    # The engine's `send(name, rtype) -> Future[Lookup]`, if it has one: then
    # queries can be hedged (`plan_hedge`). Queries sent through it and
    # not yet ended, oldest first: ticket -> (name, type, future, when sent);
    # the second copies of those hedged, by ticket; the timer of the next hedge.
    send: Callable[[str, str], asyncio.Future[Lookup]] | None = field(init=False)
    sent: dict[int, tuple[str, str, asyncio.Future[Lookup], float]] = field(
        init=False, default_factory=dict
    )
    hedged: dict[int, asyncio.Future[Lookup]] = field(init=False, default_factory=dict)
    hedges: int = field(init=False, default=0)
    _hedge_timer: asyncio.TimerHandle | None = field(init=False, default=None)
    # The pool's own limiter (set by the pool): a hedge takes a slot only when one is free now.
    shared: RateLimiter | None = field(init=False, default=None)
    # The engine's one try with the whole timeout, if it has one (and as a future).
    patiently: Callable[[str, str], Awaitable[Lookup]] | None = field(init=False)
    send_patiently: Callable[[str, str], asyncio.Future[Lookup]] | None = field(init=False)

    def __post_init__(self) -> None:
        self.send = getattr(self.resolver, "send", None)
        self.patiently = getattr(self.resolver, "lookup_patiently", None)
        self.send_patiently = getattr(self.resolver, "send_patiently", None)

    async def enter_window(self) -> None:
        window = self.window
        if self.has_room():
            window.reserve()
            return
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        self.waiting.append(ready)
        if self._sweep is None:
            self._schedule_sweep(loop)
        try:
            await ready
        except BaseException:
            if ready.cancelled():
                with contextlib.suppress(ValueError):  # hand_over() may have dropped it
                    self.waiting.remove(ready)
            else:  # handed a slot, never used
                window.returned()
                self.hand_over()
            raise

    def _schedule_sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        due = self.window.presumption_due()
        if due is not None:
            self._sweep = loop.call_later(max(0.0, due - self.clock()), self._swept, loop)

    def _swept(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweep = None
        self.window.presume_lost(self.clock())
        self.hand_over()
        if self.waiting:
            self._schedule_sweep(loop)

    def has_room(self) -> bool:
        """Whether an attempt would be sent at once, without waiting for the window."""
        return not self.waiting and self.window.in_flight < self.window.size

    def hand_over(self) -> None:
        """Give the room in the window to waiting attempts, first come first served."""
        window, waiting = self.window, self.waiting
        while waiting and window.in_flight < window.size:
            ready = waiting.popleft()
            if not ready.done():  # not cancelled meanwhile
                window.reserve()
                ready.set_result(None)

    def stats(self) -> ResolverStats:
        health, window = self.health, self.window
        return ResolverStats(
            resolver=self.name,
            engine=getattr(self.resolver, "engine", type(self.resolver).__name__),
            attempts=health.attempts + self.hedges,
            faults=health.faults,
            times_benched=health.times_benched,
            state=health.state,
            window=WindowStats(
                final=window.limit,
                largest_in_flight=window.largest,
                increases=window.increases,
                decreases=window.decreases,
            ),
        )

    # --- hedging: a query that seems lost is sent again at once ---
    #
    # A lost query is retried only when c-ares times it out: five times the
    # server's average latency, 250 ms at least. In the middle of a scan other
    # queries fill that wait, but at its end, when the last queries are all
    # that is left, every loss among them added its whole timeout (and a
    # back-off, when the retry was lost too) to the scan: a quarter to half a
    # second over a 50 ms path, on scans of a few seconds; for a /24, most of
    # its time. So on a path that has lost queries, a query three base
    # latencies old (InflightWindow.hedge_delay) is sent again, and the
    # first answer of the two is the attempt's; the per-IP `attempts` counts
    # both. A lost query is sent twice either way: hedged, sooner. Hedges take
    # a slot in the window (even beyond its size, as queries presumed lost
    # free theirs, but never beyond --concurrency, its ceiling) and from the
    # rate limits only when one is free now; at most a tenth of the window
    # are hedges at once, so a server that stalls gets that much more, not a
    # copy of everything.

    def plan_hedge(self) -> None:
        """Set the timer of the next hedge, if queries are out on a path that loses some."""
        if self._hedge_timer is not None:
            return
        delay = self.window.hedge_delay()
        if delay is None:
            return
        hedged = self.hedged
        oldest = next((e[3] for t, e in self.sent.items() if t not in hedged), None)
        if oldest is None:
            return  # planned again when a query is sent
        wait = max(oldest + delay - self.clock(), 0.001)
        self._hedge_timer = asyncio.get_running_loop().call_later(wait, self._send_hedges)

    def _send_hedges(self) -> None:
        self._hedge_timer = None
        delay = self.window.hedge_delay()
        send, window = self.send, self.window
        if delay is None or send is None or self.shared is None:
            return
        now = self.clock()
        most = max(1, window.limit // 10)
        for ticket, (name, rtype, future, sent_at) in self.sent.items():
            if sent_at + delay > now or len(self.hedged) >= most:
                break
            if ticket in self.hedged or future.done():
                continue
            if window.in_flight >= window.ceiling:  # --concurrency holds for hedges too
                break
            if not self.shared.try_acquire():
                break
            if self.limiter is not None and not self.limiter.try_acquire():
                break
            window.reserve()
            copy = send(name, rtype)
            copy.add_done_callback(
                functools.partial(self._hedge_ended, window.launched(now), future)
            )
            self.hedged[ticket] = copy
            self.hedges += 1
        if self.sent and self._hedge_timer is None:
            self.plan_hedge()

    def _hedge_ended(
        self,
        ticket: int,
        original: asyncio.Future[Lookup],
        copy: asyncio.Future[Lookup],
    ) -> None:
        if copy.cancelled():  # its attempt was cancelled while waiting for it
            self.window.abandoned(ticket)
            self.hand_over()
            return
        lookup = None if copy.exception() else copy.result()
        answered = lookup is not None and lookup.outcome is not Outcome.TIMEOUT
        self.window.answered(ticket, self.clock(), lost=not answered)
        self.hand_over()
        if lookup is not None and answered and not original.done():
            original.set_result(lookup)
