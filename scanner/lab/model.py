"""The lab provider as data: which case each address gets, its records, the ground truth.

Pure: from a YAML description to records (name -> type -> values) and, per
address, the verdict a correct scanner must give. The server serves these
records; `zonefiles` writes them for real servers.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from scanner.core.names import present
from scanner.core.status import Status
from scanner.core.verdict import IPAddress
from scanner.core.yamlfile import read_yaml
from scanner.lab.hostile import Build, scenario_of

# case -> the verdict a scanner must give for an address of that case.
CASES: dict[str, Status] = {
    "confirm": Status.PASS,  # PTR srv-<ip>.<domain>, whose address is the IP
    "generic": Status.PASS,  # PTR host-<ip>.<generic_domain>, ISP-style, confirming
    "cname": Status.PASS,  # PTR www-<ip>, a CNAME to real-<ip>, whose address is the IP
    "multi": Status.PASS,  # two PTRs: alias-<ip> (elsewhere) and srv-<ip> (confirms)
    "mismatch": Status.MISMATCH,  # PTR moved-<ip>, whose address is elsewhere
    "stale_a": Status.MISMATCH,  # PTR srv-<ip> as in confirm, but its A moved elsewhere
    "multi_mismatch": Status.MISMATCH,  # two PTRs, both elsewhere
    # Two PTRs: moved-<ip> (elsewhere) and broken-<ip>, whose forward lookup is
    # SERVFAIL. Served by the Python lab only (a zone file cannot hold a SERVFAIL).
    "multi_tempfail": Status.SERVFAIL,
    "no_ptr": Status.NO_PTR,  # no reverse name at all
    "ptr_nodata": Status.PTR_NODATA,  # the reverse name has a TXT record, no PTR
    "dangling": Status.NO_FORWARD,  # PTR gone-<ip>, a name that does not exist
    "wrong_family": Status.NO_FORWARD,  # PTR v4only-/v6only-<ip>: only the other family
    "generic_noforward": Status.NO_FORWARD,  # generic PTR without any address
    "servfail": Status.SERVFAIL,  # the server answers SERVFAIL for the reverse name
    "underscore": Status.PASS,  # PTR srv_<ip>: an underscore, which Postfix tolerates
    "numeric": Status.PASS,  # PTR 9.0.18.198 (digits only, zone "198"): confirms, looks like an IP
    # The zone's second name server is stale (an older serial) and answers differently;
    # the first (which resolvers use in the lab) has the confirming PTR srv-<ip>.
    "secondary_missing": Status.PASS,  # the stale server has no PTR: NXDOMAIN
    "secondary_changed": Status.PASS,  # the stale server still has the old PTR old-<ip>
}
# The name servers of every lab zone: ns1 (the primary, current) and ns2 (a
# secondary, stale where the secondary_* cases are) on loopback addresses of
# their own; ns3 (a network's `lame_ns`) where nothing serves the zone.
NS_ADDRESSES = {"ns1": "127.0.0.2", "ns2": "127.0.0.3", "ns3": "127.0.0.4"}
# The network holding them, for `scan --authoritative-allow`: loopback
# addresses are not asked directly unless admitted.
NS_NETWORK = "127.0.0.0/29"
SERIAL = 2026112902  # every zone's, at ns1
STALE_SERIAL = SERIAL - 1  # at ns2, in zones with a secondary_* case
# case -> how mail receivers judge it (scanner/core/mail.py): iprev, postfix,
# all_names_confirm, valid_hostname (as the outputs write them).
MAIL_TRUTH: dict[str, tuple[str, str, str, str]] = {
    "confirm": ("pass", "accept", "yes", "yes"),
    "generic": ("pass", "accept", "yes", "yes"),
    "cname": ("pass", "accept", "yes", "yes"),
    "multi": ("pass", "intermittent", "no", "yes"),
    "mismatch": ("fail", "reject", "no", "yes"),
    "stale_a": ("fail", "reject", "no", "yes"),
    "multi_mismatch": ("fail", "reject", "no", "yes"),
    # Postfix answers 550 (moved-<ip> first) or 450 (broken-<ip> first), never 250.
    "multi_tempfail": ("temperror", "reject", "no", "yes"),
    "no_ptr": ("permerror", "reject", "no", ""),
    "ptr_nodata": ("permerror", "reject", "no", ""),
    "dangling": ("fail", "reject", "no", "yes"),
    "wrong_family": ("fail", "reject", "no", "yes"),
    "generic_noforward": ("fail", "reject", "no", "yes"),
    "servfail": ("temperror", "tempfail", "", ""),
    "underscore": ("pass", "accept", "yes", "yes"),
    "numeric": ("pass", "reject", "yes", "no"),
    "secondary_missing": ("pass", "accept", "yes", "yes"),
    "secondary_changed": ("pass", "accept", "yes", "yes"),
}
MAIL_COLUMNS = ("iprev", "postfix", "all_names_confirm", "valid_hostname")
# The zone of the `numeric` case's names: a top-level domain of digits.
NUMERIC_ZONE = "198"
# Besides these, `hostile`: one of the scenarios of scanner/lab/hostile.py, by address.
HOSTILE = "hostile"
KNOWN_CASES = (*CASES, HOSTILE)


NETWORK_KEYS = frozenset({"cidr", "mix", "delegated_to", "lame_ns"})


class LabConfigError(ValueError):
    """A lab description that cannot be used."""


@dataclass(frozen=True, slots=True)
class LabNetwork:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    mix: tuple[tuple[str, int], ...]
    # RFC 2317: the PTRs live in a zone of their own, reached by CNAMEs from the
    # /24's zone, run by another organisation (delegated_to: its domain).
    delegated_to: str = ""
    lame_ns: bool = False  # the reverse zone has a third NS, ns3, that does not serve it

    def classless_zone(self) -> str:
        """The RFC 2317 zone of a delegated network, e.g. 0-26.7.19.198.in-addr.arpa."""
        first = str(self.network.network_address).rsplit(".", 1)[1]
        return f"{first}-{self.network.prefixlen}.{reverse_zone(self.network)}"


@dataclass(frozen=True, slots=True)
class LabConfig:
    seed: int
    ttl: int
    domain: str
    generic_domain: str
    networks: tuple[LabNetwork, ...]
    overrides: tuple[tuple[IPAddress, str], ...] = ()  # addresses given a case by hand

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "lab config") -> LabConfig:
        known = {"seed", "ttl", "domain", "generic_domain", "networks", "overrides"}
        if not isinstance(data, Mapping):
            raise LabConfigError(f"{source}: expected a mapping at the top level")
        for key in data:
            if key not in known:
                raise LabConfigError(f"{source}: unknown key {key!r}")
        networks = []
        for index, entry in enumerate(data.get("networks") or [], start=1):
            where = f"{source}: networks[{index}]"
            if not isinstance(entry, Mapping) or set(entry) - NETWORK_KEYS:
                raise LabConfigError(
                    f"{where}: expected keys {', '.join(map(repr, sorted(NETWORK_KEYS)))}"
                )
            try:
                network = ipaddress.ip_network(str(entry.get("cidr")), strict=True)
            except ValueError as exc:
                raise LabConfigError(f"{where}.cidr: {exc}") from None
            mix = entry.get("mix") or {}
            for case, weight in mix.items():
                if case not in KNOWN_CASES:
                    raise LabConfigError(f"{where}.mix: unknown case {case!r}")
                if not isinstance(weight, int) or weight < 0:
                    raise LabConfigError(f"{where}.mix.{case}: weight must be an integer >= 0")
            if not any(mix.values()):
                raise LabConfigError(f"{where}.mix: needs at least one case with weight > 0")
            delegated_to = str(entry.get("delegated_to") or "").rstrip(".").lower()
            if delegated_to and not (network.version == 4 and 24 < network.prefixlen < 32):
                raise LabConfigError(
                    f"{where}.delegated_to: classless delegation needs an IPv4 block "
                    "smaller than a /24"
                )
            if delegated_to and mix.get(HOSTILE):
                raise LabConfigError(
                    f"{where}: the hostile case cannot be classlessly delegated (it makes "
                    "its own delegations); give it a network of its own"
                )
            lame_ns = entry.get("lame_ns", False)
            if not isinstance(lame_ns, bool):
                raise LabConfigError(f"{where}.lame_ns: expected true or false")
            weights = tuple((c, w) for c, w in mix.items() if w)
            networks.append(LabNetwork(network, weights, delegated_to, lame_ns))
        if not networks:
            raise LabConfigError(f"{source}: 'networks' is empty")
        overrides = []
        for address, case in (data.get("overrides") or {}).items():
            try:
                ip = ipaddress.ip_address(str(address))
            except ValueError:
                raise LabConfigError(f"{source}: overrides: not an IP: {address!r}") from None
            if case not in KNOWN_CASES:
                raise LabConfigError(f"{source}: overrides.{address}: unknown case {case!r}")
            if not any(ip in network.network for network in networks):
                raise LabConfigError(f"{source}: overrides.{address}: not in any network")
            overrides.append((ip, case))
        return cls(
            seed=int(data.get("seed", 0)),
            ttl=int(data.get("ttl", 3600)),
            domain=str(data.get("domain", "hosting.example")).rstrip(".").lower(),
            generic_domain=str(data.get("generic_domain", "pool.example")).rstrip(".").lower(),
            networks=tuple(networks),
            overrides=tuple(overrides),
        )

    @classmethod
    def load(cls, path: str) -> LabConfig:
        return cls.from_mapping(
            read_yaml(path, "lab config", LabConfigError, aliases=True) or {}, path
        )


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


def reverse_zone(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    """The reverse zone holding a network: cut at the octet/nibble boundary above it."""
    step = 8 if network.version == 4 else 4
    prefix = network.prefixlen - network.prefixlen % step
    apex = network.supernet(new_prefix=prefix) if prefix != network.prefixlen else network
    labels = apex.network_address.reverse_pointer.split(".")
    kept = prefix // step
    arpa = 2  # "in-addr.arpa" / "ip6.arpa"
    return ".".join(labels[len(labels) - arpa - kept :])


def addresses(config: LabConfig) -> Iterator[tuple[LabNetwork, IPAddress]]:
    for network in config.networks:
        for ip in network.network:
            yield network, ip


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
    for network in config.networks:
        if network.delegated_to:  # the customer's own domain, where its servers' names live
            nameservers[network.delegated_to] = network.delegated_to
    if any(case == "numeric" for network in config.networks for case, _ in network.mix):
        nameservers[NUMERIC_ZONE] = config.domain
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
        zone = reverse_zone(network.network)
        reverse = ip.reverse_pointer
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
