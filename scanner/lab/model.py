"""The lab provider as data: which case each address gets, its records, the ground truth.

Pure: from a YAML description to records (name -> type -> values) and, per
address, the verdict a correct scanner must give. The server serves these
records; `zonefiles` writes them for real servers.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from scanner.core.names import present
from scanner.core.status import Status
from scanner.core.verdict import IPAddress
from scanner.lab.config import (
    CASES,
    HOSTILE,
    MAIL_COLUMNS,
    MAIL_TRUTH,
    NS_ADDRESSES,
    NUMERIC_ZONE,
    SERIAL,
    STALE_SERIAL,
    LabConfig,
    LabNetwork,
    reverse_zone,
)
from scanner.lab.hostile import Build, scenario_of


@dataclass(frozen=True, slots=True)
class Truth:
    """What a correct scan reports for one lab address."""

    ip: IPAddress
    case: str
    status: Status
    ptr_names: tuple[str, ...]
    confirmed_name: str
    ptr_zone: str = ""  # the zone a scan with --zone-owner reports
    ptr_zone_ns: tuple[str, ...] = ()
    # What --check-authoritative reports: ns_consistent (yes/no; '' where not
    # judged) and, where the servers disagree, ns_answers.
    ns_consistent: str = ""
    ns_answers: str = ""


@dataclass(slots=True)
class LabZones:
    """Every record of the lab, and the zones they live in."""

    records: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    servfail: set[str] = field(default_factory=set)
    zones: tuple[str, ...] = ()
    # Names delegated to name servers the lab does not run: a query at or
    # below one gets a referral (NS in authority, no answer, not authoritative).
    delegations: dict[str, list[str]] = field(default_factory=dict)
    # reverse name -> the PTR names the stale secondary (ns2) still has ([] for none)
    stale: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, rtype: str, value: str) -> None:
        self.records.setdefault(name, {}).setdefault(rtype, []).append(value)


def server_id(ip: IPAddress) -> str:
    """A label that names a server without spelling its address (x + base 36)."""
    number, digits = int(ip), []
    while True:
        number, digit = divmod(number, 36)
        digits.append("0123456789abcdefghijklmnopqrstuvwxyz"[digit])
        if not number:
            return "x" + "".join(reversed(digits))


def dashed(ip: IPAddress) -> str:
    """The address as a DNS label: 198-18-0-5, 2001-db8-1--5."""
    return str(ip).replace(".", "-").replace(":", "-")


def case_of(config: LabConfig, network: LabNetwork, ip: IPAddress) -> str:
    """The case of an address: an override, or a deterministic, well-mixed choice by weight."""
    for overridden, case in config.overrides:
        if overridden == ip:
            return case
    digest = hashlib.blake2b(f"{config.seed}/{ip}".encode(), digest_size=8).digest()
    point = int.from_bytes(digest, "big") % sum(weight for _, weight in network.mix)
    for case, weight in network.mix:
        if point < weight:
            return case
        point -= weight
    raise AssertionError("unreachable: point is below the total weight")


def elsewhere(ip: IPAddress, salt: int = 0) -> IPAddress:
    """A different documentation address, where mismatching names point."""
    number = int(ip) + salt
    if ip.version == 4:
        return ipaddress.IPv4Address(int(ipaddress.IPv4Address("203.0.113.0")) + number % 254 + 1)
    return ipaddress.IPv6Address(int(ipaddress.IPv6Address("2001:db8:ffff::")) + number % 65535 + 1)


def addresses(config: LabConfig) -> Iterator[tuple[LabNetwork, IPAddress]]:
    """Every address with records: all of a network's, or a sparse network's planted ones
    (none behind its dead delegation: no one can see those)."""
    for network in config.networks:
        if network.sparse:
            dead = network.dead_delegation
            for address in planted(network, config.seed):
                if dead is None or address not in dead:
                    yield network, address
            continue
        for ip in network.network:
            yield network, ip


# A sparse network's /64s with planted addresses (dozens, spread over the prefix).
SPARSE_SUBNETS = 40


def planted(network: LabNetwork, seed: int) -> list[ipaddress.IPv6Address]:
    """The addresses of a sparse network, in address order: half low interface ids
    (::1, ::2... as servers are numbered), half SLAAC-like random 64-bit ones, in
    /64s spread over the network, a few of them inside its child zone and its
    dead delegation."""
    prefix = network.network
    assert isinstance(prefix, ipaddress.IPv6Network)
    count = 2 ** (64 - prefix.prefixlen)  # its /64s
    stride = 0x9E3779B1 % count or 1  # odd: spreads the chosen /64s over all of them
    subnets = [
        int(prefix.network_address) >> 64 | (i * stride) % count for i in range(SPARSE_SUBNETS)
    ]
    for inner in (network.child_zone, network.dead_delegation):
        if inner is not None:
            first = int(inner.network_address) >> 64
            subnets += [first, first + 1]
    chosen: set[ipaddress.IPv6Address] = set()
    for k in range(4 * network.sparse):
        if len(chosen) == network.sparse:
            break
        digest = hashlib.blake2b(f"{seed}/{prefix}/{k}".encode(), digest_size=16).digest()
        value = int.from_bytes(digest, "big")
        subnet = subnets[value % len(subnets)]
        interface = 1 + k // 2 % 256 if k % 2 == 0 else value >> 64 or 1
        chosen.add(ipaddress.IPv6Address(subnet << 64 | interface))
    return sorted(chosen)


def _hostile_records(zones: LabZones, config: LabConfig, ip: IPAddress) -> Truth:
    scenario = scenario_of(ip)
    built = Build(ip, config.domain, lambda salt: elsewhere(ip, salt))
    scenario.build(built)
    for owner, rtype, value in built.records:
        zones.add(owner, rtype, value)
    reverse = ip.reverse_pointer
    for delegated, servers in built.delegations.items():
        zones.delegations[reverse if delegated == "@reverse" else delegated] = servers
    if built.reverse_cname:
        loop = f"{built.reverse_cname}.{reverse}"
        zones.add(reverse, "CNAME", loop)
        zones.add(loop, "CNAME", reverse)
    for target in built.ptrs:
        zones.add(reverse, "PTR", target)
    if built.ptrs and not built.reverse_cname:
        # The stale secondary (ns2) lacks them: --check-authoritative then shows
        # the hostile names in ns_answers, where the outputs must escape them too.
        zones.stale[reverse] = []
    ptr_names = tuple(target or "." for target in built.ptrs)
    return Truth(ip, f"{HOSTILE}: {scenario.title}", scenario.status, ptr_names, built.confirmed)


def _records_for(zones: LabZones, config: LabConfig, case: str, ip: IPAddress) -> Truth:
    if case == HOSTILE:
        return _hostile_records(zones, config, ip)
    # Servers' names do not embed the address; the generic cases' names do.
    d, domain, family = server_id(ip), config.domain, ("A" if ip.version == 4 else "AAAA")
    reverse = ip.reverse_pointer
    ptrs: list[str] = []

    def host(name: str, *targets: IPAddress) -> str:
        for target in targets:
            zones.add(name, family, str(target))
        return name

    confirmed = ""
    if case == "confirm":
        confirmed = host(f"srv-{d}.{domain}", ip)
        ptrs = [confirmed]
    elif case == "generic":
        confirmed = host(f"host-{dashed(ip)}.{config.generic_domain}", ip)
        ptrs = [confirmed]
    elif case == "cname":
        alias, real = f"www-{d}.{domain}", f"real-{d}.{domain}"
        zones.add(alias, "CNAME", real)
        host(real, ip)
        ptrs, confirmed = [alias], alias
    elif case == "multi":
        ptrs = [host(f"alias-{d}.{domain}", elsewhere(ip)), host(f"srv-{d}.{domain}", ip)]
        confirmed = ptrs[1]
    elif case == "stale_a":
        ptrs = [host(f"srv-{d}.{domain}", elsewhere(ip))]
    elif case == "mismatch":
        ptrs = [host(f"moved-{d}.{domain}", elsewhere(ip))]
    elif case == "multi_mismatch":
        ptrs = [host(f"a-{d}.{domain}", elsewhere(ip)), host(f"b-{d}.{domain}", elsewhere(ip, 7))]
    elif case == "multi_tempfail":
        broken = f"broken-{d}.{domain}"
        zones.servfail.add(broken)
        ptrs = [host(f"moved-{d}.{domain}", elsewhere(ip)), broken]
    elif case == "ptr_nodata":
        zones.add(reverse, "TXT", '"reverse name without PTR"')
    elif case == "dangling":
        ptrs = [f"gone-{d}.{domain}"]
    elif case == "wrong_family":
        other = "AAAA" if ip.version == 4 else "A"
        name = f"{'v6only' if ip.version == 4 else 'v4only'}-{d}.{domain}"
        zones.add(name, other, "2001:db8:ffff::1" if other == "AAAA" else "203.0.113.1")
        ptrs = [name]
    elif case == "generic_noforward":
        ptrs = [f"host-{dashed(ip)}.{config.generic_domain}"]
    elif case == "servfail":
        zones.servfail.add(reverse)
    elif case == "underscore":
        confirmed = host(f"srv_{d}.{domain}", ip)
        ptrs = [confirmed]
    elif case == "numeric":
        confirmed = host(f"{numeric_name(ip)}", ip)
        ptrs = [confirmed]
    elif case in ("secondary_missing", "secondary_changed"):
        confirmed = host(f"srv-{d}.{domain}", ip)
        ptrs = [confirmed]
        zones.stale[reverse] = [f"old-{d}.{domain}"] if case == "secondary_changed" else []
    for name in ptrs:
        zones.add(reverse, "PTR", name)
    return Truth(ip, case, CASES[case], tuple(ptrs), confirmed)


def numeric_name(ip: IPAddress) -> str:
    """A host name of digits only, in the lab zone "198": 198.18.0.9 -> 9.0.18.198."""
    if ip.version == 4:
        return ".".join(reversed(str(ip).split(".")))
    value = int(ip)
    return f"{value & 0xFFFF}.{(value >> 16) & 0xFFFF}.{NUMERIC_ZONE}"


def build(config: LabConfig) -> tuple[LabZones, list[Truth]]:
    """All records of the lab and the ground truth for every address."""
    zones = LabZones()
    nameservers = {}
    for network in config.networks:
        nameservers[reverse_zone(network.network)] = config.domain
        if network.delegated_to:
            nameservers[network.classless_zone()] = network.delegated_to
    nameservers |= {config.domain: config.domain, config.generic_domain: config.domain}
    nameservers |= {parent: config.domain for parent in config.parent_zones}
    for network in config.networks:
        if network.delegated_to:  # the customer's own domain, where its servers' names live
            nameservers[network.delegated_to] = network.delegated_to
    if any(case == "numeric" for network in config.networks for case, _ in network.mix):
        nameservers[NUMERIC_ZONE] = config.domain
    for network in config.networks:
        if network.child_zone is not None:
            nameservers[reverse_zone(network.child_zone)] = config.domain
        if network.dead_delegation is not None:
            zones.delegations[reverse_zone(network.dead_delegation)] = [DEAD_SERVER]
    zones.zones = tuple(sorted(nameservers, key=len, reverse=True))
    servers: dict[str, tuple[str, ...]] = {}
    lame = {reverse_zone(network.network) for network in config.networks if network.lame_ns}
    for apex, domain in nameservers.items():
        zones.add(apex, "SOA", f"ns1.{domain}. hostmaster.{domain}. {SERIAL} 3600 600 86400 300")
        servers[apex] = tuple(
            f"{ns}.{domain}" for ns in ("ns1", "ns2", "ns3")[: 2 + (apex in lame)]
        )
        for server in servers[apex]:
            zones.add(apex, "NS", server)
    for domain in set(nameservers.values()):  # the servers' addresses, on loopback
        for ns, address in NS_ADDRESSES.items():
            if ns != "ns3" or any(nameservers[apex] == domain for apex in lame):
                zones.add(f"{ns}.{domain}", "A", address)
    truth = []
    for network, ip in addresses(config):
        item = _records_for(zones, config, case_of(config, network, ip), ip)
        reverse = ip.reverse_pointer
        zone = zone_of(zones.zones, reverse) or reverse_zone(network.network)
        if network.delegated_to and reverse in zones.records:
            zone = network.classless_zone()
            moved = f"{str(ip).rsplit('.', 1)[1]}.{zone}"
            zones.records[moved] = zones.records.pop(reverse)
            zones.add(reverse, "CNAME", moved)
            if reverse in zones.stale:
                zones.stale[moved] = zones.stale.pop(reverse)
            reverse = moved
        consistent, answers = _authority_truth(zones, item, reverse, servers[zone])
        truth.append(
            replace(
                item,
                ptr_zone=zone,
                ptr_zone_ns=servers[zone],
                ns_consistent=consistent,
                ns_answers=answers,
            )
        )
    return zones, truth


# Where a sparse network's dead delegation points: a name nothing serves.
DEAD_SERVER = "ns1.dead.example"


def _authority_truth(
    zones: LabZones, item: Truth, reverse: str, servers: tuple[str, ...]
) -> tuple[str, str]:
    """What --check-authoritative finds for one address (ns_consistent, ns_answers):
    ns1 and ns2 agree unless ns2 is stale; '' where it is not judged."""
    if item.case not in CASES or item.case == "servfail":  # hostile, or no answer to compare
        return "", ""
    if item.case not in ("secondary_missing", "secondary_changed"):
        return "yes", ""
    stale = " ".join(sorted(zones.stale[reverse])) or "NXDOMAIN"
    current = " ".join(sorted(item.ptr_names))
    return "no", f"{servers[0]}={current};{servers[1]}={stale}"


def secondary_view(zones: LabZones) -> LabZones:
    """The zones as the stale secondary (ns2) serves them: the secondary_* cases' PTRs as
    they were, and an older serial in the zones that hold them."""
    stale_zones = {zone_of(zones.zones, name) for name in zones.stale}
    records = {
        name: {rtype: list(values) for rtype, values in node.items()}
        for name, node in zones.records.items()
    }
    for name, ptrs in zones.stale.items():
        node = records[name]
        if ptrs:
            node["PTR"] = list(ptrs)
        else:
            del node["PTR"]
            if not node:
                del records[name]
    for apex in stale_zones:
        if apex is not None:
            records[apex]["SOA"] = [
                soa.replace(f" {SERIAL} ", f" {STALE_SERIAL} ") for soa in records[apex]["SOA"]
            ]
    return LabZones(records, set(zones.servfail), zones.zones, dict(zones.delegations))


def zone_of(zones: tuple[str, ...], name: str) -> str | None:
    """The most specific lab zone that contains `name` (zones sorted longest first)."""
    for apex in zones:
        if name == apex or name.endswith("." + apex):
            return apex
    return None


TRUTH_COLUMNS = (
    "ip",
    "case",
    "expected_status",
    "ptr_names",
    "confirmed_name",
    "ptr_zone",
    "ptr_zone_ns",
    *(f"expected_{column}" for column in MAIL_COLUMNS),
    "expected_ns_consistent",
    "expected_ns_answers",
)


def truth_rows(truth: list[Truth]) -> Iterator[list[str]]:
    """The truth file's rows; names written by the outputs' own rule (scanner/core/names.py)."""
    for item in truth:
        yield [
            str(item.ip),
            item.case,
            item.status.value,
            ";".join(map(present, item.ptr_names)),
            present(item.confirmed_name),
            present(item.ptr_zone),
            ";".join(map(present, item.ptr_zone_ns)),
            *MAIL_TRUTH.get(item.case, ("",) * len(MAIL_COLUMNS)),  # hostile: not judged here
            item.ns_consistent,
            item.ns_answers,
        ]
