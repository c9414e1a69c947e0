"""SERVFAILs that retrying does not cure: when to retry a SERVFAIL less.

Pure state, told by the retry layer how each lookup that met a SERVFAIL ended.
A SERVFAIL is retried five times over about six seconds of back-off because a
resolver that throttles (Unbound's `ratelimit`) answers SERVFAIL for a second
or more, and then the same question gets through. A name whose own servers are
broken SERVFAILs on every try, and its six seconds come at the end of the
scan, where nothing else fills them: the demo's 41 such addresses (1% of it)
took half its time (issue 23).

So the layer learns which kind it meets. A lookup that got an answer after a
SERVFAIL was *cured* (throttling, a server that came back); one that got
SERVFAIL on each of its first `tries` tries (about half a second of back-off)
while the resolver answered most other questions is *stubborn*. Waiting for
lookups to run out of retries would learn it only six seconds in, after the
demo's scan body was done. Once `enough` lookups were stubborn and retrying
cured (almost) none, over the scan or within the SERVFAIL's zone, a lookup
whose first SERVFAIL came while SERVFAIL was the exception (under `calm` of
the last second's outcomes) is retried once, not five times: from then on,
even if it is waiting for a later retry. A single cure
per `ratio` stubborn ones restores the full retries (a throttling resolver
cures plenty: Unbound's `ratelimit` lets a question through within a
second), and lookups retried less never reach `tries`, so the belief rests
only on lookups that kept their retries.

An outage is not a broken name: when the zones' server stops, every answer
is SERVFAIL for a while. Lookups failing then prove nothing (SERVFAIL was no
exception during their tries) and are not retried less (SERVFAIL is no
exception when they start failing), so they keep every retry and get their
answers once the server is back (tests/test_real_servers.py stops Knot for
three seconds mid-scan).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Tally:
    cured: int = 0
    stubborn: int = 0

    def hopeless(self, enough: int, ratio: int) -> bool:
        return self.stubborn >= enough and self.cured * ratio <= self.stubborn


@dataclass(slots=True, kw_only=True)
class StubbornFailures:
    tries: int = 3  # SERVFAILs in a row that make a lookup stubborn
    enough: int = 3  # stubborn lookups before retrying less
    ratio: int = 10  # ... and at most one cure per this many stubborn ones
    fewer: int = 1  # retries of a SERVFAIL then
    zones_kept: int = 4096  # zones tallied; the oldest are forgotten
    calm: float = 0.2  # SERVFAIL is the exception: under this share of recent outcomes
    evidence: float = 0.5  # ... and a stubborn lookup counts only under this share
    memory: float = 1.0  # seconds of outcomes that make "recent"
    min_outcomes: int = 20  # fewer recent outcomes than this: nothing is the exception
    scan: _Tally = field(default_factory=_Tally)
    _zones: dict[str, _Tally] = field(default_factory=dict)
    # Recent outcomes in slices of a quarter of `memory`: [start, outcomes, SERVFAILs].
    _recent: deque[list[float]] = field(default_factory=deque)

    def outcome(self, servfail: bool, now: float) -> None:
        """Count one attempt's outcome (every attempt, of every lookup)."""
        recent = self._recent
        if not recent or now - recent[-1][0] >= self.memory / 4:
            recent.append([now, 0, 0])
            while now - recent[0][0] > self.memory:
                recent.popleft()
        recent[-1][1] += 1
        recent[-1][2] += servfail

    def share(self, now: float) -> float | None:
        """SERVFAILs' share of the outcomes of the last `memory` seconds (None: too few)."""
        slices = [s for s in self._recent if now - s[0] <= self.memory]
        outcomes = sum(s[1] for s in slices)
        if outcomes < self.min_outcomes:
            return None
        return sum(s[2] for s in slices) / outcomes

    def exception(self, now: float, limit: float) -> bool:
        """Whether SERVFAIL is under `limit` of the recent outcomes."""
        share = self.share(now)
        return share is not None and share < limit

    def cured(self, zone: str) -> None:
        """A lookup of `zone` got an answer after a SERVFAIL."""
        self.scan.cured += 1
        self._zone(zone).cured += 1

    def stubborn(self, zone: str, now: float) -> None:
        """A lookup of `zone` got SERVFAIL on each of its first `tries` tries: evidence
        only if the resolver answered most other questions meanwhile."""
        if self.exception(now, self.evidence):
            self.scan.stubborn += 1
            self._zone(zone).stubborn += 1

    def retries(self, zone: str, usual: int, *, calm: bool) -> int:
        """How many times to retry a SERVFAIL of `zone`; `calm`: whether SERVFAIL was the
        exception when the lookup's first SERVFAIL came (`exception(then, self.calm)`)."""
        if not calm:
            return usual
        tally = self._zones.get(zone)
        if self.scan.hopeless(self.enough, self.ratio) or (
            tally is not None and tally.hopeless(self.enough, self.ratio)
        ):
            return min(usual, self.fewer)
        return usual

    def why(self, zone: str) -> str:
        """The reason a SERVFAIL of `zone` is retried less, for its row."""
        tally = self._zones.get(zone)
        if tally is not None and tally.hopeless(self.enough, self.ratio):
            where, count = f"of {zone} ", tally.stubborn
        else:
            where, count = "", self.scan.stubborn
        return (
            f"retried less: {count} lookups {where}this scan got SERVFAIL on"
            f" {self.tries} tries in a row, and retrying cured (almost) none"
        )

    def _zone(self, zone: str) -> _Tally:
        tally = self._zones.get(zone)
        if tally is None:
            if len(self._zones) >= self.zones_kept:
                del self._zones[next(iter(self._zones))]
            tally = self._zones[zone] = _Tally()
        return tally
