"""`fcrdns diff OLD NEW`: what changed between two scans (CSV or JSONL outputs).

Per IP: a changed status (pass -> mismatch), changed PTR names, changed forward
addresses, or an IP that appeared or disappeared. This is what a nightly job
mails to the operator. Exit code as diff(1): 0 no changes, 1 changes, 2 errors.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from scanner.core.names import present
from scanner.core.status import Status
from scanner.files.extsort import RUN, address_key, last_of_each, sorted_by_address
from scanner.files.results import ResultsError, read_results

_STATUSES = frozenset(status.value for status in Status)

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


def _forward_of(row: dict[str, str]) -> str:
    if "forward" in row and isinstance(row["forward"], list):  # JSONL
        parts = []
        for check in row["forward"]:
            value = " ".join(sorted(check["addresses"])) or check["outcome"]
            parts.append(f"{present(check['name'])}={value}")
        return ";".join(sorted(parts))
    cells = filter(None, row.get("forward_addresses", "").lstrip("'").split(";"))
    parts = []
    for cell in cells:
        name, _, value = cell.rpartition("=")  # a name may hold '=', the value never
        parts.append(f"{present(name)}={' '.join(sorted(value.split()))}")
    return ";".join(sorted(parts))


# (sort key, address text, snapshot): see scanner/files/extsort.py.
Keyed = tuple[bytes, str, Snapshot]


def snapshots(path: str, scratch: str, run: int = RUN) -> Iterator[Keyed]:
    """(key, ip, snapshot) of every row of a result file, in address order.

    An IP listed twice counts as its last row. Sorted runs that do not fit in
    memory go to files in the directory `scratch`.
    """

    def keyed() -> Iterator[tuple[bytes, tuple[str, str, str, str]]]:
        for number, row in enumerate(read_results(path), start=1):
            if "ptr_names" not in row:
                raise ResultsError(
                    f"{path}: no ptr_names column: not a complete fcrdns result file"
                )
            ip = row["ip"]
            try:
                key = address_key(ip)
            except ValueError:
                raise ResultsError(f"{path}: row {number}: not an IP address: {ip!r}") from None
            status = row["status"]
            if status not in _STATUSES:  # it is printed: only our own words
                raise ResultsError(f"{path}: row {number}: unknown status {status!r}")
            # Names as every output writes them: files written before the rule, or
            # by someone else, come out as ours do (present() changes nothing in ours).
            names = ";".join(
                sorted(present(n) for n in row["ptr_names"].lstrip("'").split(";") if n)
            )
            yield key, (ip, status, names, _forward_of(row))

    for key, (ip, status, names, forward) in last_of_each(sorted_by_address(keyed(), scratch, run)):
        yield key, ip, Snapshot(status, names, forward)


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


def compare(old: Iterable[Keyed], new: Iterable[Keyed]) -> Iterator[Change]:
    """The changes between two scans, each given by `snapshots()`, in address order."""
    olds, news = iter(old), iter(new)
    before, after = next(olds, _END), next(news, _END)
    while before is not _END or after is not _END:
        if before[0] < after[0]:
            yield Change(before[1], ("disappeared",), before[2], None)
            before = next(olds, _END)
        elif after[0] < before[0]:
            yield Change(after[1], ("appeared",), None, after[2])
            after = next(news, _END)
        else:
            was, now = before[2], after[2]
            kinds = tuple(
                kind
                for kind, changed in (
                    ("status", was.status != now.status),
                    ("ptr_names", was.ptr_names != now.ptr_names),
                    ("forward", was.forward != now.forward),
                )
                if changed
            )
            if kinds:
                yield Change(after[1], kinds, was, now)
            before, after = next(olds, _END), next(news, _END)


# Sorts after every address: the end of a file.
_END: Keyed = (b"\xff", "", Snapshot("", "", ""))


class ChangeCounts:
    """What the changes add up to, counted as they stream past."""

    def __init__(self) -> None:
        self.total = 0
        self.kinds: Counter[str] = Counter()
        self.transitions: Counter[str] = Counter()

    def counting(self, changes: Iterable[Change]) -> Iterator[Change]:
        for change in changes:
            self.total += 1
            self.kinds.update(change.kinds)
            if "status" in change.kinds and change.old and change.new:
                self.transitions[f"{change.old.status} -> {change.new.status}"] += 1
            yield change

    def text(self) -> str:
        if not self.total:
            return "no changes\n"
        lines = [f"{self.total:,} IPs changed"]
        for kind in ("status", "ptr_names", "forward", "appeared", "disappeared"):
            if self.kinds[kind]:
                lines.append(f"  {kind}: {self.kinds[kind]:,}")
        for transition, count in self.transitions.most_common():
            lines.append(f"    {transition}: {count:,}")
        return "\n".join(lines) + "\n"
