"""`fcrdns report RESULTS -o report.html`: a scan's results as a page to look at and forward."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from scanner.core.exits import EXIT_OK, UserError
from scanner.core.report import Changes, ReportBuilder, ReportError
from scanner.files.diff import compare, snapshots
from scanner.files.history import nights
from scanner.files.historydb import HistoryDB, HistoryError
from scanner.files.ownfiles import PlantedLinkError, create_new
from scanner.files.reportpage import Night, render
from scanner.files.results import ResultsError, read_results


def run_report_command(args: argparse.Namespace) -> int:
    output = args.output
    sources = [args.results, *([args.previous] if args.previous else [])]
    if os.path.realpath(output) in {os.path.realpath(path) for path in sources}:
        raise UserError(f"-o {output} would overwrite the results it reports on")
    if not output.lower().endswith((".html", ".htm")):
        raise UserError(f"-o {output}: the report is an HTML page; name it .html")
    summary = read_summary(args.summary) if args.summary else None
    builder = ReportBuilder()
    try:
        for number, row in enumerate(read_results(args.results), start=1):
            builder.add(row, number)
    except ResultsError as exc:
        raise UserError(str(exc)) from None
    except ReportError as exc:
        raise UserError(f"{args.results}: {exc}") from None
    changes = _changes(args.previous, args.results) if args.previous else None
    page = render(
        builder.finish(),
        source=Path(args.results).name,
        summary=summary,
        changes=changes,
        previous=Path(args.previous).name if args.previous else "",
        nights=_nights(args.history) if args.history else None,
    )
    _write(output, page)
    print(f"fcrdns report: wrote {output} ({builder.rows:,} addresses)", file=sys.stderr)
    return EXIT_OK


def read_summary(path: str) -> dict[str, Any]:
    """A scan's --summary JSON, checked for the fields the report and the history use."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise UserError(f"cannot read --summary {path!r}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError):
        raise UserError(f"--summary {path}: not the JSON a scan's --summary writes") from None
    if not isinstance(data, dict) or not isinstance(data.get("counts"), dict):
        raise UserError(f"--summary {path}: not the JSON a scan's --summary writes")
    problem = _summary_problem(data)
    if problem:
        raise UserError(f"--summary {path}: {problem}: not the JSON a scan's --summary writes")
    return data


def _summary_problem(data: dict[str, Any]) -> str:
    """What makes the fields the page shows not what a scan writes; '' if nothing."""
    duration = data.get("duration_s")
    if duration is not None and (
        isinstance(duration, bool) or not isinstance(duration, int | float)
    ):
        return "'duration_s' is not a number"
    pool = data.get("resolver_pool")
    if pool is None:
        return ""
    resolvers = pool.get("resolvers", []) if isinstance(pool, dict) else None
    if not isinstance(resolvers, list) or not all(
        isinstance(entry, dict) and isinstance(entry.get("resolver"), str) for entry in resolvers
    ):
        return "'resolver_pool' is not an object with a list of resolvers"
    return ""


TREND_NIGHTS = 30


def _nights(target: str) -> list[Night]:
    """The history's last nights, oldest first, for the trend and the tiles."""
    try:
        db = HistoryDB(target, create=False)
        try:
            stored = nights(db, last=TREND_NIGHTS)
        finally:
            db.close()
    except HistoryError as exc:
        raise UserError(f"--history: {exc}") from None
    return [
        Night(
            night.started_at,
            int(night.counts["addresses"] or 0),
            int(night.counts["passing"] or 0),
            int(night.counts["failing"] or 0),
            night.counts["new_failing"],
            night.counts["fixed"],
        )
        for night in stored
    ]


def _changes(previous: str, current: str) -> Changes:
    """The differences from the earlier scan, by `fcrdns diff`'s streaming comparison."""
    changes = Changes()
    try:
        with tempfile.TemporaryDirectory(prefix="fcrdns-report-") as scratch:
            for change in compare(snapshots(previous, scratch), snapshots(current, scratch)):
                old = change.old.status if change.old else ""
                new = change.new.status if change.new else ""
                changes.add(change.ip, change.kinds, old, new)
    except ResultsError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot sort the results in a temporary directory: {exc}") from None
    return changes


def _write(path: str, page: str) -> None:
    """Whole or not at all: through PATH.partial (never through a planted link), then renamed."""
    temporary = path + ".partial"
    try:
        with open(temporary, "w", encoding="utf-8", opener=create_new) as handle:
            handle.write(page)
        os.replace(temporary, path)
    except PlantedLinkError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
