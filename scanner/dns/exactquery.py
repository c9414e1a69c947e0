"""Exact-byte queries, with dnspython, for the names c-ares will not send.

c-ares refuses to encode a name outside host-name syntax (`ARES_EBADNAME`)
before sending anything: a label holding a space, a control byte, a
backslash, `=`, `;`, `@` or UTF-8. DNS labels are any bytes, and whoever owns
an IP block can point its PTR records at such names; the server answers them
like any other. So both engines send those questions here: the name's exact
wire labels (read from its presentation format, as c-ares wrote it), to the
same nameserver, one try (the retry layer, the rate limiter and the
resolver's health sit above the engines and count these queries as any
other). Rare by nature, so a socket per query is fine.

The same one-socket path is where c-ares cannot go in two more ways. A query
c-ares lost to another's malformed answer is asked again here, on a socket
of its own, so that only the question that drew it gets the error
(scanner/dns/cares_engine.py); and a query to a zone slower than c-ares' adaptive
timeout allows is asked here with the whole `--timeout` (`lookup_patiently`
in the engines, scanner/dns/retry.py decides when).

`direct_query()` asks one authoritative server directly (no recursion), for
--check-authoritative: c-ares' parsed answers do not carry the AA bit.

What comes back is read as c-ares reads it: a packet with another query's ID,
or that answers another question (a late answer, a spoofed one), is not ours
and is ignored while the wait goes on; a malformed packet with our ID is a
BAD_RESPONSE for this query alone.

A name that cannot be a DNS name at all (a label over 63 bytes, a name over
255) cannot be asked; it gets NODATA with the reason, a permanent outcome.
"""

from __future__ import annotations

import asyncio
import errno
import secrets
import socket
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from scanner.core.authority import DirectReply
from scanner.core.lookups import Nameserver
from scanner.core.names import normal_name
from scanner.core.status import Outcome
from scanner.core.verdict import Lookup
from scanner.dns.translate import (
    AnswerRecord,
    foreign_kind,
    lookup_from_answer,
    no_answer,
    unexpected_rcode,
)
from scanner.dns.wire import Record, Reply, build_query, read_reply, reply_from_message

# As c-ares asks: EDNS0, with the payload size DNS Flag Day 2020 settled on.
EDNS_PAYLOAD = 1232

# The rcodes a query may get, as c-ares maps them; any other is unexpected (BAD_RESPONSE).
_RCODE_OUTCOMES = {
    dns.rcode.NXDOMAIN: Outcome.NXDOMAIN,
    dns.rcode.SERVFAIL: Outcome.SERVFAIL,
    dns.rcode.REFUSED: Outcome.REFUSED,
    dns.rcode.FORMERR: Outcome.BAD_RESPONSE,
    dns.rcode.NOTIMP: Outcome.OTHER_ERROR,
}
_KINDS = ("PTR", "CNAME", "NS", "SOA", "A", "AAAA")

# How a malformed answer's detail begins (scanner/dns/cares_engine.py tells its zone by it).
MALFORMED = "malformed answer"


def wire_name(name: str) -> dns.name.Name:
    """The exact labels of `name`, written in presentation format (as c-ares writes names).

    Read as bytes, so no IDNA conversion happens: the labels are what the
    escapes and characters say, UTF-8 for a character outside ASCII.
    """
    return dns.name.from_text(name.encode("utf-8", "surrogateescape"))


async def exact_lookup(nameserver: Nameserver, name: str, rtype: str, timeout: float) -> Lookup:
    """One try of `rtype` for the exact labels of `name` at `nameserver`."""
    try:
        qname = wire_name(name)
    except dns.exception.DNSException as exc:
        reason = (exc.__doc__ or type(exc).__name__).strip().rstrip(".").lower()
        return Lookup(Outcome.NODATA, detail=f"not a name DNS can hold: {reason}")
    question = _Question(qname, rtype, recursion=True)
    response = await _exchange(question, str(nameserver.address), nameserver.port, timeout)
    if isinstance(response, Failure):
        return Lookup(response.outcome, detail=response.detail)
    rcode = dns.rcode.Rcode.make(response.rcode)
    if rcode != dns.rcode.NOERROR:
        if rcode not in _RCODE_OUTCOMES:
            return unexpected_rcode(dns.rcode.to_text(rcode))
        outcome = _RCODE_OUTCOMES[rcode]
        detail = "" if outcome is Outcome.NXDOMAIN else f"rcode {dns.rcode.to_text(rcode)}"
        return Lookup(outcome, detail=detail)
    answer = _records(response.answer, qname, name)
    if not answer:
        return no_answer(_records(response.authority, qname, name))
    return lookup_from_answer(name, rtype, answer)


def is_malformed(lookup: Lookup) -> bool:
    """Whether `lookup` failed on a packet that could not be parsed."""
    return lookup.outcome is Outcome.BAD_RESPONSE and lookup.detail.startswith(MALFORMED)


@dataclass(frozen=True, slots=True)
class Failure:
    """No usable answer to a query: what happened instead."""

    outcome: Outcome
    detail: str
    no_route: bool = False  # this host has no route to the address: nothing was sent


# Errors a send gets from this host's own network stack, before any packet
# leaves: no route to the address (an IPv6 server from a host without IPv6), or
# no address of that family to send from. Not the server's doing.
_NO_ROUTE_HERE = frozenset({errno.ENETUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT})


class _Question:
    """One query to send: the name's exact labels, the type, whether recursion is desired."""

    def __init__(self, qname: dns.name.Name, rtype: str, *, recursion: bool) -> None:
        self.qname = qname
        self.labels = qname.labels[:-1]
        self.rdtype = int(dns.rdatatype.from_text(rtype))
        self.recursion = recursion

    def wire(self, qid: int) -> bytes:
        return build_query(qid, self.labels, self.rdtype, rd=self.recursion, payload=EDNS_PAYLOAD)

    def message(self) -> dns.message.Message:
        """The same query as dnspython's message (for TCP, which dnspython sends)."""
        rdtype = dns.rdatatype.RdataType.make(self.rdtype)
        query = dns.message.make_query(self.qname, rdtype, use_edns=0, payload=EDNS_PAYLOAD)
        if not self.recursion:
            query.flags &= ~dns.flags.RD
        return query


async def _exchange(
    question: _Question, address: str, port: int, timeout: float
) -> Reply | Failure:
    """One try of `question` at `address`: over UDP, then TCP when the answer is truncated."""
    try:
        try:
            async with asyncio.timeout(timeout):
                response = await _udp(question, address, port)
        except TimeoutError:
            return Failure(Outcome.TIMEOUT, "Timeout while contacting DNS servers")
        if response is not None:
            return response
        message = await dns.asyncquery.tcp(question.message(), address, timeout=timeout, port=port)
        return reply_from_message(message)
    except dns.exception.Timeout:
        return Failure(Outcome.TIMEOUT, "Timeout while contacting DNS servers")
    except (dns.exception.DNSException, ValueError) as exc:
        return Failure(Outcome.BAD_RESPONSE, f"{MALFORMED} ({type(exc).__name__})")
    except OSError as exc:
        return Failure(
            Outcome.NETWORK_ERROR,
            exc.strerror or type(exc).__name__,
            no_route=exc.errno in _NO_ROUTE_HERE,
        )


async def _udp(question: _Question, address: str, port: int) -> Reply | None:
    """The UDP answer to `question`; None when it is truncated (ask over TCP).

    The socket is connected, so the kernel drops packets from anywhere but
    `address`. Packets with another ID, or answering another question, are
    skipped as c-ares skips them: a late answer to an earlier try, or a guess
    at ours, must neither end the wait nor decide it. A malformed packet with
    our ID raises (BAD_RESPONSE, for this query alone). Plain answers are read
    by hand (scanner/dns/wire.py), anything else by dnspython.
    """
    qid = secrets.randbelow(65536)
    wire = question.wire(qid)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    loop = asyncio.get_running_loop()
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.connect((address, port))
        await loop.sock_sendall(sock, wire)
        while True:
            packet = await loop.sock_recv(sock, 65535)
            if packet[:2] != wire[:2]:
                continue
            reply = read_reply(packet)
            if reply is None:
                try:
                    message = dns.message.from_wire(packet, raise_on_truncation=True)
                except dns.message.Truncated as truncated:
                    partial = truncated.message()  # type: ignore[no-untyped-call]  # dnspython leaves it bare
                    reply = reply_from_message(partial)
                    if reply.answers(qid, question.labels, question.rdtype):
                        return None
                    continue
                reply = reply_from_message(message)
            if not reply.answers(qid, question.labels, question.rdtype):
                continue
            if reply.flags & dns.flags.TC:
                return None
            return reply


def _records(records: tuple[Record, ...], qname: dns.name.Name, asked: str) -> list[AnswerRecord]:
    """A section's records as the engines read them: names in presentation format.

    The question's own name is written as it was asked wherever it appears,
    so the answer matches the question (and a CNAME loop back to it is seen)
    whatever escapes each library prefers. Records of other types or classes
    are kept with an empty value (scanner/dns/translate.py, `foreign_kind`).
    """
    same = qname.to_text().lower()

    def text(name: str) -> str:
        return normal_name(asked if name.lower() == same else name)

    out = []
    for record in records:
        owner = text(record.owner)
        if not record.kind:
            out.append((foreign_kind(record.rdtype, record.rdclass), owner, ""))
        elif record.kind in ("A", "AAAA"):
            out.append((record.kind, owner, record.value))
        elif record.kind == "SOA":
            out.append((record.kind, owner, owner))
        else:
            out.append((record.kind, owner, text(record.value)))
    return out


async def direct_query(
    address: str, port: int, name: str, rtype: str, timeout: float
) -> DirectReply:
    """One non-recursive query (RD off) of `rtype` for `name`, straight to a name server.

    For asking a zone's authoritative servers one by one (--check-authoritative):
    whether the answer is authoritative (the AA bit) is what tells a lame server,
    and c-ares' parsed answers do not carry it.
    """
    try:
        qname = wire_name(name)
    except dns.exception.DNSException:
        return DirectReply(Outcome.OTHER_ERROR, detail="not a name DNS can hold")
    response = await _exchange(_Question(qname, rtype, recursion=False), address, port, timeout)
    if isinstance(response, Failure):
        return DirectReply(response.outcome, detail=response.detail, no_route=response.no_route)
    authoritative = bool(response.flags & dns.flags.AA)
    rcode = dns.rcode.Rcode.make(response.rcode)
    if rcode != dns.rcode.NOERROR:
        outcome = _RCODE_OUTCOMES.get(rcode, Outcome.BAD_RESPONSE)
        return DirectReply(outcome, authoritative=authoritative, detail=dns.rcode.to_text(rcode))
    answer = tuple(_records(response.answer, qname, name))
    if answer:
        serials = [record.serial for record in response.answer if record.serial is not None]
        return DirectReply(
            Outcome.ANSWER, answer, authoritative, serial=serials[0] if serials else None
        )
    authority = _records(response.authority, qname, name)
    if any(kind == "NS" for kind, _, _ in authority) and not any(
        kind == "SOA" for kind, _, _ in authority
    ):
        return DirectReply(Outcome.REFERRAL, authoritative=authoritative)
    return DirectReply(Outcome.NODATA, authoritative=authoritative)
