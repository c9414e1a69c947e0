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

`direct_query()` asks one authoritative server directly (no recursion), for
--check-authoritative: c-ares' parsed answers do not carry the AA bit.

A name that cannot be a DNS name at all (a label over 63 bytes, a name over
255) cannot be asked; it gets NODATA with the reason, a permanent outcome.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from scanner.authority import DirectReply
from scanner.lookups import Nameserver
from scanner.names import normal_name
from scanner.resolver import AnswerRecord, lookup_from_answer, no_answer
from scanner.status import Outcome
from scanner.verdict import Lookup

# As c-ares asks: EDNS0, with the payload size DNS Flag Day 2020 settled on.
EDNS_PAYLOAD = 1232

_RCODE_OUTCOMES = {
    dns.rcode.NXDOMAIN: Outcome.NXDOMAIN,
    dns.rcode.SERVFAIL: Outcome.SERVFAIL,
    dns.rcode.REFUSED: Outcome.REFUSED,
    dns.rcode.FORMERR: Outcome.BAD_RESPONSE,
}
_KINDS = ("PTR", "CNAME", "NS", "SOA", "A", "AAAA")


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
    query = dns.message.make_query(qname, rtype, use_edns=0, payload=EDNS_PAYLOAD)
    response = await _exchange(query, str(nameserver.address), nameserver.port, timeout)
    if isinstance(response, Failure):
        return Lookup(response.outcome, detail=response.detail)
    rcode = response.rcode()
    if rcode != dns.rcode.NOERROR:
        outcome = _RCODE_OUTCOMES.get(rcode, Outcome.OTHER_ERROR)
        detail = "" if outcome is Outcome.NXDOMAIN else f"rcode {dns.rcode.to_text(rcode)}"
        return Lookup(outcome, detail=detail)
    answer = _records(response.answer, qname, name)
    if not answer:
        return no_answer(_records(response.authority, qname, name))
    return lookup_from_answer(name, rtype, answer)


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


async def _exchange(
    query: dns.message.Message, address: str, port: int, timeout: float
) -> dns.message.Message | Failure:
    """One try of `query` at `address` (over TCP when the UDP answer is truncated)."""
    try:
        response, _ = await dns.asyncquery.udp_with_fallback(
            query, address, timeout=timeout, port=port
        )
    except dns.exception.Timeout:
        return Failure(Outcome.TIMEOUT, "Timeout while contacting DNS servers")
    except (dns.exception.DNSException, ValueError) as exc:
        return Failure(Outcome.BAD_RESPONSE, f"malformed answer ({type(exc).__name__})")
    except OSError as exc:
        return Failure(
            Outcome.NETWORK_ERROR,
            exc.strerror or type(exc).__name__,
            no_route=exc.errno in _NO_ROUTE_HERE,
        )
    return response


def _records(section, qname: dns.name.Name, asked: str) -> list[AnswerRecord]:
    """A section's records as the engines read them: names in presentation format.

    The question's own name is written as it was asked wherever it appears,
    so the answer matches the question (and a CNAME loop back to it is seen)
    whatever escapes each library prefers.
    """

    def text(name: dns.name.Name) -> str:
        return normal_name(asked if name == qname else name.to_text())

    records = []
    for rrset in section:
        kind = dns.rdatatype.to_text(rrset.rdtype)
        if kind not in _KINDS:
            continue
        owner = text(rrset.name)
        for rdata in rrset:
            if kind in ("A", "AAAA"):
                value = rdata.address
            elif kind == "SOA":
                value = owner
            else:
                value = text(rdata.target)
            records.append((kind, owner, value))
    return records


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
    query = dns.message.make_query(qname, rtype, use_edns=0, payload=EDNS_PAYLOAD)
    query.flags &= ~dns.flags.RD
    response = await _exchange(query, address, port, timeout)
    if isinstance(response, Failure):
        return DirectReply(response.outcome, detail=response.detail, no_route=response.no_route)
    authoritative = bool(response.flags & dns.flags.AA)
    rcode = response.rcode()
    if rcode != dns.rcode.NOERROR:
        outcome = _RCODE_OUTCOMES.get(rcode, Outcome.OTHER_ERROR)
        return DirectReply(outcome, authoritative=authoritative, detail=dns.rcode.to_text(rcode))
    answer = tuple(_records(response.answer, qname, name))
    if answer:
        serials = [
            rdata.serial
            for rrset in response.answer
            for rdata in rrset
            if rrset.rdtype == dns.rdatatype.SOA
        ]
        return DirectReply(
            Outcome.ANSWER, answer, authoritative, serial=serials[0] if serials else None
        )
    authority = _records(response.authority, qname, name)
    if any(kind == "NS" for kind, _, _ in authority) and not any(
        kind == "SOA" for kind, _, _ in authority
    ):
        return DirectReply(Outcome.REFERRAL, authoritative=authoritative)
    return DirectReply(Outcome.NODATA, authoritative=authoritative)
