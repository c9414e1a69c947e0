"""The in-flight window: how many queries may wait for an answer at once, found by measuring.

Pure state over time, like the adaptive rate. The scanner cannot know the round
trip to a user's resolver (microseconds on loopback, 20-300 ms across a
network), and the number of queries in flight that keeps the path busy is the
query rate times that round trip. So the window is measured, as TCP's
congestion window is: every answer reports its latency, and once per round (as
many answers as the window holds, about one round trip) the window decides:

- it grows while the round's mean latency stays near the lowest mean seen
  recently: more in flight then buys more answers per second. It doubles per
  round at first (slow start), then grows by a tenth per round;
- it shrinks by a fifth when the mean latency climbs well above that: queries
  are queueing somewhere (in the server's or our socket's buffer, or in our own
  event loop when the CPU is the limit), and more in flight would only queue
  more;
- it halves when a round loses more than `loss_limit` of its queries, and at
  least twice its usual share: buffers are overflowing. Timeouts of queries
  sent before that cut are the same event and do not count again. If the
  queries sent after the cut, at half the window, lose about as much (and
  less than half), the loss was the path's, not ours: the cut is undone and
  that share becomes the usual one. So random loss never shrinks it for long,
  as it would TCP's.

The window never leaves [floor, ceiling]; `--concurrency` is the ceiling.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class _CutCheck:
    """A cut for loss being judged: the window before it, and the share that caused it."""

    size: float
    share: float
    at: float
    span: float  # a timeout: the queries sent this long after the cut are judged
    count: int = 0
    lost: int = 0


@dataclass(slots=True, kw_only=True)
class InflightWindow:
    ceiling: int
    # The start: what the scanner held in flight before the window (200) was
    # safe on loopback; slow start finds more on a long path within a few
    # round trips.
    size: float = 128.0
    # Never below this: the scanner held 100-200 in flight before the window,
    # safe for a server's default receive buffer. Against a server whose
    # latency jumps about (the Python lab server's pauses), latency noise alone
    # took the window down to 14-44 in flight.
    floor: int = 100
    # The round's mean latency may exceed the base by this factor plus `slack`
    # seconds and the window still grows. The slack matters on loopback, where
    # latencies are tens of microseconds and a few milliseconds of queueing in
    # our own loop cost nothing worth measuring; across a network it is noise.
    grow_below: float = 1.1
    shrink_above: float = 1.3
    slack: float = 0.005
    loss_limit: float = 0.1
    min_round: int = 32  # answers per decision, at least
    # A query is presumed lost once older than this many base latencies (and
    # `presume_floor` seconds): its slot is freed before c-ares times it out.
    presume_after: float = 8.0
    presume_floor: float = 0.02
    # A query is sent again (scanner/dns/retry.py, hedging) once it is this many
    # base latencies old, twice the latest round's mean and `hedge_floor`
    # seconds, and only on a path that has lost queries: against a server
    # that loses nothing but pauses (the Python lab server on a busy machine,
    # an overloaded resolver), hedges were 3.6% more queries and a third
    # more time, all of it waste.
    hedge_after: float = 3.0
    hedge_floor: float = 0.05
    losses: int = 0  # queries that timed out, in all
    _last_mean: float = 0.0
    base_memory: float = 20.0  # seconds a round's mean can stand as the base
    in_flight: int = 0
    slow_start: bool = True
    increases: int = 0
    decreases: int = 0
    largest: int = 0
    answers: int = 0  # queries ended, lost ones included
    undone: int = 0  # cuts for loss undone: the next round lost as much
    _count: int = 0
    _lost: int = 0
    _latency: float = 0.0
    _full: bool = False
    _loss_cut: float = float("-inf")  # when losses last halved the window
    # The share of queries a round usually loses (a moving average). Loss that
    # stays the same whatever the window is the path's, not ours to cure.
    _usual_loss: float = 0.0
    _loss_delay: float = 0.0  # how long the latest lost query took to time out
    _check: _CutCheck | None = None  # the last cut for loss, until judged
    # (time, mean) of recent rounds, means increasing: the first is the base.
    _means: deque[tuple[float, float]] = field(default_factory=deque)
    _tickets: int = 0
    # Queries sent and not yet ended, oldest first: ticket -> when sent.
    _outstanding: dict[int, float] = field(default_factory=dict)
    _presumed: int = 0  # presumed lost, still not ended
    _presumed_sent: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ceiling < 1:
            raise ValueError("the ceiling must be at least 1")
        self.floor = max(1, min(self.floor, self.ceiling))
        self.size = float(min(max(self.size, self.floor), self.ceiling))

    @property
    def presumed(self) -> int:
        """Queries presumed lost that have not ended yet (they hold no slot)."""
        return self._presumed

    @property
    def limit(self) -> int:
        """Queries that may be in flight now."""
        return int(self.size)

    def has_room(self) -> bool:
        return self.in_flight < self.size

    def reserve(self) -> None:
        """Take a slot (after `has_room()` said yes, or for a waiter being handed one)."""
        self.in_flight += 1
        if self.in_flight > self.largest:
            self.largest = self.in_flight

    def returned(self) -> None:
        """A slot was given back without a query sent (its task was cancelled)."""
        self.in_flight -= 1

    def launched(self, now: float) -> int:
        """The query holding a slot was sent at `now`; returns its ticket for `answered()`."""
        ticket = self._tickets = self._tickets + 1
        self._outstanding[ticket] = now
        if len(self._outstanding) >= self.size:
            # Sent queries filled the window: it, not the workers or a rate
            # limit (slots held while waiting for the rate limiter were never
            # sent), held the pace; only then does latency say anything about it.
            self._full = True
        return ticket

    def answered(self, ticket: int, now: float, *, lost: bool = False) -> None:
        """The query with this ticket ended at `now`; `lost`: it timed out."""
        sent_at = self._end(ticket)
        self.answers += 1
        if self._check is not None:
            self._check_cut(self._check, sent_at, now, lost)
        if lost:
            self.losses += 1
            self._loss_delay = now - sent_at
            if sent_at < self._loss_cut:
                return  # sent before the last cut: the same burst, already answered for
            self._lost += 1
        else:
            self._latency += now - sent_at
        self._count += 1
        if self._count >= max(self.min_round, int(self.size)):
            self._decide(now)
        if self._outstanding and self._means:
            self.presume_lost(now)

    def _check_cut(self, check: _CutCheck, sent_at: float, now: float, lost: bool) -> None:
        """Judge the last cut by the queries sent in the timeout that followed it.

        Their losses come back a timeout after they were sent, so the cut is
        judged two timeouts after it was made. If they lost about as large a
        share (and less than half), the loss was the path's, not ours: the cut
        is undone and that share becomes the usual one.
        """
        if check.at <= sent_at <= check.at + check.span:
            check.count += 1
            check.lost += lost
        if now < check.at + 2 * check.span:
            return
        self._check = None
        share = check.lost / check.count if check.count else 0.0
        if check.count >= self.min_round and 0.6 * check.share <= share <= 0.5:
            self._usual_loss = max(self._usual_loss, share)
            self.size = min(check.size, float(self.ceiling))
            self.undone += 1

    def abandoned(self, ticket: int) -> None:
        """The query with this ticket ended without an outcome (its task was cancelled)."""
        self._end(ticket)

    def _end(self, ticket: int) -> float:
        """Free the ticket's slot (a presumed loss freed it already); returns when it was sent."""
        sent_at = self._outstanding.pop(ticket, None)
        if sent_at is None:
            self._presumed -= 1
            return self._presumed_sent.pop(ticket)
        self.in_flight -= 1
        return sent_at

    def presumption_due(self) -> float | None:
        """When the oldest query still waiting will be presumed lost (None: no such query)."""
        if not self._outstanding or not self._means or self._presumed >= 4 * self.size:
            return None
        return next(iter(self._outstanding.values())) + self._presume_after()

    def hedge_delay(self) -> float | None:
        """How old a query must be to be worth a second copy; None: none is, yet
        (no round measured, or no query lost)."""
        if not self._means or not self.losses:
            return None
        base = self._means[0][1]
        return max(self.hedge_after * base, 2 * self._last_mean, self.hedge_floor)

    def _presume_after(self) -> float:
        return max(self.presume_after * self._means[0][1], self.presume_floor)

    def presume_lost(self, now: float) -> None:
        """Free the slots of queries far older than answers usually take.

        A lost query holds its slot until c-ares gives up on it (at least
        250 ms): on a fast path that may lose a fifth of the queries (the lab
        with --drop 0.2), lost queries held nearly every slot, and the scan
        crawled. Called on every answer, and by the retry layer at
        `presumption_due()` while attempts wait for room. Slots are freed for
        at most four windows' worth of queries; a server that has merely slowed
        down (8 times) also makes the window shrink, round by round.
        """
        after = self._presume_after()  # the same sum as presumption_due()'s
        outstanding = self._outstanding
        while self._presumed < 4 * self.size:
            ticket = next(iter(outstanding), None)
            if ticket is None or outstanding[ticket] + after > now:
                return
            self._presumed_sent[ticket] = outstanding.pop(ticket)
            self._presumed += 1
            self.in_flight -= 1

    def _decide(self, now: float) -> None:
        count, lost, full = self._count, self._lost, self._full
        mean = self._latency / (count - lost) if count > lost else None
        self._count = self._lost = 0
        self._latency = 0.0
        self._full = False
        share, usual = lost / count, self._usual_loss
        self._usual_loss += (share - usual) / 8
        trouble = share > 0.5 or (share > self.loss_limit and share > 2 * usual)
        if trouble and self._check is None:
            self._check = _CutCheck(self.size, share, now, self._loss_delay)
            self._resize(self.size * 0.5)
            self._loss_cut = now
            return
        if mean is None:
            return
        self._last_mean = mean
        base = self._base(mean, now)
        if not full:
            return
        if mean > base * self.shrink_above + 2 * self.slack:
            self._resize(self.size * 0.8)
        elif mean < base * self.grow_below + self.slack:
            self._resize(self.size * (2.0 if self.slow_start else 1.1))

    def _base(self, mean: float, now: float) -> float:
        """The lowest round mean of the last `base_memory` seconds, this one included."""
        means = self._means
        while means and means[-1][1] >= mean:
            means.pop()
        means.append((now, mean))
        while means[0][0] < now - self.base_memory:
            means.popleft()
        return means[0][1]

    def _resize(self, size: float) -> None:
        size = min(max(size, float(self.floor)), float(self.ceiling))
        if size > self.size:
            self.increases += 1
        elif size < self.size:
            self.decreases += 1
            self.slow_start = False
        self.size = size
