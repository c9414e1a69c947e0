"""The lab DNS server: authoritative answers for the lab zones over UDP and TCP.

dnspython does the wire format. Fault knobs make it misbehave the way real
servers do: added latency, dropped queries, SERVFAIL answers and truncated UDP
answers (the TC bit, so clients must retry over TCP). Which query a fault hits
is a hash of the seed, the question and how often that question was asked
before, so a scan meets the same faults whatever order its queries arrive in.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.SOA
import dns.rrset

from scanner.core.names import parent_names
from scanner.lab.faults import Faults
from scanner.lab.model import LabZones, zone_of
from scanner.lab.wire import (
    NAME_TYPES,
    PLANNED_FORMERR,
    PLANNED_REFUSED,
    PLANNED_SERVFAIL,
    PLANNED_TRUNCATED,
    Planned,
    WireCache,
    read_plain_query,
)

MAX_CHAIN = 8
_UDP_RECEIVE_BUFFER = 4 * 1024 * 1024
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux


@dataclass(slots=True)
class Counters:
    udp: int = 0
    tcp: int = 0
    dropped: int = 0
    servfail: int = 0
    truncated: int = 0
    questions: Counter[int] = field(default_factory=Counter)  # per record type asked


class LabResolver:
    """Answers DNS messages from the lab records. No sockets here.

    Two renderers write the same answers. dnspython parses and writes every
    query it is given, for 356 us of CPU a query over 5,000 lab questions (590
    in a scan, issue 23), so the lab served under 3,000 queries a second and the
    demo ran at its speed, not the scanner's. The fast path (53 us) reads only
    the question of an ordinary query (one question, hostname labels, at most
    an OPT record) and writes the answer from names and record data parsed
    once; anything else goes to dnspython. tests/test_lab_server.py checks
    that both give the same bytes over a spread of every lab name and type.
    """

    def __init__(
        self, zones: LabZones, ttl: int, faults: Faults | None = None, *, rotate: bool = False
    ) -> None:
        self.zones = zones
        # Rotate each answer's records by how often the question was asked before
        # (otherwise they are shuffled, as dnspython and many servers do).
        self.rotate = rotate
        self.ttl = ttl
        self.faults = faults or Faults()
        self.counters = Counters()
        self._asked: Counter[tuple[bytes, int]] = Counter()
        self._nonterminals = _nonterminals(zones)
        self.arrivals: list[float] | None = None  # arrival time of every query, if recorded
        self.fast = True  # False: dnspython writes every answer (the reference)
        self._wire = WireCache()

    def _hits(self, fault: str, fraction: float, question: tuple[bytes, int], repeat: int) -> bool:
        """Whether `fault` strikes the `repeat`-th asking of `question` (deterministic)."""
        if not fraction:
            return False
        name, rdtype = question
        key = b"%d/%s/%s/%d/%d" % (self.faults.seed, fault.encode(), name, rdtype, repeat)
        digest = hashlib.blake2b(key, digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64 < fraction

    def respond(self, wire: bytes, *, tcp: bool, arrived: float | None = None) -> bytes | None:
        """The answer to one query, or None to stay silent.

        `arrived`: when the query reached the host (the kernel's timestamp, Unix time).
        """
        if self.arrivals is not None:
            self.arrivals.append(arrived if arrived is not None else time.time())
        if tcp:
            self.counters.tcp += 1
        else:
            self.counters.udp += 1
        query = read_plain_query(wire) if self.fast else None
        if query is None:
            return self._respond_with_dnspython(wire, tcp)
        question = (query.name_wire.lower(), query.rdtype)
        self.counters.questions[query.rdtype] += 1
        fault = self._fault(question, tcp)
        if fault is None:
            return None
        repeat, planned = fault
        if planned is None:
            rdtype = _type_text(query.rdtype)
            planned = self._plan(query.name, rdtype, query.rdclass, repeat)
        limit = 65535 if tcp else max(512, query.payload) if query.payload is not None else 512
        return self._wire.render(query, planned, self.ttl, limit, shuffle=not self.rotate)

    def _fault(self, question: tuple[bytes, int], tcp: bool) -> tuple[int, Planned | None] | None:
        """The faults' say on this asking of `question`: None to stay silent, else
        how often it was asked before and a fault's answer (None: no fault)."""
        faults = self.faults
        repeat = self._asked[question]
        self._asked[question] += 1
        if not tcp and self._hits("drop", faults.drop, question, repeat):
            self.counters.dropped += 1
            return None
        if self._hits("servfail", faults.servfail, question, repeat):
            self.counters.servfail += 1
            return repeat, PLANNED_SERVFAIL
        if not tcp and self._hits("truncate", faults.truncate, question, repeat):
            self.counters.truncated += 1
            return repeat, PLANNED_TRUNCATED
        return repeat, None

    def _respond_with_dnspython(self, wire: bytes, tcp: bool) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
            response = dns.message.make_response(query)
        except dns.exception.DNSException:
            return None  # unreadable, or not a query (QR set)
        question = (b"", 0)
        if query.question:
            first = query.question[0]
            question = (first.name.to_wire(file=None) or b"").lower(), first.rdtype
            self.counters.questions[first.rdtype] += 1
        fault = self._fault(question, tcp)
        if fault is None:
            return None
        repeat, planned = fault
        if planned is None and len(query.question) != 1:
            planned = PLANNED_FORMERR
        elif planned is None:
            first = query.question[0]
            name = first.name.to_text(omit_final_dot=True).lower()
            rdtype = _type_text(first.rdtype)
            planned = self._plan(name, rdtype, first.rdclass, repeat)
        response.flags |= dns.flags.AA if planned.authoritative else 0
        response.flags &= ~dns.flags.RA
        if planned is PLANNED_TRUNCATED:
            response.flags |= dns.flags.TC
        response.set_rcode(planned.rcode)
        for section, rrsets in ((response.answer, planned.answer),
                                (response.authority, planned.authority)):  # fmt: skip
            section.extend(self._rrset(owner, rtype, values) for owner, rtype, values in rrsets)
        try:
            # dnspython shuffles each RRset it writes; rotating asks for the order as built.
            shuffle = not self.rotate
            return response.to_wire(
                max_size=65535 if tcp else _udp_limit(query), want_shuffle=shuffle
            )
        except dns.exception.TooBig:
            # As servers do (RFC 2181, 9): no partial RRsets; TC tells the client to use TCP.
            for section in (response.answer, response.authority, response.additional):
                section.clear()
            response.flags |= dns.flags.TC
            return response.to_wire()

    def _plan(self, name: str, rdtype: str, rdclass: int, repeat: int = 0) -> Planned:
        apex = zone_of(self.zones.zones, name)
        if apex is None or rdclass != dns.rdataclass.IN:
            return PLANNED_REFUSED
        if name in self.zones.servfail:
            return PLANNED_SERVFAIL
        cut = self._delegation(name, apex)
        if cut is not None:  # a referral: not ours to answer
            referral = ((cut, "NS", self.zones.delegations[cut]),)
            return Planned(authoritative=False, authority=referral)
        answer: list[tuple[str, str, list[str]]] = []
        rcode = dns.rcode.NOERROR
        for _ in range(MAX_CHAIN):
            node = self.zones.records.get(name)
            if node is None:
                exists = name in self._nonterminals
                if self.faults.rfc8020:
                    exists = self.faults.rfc8020 == "noerror-all"
                if not exists:
                    rcode = dns.rcode.NXDOMAIN
                break
            if rdtype in node:
                values = node[rdtype]
                if self.rotate and len(values) > 1:
                    turn = repeat % len(values)
                    values = values[turn:] + values[:turn]
                answer.append((name, rdtype, values))
                return Planned(answer=tuple(answer))
            if "CNAME" in node and rdtype != "CNAME":
                target = node["CNAME"][0]
                answer.append((name, "CNAME", node["CNAME"]))
                name = target
                if zone_of(self.zones.zones, name) is None:
                    # the chain leaves our zones; the client follows it
                    return Planned(answer=tuple(answer))
                continue
            break
        soa_apex = zone_of(self.zones.zones, name) or apex
        soa = (soa_apex, "SOA", self.zones.records[soa_apex]["SOA"])
        return Planned(rcode=rcode, answer=tuple(answer), authority=(soa,))

    def _delegation(self, name: str, apex: str) -> str | None:
        """The delegated name at or above `name`, below its zone's apex, if any."""
        if not self.zones.delegations:
            return None
        for candidate in (name, *parent_names(name)):
            if candidate == apex:
                return None
            if candidate in self.zones.delegations:
                return candidate
        return None

    def _rrset(self, name: str, rdtype: str, values: list[str]) -> dns.rrset.RRset:
        texts = [v if rdtype not in NAME_TYPES else v + "." for v in values]
        return dns.rrset.from_text_list(name + ".", self.ttl, "IN", rdtype, texts)


@functools.cache
def _type_text(rdtype: int) -> str:
    return dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))


def _udp_limit(query: dns.message.Message) -> int:
    return max(512, query.payload) if query.edns >= 0 else 512


def _nonterminals(zones: LabZones) -> set[str]:
    """Names with no records but with names below them (answer NODATA, not NXDOMAIN)."""
    found: set[str] = set()
    for name in (*zones.records, *zones.delegations):
        apex = zone_of(zones.zones, name)
        for parent in parent_names(name):
            if apex is None or len(parent) < len(apex):
                break
            found.add(parent)
    for name in zones.servfail:
        found.update(parent_names(name))
    found.update(zones.zones)
    return found - set(zones.records)


class _UDPReader:
    """Serves UDP straight from the socket, reading the kernel's receive timestamps.

    asyncio's datagram transport hides the ancillary data; the kernel timestamp
    is when the query really arrived, which pacing measurements need (the time
    this process got round to it can lag behind in bursts).
    """

    def __init__(self, resolver: LabResolver, sock: socket.socket) -> None:
        self.resolver = resolver
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self._ancillary = socket.CMSG_SPACE(16)
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        sock.setblocking(False)
        self.loop.add_reader(sock.fileno(), self._read)

    def _read(self) -> None:
        for _ in range(64):  # then let the loop run other work
            try:
                data, ancillary, _, addr = self.sock.recvmsg(65535, self._ancillary)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # e.g. an ICMP error queued on the socket
            arrived = None
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                    seconds, nanoseconds = struct.unpack("qq", value[:16])
                    arrived = seconds + nanoseconds / 1e9
            answer = self.resolver.respond(data, tcp=False, arrived=arrived)
            if answer is None:
                continue
            delay = self.resolver.faults.latency
            if delay:
                self.loop.call_later(delay, self._send, answer, addr)
            else:
                self._send(answer, addr)

    def _send(self, answer: bytes, addr: tuple[str, int]) -> None:
        with contextlib.suppress(OSError):  # a full buffer drops it, as on a busy server
            self.sock.sendto(answer, addr)

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


async def _serve_tcp_client(
    resolver: LabResolver, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            size = struct.unpack("!H", await reader.readexactly(2))[0]
            wire = await reader.readexactly(size)
            answer = resolver.respond(wire, tcp=True)
            if answer is None:
                continue
            if resolver.faults.latency:
                await asyncio.sleep(resolver.faults.latency)
            writer.write(struct.pack("!H", len(answer)) + answer)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


class LabServer:
    """The lab resolver bound to 127.0.0.1, the same port for UDP and TCP."""

    def __init__(self, resolver: LabResolver, host: str = "127.0.0.1", port: int = 0) -> None:
        self.resolver = resolver
        self.host = host
        self.requested_port = port
        self.port = 0
        self._udp: _UDPReader | None = None
        self._tcp: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        for _ in range(20):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _UDP_RECEIVE_BUFFER)
            sock.bind((self.host, self.requested_port))
            port = sock.getsockname()[1]
            try:
                self._tcp = await asyncio.start_server(
                    lambda r, w: _serve_tcp_client(self.resolver, r, w), self.host, port
                )
            except OSError:
                sock.close()
                if self.requested_port:
                    raise
                continue  # the free UDP port is taken for TCP: pick another
            self._udp = _UDPReader(self.resolver, sock)
            self.port = port
            return
        raise OSError("no port free for both UDP and TCP")

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()

    def __repr__(self) -> str:
        c = self.resolver.counters
        asked = " ".join(
            f"{dns.rdatatype.RdataType.make(rdtype).name}={n}"
            for rdtype, n in sorted(c.questions.items())
        )
        return (
            f"<LabServer {self.host}:{self.port} udp={c.udp} tcp={c.tcp} dropped={c.dropped} "
            f"servfail={c.servfail} truncated={c.truncated} questions: {asked}>"
        )
