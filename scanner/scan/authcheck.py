"""Ask each of a reverse zone's name servers directly (--check-authoritative).

Per name server, once: its addresses (A and AAAA, through the scan's
resolvers; a provider's hundreds of /24 zones share a few servers). Per zone,
once: each server address's SOA serial, straight from the server,
which tells the lame ones. Per address: its PTR at every serving server, so
the servers can be compared (scanner/core/authority.py judges). Concurrent askers
of the same zone or name server wait for the first one's answer (`scanner.scan.once`).

Every direct query takes a slot from the scan's rate limiter, and each server
address has its own limit on top (--authoritative-rate): the scan's resolvers
may take thousands of queries a second, a zone's own servers should not get
them. A lost query is sent twice more before a server's silence counts.

The zone does not choose where packets go: only the first `MAX_NAMESERVERS`
names (in name order) are looked up, only the first `MAX_ADDRESSES`
addresses asked, and only addresses `authority.refusal()` admits
(global unicast, or inside `--authoritative-allow`); the others are
`unchecked`, with the reason, in the rows and the summary.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

import anyio

from scanner.core.authority import (
    MAX_ADDRESSES,
    MAX_NAMESERVERS,
    AuthorityCheck,
    AuthorityReport,
    DirectReply,
    Network,
    ServerState,
    ZoneHealth,
    ZoneOwner,
    agreement,
    refusal,
    server_labels,
    server_state,
)
from scanner.core.lookups import Resolver
from scanner.core.names import present
from scanner.core.status import Outcome
from scanner.dns.ratelimit import RateLimiter
from scanner.scan.checker import resolve
from scanner.scan.once import Once

# A direct query, as scanner.dns.exactquery.direct_query sends it.
Ask = Callable[[str, int, str, str, float], Awaitable[DirectReply]]
# Tries of a direct query before its server's silence counts: at 1% loss, two
# tries left 1 address in 5,000 unknown (benchmarks/RESULTS.md); three, 1 in
# a million. A lame server that never answers costs 3 timeouts, once per zone.
TRIES = 3
# A zone's own server gets a small burst: it is someone's production server.
SERVER_BURST = 5
# Direct queries in flight at once, over all servers: each holds a socket of its
# own, and a scan's thousands of workers must not exhaust the file descriptors
# (1,024 by default), which would make healthy servers look unreachable.
IN_FLIGHT = 200


def _default_ask() -> Ask:
    from scanner.dns.exactquery import direct_query  # dnspython: loaded only when asked for

    return direct_query


class AuthorityChecker:
    def __init__(
        self,
        resolver: Resolver,
        limiter: RateLimiter,
        *,
        server_rate: float,
        port: int = 53,
        timeout: float = 2.0,
        allowed: tuple[Network, ...] = (),
        ask: Ask | None = None,
    ) -> None:
        self.resolver = resolver
        self.allowed = allowed
        self.limiter = limiter
        self.server_rate = server_rate
        self.port = port
        self.timeout = timeout
        self._ask = ask or _default_ask()
        self._zones: Once[str, ZoneHealth] = Once()
        # name server -> its addresses, and what the lookups said when there are none
        self._addresses_of: Once[str, tuple[list[str], str]] = Once()
        self._server_limits: dict[str, RateLimiter] = {}
        self._in_flight = anyio.CapacityLimiter(IN_FLIGHT)
        self.queries = 0  # sent to the zones' own servers
        self.address_lookups = 0  # A/AAAA of name servers, through the resolvers
        # For the progress display: zones being surveyed, addresses waiting for a check.
        self.surveying = 0
        self.waiting = 0

    async def check(self, name: str, owner: ZoneOwner) -> AuthorityCheck:
        """What each serving server of `owner`'s zone says about the PTR of `name`."""
        self.waiting += 1
        try:
            zone = await self.zone(owner)
            replies: list[tuple[str, DirectReply] | None] = [None] * len(zone.serving)

            async def ask(index: int, server: ServerState) -> None:
                replies[index] = (server.label, await self._query(server.address, name, "PTR"))

            async with anyio.create_task_group() as group:
                for index, server in enumerate(zone.serving):
                    group.start_soon(ask, index, server)
        finally:
            self.waiting -= 1
        return agreement([reply for reply in replies if reply is not None], zone)

    async def zone(self, owner: ZoneOwner) -> ZoneHealth:
        return await self._zones.get(owner.apex, lambda: self._counted_survey(owner))

    async def _counted_survey(self, owner: ZoneOwner) -> ZoneHealth:
        self.surveying += 1
        try:
            return await self._survey(owner)
        finally:
            self.surveying -= 1

    async def _survey(self, owner: ZoneOwner) -> ZoneHealth:
        names = sorted(dict.fromkeys(owner.nameservers))
        addresses: list[tuple[str, str]] = []
        others: list[ServerState] = [
            ServerState(
                label,
                "",
                unchecked=f"not asked: over {MAX_NAMESERVERS} name servers in one zone",
            )
            for label in server_labels([(name, "") for name in names[MAX_NAMESERVERS:]])
        ]
        for nameserver in names[:MAX_NAMESERVERS]:
            found, failure = await self._addresses_of.get(
                nameserver, functools.partial(self._addresses, nameserver)
            )
            addresses += [(nameserver, address) for address in found]
            if not found:
                label = server_labels([(nameserver, "")])[0]
                others.append(ServerState(label, "", lame=f"no address: {failure}"))
        labels = server_labels(addresses)
        states: list[ServerState | None] = [None] * len(addresses)
        asked = 0
        for index, (_, address) in enumerate(addresses):
            why = refusal(address, self.allowed)
            if not why and asked == MAX_ADDRESSES:
                why = f"not asked: over {MAX_ADDRESSES} server addresses in one zone"
            if why:
                states[index] = ServerState(labels[index], address, unchecked=why)
            else:
                asked += 1

        async def survey(index: int, address: str) -> None:
            reply = await self._query(address, owner.apex, "SOA")
            states[index] = server_state(labels[index], address, reply)

        async with anyio.create_task_group() as group:
            for index, (_, address) in enumerate(addresses):
                if states[index] is None:
                    group.start_soon(survey, index, address)
        servers = [state for state in states if state is not None] + others
        return ZoneHealth(present(owner.apex), tuple(sorted(servers, key=lambda s: s.label)))

    async def _addresses(self, nameserver: str) -> tuple[list[str], str]:
        """The name server's addresses, and what the lookups said when there are none."""
        found: list[str] = []
        outcomes = []
        for rtype in ("A", "AAAA"):
            lookup = await resolve(self.resolver, nameserver, rtype)
            self.address_lookups += 1
            outcomes.append(lookup.outcome.value)
            if lookup.outcome is Outcome.ANSWER:
                found += list(lookup.records)
        return found, "/".join(dict.fromkeys(outcomes))

    async def _query(self, address: str, name: str, rtype: str) -> DirectReply:
        reply = DirectReply(Outcome.TIMEOUT)
        for _ in range(TRIES):
            if not self.limiter.acquire_nowait():
                await self.limiter.acquire()
            server_limit = self._server_limit(address)
            if server_limit is not None:
                await server_limit.acquire()
            async with self._in_flight:
                reply = await self._ask(address, self.port, name, rtype, self.timeout)
            self.queries += 1
            if reply.outcome is not Outcome.TIMEOUT:
                break
        return reply

    def _server_limit(self, address: str) -> RateLimiter | None:
        if not self.server_rate:
            return None
        limit = self._server_limits.get(address)
        if limit is None:
            limit = self._server_limits[address] = RateLimiter(self.server_rate, SERVER_BURST)
        return limit

    def report(self) -> AuthorityReport:
        zones = {zone.apex: zone for zone in self._zones.made.values()}
        return AuthorityReport(zones, self.queries, self.address_lookups)

    def __repr__(self) -> str:
        return f"<AuthorityChecker zones={len(self._zones.made)} queries={self.queries}>"
