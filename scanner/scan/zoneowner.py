"""Who controls a PTR: the reverse zone that serves it and that zone's name servers.

The zone of a name is found by asking SOA for its parent, then the parent's
parent..., until one is a zone apex; then NS for the apex. Answers are cached
(apexes with their name servers, and names known not to be apexes), and
concurrent askers of the same name wait for one query, so a /16 costs a few
hundred queries (one per /24 name, plus the apex), not one per address. A
lookup that failed (a timeout, SERVFAIL) is not cached: the addresses that
waited for it share the failure, and the next address asks again. The
PTR's own name is never asked: delegating a zone per address is rare, and asking
would cost a query per address. With RFC 2317 classless delegation the PTR lives
at the end of a CNAME chain, and the zone found is the one holding it.
"""

from __future__ import annotations

import functools
from typing import Literal

from scanner.core.authority import ZoneOwner
from scanner.core.lookups import Resolver
from scanner.core.names import normal_name, parent_names
from scanner.core.status import Outcome
from scanner.scan.checker import resolve
from scanner.scan.once import Once

# Never walk above these: their operators are registries, not the IP's owner.
TOP = ("in-addr.arpa", "ip6.arpa")


class ZoneFinder:
    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        # candidate -> its zone if it is an apex, False if not; transient failures are not kept
        self._checked: Once[str, ZoneOwner | Literal[False] | None] = Once(
            keep=lambda found: found is not None
        )
        self.queries = 0

    async def owner(self, name: str) -> ZoneOwner | None:
        """The zone above `name` and its name servers; None if a lookup failed."""
        for candidate in parent_names(normal_name(name)):
            if candidate in TOP:
                return None
            found = await self._checked.get(candidate, functools.partial(self._check, candidate))
            if found is None:
                return None  # a transient failure: do not guess
            if found is not False:
                return found
        return None

    async def _check(self, candidate: str) -> ZoneOwner | Literal[False] | None:
        """The zone if `candidate` is an apex, False if not, None if unknown."""
        soa = await resolve(self.resolver, candidate, "SOA")
        self.queries += 1
        if soa.outcome in (Outcome.NXDOMAIN, Outcome.NODATA) or (
            soa.outcome is Outcome.ANSWER and candidate not in soa.records
        ):
            return False
        if soa.outcome is not Outcome.ANSWER:
            return None
        ns = await resolve(self.resolver, candidate, "NS")
        self.queries += 1
        if ns.outcome not in (Outcome.ANSWER, Outcome.NODATA):
            return None
        return ZoneOwner(candidate, tuple(sorted(ns.records)))

    def __repr__(self) -> str:
        zones = sum(found is not False for found in self._checked.made.values())
        return f"<ZoneFinder zones={zones} queries={self.queries}>"
