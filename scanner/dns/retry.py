"""The retry layer: every DNS query goes through here, paced, retried and spread over resolvers.

For each attempt: choose a usable resolver (round robin, avoiding the one that
just failed; if all are benched, wait for the first to come back instead of
burning attempts), take a slot in its in-flight window (scanner/core/window.py), then
from the global and the per-resolver rate limiters, send one try, record the
outcome for the resolver's health, its window and the adaptive rate. Transient
outcomes are retried after an exponential back-off with jitter in its upper
half (a first timeout at once: the timeout was the wait), up to the attempt
budget; answers (NXDOMAIN and NODATA included) are returned at once. A query
that seems lost, long before its timeout, is hedged: sent again at once, the
first answer of the two winning (see `_hedge`). SERVFAILs, and a zone's
timeouts, that retrying has not cured for other lookups are retried once
(scanner/core/stubborn.py), unless the failure is no exception (an outage).

c-ares times a query out at five times its server's mean latency, so a zone
much slower than the rest (a customer's name server answering in 1.5 s among
zones that answer in a millisecond) would time out on every try, however
long `--timeout` is. So the attempt after a timeout waits the whole
`--timeout` (the engine's `lookup_patiently`); if its answer came later than
the timed-out try had waited, the zone is slow and every later query of it
(`zone_key`) waits the whole timeout from the first try. Those answers are no
samples of the path's latency: they do not move the in-flight window. A
patient try that seems lost is hedged like any other, except in a zone known
to be slow; only its own late answer, never a copy's, marks a zone slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

import anyio

from scanner.core.adaptive import AdaptiveRate
from scanner.core.exits import CouldNotComplete
from scanner.core.health import ResolverHealth
from scanner.core.lookups import Resolver, ZoneMemory, zone_key
from scanner.core.poolstats import PoolStats, ResolverStats, WindowStats
from scanner.core.status import RESOLVER_FAULTS, RETRY, Outcome
from scanner.core.stubborn import KINDS as STUBBORN_KINDS
from scanner.core.stubborn import StubbornFailures
from scanner.core.verdict import Lookup
from scanner.core.window import InflightWindow
from scanner.dns.ratelimit import RateLimiter

# Outcomes that tell the adaptive rate the resolvers are struggling.
STRAIN = frozenset({Outcome.TIMEOUT, Outcome.SERVFAIL, Outcome.REFUSED, Outcome.NETWORK_ERROR})
# Of those, the ones that are answers: told to the adaptive rate only once the
# same question got through on a later try (see ResolverPool.lookup).
REFUSALS = frozenset({Outcome.SERVFAIL, Outcome.REFUSED})

# When every attempt failed, the verdict reports the most informative failure
# seen, not merely the last: a SERVFAIL says a server tried and the zone is
# broken, which a later timeout (a lost packet, a dead second resolver) does not
# contradict. Higher is more informative.
FAILURE_RANK: dict[Outcome, int] = {
    Outcome.SERVFAIL: 4,
    Outcome.REFUSED: 3,
    Outcome.BAD_RESPONSE: 2,
    Outcome.TIMEOUT: 1,
    Outcome.NETWORK_ERROR: 0,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    retries: int = 5  # attempts after the first
    # Ceiling of the first back-off, in seconds. Resolvers that throttle (Unbound's
    # ratelimit, public resolvers) answer SERVFAIL or drop for a second or more, so
    # five retries should span several seconds: ceilings 0.25, 0.5, 1, 2, 4.
    backoff: float = 0.25
    max_backoff: float = 8.0

    def delay(self, retry: int, rng: random.Random) -> float:
        """Uniform in [ceiling/2, ceiling], ceiling = min(max_backoff, backoff * 2^(retry-1)).

        Not full jitter (from 0): a resolver that throttles refuses for a second
        or more, and retries that may come at once tend to land in the same
        refusal. Measured through Unbound's `ratelimit` (SERVFAIL above 300
        queries/s), with full jitter about 50 of 2,304 addresses needed 4 or 5
        retries and now and then one ran out of attempts; with the lower half
        cut, about 13 (7 runs), and fewer retries in all.
        """
        ceiling = min(self.max_backoff, self.backoff * 2 ** (retry - 1))
        return rng.uniform(ceiling / 2, ceiling)


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
    # queries can be hedged (ResolverPool._hedge). Queries sent through it and
    # not yet ended, oldest first: ticket -> (name, type, future, when sent);
    # the second copies of those hedged, by ticket; the timer of the next hedge.
    send: Callable[[str, str], asyncio.Future[Lookup]] | None = field(init=False)
    sent: dict[int, tuple[str, str, asyncio.Future[Lookup], float]] = field(
        init=False, default_factory=dict
    )
    hedged: dict[int, asyncio.Future[Lookup]] = field(init=False, default_factory=dict)
    hedges: int = field(init=False, default=0)
    _hedge: asyncio.TimerHandle | None = field(init=False, default=None)
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


# REFUSED is an answer: a resolver that does not serve us, or an authoritative
# server (a legitimate --resolver) for a name outside its zones, says it again
# and again. Asked once more (another resolver, if there are several), then
# the row says `refused`; five retries with back-off made a range of which an
# authoritative server serves half crawl.
REFUSED_RETRIES = 1
# How often a health check asks its known question before the resolver counts as silent.
CHECK_TRIES = 3

# Every resolver benched and none has answered anything for this long: the
# scan stops (exit 3, outputs resumable) instead of crawling on. Long enough
# to ride out a resolver's restart; a lost path is not coming back sooner.
GIVE_UP_AFTER = 60.0


def _result_of(future: asyncio.Future[Lookup]) -> Lookup | None:
    """The future's lookup if it ended with one, else None (not yet, cancelled, failed)."""
    if not future.done() or future.cancelled() or future.exception() is not None:
        return None
    return future.result()


class ResolversSilent(CouldNotComplete):
    """Every resolver has been silent for longer than the pool waits."""


class ResolverPool:
    """A `Resolver` over several upstreams, with pacing, retries and benching."""

    def __init__(
        self,
        upstreams: Sequence[Upstream],
        *,
        limiter: RateLimiter,
        policy: RetryPolicy = RetryPolicy(),
        adaptive: AdaptiveRate | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rng: random.Random | None = None,
        notice: Callable[[str], None] = lambda message: None,
        give_up_after: float = GIVE_UP_AFTER,
    ) -> None:
        if not upstreams:
            raise ValueError("need at least one resolver")
        self.upstreams = list(upstreams)
        for upstream in self.upstreams:
            upstream.clock = clock
        self.limiter = limiter
        self.policy = policy
        self.adaptive = adaptive
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._notice = notice
        self._turn = 0
        self._changed = anyio.Event()
        self._all_benched_since: float | None = None
        self.give_up_after = give_up_after
        self._last_answer = clock()  # when any resolver last answered anything
        self.attempts = 0
        self.retries = 0
        self.bench_waits = 0  # times every resolver was benched at once
        self.bench_wait_seconds = 0.0
        self.backing_off = 0  # lookups sleeping before a retry
        self.checks = 0  # questions asked again to tell a dead resolver from lost queries
        self.hedges = 0  # second copies of queries that seemed lost (see _hedge)
        self.slow_zones = ZoneMemory()  # zones answering later than c-ares waits
        self.patient_attempts = 0  # attempts that waited the whole timeout
        self.stubborn = StubbornFailures()  # failures retrying does not cure
        self.retried_less = 0  # lookups given fewer retries (stubborn.py)

    async def lookup(self, name: str, rtype: str) -> Lookup:
        tries = 0  # what the retry policy counts
        refusals = 0
        attempts = 0  # queries sent, hedges included: what the row reports
        avoid: Upstream | None = None
        worst: Lookup | None = None
        patient = False  # the next attempt waits the whole timeout
        patient_tried = False
        timed_out_after = 0.0  # how long the last try that timed out had waited
        deferred = 0  # SERVFAILs and REFUSEDs not yet told to the adaptive rate
        failed: dict[Outcome, int] = {}  # tries that timed out or got SERVFAIL
        calm: dict[Outcome, bool] = {}  # that failure was the exception when it first came
        allowed = self.policy.retries  # fewer once such failures are stubborn (stubborn.py)
        cut_by: Outcome | None = None
        while True:
            upstream = self._pick(avoid) or await self._wait_for_usable(avoid)
            await upstream.enter_window()
            try:
                waited = False if self.limiter.acquire_nowait() else await self.limiter.acquire()
                if upstream.limiter is not None:
                    await upstream.limiter.acquire()
            except BaseException:
                upstream.window.returned()
                upstream.hand_over()
                raise
            now = self._clock()
            ticket = upstream.window.launched(now)
            slow = name in self.slow_zones
            whole = upstream.patiently is not None and (patient or slow)
            send = upstream.send_patiently if whole else upstream.send
            try:
                if whole:
                    self.patient_attempts += 1
                if send is None:
                    ask = upstream.patiently if whole else None
                    lookup = await (ask or upstream.resolver.lookup)(name, rtype)
                else:
                    future = send(name, rtype)
                    # A patient try may be lost too: hedged like any other, unless
                    # its zone is known to be slow (then a copy would be waste).
                    hedgeable = not (whole and slow)
                    if hedgeable:
                        upstream.sent[ticket] = (name, rtype, future, now)
                        if upstream._hedge is None:
                            self._plan_hedge(upstream)
                    try:
                        lookup = await future
                    finally:
                        if hedgeable:
                            del upstream.sent[ticket]
            except BaseException:
                upstream.window.abandoned(ticket)
                upstream.hand_over()
                raise
            copy = upstream.hedged.pop(ticket, None) if upstream.hedged else None
            took = self._clock() - now
            if whole or copy is not None:
                # A patient wait, or the first answer of two, is no sample of the path's latency.
                upstream.window.abandoned(ticket)
                by_copy = copy is not None and _result_of(copy) is lookup
                if copy is not None:
                    attempts += 1
                    if lookup.outcome is Outcome.TIMEOUT:
                        lookup = await copy  # its own end is accounted for by _hedge_ended
                        by_copy = True
                # Slow: the patient try itself answered, later than the timed-out
                # try had waited (a hedged copy's late answer says nothing of the zone).
                answered = lookup.outcome is not Outcome.TIMEOUT and not by_copy
                if whole and answered and took > timed_out_after > 0:
                    self.slow_zones.add(name)
            else:
                lost = lookup.outcome is Outcome.TIMEOUT
                upstream.window.answered(ticket, self._clock(), lost=lost)
            upstream.hand_over()
            patient_tried |= whole
            patient = lookup.outcome is Outcome.TIMEOUT and not patient_tried
            if lookup.outcome is Outcome.TIMEOUT and not whole:
                timed_out_after = took
            tries += 1
            attempts += 1
            self.attempts += 1
            self.stubborn.outcome(lookup.outcome, self._clock())
            if self.adaptive is not None:
                # Every attempt counts, retries included, but a SERVFAIL or a
                # REFUSED only once a later try of the same question got an
                # answer: then it was the resolver throttling (Unbound's
                # ratelimit), and the rate must drop until the retries get
                # through. A name that fails that way on every try is broken
                # whatever the rate. Timeouts count at once, unless their zone
                # never answered (scanner/core/adaptive.py): a dead zone is no load.
                if lookup.outcome in REFUSALS:
                    deferred += 1
                else:
                    for _ in range(deferred):
                        self._adapt(True, waited, None)
                    deferred = 0
                    self._adapt(lookup.outcome in STRAIN, waited, zone_key(name))
            if self._record(upstream, lookup.outcome, waited):
                await self._check(upstream)
            elif lookup.outcome not in RESOLVER_FAULTS:
                upstream.canary = (name, rtype)
            refusals += lookup.outcome is Outcome.REFUSED
            if not RETRY[lookup.outcome] or refusals > REFUSED_RETRIES:
                if failed and not RETRY[lookup.outcome]:
                    for kind in failed:
                        self.stubborn.cured(kind, zone_key(name))
                return replace(lookup, attempts=attempts) if attempts > 1 else lookup
            if worst is None or FAILURE_RANK[lookup.outcome] > FAILURE_RANK[worst.outcome]:
                worst = lookup
            kind = lookup.outcome
            if kind in STUBBORN_KINDS:
                failed[kind] = failed.get(kind, 0) + 1
                now = self._clock()
                zone = zone_key(name)
                if failed[kind] == 1:  # an outage is judged when it begins, not in its middle
                    calm[kind] = self.stubborn.exception(kind, now)
                if failed[kind] == self.stubborn.tries:
                    self.stubborn.stubborn(kind, zone, now)
                fewer = self.stubborn.retries(kind, zone, allowed, calm=calm[kind])
                if fewer < allowed:
                    allowed, cut_by = fewer, kind
            if tries > allowed:
                if cut_by is not None:
                    self.retried_less += 1
                    why = self.stubborn.why(cut_by, zone_key(name))
                    return replace(worst, attempts=attempts, detail=f"{worst.detail}; {why}")
                return replace(worst, attempts=attempts)
            self.retries += 1
            avoid = upstream
            if tries == 1 and lookup.outcome is Outcome.TIMEOUT:
                # A lost packet: the timeout was the wait. (Back-off is for a
                # resolver that throttles; it paced every lost query's retry,
                # and at the end of a scan that was time nothing else filled.)
                continue
            self.backing_off += 1
            try:
                await self._sleep(self.policy.delay(tries, self._rng))
            finally:
                self.backing_off -= 1

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

    def _plan_hedge(self, upstream: Upstream) -> None:
        delay = upstream.window.hedge_delay()
        if delay is None:
            return
        hedged = upstream.hedged
        oldest = next((e[3] for t, e in upstream.sent.items() if t not in hedged), None)
        if oldest is None:
            return  # planned again when a query is sent
        wait = max(oldest + delay - self._clock(), 0.001)
        upstream._hedge = asyncio.get_running_loop().call_later(wait, self._hedge, upstream)

    def _hedge(self, upstream: Upstream) -> None:
        upstream._hedge = None
        delay = upstream.window.hedge_delay()
        send, window = upstream.send, upstream.window
        if delay is None or send is None:
            return
        now = self._clock()
        most = max(1, window.limit // 10)
        for ticket, (name, rtype, future, sent_at) in upstream.sent.items():
            if sent_at + delay > now or len(upstream.hedged) >= most:
                break
            if ticket in upstream.hedged or future.done():
                continue
            if window.in_flight >= window.ceiling:  # --concurrency holds for hedges too
                break
            if not self.limiter.try_acquire():
                break
            if upstream.limiter is not None and not upstream.limiter.try_acquire():
                break
            window.reserve()
            copy = send(name, rtype)
            copy.add_done_callback(
                functools.partial(self._hedge_ended, upstream, window.launched(now), future)
            )
            upstream.hedged[ticket] = copy
            upstream.hedges += 1
            self.attempts += 1
            self.hedges += 1
        if upstream.sent and upstream._hedge is None:
            self._plan_hedge(upstream)

    def _hedge_ended(
        self,
        upstream: Upstream,
        ticket: int,
        original: asyncio.Future[Lookup],
        copy: asyncio.Future[Lookup],
    ) -> None:
        if copy.cancelled():  # its attempt was cancelled while waiting for it
            upstream.window.abandoned(ticket)
            upstream.hand_over()
            return
        lookup = None if copy.exception() else copy.result()
        answered = lookup is not None and lookup.outcome is not Outcome.TIMEOUT
        upstream.window.answered(ticket, self._clock(), lost=not answered)
        upstream.hand_over()
        if lookup is not None and answered and not original.done():
            original.set_result(lookup)

    def _record(self, upstream: Upstream, outcome: Outcome, waited: bool) -> bool:
        """Count the attempt's outcome; True if the resolver must be checked (`_check`)."""
        now = self._clock()
        before = upstream.health.state
        if outcome not in RESOLVER_FAULTS:
            self._last_answer = now
        check = upstream.health.finished(outcome in RESOLVER_FAULTS, now)
        self._health_changed(upstream, before, now)
        return check

    def _adapt(self, failed: bool, waited: bool, zone: str | None) -> None:
        """Tell the adaptive rate (--rate auto) about one attempt."""
        assert self.adaptive is not None
        rate = self.adaptive.record(failed, self._clock(), limited=waited, zone=zone)
        if rate is not None:
            self.limiter.rate = rate

    async def _check(self, upstream: Upstream) -> None:
        """Ask the resolver the last question it answered: silent to that too, it is benched.

        Only one check runs per resolver at a time (the health object sees to
        it). A resolver that never answered anything has no such question, and
        is benched at once.
        """
        health, canary = upstream.health, upstream.canary
        alive = False
        if canary is not None:
            try:
                alive = await self._ask_again(upstream, canary)
            except BaseException:
                health.checking = False
                raise
        now = self._clock()
        before = health.state
        health.checked(alive, now)
        self._health_changed(upstream, before, now)

    async def _ask_again(self, upstream: Upstream, question: tuple[str, str]) -> bool:
        """Whether the resolver answers `question`, asked up to CHECK_TRIES times.

        Over a path that loses 1% of queries, one lost check benched a live
        resolver (CI saw it). So a copy goes out whenever the ones before seem
        lost (the path's hedge delay: a few of its round trips), and the first
        answer ends the check: a dead resolver is still benched about one
        timeout after the check began. With no delay measured yet, the tries
        follow one another.
        """
        stagger = upstream.window.hedge_delay()
        answered = False

        async def ask() -> None:
            nonlocal answered
            if not self.limiter.acquire_nowait():
                await self.limiter.acquire()
            self.checks += 1
            answer = await upstream.resolver.lookup(*question)
            if answer.outcome not in RESOLVER_FAULTS:
                answered = True
                group.cancel_scope.cancel()

        async with anyio.create_task_group() as group:
            for tried in range(1, CHECK_TRIES + 1):
                if stagger is None:
                    await ask()
                else:
                    group.start_soon(ask)
                    if tried < CHECK_TRIES:  # the last copy is only waited for
                        await self._sleep(stagger)
                if answered:
                    break
        return answered

    def _health_changed(self, upstream: Upstream, before: str, now: float) -> None:
        if upstream.health.state == before:
            return
        self._changed.set()
        self._changed = anyio.Event()
        if upstream.health.state == "benched":
            self._notice(
                f"resolver {upstream.name} benched for "
                f"{upstream.health.bench_until - now:.1f} s: it answered nothing, "
                "not even a question it had answered before"
            )

    def _pick(self, avoid: Upstream | None) -> Upstream | None:
        """The next usable resolver, round robin, preferring one other than `avoid`
        and one with room in its window (a slow or dying resolver's fills up, and
        waiting for it while another has room would waste the attempt's time);
        None when every resolver is benched."""
        now = self._clock()
        if len(self.upstreams) == 1:  # the common case, without building lists
            upstream = self.upstreams[0]
            if not upstream.health.usable(now):
                return None
        else:
            usable = [u for u in self.upstreams if u.health.usable(now)]
            if not usable:
                return None
            candidates = [u for u in usable if u is not avoid] or usable
            candidates = [u for u in candidates if u.has_room()] or candidates
            self._turn += 1
            upstream = candidates[self._turn % len(candidates)]
        if self._all_benched_since is not None:
            self.bench_wait_seconds += now - self._all_benched_since
            self._all_benched_since = None
            self._notice("a resolver is usable again; resuming")
        upstream.health.started()
        return upstream

    async def _wait_for_usable(self, avoid: Upstream | None) -> Upstream:
        """Every resolver is benched: wait, without spending attempts, until one may be tried."""
        while (upstream := self._pick(avoid)) is None:
            now = self._clock()
            if now - self._last_answer >= self.give_up_after:
                raise ResolversSilent(
                    f"no resolver has answered anything for {now - self._last_answer:.0f} s "
                    f"(the limit is {self.give_up_after:.0f} s): "
                    + ", ".join(u.name for u in self.upstreams)
                )
            benched = [u.health.bench_until for u in self.upstreams if u.health.state == "benched"]
            wake = min(benched) if benched else now + 1.0
            probing = any(u.health.state == "probing" for u in self.upstreams)
            if self._all_benched_since is None:
                self._all_benched_since = now
                self.bench_waits += 1
                self._notice(
                    f"all resolvers benched; waiting {max(0.0, wake - now):.1f} s "
                    "before probing (no attempts are spent while waiting)"
                )
            if probing:
                # A probe is in flight: its outcome may make a resolver usable early.
                with anyio.move_on_after(max(0.0, wake - now)):
                    await self._changed.wait()
            else:
                await self._sleep(max(0.0, wake - now))  # nothing can change before then
        return upstream

    def capacity(self) -> int:
        """Lookups that can make progress now: the windows' slots, and the lookups
        that hold none (waiting for a presumed-lost query, or to retry).

        Workers busy in the second kind must not keep the windows empty: an IP
        whose zone drops every query holds its worker for all its retries.
        """
        held = self.backing_off
        for upstream in self.upstreams:
            held += upstream.window.limit + upstream.window.presumed
        return held

    async def aclose(self) -> None:
        """Close every upstream's engine (their sockets and c-ares channels)."""
        for upstream in self.upstreams:
            await upstream.resolver.aclose()

    def stats(self) -> PoolStats:
        adaptive = self.adaptive
        return PoolStats(
            attempts=self.attempts,
            retries=self.retries,
            rate=round(self.limiter.rate, 1) if self.limiter.rate else None,
            adaptive=None if adaptive is None else (adaptive.increases, adaptive.decreases),
            health_checks=self.checks,
            hedges=self.hedges,
            all_benched_waits=self.bench_waits,
            all_benched_seconds=self.bench_wait_seconds,
            patient_tries=self.patient_attempts,
            slow_zones=self.slow_zones.remembered,
            asked_alone=sum(getattr(u.resolver, "asked_alone", 0) for u in self.upstreams),
            malformed_zones=sum(
                memory.remembered
                for u in self.upstreams
                if (memory := getattr(u.resolver, "malformed_zones", None)) is not None
            ),
            retried_less=self.retried_less,
            resolvers=[u.stats() for u in self.upstreams],
        )

    def __repr__(self) -> str:
        states = ", ".join(f"{u.name} {u.health.state}" for u in self.upstreams)
        return f"<ResolverPool [{states}] attempts={self.attempts} retries={self.retries}>"
