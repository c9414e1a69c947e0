"""A strict, small DNS wire reader and query writer for the direct-query path.

--check-authoritative asks each name server of every zone directly, two
questions an address; dnspython wrote each query and parsed each answer for
about 290 us of CPU (130 and 160), and the demo spent 5 of its 6.4 s of CPU
there (issue 23). Queries here are written by hand. Answers are read by hand
only when they are plain: one question; answer and authority records of the
kinds the checks read (A, AAAA, PTR, CNAME, NS, SOA) in class IN; at most an
OPT record in additional; names of hostname bytes only, compressed the way
dnspython accepts (each pointer before the last); nothing after the last
record. Anything else returns None and dnspython reads the packet instead,
so every decision on an unusual or hostile packet stays dnspython's.
tests/test_dnswire.py checks that the two readings agree on every packet
this reader accepts, generated and mutated.

Pure: bytes in, data out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import dns.ipv4
import dns.ipv6
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.SOA

A, NS, CNAME, SOA, PTR, AAAA, OPT = 1, 2, 5, 6, 12, 28, 41
KINDS = {A: "A", NS: "NS", CNAME: "CNAME", SOA: "SOA", PTR: "PTR", AAAA: "AAAA"}
_NAMED = frozenset({NS, CNAME, PTR})
_SINGLETONS = ("SOA", "CNAME")  # dnspython keeps one record of these per set
_HOSTNAME_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
QR, AA, TC, RD = 0x8000, 0x0400, 0x0200, 0x0100


@dataclass(frozen=True, slots=True)
class Record:
    """One record as the checks read it."""

    owner: str  # presentation format, final dot (as dnspython's to_text)
    owner_key: tuple[bytes, ...]  # lower-case labels, to compare with the question
    kind: str  # "A", "PTR", ... or "" for a kind the checks do not read
    rdtype: int
    rdclass: int
    value: str = ""  # an address, a name (final dot), or "" (SOA, other kinds)
    serial: int | None = None  # SOA only


@dataclass(frozen=True, slots=True)
class Reply:
    """A response, as far as the direct-query checks read it."""

    id: int
    flags: int
    rcode: int  # EDNS extended rcode included
    question: tuple[tuple[tuple[bytes, ...], int, int], ...]  # (lower labels, type, class)
    answer: tuple[Record, ...]
    authority: tuple[Record, ...]

    def answers(self, qid: int, labels: tuple[bytes, ...], rdtype: int) -> bool:
        """Whether this is the response to our query (as dnspython's `is_response`)."""
        if self.id != qid or not self.flags & QR or self.flags & 0x7800:
            return False
        if not self.question and self.rcode in (1, 2, 4, 5):  # FORMERR SERVFAIL NOTIMP REFUSED
            return True
        lowered = tuple(label.lower() for label in labels)
        return all(q == (lowered, rdtype, dns.rdataclass.IN) for q in self.question) and bool(
            self.question
        )


def build_query(
    qid: int, labels: tuple[bytes, ...], rdtype: int, *, rd: bool, payload: int
) -> bytes:
    """A query for one question with EDNS0 (no options), as dnspython's make_query writes it."""
    header = struct.pack("!6H", qid, RD if rd else 0, 1, 0, 0, 1)
    name = b"".join(bytes((len(label),)) + label for label in labels) + b"\x00"
    opt = b"\x00" + struct.pack("!HHIH", OPT, payload, 0, 0)
    return header + name + struct.pack("!HH", rdtype, dns.rdataclass.IN) + opt


def read_reply(packet: bytes) -> Reply | None:
    """The reply read by hand, or None: not plain enough, leave it to dnspython."""
    try:
        return _Reader(packet).reply()
    except _NotPlain:
        return None


def reply_from_message(message: dns.message.Message) -> Reply:
    """The same reading of a packet dnspython parsed (the fallback path)."""

    def records(section: list[dns.rrset.RRset]) -> tuple[Record, ...]:
        out = []
        for rrset in section:
            owner = rrset.name
            key = tuple(label.lower() for label in owner.labels[:-1])
            kind = KINDS.get(rrset.rdtype, "") if rrset.rdclass == dns.rdataclass.IN else ""
            for rdata in rrset:
                value, serial = "", None
                if kind in ("A", "AAAA"):
                    value = rdata.address
                elif kind == "SOA":
                    serial = rdata.serial
                elif kind:
                    value = rdata.target.to_text()
                out.append(
                    Record(owner.to_text(), key, kind, rrset.rdtype, rrset.rdclass, value, serial)
                )
        return tuple(out)

    question = tuple(
        (tuple(label.lower() for label in q.name.labels[:-1]), int(q.rdtype), int(q.rdclass))
        for q in message.question
    )
    return Reply(
        message.id, message.flags, int(message.rcode()), question,
        records(message.answer), records(message.authority),
    )  # fmt: skip


class _NotPlain(Exception):
    pass


class _Reader:
    def __init__(self, packet: bytes) -> None:
        self.packet = packet
        self.at = 0

    def take(self, size: int) -> bytes:
        end = self.at + size
        if end > len(self.packet):
            raise _NotPlain
        chunk = self.packet[self.at : end]
        self.at = end
        return chunk

    def name(self) -> tuple[bytes, ...]:
        """A name at the current position, following pointers as dnspython allows."""
        packet = self.packet
        labels = []
        length = 1
        position = self.at
        resume = None  # where reading goes on after the first pointer
        biggest = self.at  # each pointer must point before the last (dnspython's rule)
        while True:
            if position >= len(packet):
                raise _NotPlain
            count = packet[position]
            if count == 0:
                position += 1
                break
            if count < 64:
                label = packet[position + 1 : position + 1 + count]
                if len(label) != count or not _HOSTNAME_BYTES.issuperset(label):
                    raise _NotPlain
                labels.append(label)
                length += count + 1
                position += 1 + count
            elif count >= 192:
                if position + 1 >= len(packet):
                    raise _NotPlain
                pointer = (count & 0x3F) * 256 + packet[position + 1]
                if pointer >= biggest:
                    raise _NotPlain
                biggest = pointer
                if resume is None:
                    resume = position + 2
                position = pointer
            else:
                raise _NotPlain  # label types 0x40 and 0x80
        if length > 255:
            raise _NotPlain
        self.at = resume if resume is not None else position
        return tuple(labels)

    def reply(self) -> Reply:
        qid, flags, qdcount, ancount, nscount, arcount = struct.unpack("!6H", self.take(12))
        if qdcount != 1:
            raise _NotPlain
        labels = self.name()
        rdtype, rdclass = struct.unpack("!HH", self.take(4))
        question = ((tuple(label.lower() for label in labels), rdtype, rdclass),)
        answer = _as_rrsets([self.record() for _ in range(ancount)])
        authority = _as_rrsets([self.record() for _ in range(nscount)])
        rcode = flags & 0x000F
        if arcount > 1:
            raise _NotPlain
        if arcount:
            if self.take(1) != b"\x00":
                raise _NotPlain
            kind, _, ttl, size = struct.unpack("!HHIH", self.take(10))
            if kind != OPT:
                raise _NotPlain
            options = self.take(size)
            while options:  # well-formed options, as dnspython insists
                if len(options) < 4:
                    raise _NotPlain
                (length,) = struct.unpack_from("!H", options, 2)
                if len(options) < 4 + length or struct.unpack_from("!H", options)[0] in (8, 12):
                    raise _NotPlain  # ECS and padding: options dnspython parses in depth
                options = options[4 + length :]
            rcode |= (ttl >> 24) << 4
        if self.at != len(self.packet):
            raise _NotPlain
        return Reply(qid, flags, rcode, question, answer, authority)

    def record(self) -> Record:
        labels = self.name()
        rdtype, rdclass, _, size = struct.unpack("!HHIH", self.take(10))
        if rdclass != dns.rdataclass.IN or rdtype not in KINDS:
            raise _NotPlain
        end = self.at + size
        owner = _text(labels)
        key = tuple(label.lower() for label in labels)
        value, serial = "", None
        if rdtype == A:
            if size != 4:
                raise _NotPlain
            value = dns.ipv4.inet_ntoa(self.take(4))
        elif rdtype == AAAA:
            if size != 16:
                raise _NotPlain
            value = dns.ipv6.inet_ntoa(self.take(16))
        elif rdtype in _NAMED:
            value = _text(self.name())
        else:  # SOA
            self.name()
            self.name()
            serial = struct.unpack("!5I", self.take(20))[0]
        if self.at != end:
            raise _NotPlain
        return Record(owner, key, KINDS[rdtype], rdtype, rdclass, value, serial)


def _as_rrsets(records: list[Record]) -> tuple[Record, ...]:
    """The records, if dnspython's grouping into RRsets leaves them as they are.

    dnspython gathers a section's records into sets by owner, type and class:
    records of one set apart from each other move together, duplicates (names
    compared without case) go, and each set takes its first record's owner.
    Plain answers send each set together and once; anything else is left to
    dnspython to read.
    """
    seen: set[tuple[tuple[bytes, ...], int]] = set()
    previous: Record | None = None
    values: set[str] = set()
    for record in records:
        key = (record.owner_key, record.rdtype)
        if previous is not None and key == (previous.owner_key, previous.rdtype):
            value = record.value.lower()
            if record.owner != previous.owner or value in values or record.kind in _SINGLETONS:
                raise _NotPlain
            values.add(value)
            continue
        if key in seen:
            raise _NotPlain
        seen.add(key)
        previous, values = record, {record.value.lower()}
    return tuple(records)


def _text(labels: tuple[bytes, ...]) -> str:
    """Presentation format of hostname-byte labels, final dot (dnspython's to_text)."""
    return ".".join(label.decode("ascii") for label in labels) + "."
