"""The fallback engine: c-ares through aiodns' public API.

Used when pycares' compiled binding is not what scanner/dns/cares_engine.py
expects (a pycares upgrade), or when `FCRDNS_DNS_ENGINE=aiodns` forces it. The
same single try per query as the fast engine, the same translation of answers
and error codes (scanner/dns/translate.py); about half the throughput (aiodns hands
every answer from c-ares' event thread to the loop, and pycares converts every
field of it into Python objects).

It cannot tell a referral from NODATA: aiodns reports a NOERROR response
without answers as an error, without its authority section. Names c-ares will
not encode are asked with exact bytes (scanner/dns/exactquery.py), as in the fast engine;
so are queries c-ares failed because a malformed packet came on their socket,
and their zone's later queries, as in the fast engine. It cannot read the
rcode: a success without records (an rcode c-ares does not know, or records
of types pycares cannot read) is a bad response, but an unknown rcode with
records is believed.

Its public API cannot turn off c-ares' answer cache, which keeps every answer
for its TTL with no size limit (1.5 KB an answer, measured). So a resolver is
retired after `QUERIES_PER_CHANNEL` queries and a new one made: the old one is
closed once its last query has ended, and memory stays flat.
"""

from __future__ import annotations

import aiodns
import pycares

from scanner.core.lookups import Nameserver, ZoneMemory
from scanner.core.names import normal_name
from scanner.core.verdict import Lookup
from scanner.dns.exactquery import exact_lookup, is_malformed
from scanner.dns.resolvconf import private_resolvconf
from scanner.dns.translate import (
    AnswerRecord,
    foreign_kind,
    lookup_from_answer,
    lookup_from_status,
)

QUERIES_PER_CHANNEL = 8192

# pycares record type -> (name, how to read the value from the record's data).
_READERS = {
    12: ("PTR", lambda data: normal_name(data.dname)),
    5: ("CNAME", lambda data: normal_name(data.cname)),
    2: ("NS", lambda data: normal_name(data.nsdname)),
    6: ("SOA", None),
    1: ("A", lambda data: data.addr),
    28: ("AAAA", lambda data: data.addr),
}


def _answer_records(result: pycares.DNSResult) -> list[AnswerRecord]:
    records = []
    for record in result.answer:
        known = _READERS.get(record.type)
        owner = normal_name(record.name)
        if known is not None and record.record_class == 1:  # IN
            kind, read = known
            records.append((kind, owner, owner if read is None else read(record.data)))
        else:
            records.append((foreign_kind(record.type, record.record_class), owner, ""))
    return records


class _Channel:
    """One aiodns resolver and the queries still waiting on it."""

    __slots__ = ("resolver", "used", "waiting")

    def __init__(self, resolver: aiodns.DNSResolver) -> None:
        self.resolver = resolver
        self.used = 0
        self.waiting = 0


class AiodnsResolver:
    """Sends each query once, to one nameserver, through aiodns."""

    engine = "c-ares (through aiodns, the fallback)"

    def __init__(
        self, nameserver: Nameserver, *, timeout: float = 2.0, resolvconf: str | None = None
    ) -> None:
        self.nameserver = nameserver
        self.timeout = timeout
        self.queries = 0
        self._resolvconf = resolvconf or private_resolvconf([nameserver])
        self._channel: _Channel | None = None
        self._retired: set[_Channel] = set()
        self.malformed_zones = ZoneMemory()
        self.asked_alone = 0

    def _open(self) -> _Channel:
        resolver = aiodns.DNSResolver(
            nameservers=[str(self.nameserver)],
            timeout=self.timeout,
            tries=1,
            udp_port=self.nameserver.port,
            tcp_port=self.nameserver.port,
            resolvconf_path=self._resolvconf,
        )
        return _Channel(resolver)

    async def lookup(self, name: str, rtype: str) -> Lookup:
        self.queries += 1
        if name in self.malformed_zones:
            return await self._alone(name, rtype)
        channel = self._channel
        if channel is None or channel.used >= QUERIES_PER_CHANNEL:
            if channel is not None:
                self._retired.add(channel)
            channel = self._channel = self._open()
        channel.used += 1
        channel.waiting += 1
        try:
            result = await channel.resolver.query_dns(name, rtype)
        except aiodns.error.DNSError as exc:
            if exc.args[0] == pycares.errno.ARES_EBADNAME:  # c-ares will not encode the name
                return await self._alone(name, rtype)
            if exc.args[0] == pycares.errno.ARES_EBADRESP:  # ours, or another's on its socket
                self.asked_alone += 1
                self.queries += 1
                return await self._alone(name, rtype)
            return lookup_from_status(exc.args[0])
        finally:
            channel.waiting -= 1
            if not channel.waiting and channel in self._retired:
                self._retired.discard(channel)
                await channel.resolver.close()
        return lookup_from_answer(name, rtype, _answer_records(result))

    async def lookup_patiently(self, name: str, rtype: str) -> Lookup:
        """One try with the whole timeout (see AresResolver.lookup_patiently)."""
        self.queries += 1
        return await self._alone(name, rtype)

    async def _alone(self, name: str, rtype: str) -> Lookup:
        lookup = await exact_lookup(self.nameserver, name, rtype, self.timeout)
        if is_malformed(lookup):
            self.malformed_zones.add(name)
        return lookup

    async def aclose(self) -> None:
        channels = [*self._retired, *([self._channel] if self._channel else [])]
        self._retired.clear()
        self._channel = None
        for channel in channels:
            await channel.resolver.close()

    def __repr__(self) -> str:
        return f"<AiodnsResolver [{self.nameserver}] queries={self.queries}>"
