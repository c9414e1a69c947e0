"""Adaptive query rate (`--rate auto`): additive increase, multiplicative decrease.

Pure state over time: `record()` is told the outcome of every attempt and, once
per window, returns the new rate. The rate starts low and doubles per healthy
window until the first sign of trouble (slow start, as in TCP), then grows by a
fixed step per healthy window; when timeouts/SERVFAIL/REFUSED exceed the
threshold it is halved. It never leaves [minimum, maximum], and it only grows
while the limiter is actually what holds the scan back.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, kw_only=True)
class AdaptiveRate:
    rate: float = 100.0
    minimum: float = 10.0
    maximum: float = 2000.0
    step: float = 100.0  # added per healthy window after slow start
    decrease: float = 0.5  # factor applied when the failure ratio is too high
    threshold: float = 0.05  # failure ratio that counts as trouble
    window: float = 1.0  # seconds between decisions
    min_samples: int = 20  # fewer attempts than this in a window: no decision
    slow_start: bool = True
    increases: int = 0
    decreases: int = 0
    _window_start: float | None = None
    _attempts: int = 0
    _failures: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.minimum <= self.rate <= self.maximum:
            raise ValueError("need 0 < minimum <= start rate <= maximum")

    def record(self, failed: bool, now: float, *, limited: bool) -> float | None:
        """Count one attempt; at the end of a window, return the new rate if it changed.

        `limited`: whether the rate limiter made any query wait in this window.
        """
        if self._window_start is None:
            self._window_start = now
        self._attempts += 1
        self._failures += failed
        if now - self._window_start < self.window or self._attempts < self.min_samples:
            return None
        ratio = self._failures / self._attempts
        self._window_start, self._attempts, self._failures = now, 0, 0
        old = self.rate
        if ratio > self.threshold:
            self.slow_start = False
            self.rate = max(self.minimum, self.rate * self.decrease)
            self.decreases += 1
        elif limited:
            grown = self.rate * 2 if self.slow_start else self.rate + self.step
            self.rate = min(self.maximum, grown)
            self.increases += 1
        return self.rate if self.rate != old else None
