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
first answer of the two winning (scanner/dns/upstream.py, `plan_hedge`). SERVFAILs, and a zone's
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

import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

import anyio

from scanner.core.adaptive import AdaptiveRate
from scanner.core.lookups import ZoneMemory, zone_key
from scanner.core.poolstats import PoolStats
from scanner.core.status import RESOLVER_FAULTS, RETRY, Outcome
from scanner.core.stubborn import KINDS as STUBBORN_KINDS
from scanner.core.stubborn import StubbornFailures
from scanner.core.verdict import Lookup
from scanner.dns.choice import ResolverChoice
from scanner.dns.policy import (
    CHECK_TRIES,
    FAILURE_RANK,
    GIVE_UP_AFTER,
    REFUSALS,
    REFUSED_RETRIES,
    STRAIN,
    RetryPolicy,
)
from scanner.dns.ratelimit import RateLimiter
from scanner.dns.upstream import Upstream, result_of


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
            upstream.shared = limiter
        self.limiter = limiter
        self.policy = policy
        self.adaptive = adaptive
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._notice = notice
        self.choice = ResolverChoice(
            self.upstreams, clock=clock, sleep=sleep, notice=notice, give_up_after=give_up_after
        )
        self._attempts = 0  # tries sent by lookups; hedges are counted by their upstream
        self.retries = 0
        self.backing_off = 0  # lookups sleeping before a retry
        self.retrying = 0  # lookups being retried now (for the progress display)
        self.checks = 0  # questions asked again to tell a dead resolver from lost queries
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
        retried = False  # counted in self.retrying while it is retried
        try:
            while True:
                upstream = self.choice.pick(avoid) or await self.choice.wait_for_usable(avoid)
                await upstream.enter_window()
                try:
                    waited = (
                        False if self.limiter.acquire_nowait() else await self.limiter.acquire()
                    )
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
                            upstream.plan_hedge()
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
                    # A patient wait, or the first answer of two, is no sample of the
                    # path's latency.
                    upstream.window.abandoned(ticket)
                    by_copy = copy is not None and result_of(copy) is lookup
                    if copy is not None:
                        attempts += 1
                        if lookup.outcome is Outcome.TIMEOUT:
                            lookup = (
                                await copy
                            )  # its own end is accounted for by Upstream._hedge_ended
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
                self._attempts += 1
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
                if not retried:
                    retried = True
                    self.retrying += 1
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
        finally:
            if retried:
                self.retrying -= 1

    def _record(self, upstream: Upstream, outcome: Outcome, waited: bool) -> bool:
        """Count the attempt's outcome; True if the resolver must be checked (`_check`)."""
        now = self._clock()
        before = upstream.health.state
        if outcome not in RESOLVER_FAULTS:
            self.choice.answered(now)
        check = upstream.health.finished(outcome in RESOLVER_FAULTS, now)
        self.choice.health_changed(upstream, before, now)
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
        self.choice.health_changed(upstream, before, now)

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

    @property
    def hedges(self) -> int:
        """Second copies of queries that seemed lost (scanner/dns/upstream.py, `plan_hedge`)."""
        return sum(upstream.hedges for upstream in self.upstreams)

    @property
    def attempts(self) -> int:
        """Queries sent, hedges included."""
        return self._attempts + self.hedges

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
            all_benched_waits=self.choice.bench_waits,
            all_benched_seconds=self.choice.bench_wait_seconds,
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
