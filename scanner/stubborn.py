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
is *stubborn*. Waiting for lookups to run out of retries would learn it only
six seconds in, after the demo's scan body was done. Once `enough` lookups
were stubborn and retrying cured (almost) none, over the scan or within the
SERVFAIL's zone, a SERVFAIL is retried once, not five times. A single cure
per `ratio` stubborn ones restores the full retries (a throttling resolver
cures plenty: Unbound's `ratelimit` lets a question through within a second),
and lookups retried less never reach `tries`, so the belief rests only on
lookups that kept their retries.
"""

from __future__ import annotations

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
    scan: _Tally = field(default_factory=_Tally)
    _zones: dict[str, _Tally] = field(default_factory=dict)

    def cured(self, zone: str) -> None:
        """A lookup of `zone` got an answer after a SERVFAIL."""
        self.scan.cured += 1
        self._zone(zone).cured += 1

    def stubborn(self, zone: str) -> None:
        """A lookup of `zone` got SERVFAIL on each of its first `tries` tries."""
        self.scan.stubborn += 1
        self._zone(zone).stubborn += 1

    def retries(self, zone: str, usual: int) -> int:
        """How many times to retry a SERVFAIL of `zone` (`usual`, or fewer)."""
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
