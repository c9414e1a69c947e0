"""Check one IP: the PTR lookup, then the forward lookups of its PTR names, at once.

At most `MAX_FORWARD_NAMES` names are looked up; the row says how many were not.

The lookups go through any object with `async lookup(name, rtype) -> Lookup`
(the c-ares resolver in production, a dictionary in tests); the verdict comes
from the pure `decide()`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

import anyio

from scanner.core.authority import AuthorityCheck, ZoneOwner
from scanner.core.lookups import Resolver
from scanner.core.names import normal_name
from scanner.core.status import Outcome
from scanner.core.verdict import (
    MAX_FORWARD_NAMES,
    ForwardCheck,
    IPAddress,
    Lookup,
    ScanResult,
    cname_loop,
    decide,
    forward_type,
    reverse_name,
)

MAX_CNAME_HOPS = 8
# A PTR record that points to the root, '.': no host has that name.
ROOT_TARGET = Lookup(Outcome.NODATA, detail="a PTR to the root name '.' names no host")


class Tally:
    """The queries made for one IP, and the attempts they took."""

    __slots__ = ("attempts", "queries")

    def __init__(self) -> None:
        self.queries = 0
        self.attempts = 0


async def resolve(resolver: Resolver, name: str, rtype: str, tally: Tally | None = None) -> Lookup:
    """`rtype` records of `name`, following CNAMEs across queries when an answer stops at one.

    Each query made is counted in `tally`, if given. (Counting here rather than
    in a wrapper around the resolver saves a coroutine per query.)
    """
    chain: list[str] = []
    start = normal_name(name)
    seen = {start}
    while True:
        lookup = await resolver.lookup(name, rtype)
        if tally is not None:
            tally.queries += 1
            tally.attempts += lookup.attempts
        chain.extend(lookup.cnames)
        if lookup.outcome is not Outcome.ANSWER or lookup.records or not lookup.cnames:
            break
        if not seen.isdisjoint(lookup.cnames):  # back to a name of the chain, across queries
            return cname_loop(start, chain)
        seen.update(lookup.cnames)
        if len(chain) > MAX_CNAME_HOPS:
            return Lookup(Outcome.BAD_RESPONSE, cnames=tuple(chain), detail="CNAME chain too long")
        name = lookup.cnames[-1]
    if len(chain) != len(lookup.cnames):  # the chain went on across queries
        lookup = replace(lookup, cnames=tuple(chain))
    return lookup


async def _forward_checks(
    names: Sequence[str], ip: IPAddress, resolver: Resolver, tally: Tally
) -> list[ForwardCheck]:
    """The forward lookup of each name, at once when there are several (each
    still takes its slot from the rate limiter inside `resolver`)."""
    rtype = forward_type(ip)

    async def check(name: str) -> ForwardCheck:
        if name == ".":  # the root: there is nothing to look up
            return ForwardCheck(name, ROOT_TARGET)
        return ForwardCheck(name, await resolve(resolver, name, rtype, tally))

    if len(names) == 1:  # nearly every address: no task group to pay for
        return [await check(names[0])]
    checks: list[ForwardCheck | None] = [None] * len(names)

    async def check_into(index: int, name: str) -> None:
        checks[index] = await check(name)

    async with anyio.create_task_group() as group:
        for index, name in enumerate(names):
            group.start_soon(check_into, index, name)
    return [check for check in checks if check is not None]


Annotate = Callable[[ScanResult], ScanResult]


class ZoneLookup(Protocol):
    async def owner(self, name: str) -> ZoneOwner | None: ...


class AuthorityLookup(Protocol):
    async def check(self, name: str, owner: ZoneOwner) -> AuthorityCheck: ...


async def check_ip(
    ip: IPAddress,
    resolver: Resolver,
    annotate: Annotate | None = None,
    zones: ZoneLookup | None = None,
    authority: AuthorityLookup | None = None,
    *,
    ptr: Lookup | None = None,
) -> ScanResult:
    """The row of `ip`; `ptr`: its PTR answer when already known (a walk's NXDOMAIN above it)."""
    started = time.perf_counter()
    tally = Tally()
    reverse = reverse_name(ip)
    if ptr is None:
        ptr = await resolve(resolver, reverse, "PTR", tally)
    checks: list[ForwardCheck] = []
    if ptr.outcome is Outcome.ANSWER:
        checks = await _forward_checks(ptr.records[:MAX_FORWARD_NAMES], ip, resolver, tally)
    result = decide(
        ip,
        ptr,
        checks,
        queries=tally.queries,
        attempts=tally.attempts,
        elapsed=time.perf_counter() - started,
        timestamp=time.time(),
    )
    if zones is not None:
        # The PTR lives at the end of its CNAME chain (RFC 2317), or would live
        # at the reverse name itself.
        where = ptr.cnames[-1] if ptr.cnames else reverse
        owner = await zones.owner(where)
        if owner is not None:
            checked = await authority.check(where, owner) if authority is not None else None
            result = replace(
                result, ptr_zone=owner.apex, ptr_zone_ns=owner.nameservers, authority=checked
            )
    return annotate(result) if annotate is not None else result
