"""What a reverse zone's own name servers say, one by one (--check-authoritative). Pure.

A recursive resolver asks one of a zone's name servers and believes it. When
the servers disagree (a secondary that missed the last zone update: an older
SOA serial, a PTR record missing or different), the answer a mail server
gets depends on which one its resolver picked, and the bounce comes and goes.
So each server is asked directly: its SOA serial once per zone, and every
address's PTR. A server that does not answer its zone's SOA with authority
(it times out, refuses, or answers without the AA bit) is lame: it is listed
per zone and left out of the comparison, since resolvers that ask it get no
usable answer at all, not a different one. An address this host has no route
to (an IPv6 server, from a host without IPv6) is neither serving nor lame but
`unchecked`: left out too, and listed apart, as the server may be fine.

Where the questions go is decided here, not by the zone: NS records and their
addresses come from a stranger's zone, which could point them at any host
(this one's loopback, an internal network). Only global unicast addresses
are asked unless the operator admits others (`--authoritative-allow CIDR`),
and at most `MAX_NAMESERVERS` names and `MAX_ADDRESSES` addresses per zone;
the rest are `unchecked`, with the reason.

Everything here is data; `scanner/scan/authcheck.py` asks the questions. Names
are kept as `scanner.core.names.present()` writes them: they come from outside.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scanner.core.names import present
from scanner.core.status import Outcome

# (type, owner, value) as the engines read records.
Record = tuple[str, str, str]

# Per zone, the name servers and server addresses asked directly. Real zones
# have two to six name servers (RFC 2182 asks for at least two), each with an
# address or two; a zone listing more is asking us to spray packets.
MAX_NAMESERVERS = 8
MAX_ADDRESSES = 16

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(texts: Sequence[str]) -> tuple[Network, ...]:
    """`--authoritative-allow` CIDRs as networks (host bits may be set)."""
    return tuple(ipaddress.ip_network(text, strict=False) for text in texts)


def refusal(address: str, allowed: Sequence[Network]) -> str:
    """Why a zone's name server address must not be asked directly; '' if it may be.

    Global unicast addresses may be; others (loopback, RFC 1918 and other
    private ranges, link-local, multicast, reserved, documentation and
    benchmarking ranges) only inside an `allowed` network.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not asked: not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(ip.version == network.version and ip in network for network in allowed):
        return ""
    if ip.is_multicast:
        kind = "a multicast"
    elif ip.is_loopback:
        kind = "a loopback"
    elif ip.is_link_local:
        kind = "a link-local"
    elif ip.is_unspecified:
        kind = "the unspecified"
    elif ip.is_reserved:
        kind = "a reserved"
    elif ip.is_global:
        return ""
    else:
        kind = "a private or special-purpose"
    return f"not asked: {kind} address (--authoritative-allow admits it)"


@dataclass(frozen=True, slots=True)
class DirectReply:
    """One name server's reply to one non-recursive question."""

    outcome: Outcome
    records: tuple[Record, ...] = ()
    authoritative: bool = False  # the AA bit
    serial: int | None = None  # of the SOA in the answer, if any
    detail: str = ""
    no_route: bool = False  # this host has no route to the server: nothing was sent


def lame_reason(reply: DirectReply) -> str:
    """Why a server's reply to its zone's SOA shows it does not serve the zone; '' if it does."""
    if reply.outcome is Outcome.ANSWER and reply.authoritative and reply.serial is not None:
        return ""
    if reply.outcome in (Outcome.ANSWER, Outcome.NODATA, Outcome.NXDOMAIN, Outcome.REFERRAL):
        if not reply.authoritative:
            return "answers without authority"
        return "no SOA record for the zone"
    if reply.outcome is Outcome.TIMEOUT:
        return "timeout"
    if reply.outcome is Outcome.NETWORK_ERROR:
        return f"unreachable: {reply.detail}" if reply.detail else "unreachable"
    return reply.outcome.value.replace("_", " ")  # refused, servfail, bad response...


@dataclass(frozen=True, slots=True)
class ServerState:
    """One address of one of a zone's name servers, as its SOA query found it."""

    label: str  # the NS name as shown; with @address when the name has several
    address: str
    serial: int | None = None
    lame: str = ""  # why it does not serve the zone; '' if it does
    # Why this host could not ask it (no route from here: an IPv6 address on a
    # host without IPv6). Neither serving nor lame: not known.
    unchecked: str = ""


def server_state(label: str, address: str, reply: DirectReply) -> ServerState:
    """What a server's reply to its zone's SOA makes of it: serving, lame, or not asked."""
    if reply.no_route:
        return ServerState(
            label,
            address,
            unchecked=f"not asked: no route from this host ({reply.detail}); run the check "
            "from a host that can reach it",
        )
    return ServerState(label, address, reply.serial, lame_reason(reply))


@dataclass(frozen=True, slots=True)
class ZoneHealth:
    apex: str  # as shown (present())
    servers: tuple[ServerState, ...]

    @property
    def serving(self) -> tuple[ServerState, ...]:
        return tuple(s for s in self.servers if not s.lame and not s.unchecked)

    @property
    def in_sync(self) -> bool:
        """Every serving server has the same serial."""
        return len({server.serial for server in self.serving}) <= 1

    @property
    def lame(self) -> tuple[ServerState, ...]:
        return tuple(server for server in self.servers if server.lame)

    @property
    def unchecked(self) -> tuple[ServerState, ...]:
        return tuple(server for server in self.servers if server.unchecked)

    def serials_text(self) -> str:
        return ";".join(f"{s.label}={s.serial}" for s in self.serving)

    def lame_text(self) -> str:
        return ";".join(f"{s.label}={s.lame}" for s in self.lame)


def server_labels(addresses: Sequence[tuple[str, str]]) -> list[str]:
    """How each (NS name, address) is shown: the name, or name@address when it has several."""
    per_name: dict[str, int] = {}
    for name, _ in addresses:
        per_name[name] = per_name.get(name, 0) + 1
    return [
        present(name) if per_name[name] == 1 else f"{present(name)}@{address}"
        for name, address in addresses
    ]


# What a server says about a name, when it answers: compared and shown as is.
_SAID = {
    Outcome.NXDOMAIN: "NXDOMAIN",
    Outcome.NODATA: "NODATA",
    Outcome.REFERRAL: "referral",
}


def said(reply: DirectReply) -> tuple[str, bool]:
    """What a server's reply says about a PTR name, and whether it is an answer.

    An answer is its PTR names (sorted, space-separated), or a CNAME's target,
    NXDOMAIN, NODATA or a referral. A failure (timeout, SERVFAIL...) is no
    answer: it is shown, but never counted as a disagreement.
    """
    if reply.outcome is Outcome.ANSWER:
        ptrs = sorted({value for kind, _, value in reply.records if kind == "PTR"})
        if ptrs:
            return " ".join(map(present, ptrs)), True
        cnames = [value for kind, _, value in reply.records if kind == "CNAME"]
        return (f"CNAME {present(cnames[0])}" if cnames else "NODATA"), True
    if reply.outcome in _SAID:
        return _SAID[reply.outcome], True
    return reply.outcome.value.upper(), False


@dataclass(frozen=True, slots=True)
class ZoneOwner:
    """The reverse zone that serves a PTR, and that zone's name servers (--zone-owner)."""

    apex: str
    nameservers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AuthorityCheck:
    """What each serving name server of the PTR's zone says about one address."""

    zone: ZoneHealth
    answers: tuple[tuple[str, str], ...]  # (server label, what it said)
    # True: every server answered alike; False: two answers differ; None: no
    # two answers to compare, or some server failed while the rest agreed.
    consistent: bool | None

    def answers_text(self) -> str:
        return ";".join(f"{label}={text}" for label, text in self.answers)

    def differing(self) -> list[tuple[str, str]]:
        """The answers that are not the most common one (the odd ones out)."""
        counts: dict[str, int] = {}
        for _, text in self.answers:
            counts[text] = counts.get(text, 0) + 1
        common = max(counts, key=lambda text: (counts[text], text != "NXDOMAIN"))
        return [(label, text) for label, text in self.answers if text != common]


def agreement(replies: Sequence[tuple[str, DirectReply]], zone: ZoneHealth) -> AuthorityCheck:
    """Compare the replies of a zone's serving servers to one PTR question."""
    answers, known, failed = [], set(), False
    for label, reply in replies:
        text, is_answer = said(reply)
        answers.append((label, text))
        if is_answer:
            known.add(text)
        else:
            failed = True
    consistent: bool | None
    if len(known) > 1:
        consistent = False
    elif failed or not known:
        consistent = None
    else:
        consistent = True
    return AuthorityCheck(zone, tuple(answers), consistent)


# Zones listed by name in the text summary; --summary JSON has them all.
TEXT_ZONES = 10


@dataclass(slots=True)
class AuthorityReport:
    """Per zone: its servers' serials and the lame ones; the direct queries made."""

    zones: dict[str, ZoneHealth] = field(default_factory=dict)
    queries: int = 0  # sent to the zones' own servers
    address_lookups: int = 0  # A/AAAA of their names, through the resolvers

    def add(self, other: AuthorityReport) -> None:
        """Another process's report (each surveyed the zones it met)."""
        self.zones.update(other.zones)
        self.queries += other.queries
        self.address_lookups += other.address_lookups

    def as_dict(self) -> dict[str, Any]:
        return {
            "queries": self.queries,
            "address_lookups": self.address_lookups,
            "zones_out_of_sync": sum(not zone.in_sync for zone in self.zones.values()),
            "zones_with_lame_servers": sum(bool(zone.lame) for zone in self.zones.values()),
            "server_addresses_unchecked": len(self.unchecked_servers()),
            "zones": {
                apex: {
                    "in_sync": zone.in_sync,
                    "servers": [
                        {
                            "server": server.label,
                            "address": server.address or None,
                            "serial": server.serial,
                            "lame": server.lame or None,
                            "unchecked": server.unchecked or None,
                        }
                        for server in zone.servers
                    ],
                }
                for apex, zone in sorted(self.zones.items())
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuthorityReport:
        zones = {
            apex: ZoneHealth(
                apex,
                tuple(
                    ServerState(
                        s["server"],
                        s["address"] or "",
                        s["serial"],
                        s["lame"] or "",
                        s.get("unchecked") or "",
                    )
                    for s in entry["servers"]
                ),
            )
            for apex, entry in data["zones"].items()
        }
        return cls(zones, data["queries"], data["address_lookups"])

    def unchecked_servers(self) -> dict[str, str]:
        """Server (its address, or its name when it has none) -> why it was not asked,
        over every zone."""
        return {
            server.address or server.label: server.unchecked
            for zone in self.zones.values()
            for server in zone.unchecked
        }

    def text_lines(self) -> list[str]:
        zones = sorted(self.zones.values(), key=lambda zone: zone.apex)
        troubled = [zone for zone in zones if not zone.in_sync or zone.lame]
        lines = [
            f"authoritative: {_count(len(zones), 'zone')} asked directly "
            f"({self.queries:,} queries); "
            f"{sum(not z.in_sync for z in zones):,} out of sync, "
            f"{sum(bool(z.lame) for z in zones):,} with lame servers"
        ]
        for zone in troubled[:TEXT_ZONES]:
            problems = []
            if not zone.in_sync:
                problems.append(
                    "serials " + ", ".join(f"{s.label} {s.serial}" for s in zone.serving)
                )
            if zone.lame:
                problems.append("lame " + ", ".join(f"{s.label} ({s.lame})" for s in zone.lame))
            lines.append(f"  {zone.apex}: {'; '.join(problems)}")
        if len(troubled) > TEXT_ZONES:
            lines.append(f"  ... and {len(troubled) - TEXT_ZONES:,} more (--summary has them all)")
        by_reason: dict[str, list[str]] = {}
        for server, why in sorted(self.unchecked_servers().items()):
            by_reason.setdefault(why, []).append(server)
        for why, servers in sorted(by_reason.items()):
            shown = servers[:TEXT_ZONES]
            hidden = len(servers) - len(shown)
            more = f" and {hidden:,} more" if hidden else ""
            lines.append(
                f"  {why.removeprefix('not asked: ')}: {len(servers):,} "
                f"{'server' if len(servers) == 1 else 'servers'} not asked "
                f"({', '.join(shown)}{more})"
            )
        return lines


def _count(n: int, thing: str) -> str:
    """1 zone, 2 zones."""
    return f"{n:,} {thing}" if n == 1 else f"{n:,} {thing}s"
