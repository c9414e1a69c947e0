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
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from scanner.lab.model import LabZones, zone_of
from scanner.names import parent_names

MAX_CHAIN = 8
_UDP_RECEIVE_BUFFER = 4 * 1024 * 1024
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux


@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    """How badly the server behaves. Fractions are of queries, 0..1."""

    latency: float = 0.0  # seconds added before every answer
    drop: float = 0.0  # UDP queries never answered
    servfail: float = 0.0  # queries answered SERVFAIL
    truncate: float = 0.0  # UDP answers sent empty with the TC bit
    seed: int = 1

    def __post_init__(self) -> None:
        for name in ("drop", "servfail", "truncate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a fraction between 0 and 1, got {value}")
        if self.latency < 0:
            raise ValueError(f"latency must be >= 0, got {self.latency}")


@dataclass(slots=True)
class Counters:
    udp: int = 0
    tcp: int = 0
    dropped: int = 0
    servfail: int = 0
    truncated: int = 0
    questions: Counter[int] = field(default_factory=Counter)  # per record type asked


class LabResolver:
    """Answers DNS messages from the lab records. No sockets here."""

    def __init__(
        self, zones: LabZones, ttl: int, faults: Faults | None = None, *, rotate: bool = False
    ) -> None:
        self.zones = zones
        # Rotate each answer's records by how often the question was asked before
        # (otherwise dnspython writes them in a random order).
        self.rotate = rotate
        self.ttl = ttl
        self.faults = faults or Faults()
        self.counters = Counters()
        self._asked: Counter[tuple[bytes, int]] = Counter()
        self._nonterminals = _nonterminals(zones)
        self.arrivals: list[float] | None = None  # arrival time of every query, if recorded

    def _hits(self, fault: str, fraction: float, question: tuple[bytes, int], repeat: int) -> bool:
        """Whether `fault` strikes the `repeat`-th asking of `question` (deterministic)."""
        if not fraction:
            return False
        name, rdtype = question
        key = b"%d/%s/%s/%d/%d" % (self.faults.seed, fault.encode(), name, rdtype, repeat)
        digest = hashlib.blake2b(key, digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64 < fraction

    def _soa(self, apex: str) -> dns.rrset.RRset:
        return self._rrset(apex, "SOA", self.zones.records[apex]["SOA"])

    def respond(self, wire: bytes, *, tcp: bool, arrived: float | None = None) -> bytes | None:
        """The answer to one query, or None to stay silent.

        `arrived`: when the query reached the host (the kernel's timestamp, Unix time).
        """
        if self.arrivals is not None:
            self.arrivals.append(arrived if arrived is not None else time.time())
        faults = self.faults
        if tcp:
            self.counters.tcp += 1
        else:
            self.counters.udp += 1
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        question = (b"", 0)
        if query.question:
            first = query.question[0]
            question = (first.name.to_wire(file=None) or b"").lower(), first.rdtype
            self.counters.questions[first.rdtype] += 1
        repeat = self._asked[question]
        self._asked[question] += 1
        if not tcp and self._hits("drop", faults.drop, question, repeat):
            self.counters.dropped += 1
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        response.flags &= ~dns.flags.RA
        if self._hits("servfail", faults.servfail, question, repeat):
            self.counters.servfail += 1
            response.set_rcode(dns.rcode.SERVFAIL)
        elif not tcp and self._hits("truncate", faults.truncate, question, repeat):
            self.counters.truncated += 1
            response.flags |= dns.flags.TC
        elif len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
        else:
            self._fill(response, query.question[0], repeat)
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

    def _fill(
        self, response: dns.message.Message, question: dns.rrset.RRset, repeat: int = 0
    ) -> None:
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        apex = zone_of(self.zones.zones, name)
        if apex is None or question.rdclass != dns.rdataclass.IN:
            response.set_rcode(dns.rcode.REFUSED)
            response.flags &= ~dns.flags.AA
            return
        if name in self.zones.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
            return
        cut = self._delegation(name, apex)
        if cut is not None:  # a referral: not ours to answer
            response.flags &= ~dns.flags.AA
            response.authority.append(self._rrset(cut, "NS", self.zones.delegations[cut]))
            return
        for _ in range(MAX_CHAIN):
            node = self.zones.records.get(name)
            if node is None:
                if name not in self._nonterminals:
                    response.set_rcode(dns.rcode.NXDOMAIN)
                break
            if rdtype in node:
                values = node[rdtype]
                if self.rotate and len(values) > 1:
                    turn = repeat % len(values)
                    values = values[turn:] + values[:turn]
                response.answer.append(self._rrset(name, rdtype, values))
                return
            if "CNAME" in node and rdtype != "CNAME":
                target = node["CNAME"][0]
                response.answer.append(self._rrset(name, "CNAME", node["CNAME"]))
                name = target
                if zone_of(self.zones.zones, name) is None:
                    return  # the chain leaves our zones; the client follows it
                continue
            break
        response.authority.append(self._soa(zone_of(self.zones.zones, name) or apex))

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
        texts = [v if rdtype not in ("PTR", "CNAME", "NS") else v + "." for v in values]
        return dns.rrset.from_text_list(name + ".", self.ttl, "IN", rdtype, texts)


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
