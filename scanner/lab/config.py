"""The lab's description: its cases and the verdicts they must get, and the YAML that picks them."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scanner.core.status import Status
from scanner.core.verdict import IPAddress
from scanner.core.yamlfile import read_yaml

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


NETWORK_KEYS = frozenset(
    {"cidr", "mix", "delegated_to", "lame_ns", "sparse", "child_zone", "dead_delegation"}
)


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
    # An IPv6 network no one could list (issue 26's walk): only `sparse` addresses
    # have records, low interface ids and SLAAC-like random ones across its /64s.
    sparse: int = 0
    # Within a sparse network: a prefix that is a zone of its own (a customer's
    # /56), and one delegated to a server that never answers.
    child_zone: ipaddress.IPv6Network | None = None
    dead_delegation: ipaddress.IPv6Network | None = None

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
    # Reverse zones above the networks' own (e.g. 198.in-addr.arpa), holding nothing
    # else: a name there that is no network's answers NXDOMAIN, not REFUSED.
    parent_zones: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "lab config") -> LabConfig:
        known = {"seed", "ttl", "domain", "generic_domain", "networks", "overrides", "parent_zones"}
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
            sparse, child, dead = _sparse_keys(entry, network, where)
            networks.append(
                LabNetwork(network, weights, delegated_to, lame_ns, sparse, child, dead)
            )
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
            parent_zones=_parent_zones(data.get("parent_zones") or [], source),
        )

    @classmethod
    def load(cls, path: str) -> LabConfig:
        return cls.from_mapping(
            read_yaml(path, "lab config", LabConfigError, aliases=True) or {}, path
        )


def _parent_zones(value: object, source: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(zone, str) for zone in value):
        raise LabConfigError(f"{source}: parent_zones: expected a list of reverse zone names")
    zones = tuple(zone.rstrip(".").lower() for zone in value)
    for zone in zones:
        if not zone.endswith((".in-addr.arpa", ".ip6.arpa")):
            raise LabConfigError(f"{source}: parent_zones: {zone!r} is not a reverse zone")
    return zones


def reverse_zone(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    """The reverse zone holding a network: cut at the octet/nibble boundary above it."""
    step = 8 if network.version == 4 else 4
    prefix = network.prefixlen - network.prefixlen % step
    apex = network.supernet(new_prefix=prefix) if prefix != network.prefixlen else network
    labels = apex.network_address.reverse_pointer.split(".")
    kept = prefix // step
    arpa = 2  # "in-addr.arpa" / "ip6.arpa"
    return ".".join(labels[len(labels) - arpa - kept :])


# A sparse network's planted addresses, at most: the lab builds every record in memory.
MAX_SPARSE = 100_000


def _sparse_keys(
    entry: Mapping[str, Any], network: ipaddress.IPv4Network | ipaddress.IPv6Network, where: str
) -> tuple[int, ipaddress.IPv6Network | None, ipaddress.IPv6Network | None]:
    sparse = entry.get("sparse", 0)
    if not isinstance(sparse, int) or isinstance(sparse, bool) or not 0 <= sparse <= MAX_SPARSE:
        raise LabConfigError(f"{where}.sparse: expected an integer from 0 to {MAX_SPARSE:,}")
    inner: list[ipaddress.IPv6Network | None] = []
    for key in ("child_zone", "dead_delegation"):
        text = entry.get(key)
        if text is None:
            inner.append(None)
            continue
        if not sparse:
            raise LabConfigError(f"{where}.{key}: only a sparse network has one")
        try:
            prefix = ipaddress.ip_network(str(text), strict=True)
        except ValueError as exc:
            raise LabConfigError(f"{where}.{key}: {exc}") from None
        inside = prefix.network_address in network and prefix.broadcast_address in network
        if not isinstance(prefix, ipaddress.IPv6Network) or not inside:
            raise LabConfigError(f"{where}.{key}: {prefix} is not inside {network}")
        if prefix.prefixlen % 4 or prefix.prefixlen <= network.prefixlen:
            raise LabConfigError(f"{where}.{key}: expected a nibble-aligned prefix below {network}")
        inner.append(prefix)
    if sparse and not (
        network.version == 6 and network.prefixlen % 4 == 0 and network.prefixlen <= 64
    ):
        raise LabConfigError(f"{where}.sparse: needs a nibble-aligned IPv6 network of /64 or more")
    return sparse, inner[0], inner[1]
