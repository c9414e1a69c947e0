"""Resolver health: bench a resolver that has gone silent, probe it again after a cool-down.

Pure state over time. Any answer, SERVFAIL and REFUSED included, proves the
resolver alive. A resolver is `healthy` until `bench_after` consecutive
attempts fail with a resolver fault (a timeout, a network error) *and* it has
not answered anything for `silence` seconds; then it is `benched` for a
cool-down that doubles each time (up to a cap); when the cool-down ends one
`probing` attempt is let through, and its outcome decides. Before either
verdict of "dead", the caller checks the resolver with a question it answered
earlier (`checked()`): only if that goes unanswered too is it benched.

The silence rule is what tells loss from a dead server. Over a lossy path, or
when a burst of answers overflowed a socket buffer, timeouts come in runs that
expire together, twenty in a row in the same millisecond, while answers keep
arriving around them: counting alone benched the only resolver and stalled the
scan (issue 10). A dead server answers nothing at all.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, kw_only=True)
class ResolverHealth:
    bench_after: int = 20
    silence: float = 1.0
    cooldown: float = 2.0
    max_cooldown: float = 60.0
    state: str = "healthy"  # healthy | benched | probing
    consecutive_faults: int = 0
    bench_until: float = 0.0
    times_benched: int = 0
    attempts: int = 0
    faults: int = 0
    _next_cooldown: float = 0.0
    _probe_in_flight: bool = False
    _silent_since: float | None = None  # the first fault after the last answer
    checking: bool = False  # a check asked for by finished() is under way

    def usable(self, now: float) -> bool:
        """Whether an attempt may be sent to this resolver now."""
        if self.state == "benched" and now >= self.bench_until:
            self.state = "probing"
        if self.state == "probing":
            return not self._probe_in_flight and not self.checking
        return self.state == "healthy"

    def started(self) -> None:
        """An attempt was sent (call after `usable()` said yes)."""
        self.attempts += 1
        if self.state == "probing":
            self._probe_in_flight = True

    def finished(self, fault: bool, now: float) -> bool:
        """The attempt ended; `fault` if the resolver itself failed to answer.

        True when the resolver looks dead (silent long enough, or a probe
        failed): the caller must then check it with a question it answered
        before and report with `checked()`. The scan's own questions may be
        ones it never answers (a zone whose queries are dropped): at the end of
        a scan they can be all that is left to ask.
        """
        probe = self.state == "probing" and self._probe_in_flight
        if probe:
            self._probe_in_flight = False
        if not fault:
            self._alive()
            return False
        self.faults += 1
        self.consecutive_faults += 1
        if self._silent_since is None:
            self._silent_since = now
        if self.checking:
            return False
        if probe or (
            self.state == "healthy"
            and self.consecutive_faults >= self.bench_after
            and now - self._silent_since >= self.silence
        ):
            self.checking = True
            return True
        return False

    def checked(self, alive: bool, now: float) -> None:
        """The check `finished()` asked for: did the resolver answer a known question?"""
        self.checking = False
        if alive:
            self._alive()
        else:
            self._bench(now)

    def _alive(self) -> None:
        self.consecutive_faults = 0
        self._silent_since = None
        if self.state == "probing":
            self.state = "healthy"
            self._next_cooldown = 0.0

    def _bench(self, now: float) -> None:
        self._next_cooldown = min(
            self.max_cooldown, self._next_cooldown * 2 if self._next_cooldown else self.cooldown
        )
        self.state = "benched"
        self.bench_until = now + self._next_cooldown
        self.times_benched += 1
