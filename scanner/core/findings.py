"""What is wrong with one address, and what is new or fixed since the previous results.

A nightly job alerts on what *broke*, not on what has been broken for a year:
`--previous FILE --fail-on new` exits 1 only for findings FILE did not have.
A finding is a failing status (mismatch, no_ptr, ptr_nodata, no_forward) or
a flag (expected_mismatch, generic_ptr, ns_inconsistent); `transient` counts
only when asked for (`new:transient`), since it says the scan could not see,
not that the DNS is wrong.

The rule, per address and kind:
- new: tonight's row has it, and the previous file has no row for the address
  or a row with a verdict and without it;
- fixed: the previous row had it and tonight's row, with a verdict, does not;
- neither when one of the two rows is transient (nothing is known about the
  DNS there): such an address is counted as not compared.
Addresses the previous file has and tonight's scan does not are not fixed:
they were not looked at.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scanner.core.status import TRANSIENT, Status

FINDING_STATUSES = (
    Status.MISMATCH.value,
    Status.NO_PTR.value,
    Status.PTR_NODATA.value,
    Status.NO_FORWARD.value,
)
FLAGS = ("expected_mismatch", "generic_ptr", "ns_inconsistent")
TRANSIENT_KIND = "transient"
# What `--fail-on new` means without a kind.
NEW_KINDS = (*FINDING_STATUSES, *FLAGS)
KINDS = (*NEW_KINDS, TRANSIENT_KIND)
NEW_PREFIX = "new"

_TRUE = {"yes", "true", True}
_FALSE = {"no", "false", False}


def row_findings(row: Mapping[str, Any]) -> frozenset[str]:
    """The kinds of finding a result row (CSV, JSONL or XLSX, as read back) has.

    Raises ValueError for a status fcrdns does not write.
    """
    status = Status(row["status"])
    kinds: set[str] = set()
    if TRANSIENT[status]:
        kinds.add(TRANSIENT_KIND)
    elif status.value in FINDING_STATUSES:
        kinds.add(status.value)
    if row.get("expected_match") in _FALSE:
        kinds.add("expected_mismatch")
    if row.get("generic_ptr") in _TRUE:
        kinds.add("generic_ptr")
    if row.get("ns_consistent") in _FALSE:
        kinds.add("ns_inconsistent")
    return frozenset(kinds)


def new_kinds(names: Sequence[str]) -> tuple[str, ...]:
    """The kinds the `new` and `new:KIND` names of --fail-on ask about, in KINDS order."""
    asked: set[str] = set()
    for name in names:
        if name == NEW_PREFIX:
            asked.update(NEW_KINDS)
        elif name.startswith(NEW_PREFIX + ":"):
            asked.add(name.partition(":")[2])
    return tuple(kind for kind in KINDS if kind in asked)


@dataclass(slots=True)
class Changes:
    """Findings new and fixed since the previous results, counted per kind."""

    previous: str  # the file compared with
    new: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    fixed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    new_addresses: int = 0  # addresses with at least one new finding (transient aside)
    fixed_addresses: int = 0  # addresses with at least one fixed finding (transient aside)
    not_compared: int = 0  # addresses whose row was transient in one of the two
    first_seen: int = 0  # addresses the previous results have no row for

    def add(self, before: frozenset[str] | None, now: frozenset[str]) -> None:
        """One address of tonight's results: `before` is its previous row's (None: no row)."""
        if before is None:
            self.first_seen += 1
            before = frozenset()
        elif TRANSIENT_KIND in before or TRANSIENT_KIND in now:
            if (TRANSIENT_KIND in now) != (TRANSIENT_KIND in before):
                counts = self.new if TRANSIENT_KIND in now else self.fixed
                counts[TRANSIENT_KIND] += 1
            self.not_compared += 1
            return
        appeared = now - before
        for kind in appeared:
            self.new[kind] += 1
        for kind in before - now:
            self.fixed[kind] += 1
        self.new_addresses += bool(appeared - {TRANSIENT_KIND})
        self.fixed_addresses += bool(before - now)

    def new_of(self, kinds: Sequence[str]) -> int:
        return sum(self.new[kind] for kind in kinds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "previous": self.previous,
            "new": dict(self.new),
            "fixed": dict(self.fixed),
            "new_addresses": self.new_addresses,
            "fixed_addresses": self.fixed_addresses,
            "not_compared": self.not_compared,
            "first_seen": self.first_seen,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Changes:
        return cls(
            previous=str(data["previous"]),
            new=dict(data["new"]),
            fixed=dict(data["fixed"]),
            new_addresses=int(data["new_addresses"]),
            fixed_addresses=int(data["fixed_addresses"]),
            not_compared=int(data["not_compared"]),
            first_seen=int(data["first_seen"]),
        )
