"""A DNS server on loopback that answers wrongly on purpose (issue 22, findings 6-8).

No real server sends an A record to a PTR question, a compression-pointer
loop or a packet with someone else's ID, so this one does, over real UDP,
in a thread of the test process, to a scanner in another process. Every
answer is built with dnspython and then, where the case asks, bent as bytes.

The zones, by the address a question is about:

- 192.0.2.0/24, reverse and forward (`hN.good.example`), answered after
  `FAST_DELAY`: every address passes, except the cases in `CASES`, which
  each answer one question wrongly;
- 198.51.100.0/28 (`hN.slow.example`), answered correctly after `SLOW_DELAY`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

FAST = ipaddress.ip_network("192.0.2.0/24")
SLOW = ipaddress.ip_network("198.51.100.0/28")
# Long enough that every query sent in the same burst is still waiting when a
# malformed packet arrives first: the case that failed them all in c-ares.
FAST_DELAY = 0.05
SLOW_DELAY = 1.5

# The last octet in 192.0.2.0/24 -> what is wrong with its answers.
CASES = {
    200: "an A record for the PTR question",
    201: "a PTR record owned by another name",
    202: "rcode YXDOMAIN, no records",
    203: "rcode YXDOMAIN with a right PTR record",
    204: "a PTR record of class CH",
    205: "an A record owned by another name for the forward question",
    206: "a PTR record for the forward question",
    207: "a compression-pointer loop",
    208: "a name c-ares will not send; decoys with another ID and another question first",
}
SPACED = 208  # its PTR name holds a space: its forward query goes through dnspython


def _octet(ip: ipaddress.IPv4Address) -> int:
    return int(ip) & 255


def ptr_name(ip: ipaddress.IPv4Address) -> str:
    """The PTR name the server gives `ip` (presentation format, no final dot)."""
    if ip in SLOW:
        return f"h{_octet(ip)}.slow.example"
    n = _octet(ip)
    if n in (205, 206):
        return f"h{n}.fwd.example"
    if n == SPACED:
        return "a\\032b.good.example"
    return f"h{n}.good.example"


class RogueServer:
    def __init__(self) -> None:
        self.asked: Counter[tuple[str, str]] = Counter()  # (name, type) -> times asked
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> RogueServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        transport, _ = loop.run_until_complete(
            loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
        )
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            transport.close()
            loop.close()

    # --- the answers -------------------------------------------------------

    def answers(self, wire: bytes) -> list[tuple[float, bytes]]:
        """The packets to send back for one query, each with its delay."""
        query = dns.message.from_wire(wire)
        question = query.question[0]
        qname = question.name.to_text(omit_final_dot=True).lower()
        rtype = dns.rdatatype.to_text(question.rdtype)
        self.asked[qname, rtype] += 1
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        ip = _address_of(qname)
        if ip is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
            return [(FAST_DELAY, response.to_wire())]
        delay = SLOW_DELAY if ip in SLOW else FAST_DELAY
        reverse = qname.endswith(".in-addr.arpa")
        case = _octet(ip) if ip in FAST else None
        if reverse and rtype == "PTR":
            return self._reverse(response, question.name, ip, case, delay)
        if not reverse and rtype == "A":
            return self._forward(response, question.name, ip, case, delay)
        return [(delay, response.to_wire())]  # NODATA

    def _reverse(self, response, qname, ip, case, delay) -> list[tuple[float, bytes]]:
        target = dns.name.from_text(ptr_name(ip))
        owner, rclass, rdtype, value = qname, dns.rdataclass.IN, dns.rdatatype.PTR, target.to_text()
        if case == 200:
            rdtype, value = dns.rdatatype.A, str(ip)
        elif case == 201:
            owner = dns.name.from_text("99.2.0.192.in-addr.arpa")
        elif case in (202, 203):
            response.set_rcode(dns.rcode.YXDOMAIN)
            if case == 202:
                return [(delay, response.to_wire())]
        elif case == 204:
            rclass = dns.rdataclass.CH
        elif case == 207:
            return [(0.0, _pointer_loop(response))]
        response.answer.append(dns.rrset.from_text(owner, 300, rclass, rdtype, value))
        return [(delay, response.to_wire())]

    def _forward(self, response, qname, ip, case, delay) -> list[tuple[float, bytes]]:
        owner, rdtype, value = qname, dns.rdatatype.A, str(ip)
        if case == 205:
            owner = dns.name.from_text("other.good.example")
        elif case == 206:
            rdtype, value = dns.rdatatype.PTR, "h206.fwd.example."
        response.answer.append(dns.rrset.from_text(owner, 300, dns.rdataclass.IN, rdtype, value))
        wire = response.to_wire()
        if case != SPACED:
            return [(delay, wire)]
        other_id = struct.pack("!H", (response.id + 1) & 0xFFFF) + wire[2:]
        decoy = dns.message.make_response(dns.message.make_query("decoy.good.example", "A"))
        decoy.id = response.id
        decoy.answer.append(dns.rrset.from_text(qname, 300, "IN", "A", "203.0.113.9"))
        return [(0.0, other_id), (0.0, decoy.to_wire()), (delay, wire)]


def _address_of(qname: str) -> ipaddress.IPv4Address | None:
    """The lab address a question is about: from its reverse name or its forward name."""
    if qname.endswith(".in-addr.arpa"):
        octets = qname.removesuffix(".in-addr.arpa").split(".")
        try:
            ip = ipaddress.IPv4Address(".".join(reversed(octets)))
        except ValueError:
            return None
        return ip if ip in FAST or ip in SLOW else None
    for ip in (*FAST, *SLOW):
        if ptr_name(ip) == qname:
            return ip
    return None


def _pointer_loop(response: dns.message.Message) -> bytes:
    """`response` with one answer record whose owner name is a pointer to itself."""
    response.use_edns(False)  # no OPT record after the question: the answer comes next
    wire = bytearray(response.to_wire())
    wire[6:8] = struct.pack("!H", 1)  # ANCOUNT 1
    offset = len(wire)
    wire += struct.pack("!H", 0xC000 | offset)  # the owner: a pointer to this very pointer
    wire += struct.pack("!HHIH", 12, 1, 300, 2) + b"\x00\x00"  # PTR IN, 2 bytes of rdata
    return bytes(wire)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: RogueServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        loop = asyncio.get_running_loop()
        for delay, packet in self.server.answers(data):
            loop.call_later(delay, self._send, packet, addr)

    def _send(self, packet: bytes, addr) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(packet, addr)


@contextmanager
def rogue_server() -> Iterator[RogueServer]:
    server = RogueServer().start()
    try:
        yield server
    finally:
        server.stop()
