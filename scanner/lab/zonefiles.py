"""The lab zones as RFC 1035 zone files, so real servers (Knot, BIND, NSD) can serve them."""

from __future__ import annotations

import os
from collections import defaultdict

import dns.name

from scanner.lab.config import LabConfigError
from scanner.lab.model import LabZones, zone_of


def zone_texts(zones: LabZones, ttl: int) -> dict[str, str]:
    """apex -> zone file text. Every record of the lab, one zone file per zone."""
    if zones.servfail:
        raise LabConfigError(
            "the 'servfail' case cannot be written to a zone file (a real server answers it); "
            "remove it from the mix"
        )
    lines: dict[str, list[str]] = defaultdict(list)
    for apex in zones.zones:
        lines[apex] += [f"$ORIGIN {apex}.", f"$TTL {ttl}"]  # SOA and NS are records
    for name, records in zones.records.items():
        apex = _zone(zones.zones, name)
        for rtype, values in records.items():
            for value in values:
                if rtype in ("PTR", "CNAME", "NS"):
                    value = zone_file_name(value)
                lines[apex].append(f"{zone_file_name(name)} IN {rtype} {value}")
    for apex in zones.zones:  # a zone below another is delegated from it, as in the DNS
        parent = zone_of(zones.zones, apex.partition(".")[2]) if "." in apex else None
        if parent is None:
            continue
        for server in zones.records.get(apex, {}).get("NS", ()):
            lines[parent].append(f"{zone_file_name(apex)} IN NS {zone_file_name(server)}")
    for name, servers in zones.delegations.items():
        apex = _zone(zones.zones, name)
        for server in servers:  # NS records below an apex: a delegation
            lines[apex].append(f"{zone_file_name(name)} IN NS {zone_file_name(server)}")
    return {apex: "\n".join(text) + "\n" for apex, text in lines.items()}


_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def zone_file_name(name: str) -> str:
    """`name` (presentation format) as every zone file parser reads it: `\\DDD` for any other byte.

    Zone file parsers differ on which characters a name may hold unescaped
    (Knot refuses `=` and `+`); a decimal escape means the same byte to all.
    """
    if not name or name == ".":
        return "."
    labels = dns.name.from_text(name.encode()).labels
    return "".join(
        "".join(chr(byte) if byte in _PLAIN else f"\\{byte:03d}" for byte in label) + "."
        for label in labels
        if label
    )


def export_zones(zones: LabZones, ttl: int, directory: str) -> list[str]:
    """Write `<apex>.zone` files into `directory`; returns their paths."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    for apex, text in zone_texts(zones, ttl).items():
        path = os.path.join(directory, f"{apex}.zone")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        paths.append(path)
    return paths


def _zone(apexes: tuple[str, ...], name: str) -> str:
    apex = zone_of(apexes, name)
    if apex is None:
        raise LabConfigError(f"{name} lies in no lab zone")
    return apex
