"""Check one IP: the PTR lookup, then the forward lookup of every PTR name.

The lookups go through any object with `async lookup(name, rtype) -> Lookup`
(the c-ares resolver in production, a dictionary in tests); the verdict comes
from the pure `decide()`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from scanner.status import Outcome
from scanner.verdict import (
    ForwardCheck,
    IPAddress,
    Lookup,
    ScanResult,
    decide,
    forward_type,
    reverse_name,
)

MAX_CNAME_HOPS = 8


class Resolver(Protocol):
    async def lookup(self, name: str, rtype: str) -> Lookup: ...


class Counter:
    """Counts the queries made for one IP, and the attempts they took."""

    __slots__ = ("attempts", "count", "resolver")

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.count = 0
        self.attempts = 0

    async def lookup(self, name: str, rtype: str) -> Lookup:
        self.count += 1
        lookup = await self.resolver.lookup(name, rtype)
        self.attempts += lookup.attempts
        return lookup


async def resolve(resolver: Resolver, name: str, rtype: str) -> Lookup:
    """`rtype` records of `name`, following CNAMEs across queries when an answer stops at one."""
    lookup = await resolver.lookup(name, rtype)
    chain = list(lookup.cnames)
    while lookup.outcome is Outcome.ANSWER and not lookup.records and lookup.cnames:
        if len(chain) > MAX_CNAME_HOPS:
            return Lookup(Outcome.BAD_RESPONSE, cnames=tuple(chain), detail="CNAME chain too long")
        lookup = await resolver.lookup(lookup.cnames[-1], rtype)
        chain.extend(lookup.cnames)
    if chain != list(lookup.cnames):
        lookup = replace(lookup, cnames=tuple(chain))
    return lookup


Annotate = Callable[[ScanResult], ScanResult]


class ZoneLookup(Protocol):
    async def owner(self, name: str) -> Any: ...


async def check_ip(
    ip: IPAddress,
    resolver: Resolver,
    annotate: Annotate | None = None,
    zones: ZoneLookup | None = None,
) -> ScanResult:
    started = time.perf_counter()
    counter = Counter(resolver)
    reverse = reverse_name(ip)
    ptr = await resolve(counter, reverse, "PTR")
    checks = []
    if ptr.outcome is Outcome.ANSWER:
        rtype = forward_type(ip)
        for name in ptr.records:
            checks.append(ForwardCheck(name, await resolve(counter, name, rtype)))
    result = decide(
        ip,
        ptr,
        checks,
        queries=counter.count,
        attempts=counter.attempts,
        elapsed=time.perf_counter() - started,
        timestamp=time.time(),
    )
    if zones is not None:
        # The PTR lives at the end of its CNAME chain (RFC 2317), or would live
        # at the reverse name itself.
        where = ptr.cnames[-1] if ptr.cnames else reverse
        owner = await zones.owner(where)
        if owner is not None:
            result = replace(result, ptr_zone=owner.apex, ptr_zone_ns=owner.nameservers)
    return annotate(result) if annotate is not None else result
