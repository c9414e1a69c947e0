"""Before the first target: can any resolver serve this scan at all?

A resolver that is not listening, or that refuses us, would otherwise turn
every row into a transient failure, slowly: each lookup waits for its
timeouts and retries. So each resolver is asked the scan's own questions
first (the PTR queries of a few targets spread over the target set), at once
(no more than the rate limiter's burst), in up to two rounds. A resolver that
answers any of them, whatever the answer (NXDOMAIN and SERVFAIL included),
can serve the scan. One that answers none, or REFUSEs every one, cannot; if
no resolver can, the scan stops before anything is written (exit 3).

REFUSED for some questions is an answer: an authoritative server used as the
resolver (a provider's own) refuses the names outside its zones, and those
addresses get their `refused` rows. Only a resolver that refuses every
question asked is one that does not serve us.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import anyio

from scanner.core.lookups import Engine, Nameserver
from scanner.core.status import Outcome
from scanner.core.verdict import IPAddress, reverse_name

PROBES = 8  # questions per resolver per round, at most
ROUNDS = 2
_NOT_ANSWERS = frozenset({Outcome.TIMEOUT, Outcome.NETWORK_ERROR, Outcome.REFUSED})


@dataclass(frozen=True, slots=True)
class ProbeResult:
    nameserver: Nameserver
    outcomes: Counter[Outcome]
    detail: str = ""  # the resolver's words for the last failure

    @property
    def serves(self) -> bool:
        return any(outcome not in _NOT_ANSWERS for outcome in self.outcomes)

    def why_not(self) -> str:
        asked = sum(self.outcomes.values())
        if self.outcomes[Outcome.REFUSED] == asked:
            return (
                f"{self.nameserver}: REFUSED all {asked} PTR queries (it does not serve you: "
                "check its access control, or that it is a resolver for these addresses)"
            )
        if self.outcomes[Outcome.REFUSED]:
            return (
                f"{self.nameserver}: refused {self.outcomes[Outcome.REFUSED]} and left "
                f"{asked - self.outcomes[Outcome.REFUSED]} of {asked} PTR queries unanswered"
            )
        why = f" ({self.detail})" if self.detail else ""
        queries = "PTR query" if asked == 1 else "PTR queries"
        return f"{self.nameserver}: no answer to {asked} {queries}{why}"


def probe_addresses(
    count: int, address_at: Callable[[int], IPAddress], wanted: int
) -> list[IPAddress]:
    """Up to `wanted` addresses spread evenly over a target set of `count`."""
    wanted = max(1, min(wanted, count))
    return [address_at(index * count // wanted) for index in range(wanted)]


async def probe(
    nameservers: Sequence[Nameserver],
    addresses: Sequence[IPAddress],
    open_engine: Callable[[Nameserver], Engine],
) -> list[ProbeResult]:
    """Ask every resolver the PTR queries of `addresses`; up to ROUNDS rounds for the silent."""
    results: list[ProbeResult] = []

    async def ask(server: Nameserver) -> None:
        engine = open_engine(server)
        outcomes: Counter[Outcome] = Counter()
        detail = ""
        try:
            for _ in range(ROUNDS):
                found: list[Outcome] = []

                async def one(address: IPAddress, found: list[Outcome] = found) -> None:
                    nonlocal detail
                    lookup = await engine.lookup(reverse_name(address), "PTR")
                    found.append(lookup.outcome)
                    detail = lookup.detail or detail

                async with anyio.create_task_group() as group:
                    for address in addresses:
                        group.start_soon(one, address)
                outcomes.update(found)
                if any(outcome is not Outcome.TIMEOUT for outcome in found):
                    break  # answered, refused or unreachable: another round says the same
        finally:
            await engine.aclose()
        results.append(ProbeResult(server, outcomes, detail))

    async with anyio.create_task_group() as group:
        for server in nameservers:
            group.start_soon(ask, server)
    order = {server: index for index, server in enumerate(nameservers)}
    return sorted(results, key=lambda result: order[result.nameserver])
