"""Compare scan results with the lab's ground truth."""

from __future__ import annotations

import csv
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from scanner.results import read_results


@dataclass(slots=True)
class Comparison:
    expected: int = 0
    rows: int = 0
    matching: int = 0
    duplicates: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)  # "ip: got X, expected Y"

    @property
    def ok(self) -> bool:
        return self.rows == self.expected == self.matching and not (
            self.duplicates or self.missing or self.unexpected or self.wrong
        )

    def as_text(self) -> str:
        text = f"ground truth: {self.matching:,}/{self.expected:,} verdicts match"
        problems = [
            ("duplicated", self.duplicates),
            ("missing", self.missing),
            ("not in the lab", self.unexpected),
            ("wrong", self.wrong),
        ]
        for label, items in problems:
            if items:
                text += f"\n  {len(items)} {label}: {', '.join(items[:5])}"
        return text


def compare(results_path: str, truth_path: str, within: Sequence[str] | None = None) -> Comparison:
    """Compare every row with the truth; `within`: only the truth's addresses in these CIDRs."""
    networks = [ipaddress.ip_network(cidr) for cidr in within or ()]
    with open(truth_path, encoding="utf-8", newline="") as handle:
        truth = {
            row["ip"]: row
            for row in csv.DictReader(handle)
            if not networks or any(ipaddress.ip_address(row["ip"]) in net for net in networks)
        }
    comparison = Comparison(expected=len(truth))
    seen: set[str] = set()
    for row in read_results(results_path):
        comparison.rows += 1
        ip = row["ip"]
        if ip in seen:
            comparison.duplicates.append(ip)
            continue
        seen.add(ip)
        expected = truth.get(ip)
        if expected is None:
            comparison.unexpected.append(ip)
            continue
        got = (row["status"], row["confirmed_name"], set(filter(None, row["ptr_names"].split(";"))))
        want = (
            expected["expected_status"],
            expected["confirmed_name"],
            set(filter(None, expected["ptr_names"].split(";"))),
        )
        if got == want:
            comparison.matching += 1
        else:
            comparison.wrong.append(f"{ip}: got {got[0]}, expected {want[0]} ({expected['case']})")
    comparison.missing = sorted(set(truth) - seen)
    return comparison
