"""The lab server's fast path writes the same messages as dnspython does.

The fast path (scanner/lab/server.py) reads ordinary queries by hand and
writes their answers from bytes rendered once; dnspython is the reference.
Every name of the default lab and of its secondary view, a name below each,
names outside the lab, and each record type a scanner asks, with and without
EDNS, in mixed case: both must give the same bytes (compression included),
so a scan of the lab means the same whichever path served it.
"""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import pytest

from scanner.lab.config import LabConfig
from scanner.lab.faults import Faults
from scanner.lab.model import build, secondary_view
from scanner.lab.run import default_lab_config
from scanner.lab.server import LabResolver

TYPES = ("PTR", "A", "AAAA", "CNAME", "SOA", "NS", "TXT", "MX")


@pytest.fixture(scope="module")
def lab():
    config = LabConfig.load(default_lab_config())
    zones, _ = build(config)
    return zones, config.ttl


def _names(zones):
    """A spread of the lab's names (every case and zone), names below them, names elsewhere."""
    records = sorted(zones.records)
    names = set(records[:: max(1, len(records) // 1200)])
    names |= set(zones.delegations) | set(zones.servfail) | set(zones.zones)
    names |= {"below." + name for name in sorted(names)[::4]}
    return sorted(names | {"nowhere.example", "0.0.0.10.in-addr.arpa", "example"})


def _pair(zones, ttl, faults=None):
    fast = LabResolver(zones, ttl, faults, rotate=True)
    slow = LabResolver(zones, ttl, faults, rotate=True)
    slow.fast = False
    return fast, slow


def _mixed_case(name: str) -> str:
    return "".join(c.upper() if i % 2 else c for i, c in enumerate(name))


@pytest.mark.parametrize("view", ["primary", "secondary"])
def test_every_lab_answer_is_the_same_from_both_paths(lab, view):
    zones, ttl = lab
    if view == "secondary":
        zones = secondary_view(zones)
    fast, slow = _pair(zones, ttl)
    compared = 0
    for number, name in enumerate(_names(zones)):
        for rdtype in TYPES:
            query = dns.message.make_query(
                _mixed_case(name) if number % 3 == 0 else name,
                rdtype,
                use_edns=0 if number % 2 else False,
                payload=1232,
                want_dnssec=number % 5 == 0,
            )
            query.id = number % 65536
            if number % 7 == 0:
                query.flags &= ~dns.flags.RD
            wire = query.to_wire()
            assert fast.respond(wire, tcp=False) == slow.respond(wire, tcp=False), (name, rdtype)
            compared += 1
    # Both asked and counted the same questions.
    assert fast.counters == slow.counters and compared > 10_000


def test_answers_too_big_for_udp_are_truncated_alike_and_whole_over_tcp(lab):
    zones, ttl = lab
    zones.add("big.hosting.example", "TXT", '"' + "x" * 200 + '"')
    zones.add("big.hosting.example", "TXT", '"' + "y" * 200 + '"')
    zones.add("big.hosting.example", "TXT", '"' + "z" * 200 + '"')
    fast, slow = _pair(zones, ttl)
    wire = dns.message.make_query("big.hosting.example", "TXT").to_wire()
    udp = fast.respond(wire, tcp=False)
    assert udp == slow.respond(wire, tcp=False)
    assert dns.message.from_wire(udp).flags & dns.flags.TC
    tcp = fast.respond(wire, tcp=True)
    assert tcp == slow.respond(wire, tcp=True)
    assert len(dns.message.from_wire(tcp).answer[0]) == 3


def test_faults_strike_the_same_askings_on_both_paths(lab):
    zones, ttl = lab
    faults = Faults(drop=0.2, servfail=0.2, truncate=0.2, seed=7)
    fast, slow = _pair(zones, ttl, faults)
    names = _names(zones)[:400]
    for repeat in range(3):
        for name in names:
            wire = dns.message.make_query(name, "PTR", use_edns=0).to_wire()
            assert fast.respond(wire, tcp=False) == slow.respond(wire, tcp=False), (name, repeat)
    assert fast.counters == slow.counters
    assert min(fast.counters.dropped, fast.counters.servfail, fast.counters.truncated) > 0


def test_queries_out_of_the_ordinary_are_left_to_dnspython(lab):
    zones, ttl = lab
    fast, slow = _pair(zones, ttl)
    name = next(iter(zones.records))
    two = dns.message.make_query(name, "PTR")
    two.question.append(two.question[0])  # two questions: FORMERR
    padded = dns.message.make_query(
        name, "PTR", use_edns=0, options=[dns.edns.GenericOption(12, b"")]
    )
    odd = dns.message.make_query("a\\032b." + name, "PTR")  # a space in a label
    for query in (two, padded, odd):
        wire = query.to_wire()
        assert fast.respond(wire, tcp=False) == slow.respond(wire, tcp=False)
    assert (
        dns.message.from_wire(fast.respond(two.to_wire(), tcp=False)).rcode() == dns.rcode.FORMERR
    )
    # Not a query (QR set), or no DNS at all: silence from both, never an exception.
    response = dns.message.make_response(dns.message.make_query(name, "PTR")).to_wire()
    for wire in (response, b"\x00\x01junk", b""):
        assert fast.respond(wire, tcp=False) is None and slow.respond(wire, tcp=False) is None
