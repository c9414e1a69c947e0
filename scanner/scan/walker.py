"""Walking the reverse tree below prefixes (issue 26), many names at once, through the retry layer.

The walk asks the PTR of each name it reaches (scanner/core/walk.py says
what the answer means), through the same resolver as a scan: the rate
limiter, retries, hedging and health checks apply to every name. Names wait
in a first-in, first-out frontier; `concurrency` tasks take them. Every answer
is handed to `answered` with its step: the caller keeps what it needs (the
resume file, the leaves found, the subtrees not seen).

Before a server is trusted to walk, `rfc8020_problem()` asks it a name that
cannot exist and, for addresses known to have a PTR, the empty non-terminal
above them: a server that answers NOERROR for everything would make the walk
endless, one that answers NXDOMAIN for empty non-terminals would hide all below.
"""

from __future__ import annotations

import ipaddress
import math
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import anyio

from scanner.core.lookups import Resolver
from scanner.core.status import Outcome
from scanner.core.verdict import IPAddress, Lookup
from scanner.core.walk import (
    Network,
    Step,
    children,
    judge,
    label_bits,
    reverse_name_of,
    start_nodes,
)

# Told of every name answered, in the order the answers come: its step and the lookup.
Answered = Callable[[Network, Step, Lookup], None]


@dataclass(slots=True)
class WalkReport:
    """What a walk did."""

    asked: int = 0  # names asked (each once; the retry layer's own tries are its statistics)
    found: int = 0  # leaves whose reverse name exists (IPv6 addresses, IPv4 /24s)
    unseen: int = 0  # subtrees not walked: no answer to judge by
    empty: int = 0  # NXDOMAIN answers: subtrees known to be empty
    left: int = 0  # names not asked because the walk reached max_names
    # Existing names all of whose children are NXDOMAIN although they hold no PTR:
    # an empty zone's apex, or a server answering NXDOMAIN for empty non-terminals.
    childless: int = 0
    attempts: int = 0  # sent for the names asked, every try and hedge
    waiting: int = 0  # names known to ask, not yet answered (a display reads it)


async def walk(
    resolver: Resolver,
    starts: Sequence[Network],
    answered: Answered,
    *,
    concurrency: int = 256,
    max_names: int = 16_777_216,
    report: WalkReport | None = None,
) -> WalkReport:
    """Walk the reverse tree from `starts` (label-aligned names: `start_nodes()`, or
    a resumed walk's `frontier()`); returns what it did. `report`, if given, is
    the one counted into (a display reads it while the walk runs)."""
    report = report if report is not None else WalkReport()
    send, receive = anyio.create_memory_object_stream[Network](math.inf)
    outstanding = 0
    # An existing name with no PTR: how many of its children are still to hear from,
    # and whether one of them exists.
    waiting: dict[Network, list[int]] = {}

    def enqueue(node: Network) -> None:
        nonlocal outstanding
        outstanding += 1
        report.waiting = outstanding
        send.send_nowait(node)

    def settled(node: Network, exists: bool) -> None:
        """One child of a name waited on has answered."""
        bits = label_bits(node)
        if node.prefixlen < bits:
            return
        up = node.supernet(new_prefix=node.prefixlen - bits)
        state = waiting.get(up)
        if state is None:
            return
        state[0] -= 1
        state[1] |= exists
        if state[0] == 0:
            del waiting[up]
            if not state[1]:
                report.childless += 1

    async def work() -> None:
        nonlocal outstanding
        async for node in receive:
            try:
                if report.asked >= max_names:
                    report.left += 1
                    continue
                report.asked += 1
                lookup = await resolver.lookup(reverse_name_of(node), "PTR")
                report.attempts += lookup.attempts
                step = judge(node, lookup.outcome)
                answered(node, step, lookup)
                if step is Step.DESCEND:
                    if lookup.outcome is Outcome.NODATA:
                        waiting[node] = [2 ** label_bits(node), 0]
                    for child in children(node):
                        enqueue(child)
                elif step is Step.FOUND:
                    report.found += 1
                elif step is Step.UNSEEN:
                    report.unseen += 1
                else:
                    report.empty += 1
                settled(node, step is not Step.NOTHING)
            finally:
                outstanding -= 1
                report.waiting = outstanding
                if outstanding == 0:
                    send.close()

    if not starts:
        return report
    for node in starts:
        enqueue(node)
    async with anyio.create_task_group() as group:
        for _ in range(max(1, min(concurrency, max_names))):
            group.start_soon(work)
    return report


async def rfc8020_problem(
    resolver: Resolver, prefix: Network, known: Sequence[IPAddress] = ()
) -> str | None:
    """Why the server answering `resolver` cannot be walked below `prefix` (None: it can).

    `known`: addresses known to have a PTR below the prefix; the name one label
    above each is an empty non-terminal or more, and must not be NXDOMAIN.
    """
    top = next(iter(start_nodes(prefix)))
    # No reverse tree has this label (not a hex digit or an octet): NXDOMAIN, or
    # the server answers every name.
    impossible = f"fcrdns-probe-{secrets.token_hex(4)}.{reverse_name_of(top)}"
    lookup = await resolver.lookup(impossible, "PTR")
    if lookup.outcome in (Outcome.ANSWER, Outcome.NODATA):
        return (
            f"the server answers NOERROR for {impossible}, a name that cannot exist (a wildcard, "
            "or it breaks RFC 8020): a walk of its reverse tree would never end"
        )
    for address in known:
        if address not in top:
            continue
        own_name = ipaddress.ip_network(address)
        above = own_name.supernet(prefixlen_diff=label_bits(own_name))
        name = reverse_name_of(above)
        answer = await resolver.lookup(name, "PTR")
        if answer.outcome is Outcome.NXDOMAIN:
            own = await resolver.lookup(reverse_name_of(own_name), "PTR")
            if own.outcome in (Outcome.ANSWER, Outcome.NODATA):
                return (
                    f"the server answers NXDOMAIN for {name}, above {address}, whose PTR it "
                    "has (it breaks RFC 8020 for empty non-terminals): a walk would miss "
                    "everything below such names"
                )
    return None
