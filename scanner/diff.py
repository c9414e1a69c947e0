"""`fcrdns diff OLD NEW`: what changed between two scans (CSV or JSONL outputs).

Per IP: a changed status (pass -> mismatch), changed PTR names, changed forward
addresses, or an IP that appeared or disappeared. This is what a nightly job
mails to the operator. Exit code as diff(1): 0 no changes, 1 changes, 2 errors.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from scanner.results import ResultsError, read_results

DIFF_COLUMNS = (
    "ip",
    "change",
    "old_status",
    "new_status",
    "old_ptr_names",
    "new_ptr_names",
    "old_forward",
    "new_forward",
)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a scan said about one IP, in comparable form."""

    status: str
    ptr_names: str  # sorted, ';'-joined
    forward: str  # sorted name=addresses, ';'-joined


def _forward_of(row: dict) -> str:
    if "forward" in row and isinstance(row["forward"], list):  # JSONL
        parts = []
        for check in row["forward"]:
            value = " ".join(sorted(check["addresses"])) or check["outcome"]
            parts.append(f"{check['name']}={value}")
        return ";".join(sorted(parts))
    cells = filter(None, row.get("forward_addresses", "").lstrip("'").split(";"))
    parts = []
    for cell in cells:
        name, _, value = cell.partition("=")
        parts.append(f"{name}={' '.join(sorted(value.split()))}")
    return ";".join(sorted(parts))


def snapshots(path: str) -> dict[str, Snapshot]:
    found = {}
    for row in read_results(path):
        if "ptr_names" not in row:
            raise ResultsError(f"{path}: no ptr_names column: not a complete fcrdns result file")
        names = ";".join(sorted(filter(None, row["ptr_names"].lstrip("'").split(";"))))
        found[row["ip"]] = Snapshot(row["status"], names, _forward_of(row))
    return found


@dataclass(frozen=True, slots=True)
class Change:
    ip: str
    kinds: tuple[str, ...]  # status, ptr_names, forward, appeared, disappeared
    old: Snapshot | None
    new: Snapshot | None

    def record(self) -> list[str]:
        old = self.old or Snapshot("", "", "")
        new = self.new or Snapshot("", "", "")
        return [self.ip, ";".join(self.kinds), old.status, new.status,
                old.ptr_names, new.ptr_names, old.forward, new.forward]  # fmt: skip


def compare(old: dict[str, Snapshot], new: dict[str, Snapshot]) -> Iterator[Change]:
    for ip in sorted(old.keys() | new.keys(), key=_address_order):
        before, after = old.get(ip), new.get(ip)
        if before is None:
            yield Change(ip, ("appeared",), None, after)
        elif after is None:
            yield Change(ip, ("disappeared",), before, None)
        else:
            kinds = tuple(
                kind
                for kind, changed in (
                    ("status", before.status != after.status),
                    ("ptr_names", before.ptr_names != after.ptr_names),
                    ("forward", before.forward != after.forward),
                )
                if changed
            )
            if kinds:
                yield Change(ip, kinds, before, after)


def _address_order(ip: str) -> tuple[int, int]:
    address = ipaddress.ip_address(ip)
    return address.version, int(address)


def summary_text(changes: Iterable[Change]) -> str:
    transitions: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    total = 0
    for change in changes:
        total += 1
        kinds.update(change.kinds)
        if "status" in change.kinds and change.old and change.new:
            transitions[f"{change.old.status} -> {change.new.status}"] += 1
    if not total:
        return "no changes\n"
    lines = [f"{total:,} IPs changed"]
    for kind in ("status", "ptr_names", "forward", "appeared", "disappeared"):
        if kinds[kind]:
            lines.append(f"  {kind}: {kinds[kind]:,}")
    for transition, count in transitions.most_common():
        lines.append(f"    {transition}: {count:,}")
    return "\n".join(lines) + "\n"
