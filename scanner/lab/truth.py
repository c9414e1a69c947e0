"""Compare scan results with the lab's ground truth."""

from __future__ import annotations

import csv
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

import dns.name

from scanner.files.results import read_results
from scanner.lab.config import MAIL_COLUMNS

AUTHORITY_COLUMNS = ("ns_consistent", "ns_answers")


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


def _names(cell: str) -> frozenset[dns.name.Name]:
    """The names of a `;`-joined cell as DNS holds them: exact labels, case-insensitive.

    Both files write names by one rule (scanner/core/names.py), but the truth is
    what the labels are, not how they are spelled.
    """
    return frozenset(
        dns.name.from_text(part.encode()) for part in cell.lstrip("'").split(";") if part
    )


def _answers(value: object) -> object:
    """ns_answers as CSV writes it; JSONL has an object of every server's answer."""
    if isinstance(value, dict):
        return ";".join(f"{server}={said}" for server, said in value.items())
    return value


def _cell(value: object) -> str:
    """A result's cell as CSV writes it (JSONL has true, false and null)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def compare(
    results_path: str,
    truth_path: str,
    within: Sequence[str] | None = None,
    *,
    authoritative: bool = False,
) -> Comparison:
    """Compare every row with the truth; `within`: only the truth's addresses in these CIDRs.

    `authoritative`: the scan ran with --check-authoritative, so its ns_consistent and
    ns_answers are compared too (where the truth judges them).
    """
    judged = MAIL_COLUMNS + (AUTHORITY_COLUMNS if authoritative else ())
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
        got = (row["status"], _names(row["confirmed_name"]), _names(row["ptr_names"]))
        want = (
            expected["expected_status"],
            _names(expected["confirmed_name"]),
            _names(expected["ptr_names"]),
        )
        # The mail verdicts, where the truth has them (not for hostile scenarios).
        mail = [c for c in judged if expected.get(f"expected_{c}") and c in row]
        got_mail = [_cell(_answers(row[c]) if c == "ns_answers" else row[c]) for c in mail]
        want_mail = [expected[f"expected_{c}"] for c in mail]
        if got == want and got_mail == want_mail:
            comparison.matching += 1
        elif got != want:
            comparison.wrong.append(f"{ip}: got {got[0]}, expected {want[0]} ({expected['case']})")
        else:
            comparison.wrong.append(
                f"{ip}: got {dict(zip(mail, got_mail, strict=True))}, expected "
                f"{dict(zip(mail, want_mail, strict=True))} ({expected['case']})"
            )
    comparison.missing = sorted(set(truth) - seen)
    return comparison


def perfect_walk(
    truth_path: str,
    start: ipaddress.IPv6Network,
    unseen: Sequence[ipaddress.IPv6Network] = (),
) -> int:
    """Names a perfect walker of `start` asks in a sparse lab: the start, and the 16
    children of every name that exists above an address with a reverse name, or
    above a subtree it cannot see (`unseen`: a dead delegation, whose name exists)."""
    with open(truth_path, encoding="utf-8", newline="") as handle:
        named = [ipaddress.ip_address(row["ip"]) for row in csv.DictReader(handle)
                 if row["expected_status"] != "no_ptr"]  # fmt: skip
    existing = {
        ipaddress.ip_network(f"{ip}/{length}", strict=False)
        for ip in (*named, *(prefix.network_address for prefix in unseen))
        for length in range(start.prefixlen, 128, 4)
        if not any(ip in prefix and length >= prefix.prefixlen for prefix in unseen)
    }
    return 1 + 16 * len(existing)
