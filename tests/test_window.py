"""The in-flight window (pure state) and how the retry layer keeps to it."""

import asyncio
import heapq
import random

import anyio
import anyio.lowlevel
import pytest

from scanner.core.health import ResolverHealth
from scanner.core.status import Outcome
from scanner.core.verdict import Lookup
from scanner.core.window import InflightWindow
from scanner.dns.ratelimit import RateLimiter
from scanner.dns.retry import ResolverPool, Upstream


class Network:
    """A simulated path: each query sent is answered `latency` seconds later, or lost
    (ended by a timeout `timeout` seconds later). Time moves from one ending to the next."""

    def __init__(self, window, *, latency=0.05, loss=0.0, timeout=0.25, workers=None, seed=1):
        self.window, self.latency, self.loss, self.timeout = window, latency, loss, timeout
        self.workers = workers  # at most this many in flight whatever the window says
        self.rng = random.Random(seed)
        self.now = 0.0
        self.pending = []  # (ends at, ticket, lost)

    def fill(self):
        window = self.window
        while window.has_room() and (self.workers is None or len(self.pending) < self.workers):
            window.reserve()
            ticket = window.launched(self.now)
            lost = self.rng.random() < self.loss
            ends = self.now + (self.timeout if lost else self.latency)
            heapq.heappush(self.pending, (ends, ticket, lost))

    def run(self, answers):
        for _ in range(answers):
            self.fill()
            due = self.window.presumption_due()
            if due is not None and not self.window.has_room() and due < self.pending[0][0]:
                # What the retry layer's timer does while attempts wait for room.
                self.now = due
                self.window.presume_lost(due)
                continue
            self.now, ticket, lost = heapq.heappop(self.pending)
            self.window.answered(ticket, self.now, lost=lost)
        return self.window.limit

    def run_for(self, seconds):
        end = self.now + seconds
        while self.now < end:
            self.run(1)
        return self.window.limit


def test_slow_start_doubles_while_latency_holds_then_backs_off_when_it_climbs():
    window = InflightWindow(ceiling=10_000)
    network = Network(window)
    sizes = []
    while window.limit < 2048:
        network.run(1)
        if not sizes or sizes[-1] != window.limit:
            sizes.append(window.limit)
    assert sizes == [128, 256, 512, 1024, 2048]
    # Answers slow down: queries are queueing somewhere. The window backs off
    # and stops doubling.
    network.latency = 0.120
    network.run_for(0.5)
    assert window.limit < 2048 and not window.slow_start and window.decreases >= 1
    shrunk = window.limit
    network.latency = 0.050
    network.run_for(1.0)
    assert window.limit > shrunk


def test_it_never_grows_when_something_else_holds_the_pace():
    # With fewer workers than the window (or a rate limit), a larger window
    # would change nothing; growing it anyway would let a later burst through.
    window = InflightWindow(ceiling=10_000, size=128)
    Network(window, workers=40).run_for(5.0)
    assert window.limit == 128 and window.increases == 0 and window.decreases == 0


def test_random_loss_of_a_few_percent_never_shrinks_it():
    window = InflightWindow(ceiling=5000, size=32)
    Network(window, loss=0.02, seed=7).run_for(10.0)
    assert window.limit == 5000 and window.decreases == 0


def test_heavy_loss_that_does_not_change_with_the_window_stops_shrinking_it():
    # A path that always loses a fifth of the queries (the lab's --drop 0.2):
    # halving once or twice is the price of finding that out; it then grows.
    window = InflightWindow(ceiling=5000, size=256)
    Network(window, loss=0.2, seed=3).run_for(10.0)
    assert window.limit == 5000 and window.undone >= 1


def test_lost_queries_do_not_hold_the_window_on_a_fast_path():
    # Loopback: answers in 200 us, a fifth lost, each loss ended by a 250 ms
    # timeout. Were lost queries counted until then, nearly every slot would be
    # held by one, and a window of 64 would carry a few hundred answers a second.
    window = InflightWindow(ceiling=64, size=64, floor=64)
    network = Network(window, latency=0.0002, loss=0.2, timeout=0.25, seed=5)
    network.run_for(0.1)  # long enough for a base latency and the first losses
    answers_before, start = window.answers, network.now
    network.run_for(2.0)
    rate = (window.answers - answers_before) / (network.now - start)
    # Counted until their timeouts, lost queries would cap it at 64 / (0.2 *
    # 0.25 s): 1,280 answers a second.
    assert rate > 4_000
    assert window.in_flight <= 64  # the slots freed were only the presumed losses


def test_a_burst_of_losses_halves_it_once():
    window = InflightWindow(ceiling=5000, size=1000, slow_start=False)
    tickets = []
    for _ in range(1000):
        window.reserve()
        tickets.append(window.launched(0.5))
    # Half the window was lost at once (a socket buffer overflowed): its
    # timeouts expire together, over several rounds of the smaller window.
    for index, ticket in enumerate(tickets):
        window.answered(ticket, 1.0 + index * 1e-6, lost=index % 2 == 0)
    assert window.limit == 500 and window.decreases == 1


def test_it_stays_within_floor_and_ceiling():
    window = InflightWindow(ceiling=300, size=32, floor=8)
    network = Network(window)
    network.run_for(2.0)
    assert window.limit == 300
    network.loss = 1.0  # everything lost
    network.run_for(20.0)
    assert window.limit == 8


def test_latency_on_loopback_is_judged_with_slack():
    # Tens of microseconds, growing with the window: queueing nobody would notice.
    window = InflightWindow(ceiling=1000, size=32)
    network = Network(window, latency=0.00003)
    while window.limit < 256:
        network.latency = 0.00003 * window.limit / 32
        network.run(1)
    assert window.decreases == 0


class Held:
    """A resolver whose answers wait until the test lets them go."""

    def __init__(self):
        self.in_flight = 0
        self.most = 0
        self.release = None

    async def lookup(self, name, rtype):
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await self.release.wait()
        finally:
            self.in_flight -= 1
        return Lookup(Outcome.NXDOMAIN)


def held_pool(resolver, size):
    upstream = Upstream(
        "r0", resolver, ResolverHealth(), window=InflightWindow(ceiling=size, size=size, floor=1)
    )
    return ResolverPool([upstream], limiter=RateLimiter(0)), upstream


def test_the_pool_keeps_queries_in_flight_within_the_window_and_serves_waiters_in_order():
    resolver = Held()
    pool, upstream = held_pool(resolver, 4)
    finished = []

    async def one(index):
        await pool.lookup(f"n{index}.example", "A")
        finished.append(index)

    async def main():
        resolver.release = anyio.Event()
        async with anyio.create_task_group() as group:
            for index in range(10):
                group.start_soon(one, index)
            while len(upstream.waiting) < 6:
                await anyio.lowlevel.checkpoint()
            assert resolver.in_flight == 4
            resolver.release.set()

    anyio.run(main)
    assert resolver.most == 4 and sorted(finished) == list(range(10))
    assert upstream.window.in_flight == 0 and not upstream.waiting


def test_a_waiter_cancelled_gives_its_slot_back():
    resolver = Held()
    pool, upstream = held_pool(resolver, 1)

    async def main():
        resolver.release = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(pool.lookup, "first.example", "A")
            waiting = anyio.CancelScope()
            group.start_soon(_cancelled_lookup, pool, waiting)
            while not upstream.waiting:
                await anyio.lowlevel.checkpoint()
            waiting.cancel()
            while upstream.waiting:
                await anyio.lowlevel.checkpoint()
            assert upstream.window.in_flight == 1  # the first query's slot only
            resolver.release.set()
        return await pool.lookup("after.example", "A")

    assert anyio.run(main).outcome is Outcome.NXDOMAIN
    assert upstream.window.in_flight == 0 and not upstream.waiting


async def _cancelled_lookup(pool, scope):
    with scope:
        await pool.lookup("cancelled.example", "A")


@pytest.mark.parametrize("ceiling", [0, -3])
def test_a_ceiling_below_one_is_refused(ceiling):
    with pytest.raises(ValueError, match="ceiling"):
        InflightWindow(ceiling=ceiling)


class Lossy:
    """Sends queries as an engine with `send()` does; the first copy of `lost` is never answered.

    Every other query is answered after `latency` seconds, on the running loop.
    """

    def __init__(self, lost, latency=0.001, copy_outcome=Outcome.ANSWER):
        self.lost = lost
        self.latency = latency
        self.copy_outcome = copy_outcome
        self.sent = []

    async def lookup(self, name, rtype):
        return await self.send(name, rtype)

    def send(self, name, rtype):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.sent.append(name)
        if name == self.lost and self.sent.count(name) == 1:
            return future  # lost: c-ares would time it out much later
        if name.startswith("timed-out") and self.sent.count(name) == 1:
            outcome = Outcome.TIMEOUT  # lost, and timed out: the path loses queries
        else:
            outcome = self.copy_outcome if name == self.lost else Outcome.ANSWER
        loop.call_later(self.latency, future.set_result, Lookup(outcome, ("192.0.2.1",)))
        return future


def hedging_pool(resolver, ceiling=1000):
    window = InflightWindow(ceiling=ceiling, size=min(32, ceiling), floor=1)
    upstream = Upstream("r0", resolver, ResolverHealth(), window=window)
    return ResolverPool([upstream], limiter=RateLimiter(0)), upstream


async def _measured(pool, count, *, losing=True):
    """Lookups enough for the window to measure a round (hedging needs a base
    latency), one of them lost once if `losing` (and a path that has lost none
    is never hedged)."""
    async with anyio.create_task_group() as group:
        for index in range(count):
            lost = losing and index == 0
            group.start_soon(pool.lookup, f"{'timed-out' if lost else 'warm'}{index}.example", "A")


def test_a_query_that_seems_lost_is_sent_again_and_the_copy_answers():
    resolver = Lossy("lost.example")
    pool, upstream = hedging_pool(resolver)

    async def main():
        await _measured(pool, 64)
        assert upstream.window.hedge_delay() is not None
        with anyio.fail_after(10):  # without a hedge it would wait forever
            return await pool.lookup("lost.example", "A")

    result = anyio.run(main)
    assert result.outcome is Outcome.ANSWER and result.attempts == 2
    assert resolver.sent.count("lost.example") == 2 and pool.hedges == 1
    assert pool.retries == 1  # the warm-up's timeout; the lost query's was a hedge
    assert not upstream.sent and not upstream.hedged
    assert upstream.window.in_flight == 0


def test_a_hedge_that_times_out_leaves_the_attempt_to_its_original():
    resolver = Lossy("slow.example", copy_outcome=Outcome.TIMEOUT)
    pool, upstream = hedging_pool(resolver)

    async def main():
        await _measured(pool, 64)
        task = asyncio.ensure_future(pool.lookup("slow.example", "A"))
        while not upstream.hedged:
            await asyncio.sleep(0)  # a loop turn: the hedge timer is the loop's
        original = next(iter(upstream.sent.values()))[2]
        copy = next(iter(upstream.hedged.values()))
        await copy  # the copy times out first...
        original.set_result(Lookup(Outcome.ANSWER, ("192.0.2.1",)))  # ...then the answer
        with anyio.fail_after(10):
            return await task

    result = anyio.run(main)
    assert result.outcome is Outcome.ANSWER and result.attempts == 2
    assert pool.hedges == 1 and upstream.window.in_flight == 0


def test_hedges_never_take_the_window_past_its_ceiling(monkeypatch):
    resolver = Lossy("lost.example")
    pool, upstream = hedging_pool(resolver, ceiling=1)
    passes = []
    hedge = Upstream._send_hedges

    def counted(self):
        passes.append(self.window.in_flight)
        hedge(self)

    monkeypatch.setattr(Upstream, "_send_hedges", counted)

    async def main():
        await _measured(pool, 64)
        async with anyio.create_task_group() as group:
            group.start_soon(pool.lookup, "lost.example", "A")
            while len(passes) < 3:  # the lost query was due for a hedge, three times
                await asyncio.sleep(0)
            group.cancel_scope.cancel()

    anyio.run(main)
    assert resolver.sent.count("lost.example") == 1 and pool.hedges == 0
    assert passes == [1, 1, 1] and upstream.window.in_flight == 0


def test_a_path_that_has_lost_nothing_is_never_hedged():
    window = InflightWindow(ceiling=1000, size=32, floor=1)
    clock = [0.0]

    def round_of(latency, count=32, lost=False):
        tickets = []
        for _ in range(count):
            window.reserve()
            tickets.append(window.launched(clock[0]))
        clock[0] += latency
        for ticket in tickets:
            window.answered(ticket, clock[0], lost=lost)

    for _ in range(3):
        round_of(0.010)
    assert window.hedge_delay() is None  # a slow answer here is a pause, not a loss
    round_of(0.3, count=1, lost=True)
    assert window.hedge_delay() == pytest.approx(0.05)  # 3 x 10 ms, 2 x 10 ms: the floor
    for _ in range(2):
        round_of(0.040)  # answers slow down: a hedge waits for twice the latest mean
    assert window.hedge_delay() == pytest.approx(0.08)
    assert window.in_flight == 0
