"""One PTR owner cannot stall the scan (issue 22, finding 5).

An address whose reverse name lists 30 PTR names, none of whose forward
lookups answer, once cost one timeout after another for every name. The
forward lookups are capped at `MAX_FORWARD_NAMES` and made at once.
"""

from __future__ import annotations

import ipaddress

import anyio

from scanner.core.reasons import reason
from scanner.core.status import Outcome, Status
from scanner.core.verdict import MAX_FORWARD_NAMES, Lookup
from scanner.scan.checker import check_ip

IP = ipaddress.ip_address("192.0.2.77")
NAMES = tuple(f"n{n:02}.flood.example" for n in range(30))


class SlowForward:
    """PTR: 30 names. Each A lookup times out, passing two checkpoints first;
    records the names asked and how many were in flight at once."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.in_flight = self.most_in_flight = 0

    async def lookup(self, name: str, rtype: str) -> Lookup:
        if rtype == "PTR":
            return Lookup(Outcome.ANSWER, NAMES)
        self.asked.append(name)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await anyio.sleep(0)  # a checkpoint: the other lookups start meanwhile
        await anyio.sleep(0)
        self.in_flight -= 1
        return Lookup(Outcome.TIMEOUT, detail="timed out", attempts=6)

    async def aclose(self) -> None:
        pass


def test_a_flood_of_ptr_names_is_capped_and_asked_at_once():
    resolver = SlowForward()
    result = anyio.run(check_ip, IP, resolver)
    assert resolver.asked == list(NAMES[:MAX_FORWARD_NAMES])
    assert resolver.most_in_flight == MAX_FORWARD_NAMES  # not one after another
    assert result.status is Status.TIMEOUT
    assert result.ptr_names == NAMES  # the row still lists them all
    assert len(result.forward) == MAX_FORWARD_NAMES
    assert result.queries == 1 + MAX_FORWARD_NAMES
    assert f"20 more PTR names not checked: at most {MAX_FORWARD_NAMES}" in result.error
    assert "20 more PTR names not checked" in reason(result)


class Mismatching(SlowForward):
    async def lookup(self, name: str, rtype: str) -> Lookup:
        if rtype == "PTR":
            return Lookup(Outcome.ANSWER, NAMES)
        self.asked.append(name)
        return Lookup(Outcome.ANSWER, ("198.51.100.1",))


def test_the_names_not_checked_are_said_in_a_mismatch_too():
    result = anyio.run(check_ip, IP, Mismatching())
    assert result.status is Status.MISMATCH
    assert "20 more PTR names not checked" in reason(result)
