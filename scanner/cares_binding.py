"""DNS lookups through c-ares: the only module that imports pycares, its binding.

c-ares results and error codes become `Lookup` values here, by one table, so the
rest of the scanner never sees a DNS library's types or error codes.

The hot path calls c-ares through the CFFI module that pycares compiles
(`pycares._cares`) instead of through aiodns and pycares' Python layer. Measured
against Knot on loopback (benchmarks/PROFILING.md, section 6), that layer cost
more than c-ares itself: pycares converts every answer into Python objects,
every section and every field (about 15 microseconds a query), and it cannot
turn off c-ares' answer cache (about 12 microseconds a query, and memory that
grows with the scan). A scan asks each question once, so the cache only costs.
Here the channel is made with the cache off, the answer section is read for
just the record types the scanner uses, and the running asyncio loop watches
c-ares' sockets directly.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

import pycares
from pycares import _cares
from pycares.utils import parse_name

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

_ffi, _lib = _cares.ffi, _cares.lib

# The record types the scanner asks for, by name and by c-ares code.
QUERY_TYPES = {
    "PTR": _lib.ARES_REC_TYPE_PTR,
    "A": _lib.ARES_REC_TYPE_A,
    "AAAA": _lib.ARES_REC_TYPE_AAAA,
    "NS": _lib.ARES_REC_TYPE_NS,
    "SOA": _lib.ARES_REC_TYPE_SOA,
}

# One answer record as the scanner reads it: (type, owner name, value). The
# value is the target name for PTR, CNAME and NS, the address text for A and
# AAAA, and the owner again for SOA (the zone apex is all a SOA tells us here).
AnswerRecord = tuple[str, str, str]


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


def lookup_from_answer(qname: str, rtype: str, answer: Sequence[AnswerRecord]) -> Lookup:
    """Turn the answer section of a NOERROR response into a `Lookup`.

    Follows the CNAME chain inside the answer from `qname` (as RFC 2317 classless
    reverse delegation does for PTR) and keeps every record of the asked type
    owned by its last name: all PTR names, not only the first; addresses; NS
    names; for SOA, the apex. When the chain leaves the answer, `records` is
    empty and `cnames` says where to go on.
    """
    current = _normal(qname)
    values: list[str] = []
    for kind, owner, value in answer:  # the usual answer: no CNAME, one record
        if kind == "CNAME":
            return _follow_aliases(current, rtype, answer)
        if kind == rtype and owner == current and value not in values:
            values.append(value)
    return Lookup(Outcome.ANSWER, tuple(values)) if values else Lookup(Outcome.NODATA)


def _follow_aliases(current: str, rtype: str, answer: Sequence[AnswerRecord]) -> Lookup:
    cnames: list[str] = []
    aliases = {owner: value for kind, owner, value in answer if kind == "CNAME"}
    while current in aliases and len(cnames) < 16:
        current = aliases[current]
        cnames.append(current)
    values = tuple(
        dict.fromkeys(value for kind, owner, value in answer if kind == rtype and owner == current)
    )
    if not values and not cnames:
        return Lookup(Outcome.NODATA)
    return Lookup(Outcome.ANSWER, values, tuple(cnames))


def lookup_from_status(code: int) -> Lookup:
    """The `Lookup` for a c-ares failure code."""
    outcome = ARES_OUTCOMES.get(code, Outcome.OTHER_ERROR)
    detail = "" if outcome in (Outcome.NXDOMAIN, Outcome.NODATA) else pycares.errno.strerror(code)
    return Lookup(outcome, detail=detail)


def system_nameservers() -> tuple[Nameserver, ...]:
    """The nameservers of the system resolver configuration, as c-ares reads it."""
    channel = pycares.Channel()
    try:
        return tuple(Nameserver.parse(server) for server in channel.servers)
    finally:
        channel.close()


# --- reading answers out of c-ares' parsed record --------------------------


def _text(pointer) -> str:
    # c-ares escapes anything unprintable in names (\DDD), so this is ASCII.
    return _ffi.string(pointer).decode("ascii", "replace")


def _name_field(key: int):
    return lambda rr: _normal(_text(_lib.ares_dns_rr_get_str(rr, key)))


def _address_field(family: int, getter, key: int, size: int):
    return lambda rr: socket.inet_ntop(family, _ffi.buffer(getter(rr, key), size)[:])


_FIELD_READERS = {
    _lib.ARES_REC_TYPE_PTR: ("PTR", _name_field(_lib.ARES_RR_PTR_DNAME)),
    _lib.ARES_REC_TYPE_CNAME: ("CNAME", _name_field(_lib.ARES_RR_CNAME_CNAME)),
    _lib.ARES_REC_TYPE_NS: ("NS", _name_field(_lib.ARES_RR_NS_NSDNAME)),
    _lib.ARES_REC_TYPE_SOA: ("SOA", None),
    _lib.ARES_REC_TYPE_A: (
        "A",
        _address_field(socket.AF_INET, _lib.ares_dns_rr_get_addr, _lib.ARES_RR_A_ADDR, 4),
    ),
    _lib.ARES_REC_TYPE_AAAA: (
        "AAAA",
        _address_field(socket.AF_INET6, _lib.ares_dns_rr_get_addr6, _lib.ARES_RR_AAAA_ADDR, 16),
    ),
}


def _answer_records(dnsrec) -> list[AnswerRecord]:
    """The answer section's records of the types the scanner reads; others are skipped."""
    section = _lib.ARES_SECTION_ANSWER
    records = []
    for index in range(_lib.ares_dns_record_rr_cnt(dnsrec, section)):
        rr = _lib.ares_dns_record_rr_get_const(dnsrec, section, index)
        known = _FIELD_READERS.get(_lib.ares_dns_rr_get_type(rr))
        if known is not None:
            kind, read = known
            owner = _normal(_text(_lib.ares_dns_rr_get_name(rr)))
            records.append((kind, owner, owner if read is None else read(rr)))
    return records


# --- a c-ares channel driven by the asyncio loop ----------------------------

# Every query waiting for c-ares, by the handle c-ares hands back to the
# callback: keeps the handle alive and finds the future again.
_waiting: dict[object, asyncio.Future] = {}


@_ffi.callback("void(void *, ares_status_t, size_t, struct ares_dns_record *)")
def _on_answer(handle, status, timeouts, dnsrec) -> None:
    # Called from inside c-ares (process_fd, query or destroy). An exception
    # here could not propagate, and would leave the query waiting forever, so
    # every outcome, a bug included, settles the future.
    future = _waiting.pop(handle, None)
    if future is None or future.done():
        return
    try:
        future.set_result((status, _answer_records(dnsrec) if status == 0 else None))
    except Exception as exc:
        future.set_exception(exc)


@_ffi.callback("void(void *, int32_t, int, int)")
def _on_socket_state(handle, fd, readable, writable) -> None:
    _ffi.from_handle(handle).socket_state(fd, bool(readable), bool(writable))


# ares.h: ARES_OPT_QUERY_CACHE. pycares 5 declares the option's field
# (qcache_max_ttl) but not its flag; the value is part of c-ares' stable ABI.
_OPT_QUERY_CACHE = 1 << 21
_SOCKET_BAD = -1


class _LoopChannel:
    """One c-ares channel whose sockets the running asyncio loop watches.

    No c-ares event thread: answers are read and delivered on the loop's own
    thread, as the loop's selector reports a socket readable. A periodic tick
    lets c-ares expire timed-out queries while any socket is open.
    """

    def __init__(self, nameserver: Nameserver, timeout: float, resolvconf: str) -> None:
        self._loop = asyncio.get_running_loop()
        self._readers: set[int] = set()
        self._writers: set[int] = set()
        self._tick = min(timeout / 4, 0.25)
        self._timer: asyncio.TimerHandle | None = None
        self._self_handle = _ffi.new_handle(self)
        options = _ffi.new("struct ares_options *")
        options.timeout = int(timeout * 1000)
        options.tries = 1
        # resolv.conf has no port syntax; this keeps even a reload on the right port.
        options.udp_port = options.tcp_port = nameserver.port
        options.sock_state_cb = _on_socket_state
        options.sock_state_cb_data = self._self_handle
        resolvconf_path = _ffi.new("char[]", resolvconf.encode())
        options.resolvconf_path = resolvconf_path
        options.qcache_max_ttl = 0
        mask = (
            _lib.ARES_OPT_TIMEOUTMS
            | _lib.ARES_OPT_TRIES
            | _lib.ARES_OPT_UDP_PORT
            | _lib.ARES_OPT_TCP_PORT
            | _lib.ARES_OPT_SOCK_STATE_CB
            | _lib.ARES_OPT_RESOLVCONF
            | _OPT_QUERY_CACHE
        )
        pointer = _ffi.new("ares_channel *")
        status = _lib.ares_init_options(pointer, options, mask)
        if status != 0:
            raise OSError(f"c-ares channel: {pycares.errno.strerror(status)}")
        self._channel = pointer[0]
        status = _lib.ares_set_servers_csv(self._channel, str(nameserver).encode())
        if status != 0:
            _lib.ares_destroy(self._channel)
            raise OSError(f"c-ares nameserver {nameserver}: {pycares.errno.strerror(status)}")

    def query(self, name: str, qtype: int) -> asyncio.Future:
        """Send one query; the future's result is (status, answer records or None)."""
        future = self._loop.create_future()
        handle = _ffi.new_handle(future)
        _waiting[handle] = future
        status = _lib.ares_query_dnsrec(
            self._channel, parse_name(name), _lib.ARES_CLASS_IN, qtype, _on_answer, handle,
            _ffi.NULL,
        )  # fmt: skip
        if status != 0 and not future.done():  # failed before sending, without a callback
            _waiting.pop(handle, None)
            future.set_result((status, None))
        return future

    def socket_state(self, fd: int, readable: bool, writable: bool) -> None:
        loop = self._loop
        if readable and fd not in self._readers:
            loop.add_reader(fd, _lib.ares_process_fd, self._channel, fd, _SOCKET_BAD)
            self._readers.add(fd)
        elif not readable and fd in self._readers:
            loop.remove_reader(fd)
            self._readers.discard(fd)
        if writable and fd not in self._writers:
            loop.add_writer(fd, _lib.ares_process_fd, self._channel, _SOCKET_BAD, fd)
            self._writers.add(fd)
        elif not writable and fd in self._writers:
            loop.remove_writer(fd)
            self._writers.discard(fd)
        if (self._readers or self._writers) and self._timer is None:
            self._timer = loop.call_later(self._tick, self._expire)

    def _expire(self) -> None:
        self._timer = None
        _lib.ares_process_fd(self._channel, _SOCKET_BAD, _SOCKET_BAD)
        if (self._readers or self._writers) and self._timer is None:
            self._timer = self._loop.call_later(self._tick, self._expire)

    def close(self) -> None:
        """Destroy the channel: queries still waiting end with ARES_EDESTRUCTION."""
        if self._channel is None:
            return
        channel, self._channel = self._channel, None
        _lib.ares_destroy(channel)  # closes its sockets through socket_state()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for fd in self._readers:
            self._loop.remove_reader(fd)
        for fd in self._writers:
            self._loop.remove_writer(fd)
        self._readers.clear()
        self._writers.clear()


class AresResolver:
    """Sends each query once, to one nameserver, with c-ares.

    Retries, pacing and the choice between nameservers belong to the retry
    layer, so c-ares makes a single try. c-ares is pointed at a private
    resolv.conf naming only this nameserver, so that even a configuration
    reload could never send a query elsewhere. `timeout` is the first try's
    timeout; c-ares then adapts it to five times the server's measured average
    latency (at least 250 ms). The channel is opened on the first lookup, on
    the running loop.
    """

    def __init__(self, nameserver: Nameserver, *, timeout: float = 2.0) -> None:
        self.nameserver = nameserver
        self.timeout = timeout
        self.queries = 0
        self._resolvconf: str | None = _private_resolvconf(nameserver)
        self._channel: _LoopChannel | None = None

    async def lookup(self, name: str, rtype: str) -> Lookup:
        self.queries += 1
        channel = self._channel
        if channel is None:
            channel = self._channel = _LoopChannel(self.nameserver, self.timeout, self._resolvconf)
        status, records = await channel.query(name, QUERY_TYPES[rtype])
        if status:
            return lookup_from_status(status)
        return lookup_from_answer(name, rtype, records)

    async def aclose(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._resolvconf:
            os.unlink(self._resolvconf)
            self._resolvconf = None

    def __repr__(self) -> str:
        return f"<AresResolver [{self.nameserver}] queries={self.queries}>"


def _private_resolvconf(nameserver: Nameserver) -> str:
    fd, path = tempfile.mkstemp(prefix="fcrdns-resolv-", suffix=".conf")
    with os.fdopen(fd, "w") as handle:
        handle.write(f"nameserver {nameserver.address}\n")
    return path
