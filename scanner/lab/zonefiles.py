"""The lab zones as RFC 1035 zone files, so real servers (Knot, BIND, NSD) can serve them."""

from __future__ import annotations

import os
from collections import defaultdict

from scanner.lab.model import LabConfigError, LabZones, zone_of


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
        apex = zone_of(zones.zones, name)
        if apex is None:
            raise LabConfigError(f"{name} lies in no lab zone")
        for rtype, values in records.items():
            for value in values:
                if rtype in ("PTR", "CNAME", "NS"):
                    value += "."
                lines[apex].append(f"{name}. IN {rtype} {value}")
    return {apex: "\n".join(text) + "\n" for apex, text in lines.items()}


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
