"""What the history database keeps of a night, and how a change is told apart. Pure.

A nightly audit of a /16 stores 65,536 rows a night, nearly all of them the
same as the night before. The history keeps a row only when an address's
result changes (a slowly changing dimension: each stored row is valid from the
run that saw it until the run that saw something else), plus each run's
counts. What counts as a change is every column of the row but the ones that
differ on every scan (timing, query and attempt counts).

Rows are kept as their text, with a spreadsheet's formula guard (the leading
`'` a CSV cell gets) taken off: a name reads the same from a CSV file or a
workbook. The writers (scanner/files/history.py) put it back where it is needed.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from scanner.core.findings import FINDING_STATUSES, row_findings
from scanner.core.rows import CSV_COLUMNS
from scanner.core.status import TRANSIENT, Status

# Columns that differ on every scan of an unchanged address.
PER_SCAN = frozenset({"queries", "elapsed_ms", "timestamp", "attempts"})
COMPARED = tuple(column for column in CSV_COLUMNS if column not in PER_SCAN)
STATUSES = tuple(status.value for status in Status)
FLAGS = ("generic_ptr", "expected_mismatch", "ns_inconsistent")
_FORMULA_GUARDED = re.compile(r"'[=+\-@\t\r]")


class HistoryRowError(ValueError):
    """A row the history cannot keep."""


def verdict_of(status: str) -> str:
    """'pass', 'failing' (the DNS is wrong) or 'transient' (the scan could not see)."""
    if status in FINDING_STATUSES:
        return "failing"
    if status == Status.PASS.value:
        return "pass"
    return "transient"


def unguarded(value: object) -> str:
    """A cell's text without a spreadsheet's formula guard; '' for an empty cell."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return text[1:] if text[:1] == "'" and _FORMULA_GUARDED.match(text) else text


def kept_row(row: Mapping[str, object]) -> dict[str, str]:
    """The row as the history keeps it: the CSV columns, as text, unguarded.

    Raises HistoryRowError for a row that is not a fcrdns result row.
    """
    kept = {column: unguarded(row.get(column)) for column in CSV_COLUMNS}
    if kept["status"] not in STATUSES or not kept["ip"]:
        raise HistoryRowError(
            f"not a fcrdns result row (ip {kept['ip'][:60]!r}, status {kept['status'][:30]!r})"
        )
    return kept


def fingerprint(row: Mapping[str, str]) -> str:
    """What a change is measured by: every kept column but the per-scan ones."""
    # NUL never occurs in a row's text: every name is shown escaped (names.present()).
    compared = "\0".join([row[column] for column in COMPARED])
    return hashlib.sha256(compared.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(slots=True)
class NightCounts:
    """A night's counts, gathered from its rows as they are stored."""

    addresses: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    flags: Counter[str] = field(default_factory=Counter)
    first: str = ""  # row timestamps, ISO 8601 UTC: text order is time order
    last: str = ""

    def add(self, row: Mapping[str, str]) -> None:
        self.addresses += 1
        self.statuses[row["status"]] += 1
        self.flags.update(kind for kind in row_findings(row) if kind in FLAGS)
        stamp = row["timestamp"]
        if stamp and (not self.first or stamp < self.first):
            self.first = stamp
        if stamp > self.last:
            self.last = stamp

    @property
    def failing(self) -> int:
        return sum(self.statuses[status] for status in FINDING_STATUSES)

    @property
    def transient(self) -> int:
        return sum(n for status, n in self.statuses.items() if TRANSIENT[Status(status)])


_SINCE = re.compile(r"(\d{1,5})([hdw])")
_UNIT = {"h": datetime.timedelta(hours=1), "d": datetime.timedelta(days=1),
         "w": datetime.timedelta(weeks=1)}  # fmt: skip


def since_time(text: str, now: datetime.datetime) -> datetime.datetime:
    """`--since`: '7d', '36h', '2w', or a date or time (ISO 8601, UTC); ValueError if not."""
    match = _SINCE.fullmatch(text.strip())
    if match:
        return now - int(match[1]) * _UNIT[match[2]]
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text[:40]!r}: give an age such as 7d, 36h or 2w, or a date such as "
            "2026-12-01"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def stamp_time(stamp: str) -> datetime.datetime | None:
    """A row's timestamp column (2026-12-04T02:00:01.123Z) as a UTC time; None if empty."""
    if not stamp:
        return None
    try:
        return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        raise HistoryRowError(f"timestamp {stamp[:40]!r} is not an ISO 8601 time") from None
