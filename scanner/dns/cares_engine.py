"""The fast engine: c-ares through the CFFI binding that pycares compiles.

The only module that touches pycares' internals (`pycares._cares`). The hot
path calls c-ares through it instead of through aiodns and pycares' Python
layer. Measured against Knot on loopback (benchmarks/PROFILING.md, section 6),
that layer cost more than c-ares itself: pycares converts every answer into
Python objects, every section and every field (about 15 microseconds a query),
and it cannot turn off c-ares' answer cache (about 12 microseconds a query, and
memory that grows with the scan). A scan asks each question once, so the cache
only costs. Here the channel is made with the cache off, the answer section is
read for just the record types the scanner uses, and the running asyncio loop
watches c-ares' sockets directly.

The binding's declarations, and reading answers out of c-ares' records, are in
scanner/dns/cares_binding.py; importing it fails (`BindingChanged`) when pycares
changed them, and scanner/dns/engines.py then falls back to aiodns.

Answers are checked before they are believed (scanner/dns/translate.py): an rcode
c-ares passes as success without knowing it (YXDOMAIN, NOTAUTH...) is a bad
response, and so is an answer section whose records do not answer the question.

c-ares fails every query waiting on a socket when one malformed packet arrives
on it (it closes the connection: ares_process.c, read_answers). Such a query
(ARES_EBADRESP) is asked again at once, alone on a socket of its own
(scanner/dns/exactquery.py), and not charged as an attempt: only the query the
packet answered gets the error. Its zone is then remembered, and that zone's
later queries go the same way, so one broken zone cannot keep failing the
others. The re-asks are not paced by the rate limiter: they stand in for
answers that were lost, at most the queries in flight when the packet came.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pycares
from pycares.utils import parse_name

from scanner.core.lookups import Nameserver, ZoneMemory
from scanner.core.verdict import Lookup
from scanner.dns.cares_binding import QUERY_TYPES, answer_records, ffi, lib, rcode_of
from scanner.dns.exactquery import exact_lookup, is_malformed
from scanner.dns.resolvconf import private_resolvconf
from scanner.dns.translate import (
    ares_strerror,
    lookup_from_answer,
    lookup_from_status,
    no_answer,
    unexpected_rcode,
)

# --- a c-ares channel driven by the asyncio loop ----------------------------

# Every query waiting for c-ares, by the handle c-ares hands back to the
# callback: keeps the handle alive and finds the future, the question and the
# resolver that sent it again.
_waiting: dict[object, tuple[asyncio.Future[Lookup], str, str, AresResolver]] = {}


@ffi.callback("void(*)(void *, ares_status_t, size_t, struct ares_dns_record *)")  # type: ignore[untyped-decorator]  # cffi has no types
def _on_answer(handle: Any, status: int, timeouts: int, dnsrec: Any) -> None:
    # Called from inside c-ares (process_fd, query or destroy). An exception
    # here could not propagate, and would leave the query waiting forever, so
    # every outcome, a bug included, settles the future. The future may be
    # done already: cancelled, or settled by a second copy of the query (a hedge).
    waiting = _waiting.pop(handle, None)
    if waiting is None or waiting[0].done():
        return
    future, name, rtype, resolver = waiting
    try:
        if status == _NO_DATA and dnsrec != ffi.NULL:  # or a referral: the authority tells
            authority = answer_records(dnsrec, lib.ARES_SECTION_AUTHORITY, foreign=False)
            future.set_result(no_answer(authority))
        elif status == _MALFORMED:  # this query's answer, or another's on the same socket
            resolver.ask_alone(future, name, rtype)
        elif status:
            future.set_result(lookup_from_status(status))
        elif rcode := rcode_of(dnsrec):  # c-ares passes any rcode it does not know as success
            future.set_result(unexpected_rcode(rcode))
        else:
            future.set_result(lookup_from_answer(name, rtype, answer_records(dnsrec)))
    except Exception as exc:
        future.set_exception(exc)


@ffi.callback("void(*)(void *, int32_t, int, int)")  # type: ignore[untyped-decorator]  # cffi has no types
def _on_socket_state(handle: Any, fd: int, readable: int, writable: int) -> None:
    ffi.from_handle(handle).socket_state(fd, bool(readable), bool(writable))


# ares.h: option flags whose fields pycares 5 declares (qcache_max_ttl,
# udp_max_queries, maxtimeout) but whose flags it does not; the values are part
# of c-ares' stable ABI.
_OPT_UDP_MAX_QUERIES = 1 << 19
_OPT_MAXTIMEOUTMS = 1 << 20
_OPT_QUERY_CACHE = 1 << 21
_SOCKET_BAD = -1
_NO_DATA = pycares.errno.ARES_ENODATA
_MALFORMED = pycares.errno.ARES_EBADRESP
# c-ares will not encode the name (outside host-name syntax): scanner/dns/exactquery.py asks it.
_BAD_NAME = pycares.errno.ARES_EBADNAME

# Each UDP socket's receive buffer. The kernel's default (about 208 KB) holds
# about 256 answers: with thousands of queries in flight over a slow path,
# answers that arrive while the loop is busy overflowed it, and every dropped
# answer became a timeout (measured: benchmarks/PROFILING.md, section 9). The
# kernel caps the request at net.core.rmem_max.
RECEIVE_BUFFER = 4 << 20
# c-ares opens a new UDP socket (a new source port) after this many queries:
# more buffers to spread a burst of answers over, and an attacker spoofing
# answers has to guess the port as well as the 16-bit ID.
QUERIES_PER_SOCKET = 2048
# Timed-out queries are expired in batches at least this far apart.
EXPIRY_BATCH = 0.005


class _LoopChannel:
    """One c-ares channel whose sockets the running asyncio loop watches.

    No c-ares event thread: answers are read and delivered on the loop's own
    thread, as the loop's selector reports a socket readable. While any socket
    is open, a timer set to c-ares' next query deadline lets it expire
    timed-out queries.
    """

    def __init__(self, nameserver: Nameserver, timeout: float, resolvconf: str) -> None:
        self._loop = asyncio.get_running_loop()
        self._readers: set[int] = set()
        self._writers: set[int] = set()
        self._tick = min(timeout / 4, 0.25)
        self._timer: asyncio.TimerHandle | None = None
        self._timeval = ffi.new("struct timeval *")
        self._self_handle = ffi.new_handle(self)
        options = ffi.new("struct ares_options *")
        options.timeout = int(timeout * 1000)
        options.tries = 1
        # resolv.conf has no port syntax; this keeps even a reload on the right port.
        options.udp_port = options.tcp_port = nameserver.port
        options.sock_state_cb = _on_socket_state
        options.sock_state_cb_data = self._self_handle
        resolvconf_path = ffi.new("char[]", resolvconf.encode())
        options.resolvconf_path = resolvconf_path
        options.qcache_max_ttl = 0
        options.socket_receive_buffer_size = RECEIVE_BUFFER
        options.udp_max_queries = QUERIES_PER_SOCKET
        # c-ares times a query out at five times the server's average latency
        # (at least 250 ms); `timeout` is the first query's and the upper bound.
        options.maxtimeout = int(timeout * 1000)
        # Keep an idle socket open. Without STAYOPEN c-ares closes a UDP socket
        # as soon as no query waits on it, so a rate-limited scan (a query or
        # two in flight) opened a socket, connected it and set its 4 MB buffer
        # for nearly every query: 112 us of each query's send, measured at
        # --rate 1500 (issue 23). The socket still changes every
        # QUERIES_PER_SOCKET queries. EDNS is c-ares' default, kept.
        options.flags = lib.ARES_FLAG_EDNS | lib.ARES_FLAG_STAYOPEN
        mask = (
            lib.ARES_OPT_TIMEOUTMS
            | lib.ARES_OPT_TRIES
            | lib.ARES_OPT_UDP_PORT
            | lib.ARES_OPT_TCP_PORT
            | lib.ARES_OPT_SOCK_STATE_CB
            | lib.ARES_OPT_RESOLVCONF
            | lib.ARES_OPT_SOCK_RCVBUF
            | lib.ARES_OPT_FLAGS
            | _OPT_UDP_MAX_QUERIES
            | _OPT_MAXTIMEOUTMS
            | _OPT_QUERY_CACHE
        )
        pointer = ffi.new("ares_channel *")
        status = lib.ares_init_options(pointer, options, mask)
        if status != 0:
            raise OSError(f"c-ares channel: {ares_strerror(status)}")
        self._channel = pointer[0]
        status = lib.ares_set_servers_csv(self._channel, str(nameserver).encode())
        if status != 0:
            lib.ares_destroy(self._channel)
            raise OSError(f"c-ares nameserver {nameserver}: {ares_strerror(status)}")

    def query(self, name: str, rtype: str, resolver: AresResolver) -> asyncio.Future[Lookup] | None:
        """Send one query; the future's result is its `Lookup`. None: c-ares cannot encode it."""
        future: asyncio.Future[Lookup] = self._loop.create_future()
        handle = ffi.new_handle(future)
        _waiting[handle] = (future, name, rtype, resolver)
        status = lib.ares_query_dnsrec(
            self._channel, parse_name(name), lib.ARES_CLASS_IN, QUERY_TYPES[rtype], _on_answer,
            handle, ffi.NULL,
        )  # fmt: skip
        if status == _BAD_NAME:
            _waiting.pop(handle, None)
            return None
        if status != 0 and not future.done():  # failed before sending, without a callback
            _waiting.pop(handle, None)
            future.set_result(lookup_from_status(status))
        return future

    def socket_state(self, fd: int, readable: bool, writable: bool) -> None:
        loop = self._loop
        if readable and fd not in self._readers:
            loop.add_reader(fd, lib.ares_process_fd, self._channel, fd, _SOCKET_BAD)
            self._readers.add(fd)
        elif not readable and fd in self._readers:
            loop.remove_reader(fd)
            self._readers.discard(fd)
        if writable and fd not in self._writers:
            loop.add_writer(fd, lib.ares_process_fd, self._channel, _SOCKET_BAD, fd)
            self._writers.add(fd)
        elif not writable and fd in self._writers:
            loop.remove_writer(fd)
            self._writers.discard(fd)
        if (self._readers or self._writers) and self._timer is None:
            self._timer = loop.call_later(self._next_expiry(), self._expire)

    def _expire(self) -> None:
        self._timer = None
        lib.ares_process_fd(self._channel, _SOCKET_BAD, _SOCKET_BAD)
        if (self._readers or self._writers) and self._timer is None:
            self._timer = self._loop.call_later(self._next_expiry(), self._expire)

    def _next_expiry(self) -> float:
        """Seconds until c-ares' earliest query deadline, within [EXPIRY_BATCH, tick].

        A lost query is retried only once c-ares has timed it out, so a timer
        that woke on a fixed tick added up to a tick (250 ms) to every loss's
        wait. The tick still bounds the wait, for queries sent later with a
        shorter (adapted) timeout than the earliest one's.
        """
        deadline = lib.ares_timeout(self._channel, ffi.NULL, self._timeval)
        if deadline == ffi.NULL:
            return self._tick
        seconds: float = deadline.tv_sec + deadline.tv_usec / 1e6
        return min(max(seconds, EXPIRY_BATCH), self._tick)

    def close(self) -> None:
        """Destroy the channel: queries still waiting end with ARES_EDESTRUCTION."""
        if self._channel is None:
            return
        channel, self._channel = self._channel, None
        lib.ares_destroy(channel)  # closes its sockets through socket_state()
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
    layer, so c-ares makes a single try. c-ares is pointed at the process's
    private resolv.conf, naming only the scan's nameservers, so that even a
    configuration reload could never send a query elsewhere. `timeout` is the first try's
    timeout; c-ares then adapts it to five times the server's measured average
    latency (at least 250 ms). The channel is opened on the first lookup, on
    the running loop.
    """

    engine = "c-ares (compiled binding)"

    def __init__(
        self, nameserver: Nameserver, *, timeout: float = 2.0, resolvconf: str | None = None
    ) -> None:
        self.nameserver = nameserver
        self.timeout = timeout
        self.queries = 0
        self._resolvconf = resolvconf or private_resolvconf([nameserver])
        self._channel: _LoopChannel | None = None
        self._exact: set[asyncio.Task[Lookup]] = set()
        # Zones whose answers were malformed: their queries go alone (exactquery).
        self.malformed_zones = ZoneMemory()
        self.asked_alone = 0  # queries asked again alone after c-ares failed their socket

    async def lookup(self, name: str, rtype: str) -> Lookup:
        return await self.send(name, rtype)

    def send(self, name: str, rtype: str) -> asyncio.Future[Lookup]:
        """Send the query now; the future is its `Lookup`.

        Without a coroutine, so the retry layer can wait for it and, when it
        seems lost, for a second copy (scanner/dns/retry.py, hedging) at once.
        """
        self.queries += 1
        if name in self.malformed_zones:
            return self._exactly(name, rtype)
        channel = self._channel
        if channel is None:
            channel = self._channel = _LoopChannel(self.nameserver, self.timeout, self._resolvconf)
        future = channel.query(name, rtype, self)
        if future is None:
            return self._exactly(name, rtype)
        return future

    def send_patiently(self, name: str, rtype: str) -> asyncio.Future[Lookup]:
        """Send one try that waits the whole timeout, whatever the server's latency has been.

        c-ares times a query out at five times the server's mean latency: a
        zone much slower than the rest would never get an answer through it.
        A plain future, as `send()`'s, so the retry layer can hedge it.
        """
        self.queries += 1
        return self._exactly(name, rtype)

    async def lookup_patiently(self, name: str, rtype: str) -> Lookup:
        return await self.send_patiently(name, rtype)

    def _exactly(self, name: str, rtype: str) -> asyncio.Future[Lookup]:
        """The query asked alone (scanner/dns/exactquery.py); a plain future, which the
        retry layer may settle with a hedged copy's answer (a task could not be)."""
        future: asyncio.Future[Lookup] = asyncio.get_running_loop().create_future()
        self._settle_with_answer_alone(future, name, rtype)
        return future

    async def _alone(self, name: str, rtype: str) -> Lookup:
        lookup = await exact_lookup(self.nameserver, name, rtype, self.timeout)
        if is_malformed(lookup):
            self.malformed_zones.add(name)
        return lookup

    def ask_alone(self, future: asyncio.Future[Lookup], name: str, rtype: str) -> None:
        """Settle `future` with the answer to its question asked again, alone.

        For a query c-ares failed because a malformed packet came on its
        socket: the packet may have answered any query on that socket.
        """
        self.asked_alone += 1
        self.queries += 1
        self._settle_with_answer_alone(future, name, rtype)

    def _settle_with_answer_alone(
        self, future: asyncio.Future[Lookup], name: str, rtype: str
    ) -> None:
        task = asyncio.ensure_future(self._alone(name, rtype))
        self._exact.add(task)  # ended with the resolver, as c-ares' own queries are
        task.add_done_callback(self._exact.discard)

        def settle(task: asyncio.Task[Lookup]) -> None:
            if future.done():
                return
            if task.cancelled():
                future.cancel()
            elif (error := task.exception()) is not None:
                future.set_exception(error)
            else:
                future.set_result(task.result())

        task.add_done_callback(settle)
        future.add_done_callback(lambda _: task.cancel() if future.cancelled() else None)

    async def aclose(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        for task in list(self._exact):
            task.cancel()

    def __repr__(self) -> str:
        return f"<AresResolver [{self.nameserver}] queries={self.queries}>"
