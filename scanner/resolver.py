"""DNS lookups through aiodns (c-ares): the only module that imports aiodns or pycares.

c-ares results and error codes become `Lookup` values here, by one table, so the
rest of the scanner never sees a DNS library's exceptions.
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiodns
import pycares

from scanner.status import Outcome
from scanner.verdict import Lookup

# c-ares error code -> outcome. Anything not listed is OTHER_ERROR.
ARES_OUTCOMES: dict[int, Outcome] = {
    pycares.errno.ARES_ENOTFOUND: Outcome.NXDOMAIN,
    pycares.errno.ARES_ENODATA: Outcome.NODATA,
    pycares.errno.ARES_ESERVFAIL: Outcome.SERVFAIL,
    pycares.errno.ARES_EREFUSED: Outcome.REFUSED,
    pycares.errno.ARES_ETIMEOUT: Outcome.TIMEOUT,
    pycares.errno.ARES_ECONNREFUSED: Outcome.NETWORK_ERROR,
    pycares.errno.ARES_EBADRESP: Outcome.BAD_RESPONSE,
    pycares.errno.ARES_EFORMERR: Outcome.BAD_RESPONSE,
    pycares.errno.ARES_EOF: Outcome.NETWORK_ERROR,
}

_RECORD_TYPES = {
    "PTR": pycares.QUERY_TYPE_PTR,
    "A": pycares.QUERY_TYPE_A,
    "AAAA": pycares.QUERY_TYPE_AAAA,
    "CNAME": pycares.QUERY_TYPE_CNAME,
    "NS": pycares.QUERY_TYPE_NS,
    "SOA": pycares.QUERY_TYPE_SOA,
}


class ResolverSpecError(ValueError):
    """A `--resolver` value that is not `IP`, `IP:PORT` or `[IPv6]:PORT`."""


@dataclass(frozen=True, slots=True)
class Nameserver:
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int = 53

    @classmethod
    def parse(cls, text: str) -> Nameserver:
        text = text.strip()
        host, port_text = text, ""
        if text.startswith("["):
            host, sep, rest = text[1:].partition("]")
            if not sep or (rest and not rest.startswith(":")):
                raise ResolverSpecError(f"bad resolver {text!r}: expected [IPv6]:PORT")
            port_text = rest[1:]
        elif text.count(":") == 1:
            host, _, port_text = text.partition(":")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise ResolverSpecError(
                f"bad resolver {text!r}: expected IP, IP:PORT or [IPv6]:PORT"
            ) from None
        port = 53
        if port_text:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ResolverSpecError(f"bad resolver {text!r}: port must be 1-65535")
            port = int(port_text)
        return cls(address, port)

    def __str__(self) -> str:
        if self.address.version == 6:
            return f"[{self.address}]:{self.port}"
        return f"{self.address}:{self.port}"


def _normal(name: str) -> str:
    return name.rstrip(".").lower()


def _value(record: pycares.DNSRecord) -> str:
    kind = record.type
    if kind == pycares.QUERY_TYPE_PTR:
        return _normal(record.data.dname)
    if kind == pycares.QUERY_TYPE_NS:
        return _normal(record.data.nsdname)
    if kind == pycares.QUERY_TYPE_SOA:
        return _normal(record.name)  # the zone apex: the SOA's owner
    return record.data.addr


def lookup_from_answer(qname: str, rtype: str, answer: Sequence[pycares.DNSRecord]) -> Lookup:
    """Turn the answer section of a NOERROR response into a `Lookup`.

    Follows the CNAME chain inside the answer from `qname` (as RFC 2317 classless
    reverse delegation does for PTR) and keeps every record of the asked type
    owned by its last name: all PTR names, not only the first; addresses; NS
    names; for SOA, the apex. When the chain leaves the answer, `records` is
    empty and `cnames` says where to go on.
    """
    wanted = _RECORD_TYPES[rtype]
    current = _normal(qname)
    cnames: list[str] = []
    aliases = {
        _normal(r.name): _normal(r.data.cname) for r in answer if r.type == pycares.QUERY_TYPE_CNAME
    }
    while current in aliases and len(cnames) < 16:
        current = aliases[current]
        cnames.append(current)
    values = tuple(
        dict.fromkeys(_value(r) for r in answer if r.type == wanted and _normal(r.name) == current)
    )
    if not values and not cnames:
        return Lookup(Outcome.NODATA)
    return Lookup(Outcome.ANSWER, values, tuple(cnames))


def lookup_from_error(error: aiodns.error.DNSError) -> Lookup:
    code = error.args[0] if error.args else None
    message = error.args[1] if len(error.args) > 1 else str(error)
    outcome = ARES_OUTCOMES.get(code, Outcome.OTHER_ERROR)
    detail = "" if outcome in (Outcome.NXDOMAIN, Outcome.NODATA) else str(message)
    return Lookup(outcome, detail=detail)


def system_nameservers() -> tuple[Nameserver, ...]:
    """The nameservers of the system resolver configuration, as c-ares reads it."""
    channel = pycares.Channel()
    try:
        return tuple(Nameserver.parse(server) for server in channel.servers)
    finally:
        channel.close()


class _LoopDrivenDNSResolver(aiodns.DNSResolver):
    """aiodns with c-ares driven by the event loop's own selector: no c-ares thread.

    aiodns 4 runs c-ares on an event thread and hops every answer to the loop
    with call_soon_threadsafe; every query then also contends for the channel
    lock with that thread (measured: a fifth of the scanner's time spent inside
    Channel.query). pycares' socket-state-callback mode, which aiodns itself
    keeps as its fallback, avoids both; this selects it. Without the thread,
    c-ares also stops watching the system resolver configuration.
    """

    def _make_channel(self, **kwargs: Any) -> tuple[bool, pycares.Channel]:
        this = weakref.ref(self)

        def sock_state_cb(fd: int, readable: bool, writable: bool) -> None:
            resolver = this()
            if resolver is not None:
                resolver._sock_state_cb(fd, readable, writable)

        return False, pycares.Channel(sock_state_cb=sock_state_cb, timeout=self._timeout, **kwargs)


# c-ares (>= 1.31) caches every answer for its TTL, with no size limit, and
# pycares 5 cannot turn that off: a channel's memory grows by about 1.5 KB per
# answer (134 MB after 65,536 PTR answers). A scan never asks the same question
# twice, so the cache only costs; a fresh channel every this many queries keeps
# memory flat whatever the size of the scan.
QUERIES_PER_CHANNEL = 10_000


class _Channel:
    """One c-ares channel and the queries still waiting on it."""

    __slots__ = ("in_flight", "resolver", "retired")

    def __init__(self, resolver: aiodns.DNSResolver) -> None:
        self.resolver = resolver
        self.in_flight = 0
        self.retired = False


class AresResolver:
    """Sends each query once, to one nameserver, with c-ares.

    Retries, pacing and the choice between nameservers belong to the retry
    layer, so c-ares makes a single try. c-ares is pointed at a private
    resolv.conf naming only this nameserver, so that even a configuration
    reload could never send a query elsewhere. `timeout` is the first try's
    timeout; c-ares then adapts it to five times the server's measured average
    latency (at least 250 ms). The channel is replaced every
    `QUERIES_PER_CHANNEL` queries to bound c-ares' answer cache.
    """

    def __init__(
        self,
        nameserver: Nameserver,
        *,
        timeout: float = 2.0,
        queries_per_channel: int = QUERIES_PER_CHANNEL,
    ) -> None:
        self.nameserver = nameserver
        self.timeout = timeout
        self.queries = 0
        self.channels_opened = 0
        self._queries_per_channel = queries_per_channel
        self._resolvconf: str | None = _private_resolvconf(nameserver)
        self._channel = self._open_channel()

    def _open_channel(self) -> _Channel:
        resolver = _LoopDrivenDNSResolver(
            timeout=self.timeout,
            tries=1,
            resolvconf_path=self._resolvconf,
            # resolv.conf has no port syntax; this keeps even a reload on the right port.
            udp_port=self.nameserver.port,
            tcp_port=self.nameserver.port,
        )
        resolver.nameservers = [str(self.nameserver)]
        self.channels_opened += 1
        return _Channel(resolver)

    async def lookup(self, name: str, rtype: str) -> Lookup:
        self.queries += 1
        channel = self._channel
        if self.queries % self._queries_per_channel == 0:
            channel.retired = True
            self._channel = self._open_channel()
        channel.in_flight += 1
        try:
            result = await channel.resolver.query_dns(name, rtype)
        except aiodns.error.DNSError as error:
            return lookup_from_error(error)
        finally:
            channel.in_flight -= 1
            if channel.retired and not channel.in_flight:
                await channel.resolver.close()  # never suspends: safe even when cancelled
        return lookup_from_answer(name, rtype, result.answer)

    async def aclose(self) -> None:
        await self._channel.resolver.close()
        if self._resolvconf:
            os.unlink(self._resolvconf)
            self._resolvconf = None

    def __repr__(self) -> str:
        return (
            f"<AresResolver [{self.nameserver}] queries={self.queries} "
            f"channels={self.channels_opened}>"
        )


def _private_resolvconf(nameserver: Nameserver) -> str:
    fd, path = tempfile.mkstemp(prefix="fcrdns-resolv-", suffix=".conf")
    with os.fdopen(fd, "w") as handle:
        handle.write(f"nameserver {nameserver.address}\n")
    return path
