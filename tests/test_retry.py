"""The retry layer with scripted resolvers and a controlled clock."""

import random
from collections import Counter

import anyio
import anyio.lowlevel
import pytest
from fakes import Clock, RealTime, ScriptedResolver

from scanner.core.adaptive import AdaptiveRate
from scanner.core.health import ResolverHealth
from scanner.core.status import RETRY, Outcome
from scanner.core.verdict import Lookup
from scanner.core.window import InflightWindow
from scanner.dns.ratelimit import RateLimiter
from scanner.dns.retry import FAILURE_RANK, ResolverPool, RetryPolicy, Upstream


def make_pool(*resolvers, clock, retries=5, bench_after=3, messages=None, rate=0, silence=0.0):
    # The scripted resolvers answer at once on a clock that only sleeps move:
    # no silence is required before benching unless a test asks for it.
    upstreams = [
        Upstream(
            f"r{i}",
            resolver,
            ResolverHealth(bench_after=bench_after, silence=silence, cooldown=2.0),
        )
        for i, resolver in enumerate(resolvers)
    ]
    return ResolverPool(
        upstreams,
        limiter=RateLimiter(rate, 1, clock=clock, sleep=clock.sleep),
        policy=RetryPolicy(retries=retries, backoff=0.1, max_backoff=1.0),
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(1),
        notice=(messages.append if messages is not None else lambda m: None),
    )


def lookup(pool, name="5.0.18.198.in-addr.arpa"):
    async def main():
        return await pool.lookup(name, "PTR")

    return anyio.run(main)


def test_retry_table_covers_every_outcome():
    assert set(RETRY) == set(Outcome)
    assert not RETRY[Outcome.NXDOMAIN] and not RETRY[Outcome.NODATA]
    assert set(FAILURE_RANK) == {outcome for outcome, retried in RETRY.items() if retried}


def test_the_most_informative_failure_is_reported_not_the_last():
    clock = Clock()
    resolver = ScriptedResolver(None, Outcome.TIMEOUT, Outcome.SERVFAIL, Outcome.TIMEOUT)
    result = lookup(make_pool(resolver, clock=clock, retries=2, bench_after=10))
    assert (result.outcome, result.attempts) == (Outcome.SERVFAIL, 3)


def test_refused_is_asked_once_more_and_then_is_the_answer():
    # A resolver that refuses says it again: five retries with back-off made a
    # range that an authoritative server half serves crawl.
    clock = Clock()
    resolver = ScriptedResolver(None, Outcome.REFUSED, Outcome.REFUSED, Outcome.ANSWER)
    pool = make_pool(resolver, clock=clock, bench_after=10)
    result = lookup(pool)
    assert (result.outcome, result.attempts, pool.retries) == (Outcome.REFUSED, 2, 1)


def test_transient_outcomes_are_retried_until_an_answer():
    clock = Clock()
    resolver = ScriptedResolver(
        None, Outcome.TIMEOUT, Outcome.SERVFAIL, Outcome.REFUSED, Outcome.ANSWER
    )
    pool = make_pool(resolver, clock=clock, bench_after=10)
    result = lookup(pool)
    assert (result.outcome, result.attempts, pool.retries) == (Outcome.ANSWER, 4, 3)
    # Jittered back-off: each wait is in the upper half of its doubling ceiling.
    # The first try timed out: the timeout was the wait, its retry goes at once.
    assert len(clock.slept) == 2
    ceilings = (0.2, 0.4)
    assert all(c / 2 <= s <= c for s, c in zip(clock.slept, ceilings, strict=True))


def test_a_first_timeout_is_retried_at_once_a_second_one_after_a_back_off():
    clock = Clock()
    resolver = ScriptedResolver(None, Outcome.TIMEOUT, Outcome.TIMEOUT, Outcome.ANSWER)
    pool = make_pool(resolver, clock=clock, bench_after=10)
    assert lookup(pool).attempts == 3
    assert len(clock.slept) == 1 and 0.1 <= clock.slept[0] <= 0.2


def test_back_off_stays_in_the_upper_half_of_a_doubling_ceiling():
    policy, rng = RetryPolicy(backoff=0.25, max_backoff=8.0), random.Random(1)
    for retry, ceiling in enumerate((0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0), start=1):
        waits = [policy.delay(retry, rng) for _ in range(500)]
        assert all(ceiling / 2 <= wait <= ceiling for wait in waits)
        assert min(waits) < 0.55 * ceiling and max(waits) > 0.95 * ceiling  # spread, not fixed


@pytest.mark.parametrize("final", [Outcome.NXDOMAIN, Outcome.NODATA, Outcome.OTHER_ERROR])
def test_answers_and_local_errors_are_never_retried(final):
    resolver = ScriptedResolver(None, final)
    result = lookup(make_pool(resolver, clock=Clock()))
    assert (result.outcome, result.attempts, resolver.asked) == (final, 1, 1)


def test_the_attempt_budget_ends_with_the_transient_outcome():
    clock = Clock()
    resolver = ScriptedResolver(None, Outcome.TIMEOUT)
    result = lookup(make_pool(resolver, clock=clock, retries=2, bench_after=10))
    assert (result.outcome, result.attempts, resolver.asked) == (Outcome.TIMEOUT, 3, 3)


def test_a_dead_resolver_is_benched_and_the_other_one_answers():
    clock = Clock()
    dead, alive = ScriptedResolver(None, Outcome.TIMEOUT), ScriptedResolver(None, Outcome.NXDOMAIN)
    pool = make_pool(dead, alive, clock=clock, bench_after=3)
    for _ in range(20):
        assert lookup(pool).outcome is Outcome.NXDOMAIN
    stats = {u.resolver: u for u in pool.stats().resolvers}
    assert stats["r0"].state == "benched" and stats["r0"].times_benched == 1
    assert dead.asked == 3  # benched after three faults, never asked again within the cool-down
    assert alive.asked == 20


def test_when_all_are_benched_the_pool_waits_without_spending_attempts():
    clock = Clock()
    messages = []
    # Down for the first 4 attempts, then answering.
    resolver = ScriptedResolver(None, *[Outcome.NETWORK_ERROR] * 4, Outcome.ANSWER)
    pool = make_pool(resolver, clock=clock, retries=4, bench_after=2, messages=messages)
    result = lookup(pool)
    assert result.outcome is Outcome.ANSWER
    assert result.attempts == 5  # two faults, bench; failed probe, bench longer; then answers
    assert pool.choice.bench_waits >= 1 and pool.stats().all_benched_seconds >= 2.0
    assert any("all resolvers benched" in m for m in messages)
    assert any("usable again" in m for m in messages)


def test_every_attempt_is_paced_by_the_limiter():
    clock = Clock()
    resolver = ScriptedResolver(None, Outcome.SERVFAIL, Outcome.ANSWER)
    pool = make_pool(resolver, clock=clock, rate=10, bench_after=10)
    lookup(pool)
    assert pool.limiter.acquired == 2 == pool.attempts


def test_a_per_resolver_limit_paces_only_its_resolver():
    clock = Clock()
    fast, limited = ScriptedResolver(None, Outcome.ANSWER), ScriptedResolver(None, Outcome.ANSWER)
    upstreams = [
        Upstream("fast", fast, ResolverHealth()),
        Upstream(
            "slow", limited, ResolverHealth(), RateLimiter(10, 1, clock=clock, sleep=clock.sleep)
        ),
    ]
    pool = ResolverPool(
        upstreams, limiter=RateLimiter(0, clock=clock), clock=clock, sleep=clock.sleep
    )

    async def main():
        for _ in range(6):
            await pool.lookup("x.example", "A")

    anyio.run(main)
    assert (fast.asked, limited.asked) == (3, 3)
    # Three queries to the limited resolver at 10/s with no burst: 0.2 s of waiting.
    assert clock.now == pytest.approx(0.2)


@pytest.mark.parametrize("answer", [Outcome.REFUSED, Outcome.SERVFAIL])
def test_a_resolver_that_answers_is_alive_whatever_it_answers(answer):
    # An authoritative server refuses names outside its zones; a broken zone
    # gives SERVFAIL. Either way the server answered: it is never benched.
    clock = Clock()
    resolver = ScriptedResolver(None, answer)
    pool = make_pool(resolver, clock=clock, retries=2, bench_after=2)
    for _ in range(10):
        assert lookup(pool).outcome is answer
    stats = pool.stats().resolvers[0]
    # REFUSED is asked once more, not twice. SERVFAIL on everything is no
    # exception (an outage, say): every retry is kept (stubborn.py).
    asked = 20 if answer is Outcome.REFUSED else 30
    assert stats.times_benched == 0 and stats.faults == 0 and resolver.asked == asked


class Selective:
    """Answers one name; every query for any other name is lost."""

    def __init__(self, answered):
        self.answered = answered
        self.asked = []

    async def lookup(self, name, rtype):
        self.asked.append(name)
        await anyio.lowlevel.checkpoint()
        if name == self.answered:
            return Lookup(Outcome.ANSWER, ("h.example",))
        return Lookup(Outcome.TIMEOUT)


def test_a_resolver_silent_only_to_dropped_names_is_checked_not_benched():
    # The tail of a scan: only names whose queries are dropped are left. The
    # resolver is asked again what it answered before, answers, and stays.
    clock = Clock()
    resolver = Selective("good.example")
    pool = make_pool(resolver, clock=clock, retries=3, bench_after=2)
    assert lookup(pool, "good.example").outcome is Outcome.ANSWER
    for _ in range(5):
        assert lookup(pool, "dropped.example").outcome is Outcome.TIMEOUT
    stats = pool.stats()
    assert stats.resolvers[0].times_benched == 0 and stats.health_checks >= 1
    assert resolver.asked.count("good.example") == 1 + stats.health_checks


class LosesChecks(Selective):
    """Like Selective, but the answered name's next `lost` queries are lost too."""

    def __init__(self, answered, lost):
        super().__init__(answered)
        self.lost = lost

    async def lookup(self, name, rtype):
        lookup = await super().lookup(name, rtype)
        if name == self.answered and len(self.asked) > 1 and self.lost:
            self.lost -= 1
            return Lookup(Outcome.TIMEOUT)
        return lookup


@pytest.mark.parametrize("stagger", [None, 0.05])  # no delay measured yet: one after another
@pytest.mark.parametrize(("lost", "benched"), [(1, 0), (2, 0), (3, 1)])
def test_a_check_lost_on_the_way_is_asked_again_before_benching(
    lost, benched, stagger, monkeypatch
):
    # Over a lossy path the check's own query can be lost: that alone must not
    # bench a resolver that answers everything else. Silent three times, it is.
    clock = Clock() if stagger is None else RealTime()
    resolver = LosesChecks("good.example", lost)
    pool = make_pool(resolver, clock=clock, retries=1, bench_after=2)
    monkeypatch.setattr(InflightWindow, "hedge_delay", lambda window: stagger)
    assert lookup(pool, "good.example").outcome is Outcome.ANSWER
    lookup(pool, "dropped.example")
    stats = pool.stats()
    assert stats.resolvers[0].times_benched == benched
    assert stats.health_checks == min(lost + 1, 3)


class StallsOnce(Selective):
    """Like Selective, but the answered name's second query never comes back:
    it waits until cancelled, as a lost query waits for its timeout."""

    def __init__(self, answered):
        super().__init__(answered)
        self.cancelled = 0

    async def lookup(self, name, rtype):
        if name == self.answered and self.asked.count(name) == 1:
            self.asked.append(name)
            try:
                await anyio.sleep_forever()
            except anyio.get_cancelled_exc_class():
                self.cancelled += 1
                raise
        return await super().lookup(name, rtype)


def test_a_check_sends_a_copy_when_the_first_seems_lost_without_waiting_for_its_timeout(
    monkeypatch,
):
    clock = RealTime()
    resolver = StallsOnce("good.example")
    pool = make_pool(resolver, clock=clock, retries=1, bench_after=2)
    monkeypatch.setattr(InflightWindow, "hedge_delay", lambda window: 0.05)  # the path's
    assert lookup(pool, "good.example").outcome is Outcome.ANSWER
    assert lookup(pool, "dropped.example").outcome is Outcome.TIMEOUT  # the check ran here
    stats = pool.stats()
    assert stats.resolvers[0].times_benched == 0 and stats.health_checks == 2
    # The copy answered; the first try (which would have waited out its timeout)
    # was given up, not waited for.
    assert resolver.cancelled == 1


def test_a_resolver_that_never_answered_is_benched_without_a_check():
    clock = Clock()
    resolver = ScriptedResolver(None, Outcome.TIMEOUT)
    pool = make_pool(resolver, clock=clock, retries=1, bench_after=2)
    lookup(pool)
    stats = pool.stats()
    assert stats.resolvers[0].times_benched == 1 and stats.health_checks == 0


class SlowZone:
    """An engine whose adapted timeout (0.25 s) is shorter than one zone's latency (1.5 s).

    `lookup` is c-ares' try: names in slow.example time out after 0.25 s of
    the controlled clock; `lookup_patiently` waits the whole timeout and gets
    the answer after 1.5 s.
    """

    def __init__(self, clock):
        self.clock = clock
        self.tries: list[tuple[str, str]] = []  # (how, name)

    async def lookup(self, name, rtype):
        self.tries.append(("adapted", name))
        if name.endswith("slow.example"):
            await self.clock.sleep(0.25)
            return Lookup(Outcome.TIMEOUT)
        await anyio.lowlevel.checkpoint()
        return Lookup(Outcome.ANSWER, ("192.0.2.1",))

    async def lookup_patiently(self, name, rtype):
        self.tries.append(("patient", name))
        await self.clock.sleep(1.5 if name.endswith("slow.example") else 0.01)
        return Lookup(Outcome.ANSWER, ("192.0.2.1",))


def test_a_timeout_is_retried_with_the_whole_timeout_and_a_slow_zone_is_remembered():
    clock = Clock()
    engine = SlowZone(clock)
    pool = make_pool(engine, clock=clock)

    async def main():
        return [await pool.lookup(name, "A") for name in
                ("a.slow.example", "b.slow.example", "c.fast.example")]  # fmt: skip

    lookups = anyio.run(main)
    assert [lookup.outcome for lookup in lookups] == [Outcome.ANSWER] * 3
    assert engine.tries == [
        ("adapted", "a.slow.example"),  # timed out after 0.25 s
        ("patient", "a.slow.example"),  # answered after 1.5 s: the zone is slow
        ("patient", "b.slow.example"),  # its next name waits from the first try
        ("adapted", "c.fast.example"),  # other zones are not
    ]
    assert lookups[0].attempts == 2 and lookups[1].attempts == 1
    assert pool.patient_attempts == 2 and len(pool.slow_zones) == 1


def test_a_patient_retry_that_answers_fast_marks_no_zone():
    # A lost packet, not a slow zone: the retry came back sooner than the
    # timed-out try had waited.
    clock = Clock()

    class LostOnce(SlowZone):
        async def lookup(self, name, rtype):
            self.tries.append(("adapted", name))
            await self.clock.sleep(0.25)
            first = sum(1 for _, asked in self.tries if asked == name) == 1
            return Lookup(Outcome.TIMEOUT) if first else Lookup(Outcome.ANSWER, ("192.0.2.1",))

    engine = LostOnce(clock)
    pool = make_pool(engine, clock=clock)
    assert anyio.run(pool.lookup, "a.fast.example", "A").outcome is Outcome.ANSWER
    assert anyio.run(pool.lookup, "b.fast.example", "A").outcome is Outcome.ANSWER
    assert engine.tries[:2] == [("adapted", "a.fast.example"), ("patient", "a.fast.example")]
    assert engine.tries[2] == ("adapted", "b.fast.example")
    assert len(pool.slow_zones) == 0


class Zones:
    """Answers by zone: `broken` zones always give `broken_outcome`; the others answer,
    except while `losing` (then they time out). Answers take no time: the limiter's
    waits move the clock, so the limiter is what holds the lookups back."""

    def __init__(self, clock, broken=(), broken_outcome=Outcome.REFUSED):
        self.clock = clock
        self.broken = broken
        self.broken_outcome = broken_outcome
        self.losing = False
        self.throttled = 0  # the next this many queries get SERVFAIL, whatever their zone

    async def lookup(self, name, rtype):
        await anyio.lowlevel.checkpoint()
        if any(name.endswith(zone) for zone in self.broken):
            return Lookup(self.broken_outcome)
        if self.throttled:
            self.throttled -= 1
            return Lookup(Outcome.SERVFAIL)
        if self.losing:
            return Lookup(Outcome.TIMEOUT)
        return Lookup(Outcome.ANSWER, ("192.0.2.1",))


def adaptive_pool(resolver, clock):
    pool = make_pool(resolver, clock=clock, retries=2, bench_after=10_000)
    pool.adaptive = AdaptiveRate(rate=100, maximum=2000)
    pool.limiter.rate = 100
    return pool


def names(count, zones=("a.example", "b.example", "c.example", "broken.example")):
    return [f"h{n}.{zones[n % len(zones)]}" for n in range(count)]


@pytest.mark.parametrize("outcome", [Outcome.REFUSED, Outcome.SERVFAIL])
def test_a_zone_that_always_fails_does_not_lower_the_auto_rate(outcome):
    # Issue 23: a /24 that refused took --rate auto to 10 q/s. A quarter of
    # the names here are in a zone that fails every query, from the first.
    clock = Clock()
    pool = adaptive_pool(Zones(clock, broken=("broken.example",), broken_outcome=outcome), clock)

    async def main():
        for name in names(2000):
            await pool.lookup(name, "A")

    anyio.run(main)
    assert pool.adaptive.decreases == 0
    assert pool.adaptive.increases > 0 and pool.limiter.rate > 100


def test_a_dead_zone_timing_out_does_not_lower_the_auto_rate():
    clock = Clock()
    pool = adaptive_pool(Zones(clock, broken=("broken.example",), broken_outcome=Outcome.TIMEOUT),
                         clock)  # fmt: skip

    async def main():
        for name in names(2000):
            await pool.lookup(name, "A")

    anyio.run(main)
    assert pool.adaptive.decreases == 0 and pool.adaptive.ignored > 0
    assert pool.adaptive.increases > 0


def test_loss_across_zones_that_answered_lowers_the_auto_rate():
    clock = Clock()
    resolver = Zones(clock)
    pool = adaptive_pool(resolver, clock)

    async def main():
        for name in names(300, zones=("a.example", "b.example", "c.example")):
            await pool.lookup(name, "A")
        before = pool.limiter.rate
        resolver.losing = True
        for name in names(300, zones=("a.example", "b.example", "c.example")):
            await pool.lookup(name, "A")
        return before

    before = anyio.run(main)
    assert pool.adaptive.decreases > 0 and pool.limiter.rate < before


def test_a_servfail_that_a_retry_gets_past_is_throttling_and_lowers_the_auto_rate():
    # Unbound's ratelimit answers SERVFAIL for a while; the retries get through.
    clock = Clock()
    resolver = Zones(clock)
    pool = adaptive_pool(resolver, clock)

    async def main():
        for name in names(300, zones=("a.example", "b.example")):
            await pool.lookup(name, "A")
        before = pool.limiter.rate
        for name in names(300, zones=("a.example", "b.example")):
            resolver.throttled = 1  # this lookup's first try is refused service
            assert (await pool.lookup(name, "A")).outcome is Outcome.ANSWER
        return before

    before = anyio.run(main)
    assert pool.adaptive.decreases > 0 and pool.limiter.rate < before


class PerName:
    """Answers each name by its own script of outcomes (the last one forever)."""

    def __init__(self, script):
        self.script = script  # name -> outcomes
        self.asked = Counter()

    async def lookup(self, name, rtype):
        self.asked[name] += 1
        await anyio.lowlevel.checkpoint()
        outcomes = self.script(name)
        outcome = outcomes[min(self.asked[name], len(outcomes)) - 1]
        return Lookup(outcome, ("h.example",) if outcome is Outcome.ANSWER else ())


def _lookups(pool, names):
    async def main():
        return [await pool.lookup(name, "PTR") for name in names]

    return anyio.run(main)


def _with_good_answers(broken, good_zone="9.18.198.in-addr.arpa", before=20):
    """Each broken name after `before` names that answer: SERVFAIL is the exception."""
    names = []
    for number, name in enumerate(broken):
        names += [f"{number * before + i}.{good_zone}" for i in range(before)] + [name]
    return names


def test_servfails_that_retrying_never_cures_are_retried_less_and_the_row_says_why():
    # Broken names among names that answer. The first two keep all six tries;
    # the third is the third stubborn one and stops there; each later one, its
    # first SERVFAIL an exception, gets one retry, not five.
    clock = Clock()
    broken = [f"{i}.0.18.198.in-addr.arpa" for i in range(10)]
    resolver = PerName(lambda name: [Outcome.SERVFAIL] if name in broken else [Outcome.ANSWER])
    pool = make_pool(resolver, clock=clock, retries=5, bench_after=100)
    names = _with_good_answers(broken)
    results = dict(zip(names, _lookups(pool, names), strict=True))
    assert [resolver.asked[name] for name in broken] == [6, 6, 3] + [2] * 7
    assert all(results[name].outcome is Outcome.SERVFAIL for name in broken)
    assert (
        "retried less: 3 lookups of 0.18.198.in-addr.arpa this scan" in results[broken[-1]].detail
    )
    assert "retried less" not in results[broken[0]].detail
    assert pool.stats().retried_less == 8


def test_servfail_on_everything_is_an_outage_and_keeps_every_retry():
    # Every name SERVFAILs (the zones' server stopped): no lookup is evidence,
    # and SERVFAIL is no exception when a lookup starts failing.
    clock = Clock()
    resolver = PerName(lambda name: [Outcome.SERVFAIL])
    pool = make_pool(resolver, clock=clock, retries=5, bench_after=100)
    names = [f"{i}.0.18.198.in-addr.arpa" for i in range(10)]
    _lookups(pool, names)
    assert [resolver.asked[name] for name in names] == [6] * 10
    assert pool.stats().retried_less == 0


def test_servfails_that_retrying_cures_keep_every_retry():
    # A resolver throttling (Unbound's ratelimit): SERVFAIL three times, then
    # the answer. Every name gets through: cures keep the full retries.
    clock = Clock()
    resolver = PerName(lambda name: [Outcome.SERVFAIL] * 3 + [Outcome.ANSWER])
    pool = make_pool(resolver, clock=clock, retries=5, bench_after=100)
    names = [f"{i}.0.18.198.in-addr.arpa" for i in range(20)]
    results = _lookups(pool, names)
    assert all(result.outcome is Outcome.ANSWER for result in results)
    assert pool.stats().retried_less == 0


def test_one_zone_failing_on_every_name_is_retried_less_not_the_others():
    # 1.18.198.in-addr.arpa SERVFAILs on every name; 2.18.198 throttles
    # (cured on the third try). Over the scan cures outnumber stubborn
    # lookups, but within the broken zone none was cured.
    clock = Clock()

    def script(name):
        if name.endswith(".1.18.198.in-addr.arpa"):
            return [Outcome.SERVFAIL]
        if name.endswith(".2.18.198.in-addr.arpa"):
            return [Outcome.SERVFAIL, Outcome.SERVFAIL, Outcome.ANSWER]
        return [Outcome.ANSWER]

    resolver = PerName(script)
    pool = make_pool(resolver, clock=clock, retries=5, bench_after=100)
    throttled = [f"{i}.2.18.198.in-addr.arpa" for i in range(40)]
    broken = [f"{i}.1.18.198.in-addr.arpa" for i in range(10)]
    names = throttled + _with_good_answers(broken)
    results = dict(zip(names, _lookups(pool, names), strict=True))
    assert all(results[name].outcome is Outcome.ANSWER for name in throttled)
    assert [resolver.asked[name] for name in broken[3:]] == [2] * 7
    assert "of 1.18.198.in-addr.arpa" in results[broken[-1]].detail


def test_a_zone_that_never_answers_is_retried_less_but_loss_across_zones_is_not():
    # 7.18.198.in-addr.arpa's server never answers: its lookups time out on
    # every try. Elsewhere one try in four is lost, over every zone: timeouts
    # there are loss, and retrying cures them.
    clock = Clock()

    def script(name):
        if name.endswith(".7.18.198.in-addr.arpa"):
            return [Outcome.TIMEOUT]
        return [Outcome.TIMEOUT, Outcome.ANSWER] if name.startswith("3") else [Outcome.ANSWER]

    resolver = PerName(script)
    pool = make_pool(resolver, clock=clock, retries=5, bench_after=1000)
    dead = [f"{i}.7.18.198.in-addr.arpa" for i in range(8)]
    names = _with_good_answers(dead, good_zone="0.18.198.in-addr.arpa")
    names += [f"3{i}.{i}.19.198.in-addr.arpa" for i in range(40)]  # loss across zones
    results = dict(zip(names, _lookups(pool, names), strict=True))
    assert [resolver.asked[name] for name in dead[3:]] == [2] * 5
    assert "of 7.18.198.in-addr.arpa this scan timed out on 3 tries" in results[dead[-1]].detail
    lossy = [name for name in names if name.startswith("3") and ".19.198." in name]
    assert all(results[name].outcome is Outcome.ANSWER for name in lossy)
