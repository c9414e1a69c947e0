"""Failures that retrying does not cure: when to retry a SERVFAIL or a timeout less.

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

Timeouts are tallied the same way, per zone only: a zone whose only server
never answers (a lame delegation: behind Unbound its names time out, then
SERVFAIL) costs every one of its lookups the whole `--timeout` on a patient
try; over the scan, though, timeouts are loss, which retrying cures.

An outage is not a broken name: when the zones' server stops, every answer
is SERVFAIL for a while. Lookups failing then prove nothing (SERVFAIL was no
exception during their tries) and are not retried less (SERVFAIL is no
exception when they start failing), so they keep every retry and get their
answers once the server is back (tests/test_real_servers.py stops Knot for
three seconds mid-scan).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from scanner.core.status import Outcome


@dataclass(slots=True)
class _Tally:
    cured: int = 0
    stubborn: int = 0

    def hopeless(self, enough: int, ratio: int) -> bool:
        return self.stubborn >= enough and self.cured * ratio <= self.stubborn


@dataclass(slots=True)
class _Slice:
    start: float
    total: int = 0
    kinds: Counter[Outcome] = field(default_factory=Counter)


# The failures tallied, and what a row says of them.
KINDS = {Outcome.SERVFAIL: "got SERVFAIL", Outcome.TIMEOUT: "timed out"}
# Judged over the whole scan as well as per zone: SERVFAIL only. A timeout
# over the scan is loss, which retries cure; a zone that never answers is
# its zone's own.
SCAN_WIDE = frozenset({Outcome.SERVFAIL})


@dataclass(slots=True, kw_only=True)
class StubbornFailures:
    tries: int = 3  # failures of one kind that make a lookup stubborn
    enough: int = 3  # stubborn lookups before retrying less
    ratio: int = 10  # ... and at most one cure per this many stubborn ones
    fewer: int = 1  # retries then
    zones_kept: int = 4096  # zones tallied; the oldest are forgotten
    calm: float = 0.2  # a failure is the exception: under this share of recent outcomes
    evidence: float = 0.5  # ... and a stubborn lookup counts only under this share
    memory: float = 1.0  # seconds of outcomes that make "recent"
    min_outcomes: int = 20  # fewer recent outcomes than this: nothing is the exception
    _scan: dict[Outcome, _Tally] = field(default_factory=dict)
    _zones: dict[tuple[Outcome, str], _Tally] = field(default_factory=dict)
    # Recent outcomes, in slices of a quarter of `memory`.
    _recent: deque[_Slice] = field(default_factory=deque)

    def outcome(self, outcome: Outcome, now: float) -> None:
        """Count one attempt's outcome (every attempt, of every lookup)."""
        recent = self._recent
        if not recent or now - recent[-1].start >= self.memory / 4:
            recent.append(_Slice(now))
            while now - recent[0].start > self.memory:
                recent.popleft()
        recent[-1].total += 1
        if outcome in KINDS:
            recent[-1].kinds[outcome] += 1

    def share(self, kind: Outcome, now: float) -> float | None:
        """`kind`'s share of the outcomes of the last `memory` seconds (None: too few)."""
        slices = [piece for piece in self._recent if now - piece.start <= self.memory]
        outcomes = sum(piece.total for piece in slices)
        if outcomes < self.min_outcomes:
            return None
        return sum(piece.kinds[kind] for piece in slices) / outcomes

    def exception(self, kind: Outcome, now: float, limit: float | None = None) -> bool:
        """Whether `kind` is under `limit` (default `calm`) of the recent outcomes."""
        share = self.share(kind, now)
        return share is not None and share < (self.calm if limit is None else limit)

    def cured(self, kind: Outcome, zone: str) -> None:
        """A lookup of `zone` got an answer after failing this way."""
        self._tally(kind, None).cured += 1
        self._tally(kind, zone).cured += 1

    def stubborn(self, kind: Outcome, zone: str, now: float) -> None:
        """A lookup of `zone` failed this way on `tries` tries: evidence only if the
        resolver answered most other questions meanwhile."""
        if self.exception(kind, now, self.evidence):
            self._tally(kind, None).stubborn += 1
            self._tally(kind, zone).stubborn += 1

    def retries(self, kind: Outcome, zone: str, usual: int, *, calm: bool) -> int:
        """How many times to retry a lookup of `zone` failing this way; `calm`: whether
        the failure was the exception when the lookup first failed so (`exception`)."""
        if calm and self._hopeless(kind, zone) is not None:
            return min(usual, self.fewer)
        return usual

    def why(self, kind: Outcome, zone: str) -> str:
        """The reason a lookup of `zone` failing this way is retried less, for its row."""
        tally, where = self._hopeless(kind, zone) or (_Tally(), "")
        return (
            f"retried less: {tally.stubborn} lookups {where}this scan {KINDS[kind]} on"
            f" {self.tries} tries in a row, and retrying cured (almost) none"
        )

    def _hopeless(self, kind: Outcome, zone: str) -> tuple[_Tally, str] | None:
        """The tally (and where) that says retrying does not cure, if one does."""
        tally = self._zones.get((kind, zone))
        if tally is not None and tally.hopeless(self.enough, self.ratio):
            return tally, f"of {zone} "
        scan = self._scan.get(kind)
        if kind in SCAN_WIDE and scan is not None and scan.hopeless(self.enough, self.ratio):
            return scan, ""
        return None

    def _tally(self, kind: Outcome, zone: str | None) -> _Tally:
        if zone is None:
            return self._scan.setdefault(kind, _Tally())
        tally = self._zones.get((kind, zone))
        if tally is None:
            if len(self._zones) >= self.zones_kept:
                del self._zones[next(iter(self._zones))]
            tally = self._zones[(kind, zone)] = _Tally()
        return tally
