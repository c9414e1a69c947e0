"""`fcrdns history DB ...`: what the stored nights say, for people and scripts.

- `fcrdns history DB` (or `--nights`): the counts of each stored night;
- `fcrdns history DB ADDRESS|PREFIX`: each address's results over the nights,
  and since when it fails;
- `fcrdns history DB --changes --since 7d`: every change of the last nights;
- `fcrdns history DB --add RESULTS`: store a result file as a night (an older
  night's file, or one whose run could not reach the database).

Text for a terminal (every value escaped), `--format csv` or `jsonl` for scripts.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import ipaddress
import json
import sys
from collections.abc import Iterable
from typing import Any

from scanner.commands.report import read_summary
from scanner.core.exits import EXIT_OK, CouldNotComplete, UserError
from scanner.core.history import since_time, verdict_of
from scanner.core.names import printable
from scanner.core.rows import spreadsheet_safe
from scanner.files.extsort import address_key
from scanner.files.history import NIGHT_COLUMNS, changes, nights, run_times, store_night, versions
from scanner.files.historydb import HistoryDB, HistoryError, shown
from scanner.files.results import ResultsError, read_results


def history_parser(commands: Any, *, epilog: str) -> None:
    history = commands.add_parser(
        "history",
        help="the nights stored with scan --history: counts per night, an address's past, "
        "the changes since a date",
        epilog=epilog,
        description="Read a history database (an SQLite file, or a postgresql:// URL) that "
        "scan --history writes: without ADDRESS, the counts of each night; with an ADDRESS or "
        "PREFIX, each address's results night by night and since when it fails; with "
        "--changes, every address whose result changed.",
    )
    history.add_argument("database", metavar="DB", help="the SQLite file or postgresql:// URL")
    history.add_argument(
        "where", metavar="ADDRESS|PREFIX", nargs="?", help="an address or prefix to look up"
    )
    history.add_argument("--changes", action="store_true", help="every change of the nights")
    history.add_argument("--nights", action="store_true", help="the counts of each night (default)")
    history.add_argument(
        "--since",
        metavar="AGE|DATE",
        help="only the nights since then: 7d, 36h, 2w or a date (UTC); --changes: default 7d",
    )
    history.add_argument(
        "--add",
        metavar="RESULTS",
        help="store RESULTS (a scan's CSV or XLSX, .csv.gz too) as a night, whole or not at all",
    )
    history.add_argument("--summary", metavar="FILE", help="with --add: that scan's --summary JSON")
    history.add_argument("--format", choices=("text", "csv", "jsonl"), default="text")
    history.set_defaults(handler=run_history_command)


def run_history_command(args: argparse.Namespace) -> int:
    now = datetime.datetime.now(datetime.UTC)
    try:
        since = since_time(args.since, now) if args.since else None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    modes = sum(map(bool, (args.where, args.changes, args.add)))
    if modes > 1 or (args.nights and modes):
        raise UserError("give one of ADDRESS|PREFIX, --changes, --nights and --add")
    if args.summary and not args.add:
        raise UserError("--summary goes with --add RESULTS")
    lookup = _range(args.where) if args.where else None
    try:
        db = HistoryDB(args.database, create=bool(args.add))
    except HistoryError as exc:
        raise UserError(str(exc)) from None
    try:
        if args.add:
            return _add(db, args.add, args.summary)
        if lookup is not None:
            lines = _versions(db, *lookup)
        elif args.changes:
            lines = _changes(db, since or now - datetime.timedelta(days=7))
        else:
            lines = _nights(db, since)
        _write(lines, args.format)
    except HistoryError as exc:
        raise UserError(str(exc)) from None
    finally:
        db.close()
    return EXIT_OK


def _range(where: str) -> tuple[str, str]:
    """The address keys (hex) an ADDRESS or PREFIX covers."""
    try:
        network = ipaddress.ip_network(where, strict=False)
    except ValueError:
        raise UserError(f"{printable(where)!r} is not an address or prefix") from None
    first = address_key(str(network.network_address)).hex()
    last = address_key(str(network.broadcast_address)).hex()
    return first, last + "ff"  # a walk's prefix rows sort just after their first address


Table = tuple[list[str], Iterable[list[object]]]


def _nights(db: HistoryDB, since: datetime.datetime | None) -> Table:
    header = ["run", "started_at", *NIGHT_COLUMNS]
    return header, (
        [night.run_id, _when(night.started_at), *night.counts.values()]
        for night in nights(db, since)
    )


def _versions(db: HistoryDB, lo: str, hi: str) -> Table:
    times = run_times(db)
    header = ["ip", "from_run", "from", "to_run", "until", "status", "failing_since", "reason"]

    def lines() -> Iterable[list[object]]:
        failing_since = ""
        previous_ip = ""
        for version in versions(db, lo, hi):
            if version.ip != previous_ip:
                failing_since, previous_ip = "", version.ip
            status = version.row["status"]
            if verdict_of(status) == "failing":
                failing_since = failing_since or _when(times[version.from_run])
            elif verdict_of(status) == "pass":
                failing_since = ""
            until = "now" if version.to_run is None else _when(times[version.to_run])
            yield [version.ip, version.from_run, _when(times[version.from_run]), version.to_run,
                   until, status, failing_since, version.row["reason"]]  # fmt: skip

    return header, lines()


def _changes(db: HistoryDB, since: datetime.datetime) -> Table:
    times = run_times(db)
    header = ["run", "night", "ip", "before", "now", "reason"]
    return header, (
        [change.run_id, _when(times[change.run_id]), change.ip,
         change.before["status"] if change.before else "(not scanned)",
         change.now["status"] if change.now else "(not found)",
         change.now["reason"] if change.now else "the walk found no PTR record there"]
        for change in changes(db, since)
    )  # fmt: skip


def _when(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _write(table: Table, fmt: str) -> None:
    header, lines = table
    out = sys.stdout
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for line in lines:
            writer.writerow([spreadsheet_safe("" if v is None else str(v)) for v in line])
    elif fmt == "jsonl":
        for line in lines:
            out.write(json.dumps(dict(zip(header, line, strict=True)), ensure_ascii=False) + "\n")
    else:
        out.write("  ".join(header) + "\n")
        for line in lines:
            cells = ["-" if v is None else printable(str(v), 200) for v in line]
            out.write("  ".join(cells) + "\n")


def _add(db: HistoryDB, results: str, summary_file: str | None) -> int:
    summary = read_summary(summary_file) if summary_file else None

    def staged(rows: int) -> None:
        print(f"fcrdns history: {rows:,} rows read", file=sys.stderr, flush=True)

    try:
        stored = store_night(db, read_results(results), source=results, summary=summary,
                             staged=staged)  # fmt: skip
    except ResultsError as exc:
        raise UserError(f"{exc}; nothing was stored") from None
    except HistoryError as exc:
        raise CouldNotComplete(f"{exc}; nothing was stored") from None
    print(f"fcrdns history: stored {results} as night {stored.run_id} in "
          f"{shown(db.target)}: {stored.described()}", file=sys.stderr)  # fmt: skip
    return EXIT_OK
