"""The lab server's fast path: ordinary queries read by hand, answers rendered once.

A scan asks each question once, and dnspython's parse and render cost about
590 us of CPU a query (issue 23): the lab server could not keep up with the
scanner it tests. An ordinary query (one question in hostname characters, at
most an EDNS OPT record) is read here without dnspython, and its answer is
written from wire pieces made when the zone loaded (`WireCache`); anything
else goes to dnspython in scanner/lab/server.py. tests/test_lab_server.py
checks both give the same bytes.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.SOA


@dataclass(frozen=True, slots=True)
class Planned:
    """What an answer holds, before either renderer writes it."""

    rcode: dns.rcode.Rcode = dns.rcode.NOERROR
    authoritative: bool = True
    answer: tuple[tuple[str, str, list[str]], ...] = ()  # (owner, type, values) per RRset
    authority: tuple[tuple[str, str, list[str]], ...] = ()


NAME_TYPES = ("PTR", "CNAME", "NS")  # record types whose value is one name, compressed
TYPE_NUMBERS = {
    name: int(dns.rdatatype.from_text(name))
    for name in ("A", "AAAA", "PTR", "CNAME", "NS", "SOA", "TXT", "MX")
}
PLANNED_SERVFAIL = Planned(rcode=dns.rcode.SERVFAIL)
PLANNED_REFUSED = Planned(rcode=dns.rcode.REFUSED, authoritative=False)
PLANNED_FORMERR = Planned(rcode=dns.rcode.FORMERR)
PLANNED_TRUNCATED = Planned()  # an empty answer with the TC bit (compared by identity)
HOSTNAME_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


@dataclass(frozen=True, slots=True)
class PlainQuery:
    """The parts of an ordinary query the fast path needs."""

    id: int
    rd: bool
    question: bytes  # the question section as sent (name, type, class)
    name_wire: bytes  # the name as sent, in wire form
    name: str  # as text, lower case, no final dot
    rdtype: int
    rdclass: int
    payload: int | None  # EDNS payload size, None without EDNS


def read_plain_query(wire: bytes) -> PlainQuery | None:
    """An ordinary query read by hand, or None to leave it to dnspython.

    Ordinary: a QUERY with one question whose labels are hostname characters,
    no answer or authority records, and at most an OPT record (EDNS version 0,
    no padding asked) in additional.
    """
    if len(wire) < 17:
        return None
    qid, flags, qdcount, ancount, nscount, arcount = struct.unpack_from("!6H", wire)
    if flags & 0xF800 or qdcount != 1 or ancount or nscount or arcount > 1:
        return None  # a response, another opcode, or sections we leave to dnspython
    position, labels = 12, []
    while True:
        length = wire[position]
        if length == 0:
            position += 1
            break
        label = wire[position + 1 : position + 1 + length]
        if length > 63 or len(label) != length or not HOSTNAME_BYTES.issuperset(label):
            return None
        labels.append(label)
        position += 1 + length
        if position >= len(wire) or position > 12 + 255:
            return None
    if position + 4 > len(wire):
        return None
    rdtype, rdclass = struct.unpack_from("!HH", wire, position)
    question_end = position + 4
    payload = None
    if arcount:
        opt = wire[question_end : question_end + 11]
        if len(opt) != 11 or opt[0] != 0:
            return None
        kind, size, _, version, _, rdlength = struct.unpack("!HHBBHH", opt[1:])
        options = wire[question_end + 11 :]
        if kind != dns.rdatatype.OPT or version != 0 or len(options) != rdlength:
            return None
        while options:  # EDNS options: only padding changes dnspython's answer (RFC 8467)
            if len(options) < 4:
                return None
            code, size_of = struct.unpack_from("!HH", options)
            if code == 12 or len(options) < 4 + size_of:
                return None
            options = options[4 + size_of :]
        payload = size
    elif question_end != len(wire):
        return None
    name = b".".join(labels).decode("ascii").lower()
    return PlainQuery(qid, bool(flags & 0x0100), wire[12:question_end],
                       wire[12:position], name, rdtype, rdclass, payload)  # fmt: skip


class WireCache:
    """Writes planned answers as wire, from names and record data parsed once."""

    def __init__(self) -> None:
        self._labels: dict[str, tuple[bytes, ...]] = {}
        self._rdata: dict[tuple[str, str], tuple[bytes | tuple[bytes, ...], ...]] = {}

    def labels(self, name: str) -> tuple[bytes, ...]:
        """The labels of a lab name (text, no final dot), as dnspython reads it."""
        found = self._labels.get(name)
        if found is None:
            found = self._labels[name] = dns.name.from_text(name + ".").labels[:-1]
        return found

    def rdata(self, rtype: str, value: str) -> tuple[bytes | tuple[bytes, ...], ...]:
        """A record's data as parts: bytes as they are, label tuples for names to compress
        (the names dnspython compresses: those of PTR, CNAME, NS, SOA and MX)."""
        key = (rtype, value)
        found = self._rdata.get(key)
        if found is not None:
            return found
        if rtype in NAME_TYPES:
            found = (self.labels(value),)
        else:
            rdata = dns.rdata.from_text(dns.rdataclass.IN, rtype, value)
            if isinstance(rdata, dns.rdtypes.ANY.SOA.SOA):
                numbers = (rdata.serial, rdata.refresh, rdata.retry, rdata.expire, rdata.minimum)
                found = (rdata.mname.labels[:-1], rdata.rname.labels[:-1],
                         struct.pack("!5I", *numbers))  # fmt: skip
            elif isinstance(rdata, dns.rdtypes.ANY.MX.MX):
                found = (struct.pack("!H", rdata.preference), rdata.exchange.labels[:-1])
            else:
                found = (rdata.to_wire() or b"",)
        self._rdata[key] = found
        return found

    def render(
        self, query: PlainQuery, planned: Planned, ttl: int, limit: int, *, shuffle: bool
    ) -> bytes:
        flags = 0x8000 | (0x0100 if query.rd else 0) | planned.rcode
        if planned.authoritative:
            flags |= 0x0400
        opt = b"" if query.payload is None else OPT_RECORD
        extra = 0 if query.payload is None else 1
        truncated = struct.pack("!6H", query.id, flags | 0x0200, 1, 0, 0, extra)
        if planned is PLANNED_TRUNCATED:
            return truncated + query.question + opt
        out = bytearray(query.question)  # the message after its 12-byte header
        # Compression, as dnspython does it: lower-case suffix -> its offset.
        offsets: dict[tuple[bytes, ...], int] = {}
        asked = tuple(label.lower() for label in self.labels(query.name))
        at = 12
        for index, label in enumerate(asked):
            offsets[asked[index:]] = at
            at += 1 + len(label)
        counts = []
        for rrsets in (planned.answer, planned.authority):
            count = 0
            for owner, rtype, values in rrsets:
                rdtype = TYPE_NUMBERS.get(rtype) or dns.rdatatype.from_text(rtype)
                if len(values) > 1 and shuffle:
                    values = random.sample(values, len(values))
                for value in values:
                    write_name(out, offsets, self.labels(owner))
                    out += struct.pack("!HHIH", rdtype, dns.rdataclass.IN, ttl, 0)
                    start = len(out)
                    for part in self.rdata(rtype, value):
                        if isinstance(part, bytes):
                            out += part
                        else:
                            write_name(out, offsets, part)
                    struct.pack_into("!H", out, start - 2, len(out) - start)
                    count += 1
            counts.append(count)
        if 12 + len(out) + len(opt) > limit:
            # As servers do (RFC 2181, 9): no partial RRsets; TC tells the client to use TCP.
            return truncated + query.question + opt
        header = struct.pack("!6H", query.id, flags, 1, counts[0], counts[1], extra)
        return header + bytes(out) + opt


def write_name(
    out: bytearray, offsets: dict[tuple[bytes, ...], int], labels: tuple[bytes, ...]
) -> None:
    """Append a name to the message after its header, compressed against the names before."""
    lowered = tuple(label.lower() for label in labels)
    pointer = None
    index = 0
    while index < len(lowered):
        pointer = offsets.get(lowered[index:])
        if pointer is not None:
            break
        index += 1
    at = 12 + len(out)
    for position in range(index):
        if at < 0x4000:
            offsets.setdefault(lowered[position:], at)
        out.append(len(labels[position]))
        out += labels[position]
        at += 1 + len(labels[position])
    if pointer is None:
        out.append(0)
    else:
        out += struct.pack("!H", 0xC000 | pointer)


# The server's OPT record: EDNS version 0, our payload 8192 (dnspython's default).
OPT_RECORD = b"\x00" + struct.pack("!HHIH", dns.rdatatype.OPT, 8192, 0, 0)
