"""`scan --previous FILE|DB`: tonight's findings against the last results
(scanner/core/findings.py): a result file, or the last night of a --history database.

Both are read as they are used and sorted in runs on disk
(scanner/files/extsort.py), so comparing two /8s holds one run in memory.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterable, Iterator

from scanner.core.findings import Changes, row_findings
from scanner.files.extsort import Keyed, address_key, last_of_each, sorted_by_address
from scanner.files.history import rows_at_last_run
from scanner.files.historydb import HistoryDB, NoHistoryYet, looks_like_history, shown
from scanner.files.results import ResultsError, read_results


def _findings(path: str, rows: Iterable[dict[str, str]] | None = None) -> Iterator[Keyed]:
    for number, row in enumerate(read_results(path) if rows is None else rows, start=1):
        try:
            yield address_key(str(row["ip"])), row_findings(row)
        except (ValueError, KeyError):
            raise ResultsError(
                f"{path}: row {number}: not a fcrdns result row (ip {str(row.get('ip'))[:60]!r}, "
                f"status {str(row.get('status'))[:30]!r})"
            ) from None


def check_previous(path: str) -> bool:
    """Whether `path` has results to compare with (a history: a night stored). Raises
    ResultsError unless it reads as a result file (its first row is checked), HistoryError
    for a database that cannot be read."""
    if looks_like_history(path):
        try:
            db = HistoryDB(path, create=False)
        except NoHistoryYet:
            return False
        try:
            return bool(db.execute("SELECT count(*) FROM fcrdns_runs").fetchone()[0])
        finally:
            db.close()
    next(itertools.islice(_findings(path), 1), None)
    return True


def compare_with(previous: str, current: str) -> Changes:
    """The findings of `current` (tonight's output) new and fixed since `previous`."""
    changes = Changes(previous=shown(previous))
    db = HistoryDB(previous, create=False) if looks_like_history(previous) else None
    try:
        with tempfile.TemporaryDirectory(prefix="fcrdns-previous-") as scratch:
            stored = None if db is None else rows_at_last_run(db)
            olds = last_of_each(sorted_by_address(_findings(previous, stored), scratch))
            news = last_of_each(sorted_by_address(_findings(current), scratch))
            before = next(olds, None)
            for key, now in news:
                while before is not None and before[0] < key:
                    before = next(olds, None)  # not scanned tonight: not fixed, not counted
                if before is not None and before[0] == key:
                    changes.add(before[1], now)
                else:
                    changes.add(None, now)
    finally:
        if db is not None:
            db.close()
    return changes
