"""`fcrdns diff OLD NEW`: what changed between two scans (CSV or JSONL outputs).

Per IP: a changed status (pass -> mismatch), changed PTR names, changed forward
addresses, or an IP that appeared or disappeared. This is what a nightly job
mails to the operator. Exit code as diff(1): 0 no changes, 1 changes, 2 errors.
"""

from __future__ import annotations

import heapq
import operator
import pickle
import socket
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from scanner.names import present
from scanner.results import ResultsError, read_results
from scanner.status import Status

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


def _forward_of(row: dict) -> str:
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


# Rows sorted in memory at a time: a scan's rows come in completion order, so
# each file is sorted by address in runs of this many, kept in temporary
# files, and merged. Memory stays flat whatever the files' size (a /8 is 16.7
# million rows; held whole, 1.2 million rows took 800 MB).
RUN = 100_000
# Rows pickled (and read back) together. The merge holds one such chunk of
# every run, and a /8 is about 170 runs per file.
PICKLED = 256

# (sort key, address text, snapshot). The key is the address family's tag
# and the address in network byte order, so bytes order is address order
# (IPv4 first), and two spellings of one IPv6 address are one address.
Keyed = tuple[bytes, str, Snapshot]
_FAMILIES = ((b"4", socket.AF_INET), (b"6", socket.AF_INET6))


def snapshots(path: str, scratch: str) -> Iterator[Keyed]:
    """(key, ip, snapshot) of every row of a result file, in address order.

    An IP listed twice counts as its last row. Sorted runs that do not fit in
    memory go to files in the directory `scratch`.
    """
    runs: list[str] = []
    rows: list[Keyed] = []
    for number, row in enumerate(read_results(path), start=1):
        if "ptr_names" not in row:
            raise ResultsError(f"{path}: no ptr_names column: not a complete fcrdns result file")
        ip = row["ip"]
        tag, family = _FAMILIES[":" in ip]
        try:
            key = tag + socket.inet_pton(family, ip)
        except (OSError, ValueError):  # ValueError: a NUL character
            raise ResultsError(f"{path}: row {number}: not an IP address: {ip!r}") from None
        status = row["status"]
        if status not in _STATUSES:  # it is printed: only our own words
            raise ResultsError(f"{path}: row {number}: unknown status {status!r}")
        # Names as every output writes them: files written before the rule, or
        # by someone else, come out as ours do (for ours, present() changes nothing).
        names = ";".join(sorted(present(n) for n in row["ptr_names"].lstrip("'").split(";") if n))
        rows.append((key, ip, Snapshot(status, names, _forward_of(row))))
        if len(rows) == RUN:
            runs.append(_spill(rows, scratch))
            rows = []
    if runs:
        runs.append(_spill(rows, scratch))
        ordered: Iterable[Keyed] = heapq.merge(*map(_read_run, runs), key=_address_key)
    else:
        ordered = sorted(rows, key=_address_key)
    # Equal addresses are adjacent, in file order (both sorts are stable and
    # the merge prefers earlier runs): keep the last of each.
    previous: Keyed | None = None
    for keyed in ordered:
        if previous is not None and previous[0] != keyed[0]:
            yield previous
        previous = keyed
    if previous is not None:
        yield previous


_address_key = operator.itemgetter(0)


def _spill(rows: list[Keyed], scratch: str) -> str:
    rows.sort(key=_address_key)
    handle = tempfile.NamedTemporaryFile(dir=scratch, suffix=".run", delete=False)  # noqa: SIM115
    with handle:
        for start in range(0, len(rows), PICKLED):
            pickle.dump(
                [
                    (key, ip, snap.status, snap.ptr_names, snap.forward)
                    for key, ip, snap in rows[start : start + PICKLED]
                ],
                handle,
                protocol=pickle.HIGHEST_PROTOCOL,
            )
    return handle.name


def _read_run(path: str) -> Iterator[Keyed]:
    with open(path, "rb") as handle:
        while True:
            try:
                chunk = pickle.load(handle)
            except EOFError:
                return
            for key, ip, status, names, forward in chunk:
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
