"""`scan --previous FILE`: tonight's findings against the last results (scanner/core/findings.py).

Both files are read as they are used and sorted in runs on disk
(scanner/files/extsort.py), so comparing two /8s holds one run in memory.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator

from scanner.core.findings import Changes, row_findings
from scanner.files.extsort import Keyed, address_key, last_of_each, sorted_by_address
from scanner.files.results import ResultsError, read_results


def _findings(path: str) -> Iterator[Keyed]:
    for number, row in enumerate(read_results(path), start=1):
        try:
            yield address_key(str(row["ip"])), row_findings(row)
        except (ValueError, KeyError):
            raise ResultsError(
                f"{path}: row {number}: not a fcrdns result row (ip {str(row.get('ip'))[:60]!r}, "
                f"status {str(row.get('status'))[:30]!r})"
            ) from None


def check_previous(path: str) -> None:
    """Raise ResultsError unless `path` reads as a result file (its first row is checked)."""
    next(itertools.islice(_findings(path), 1), None)


def compare_with(previous: str, current: str) -> Changes:
    """The findings of `current` (tonight's output) new and fixed since `previous`."""
    changes = Changes(previous=previous)
    with tempfile.TemporaryDirectory(prefix="fcrdns-previous-") as scratch:
        olds = last_of_each(sorted_by_address(_findings(previous), scratch))
        news = last_of_each(sorted_by_address(_findings(current), scratch))
        before = next(olds, None)
        for key, now in news:
            while before is not None and before[0] < key:
                before = next(olds, None)  # not scanned tonight: not fixed, not counted
            if before is not None and before[0] == key:
                changes.add(before[1], now)
            else:
                changes.add(None, now)
    return changes
