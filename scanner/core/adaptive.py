"""Adaptive query rate (`--rate auto`): additive increase, multiplicative decrease.

Pure state over time: `record()` is told the outcome of every attempt and, once
per window, returns the new rate. The rate starts at a quarter of the ceiling
(scanner/core/config.py) and doubles per healthy window until the first sign of
trouble (slow start, as in TCP), then grows by a fixed step per healthy window;
when timeouts/SERVFAIL/REFUSED exceed the threshold it is halved, or cut to
the rate of the answers that got through when that is lower (an overshoot). It
never leaves [minimum, maximum], and it only grows while the limiter is
actually what holds the scan back.

It reads the resolver, not the zones (issue 23). A failure is a sign of load
only from a zone that has answered before: a zone that refuses, SERVFAILs
every name or has no server says so from its first query on, and says it
whatever the rate is. Such failures are left out of the window altogether,
so 3% of a provider's space broken no longer halved the rate over and over
(a /24 that refused took it to 10 q/s). Loss or SERVFAIL spreading over
zones that answered is still counted, and still halves it. Zones are the
caller's keys (scanner/core/lookups.py, `zone_key`), at most `zones_kept` of them.
The retry layer tells a SERVFAIL or REFUSED only once a later try of the same
question got through (scanner/dns/retry.py): a name broken for good is no load.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True, kw_only=True)
class AdaptiveRate:
    rate: float = 100.0
    minimum: float = 10.0
    maximum: float = 2000.0
    step: float = 100.0  # added per healthy window after slow start
    decrease: float = 0.5  # factor applied when the failure ratio is too high
    threshold: float = 0.05  # failure ratio that counts as trouble
    window: float = 1.0  # seconds between decisions
    # During slow start. A quarter of a second reached the cap in about a
    # second, but overshot: a timeout is seen only a timeout (250 ms or more)
    # after its query, so the rate had doubled twice more before the first
    # halving, and against Unbound's ip-ratelimit (queries dropped above 300
    # q/s) three of 2,304 addresses ran out of tries. The window must be
    # longer than the time a loss takes to show; a second, as before, until
    # slow start reads loss sooner (issue 23).
    slow_start_window: float = 1.0
    min_samples: int = 20  # fewer attempts than this in a window: no decision
    slow_start: bool = True
    increases: int = 0
    decreases: int = 0
    zones_kept: int = 65536  # zones remembered as having answered; the oldest are forgotten
    ignored: int = 0  # failures left out: their zone had never answered
    _window_start: float | None = None
    _attempts: int = 0
    _failures: int = 0
    _answered: dict[str, None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.minimum <= self.rate <= self.maximum:
            raise ValueError("need 0 < minimum <= start rate <= maximum")

    def record(
        self, failed: bool, now: float, *, limited: bool, zone: str | None = None
    ) -> float | None:
        """Count one attempt; at the end of a window, return the new rate if it changed.

        `limited`: whether the rate limiter made any query wait in this window.
        `zone`: the zone the query was about; None counts every failure.
        """
        if self._window_start is None:
            self._window_start = now
        if zone is not None:
            if not failed:
                self._remember(zone)
            elif zone not in self._answered:
                self.ignored += 1  # the zone's own trouble: no sign of the resolver's load
                return self._decide(now, limited)
        self._attempts += 1
        self._failures += failed
        return self._decide(now, limited)

    def _remember(self, zone: str) -> None:
        answered = self._answered
        if zone in answered:
            return
        if len(answered) >= self.zones_kept:
            del answered[next(iter(answered))]
        answered[zone] = None

    def _decide(self, now: float, limited: bool) -> float | None:
        assert self._window_start is not None
        window = self.slow_start_window if self.slow_start else self.window
        if now - self._window_start < window or self._attempts < self.min_samples:
            return None
        ratio = self._failures / self._attempts
        elapsed = now - self._window_start
        sent, through = self._attempts / elapsed, (self._attempts - self._failures) / elapsed
        self._window_start, self._attempts, self._failures = now, 0, 0
        old = self.rate
        if ratio > self.threshold:
            self.slow_start = False
            cut = self.rate * self.decrease
            if sent >= 0.8 * self.rate:
                # Queries went out at the rate, so what got through is what the
                # resolver takes: more than half failing (an overshoot, e.g. a
                # start above a resolver's ratelimit) cuts to that at once,
                # where halving would overshoot again for a window or two.
                cut = min(cut, through)
            self.rate = max(self.minimum, cut)
            self.decreases += 1
        elif limited and self.rate < self.maximum:
            grown = self.rate * 2 if self.slow_start else self.rate + self.step
            self.rate = min(self.maximum, grown)
            self.increases += 1
        return self.rate if self.rate != old else None
