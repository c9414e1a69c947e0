"""Who controls a PTR: the reverse zone that serves it and that zone's name servers.

The zone of a name is found by asking SOA for its parent, then the parent's
parent..., until one is a zone apex; then NS for the apex. Answers are cached
(apexes with their name servers, and names known not to be apexes), and
concurrent askers of the same name wait for one query, so a /16 costs a few
hundred queries (one per /24 name, plus the apex), not one per address. The
PTR's own name is never asked: delegating a zone per address is rare, and asking
would cost a query per address. With RFC 2317 classless delegation the PTR lives
at the end of a CNAME chain, and the zone found is the one holding it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import anyio

from scanner.checker import resolve
from scanner.lookups import Resolver
from scanner.names import normal_name, parent_names
from scanner.status import Outcome

# Never walk above these: their operators are registries, not the IP's owner.
TOP = ("in-addr.arpa", "ip6.arpa")


@dataclass(frozen=True, slots=True)
class ZoneOwner:
    apex: str
    nameservers: tuple[str, ...]


class ZoneFinder:
    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.apexes: dict[str, ZoneOwner] = {}
        self.not_apexes: set[str] = set()
        self._pending: dict[str, anyio.Event] = {}
        self.queries = 0

    async def owner(self, name: str) -> ZoneOwner | None:
        """The zone above `name` and its name servers; None if a lookup failed."""
        for candidate in parent_names(normal_name(name)):
            if candidate in TOP:
                return None
            found = await self._check(candidate)
            if found is None:
                return None  # a transient failure: do not guess
            if found is not False:
                return found
        return None

    async def _check(self, candidate: str) -> ZoneOwner | Literal[False] | None:
        """The zone if `candidate` is an apex, False if not, None if unknown."""
        while candidate in self._pending:
            await self._pending[candidate].wait()
        if candidate in self.apexes:
            return self.apexes[candidate]
        if candidate in self.not_apexes:
            return False
        event = self._pending[candidate] = anyio.Event()
        try:
            soa = await resolve(self.resolver, candidate, "SOA")
            self.queries += 1
            if soa.outcome in (Outcome.NXDOMAIN, Outcome.NODATA) or (
                soa.outcome is Outcome.ANSWER and candidate not in soa.records
            ):
                self.not_apexes.add(candidate)
                return False
            if soa.outcome is not Outcome.ANSWER:
                return None
            ns = await resolve(self.resolver, candidate, "NS")
            self.queries += 1
            if ns.outcome not in (Outcome.ANSWER, Outcome.NODATA):
                return None
            owner = ZoneOwner(candidate, tuple(sorted(ns.records)))
            self.apexes[candidate] = owner
            return owner
        finally:
            del self._pending[candidate]
            event.set()

    def __repr__(self) -> str:
        return f"<ZoneFinder zones={len(self.apexes)} queries={self.queries}>"
