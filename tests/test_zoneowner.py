"""ZoneFinder: a reverse zone found with a few shared queries, a failure shared too."""

from __future__ import annotations

import anyio

from scanner.core.authority import ZoneOwner
from scanner.core.lookups import Lookup
from scanner.core.status import Outcome
from scanner.scan.zoneowner import ZoneFinder

APEX = "0.18.198.in-addr.arpa"


class Zones:
    """A resolver for one reverse zone; its SOA lookups wait for `release`, then
    answer or time out."""

    def __init__(self, soa_outcome: Outcome) -> None:
        self.soa_outcome = soa_outcome
        self.release = anyio.Event()
        self.asked: list[tuple[str, str]] = []

    async def lookup(self, name: str, rtype: str) -> Lookup:
        self.asked.append((name, rtype))
        if rtype == "SOA":
            await self.release.wait()
            if self.soa_outcome is not Outcome.ANSWER:
                return Lookup(self.soa_outcome)
            if name == APEX:
                return Lookup(Outcome.ANSWER, (APEX,))  # for SOA, records hold the apex
            return Lookup(Outcome.NXDOMAIN)
        return Lookup(Outcome.ANSWER, ("ns2.hosting.example", "ns1.hosting.example"))

    async def aclose(self) -> None:
        pass


def _owners(resolver: Zones, addresses: int) -> list[ZoneOwner | None]:
    finder = ZoneFinder(resolver)
    owners: list[ZoneOwner | None] = []

    async def find(host: int) -> None:
        owners.append(await finder.owner(f"{host}.{APEX}"))

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for host in range(addresses):
                group.start_soon(find, host)
            await anyio.wait_all_tasks_blocked()
            resolver.release.set()

    anyio.run(main)
    return owners


def test_a_whole_slash_24_asking_at_once_costs_one_soa_and_one_ns():
    resolver = Zones(Outcome.ANSWER)
    owners = _owners(resolver, 256)
    assert owners == [ZoneOwner(APEX, ("ns1.hosting.example", "ns2.hosting.example"))] * 256
    assert sorted(resolver.asked) == [(APEX, "NS"), (APEX, "SOA")]


def test_a_zone_lookup_that_times_out_is_shared_by_its_waiters_and_asked_again_later():
    # Before, each waiting address asked again in turn once the first had timed
    # out: a /24 of waiters took 256 timeouts, one after the other.
    resolver = Zones(Outcome.TIMEOUT)
    assert _owners(resolver, 256) == [None] * 256
    assert resolver.asked == [(APEX, "SOA")]
    # A timeout is not remembered: the next address asks again.
    resolver.soa_outcome = Outcome.ANSWER
    owner = _owners(resolver, 1)[0]
    assert owner is not None and owner.apex == APEX
