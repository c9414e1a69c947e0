"""The `fcrdns` command line: parse arguments, turn errors into messages and exit codes.

Exit codes (scanner/core/exits.py): 0 done, 1 findings (an IP ended with a
--fail-on status; `diff`: changes), 2 bad usage or input (nothing was
scanned), 3 could not complete (an output became unwritable, the resolvers
stopped answering, a bug; a scan's outputs are resumable), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Sequence

from scanner import __version__
from scanner.commands.history import history_parser
from scanner.commands.scanargs import Subcommands, scan_options, scan_parser
from scanner.core.exits import (
    EXIT_FAILED,
    EXIT_FINDINGS,
    EXIT_INTERRUPTED,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_USAGE,
    AlreadyRunning,
    CouldNotComplete,
    Interrupted,
    NothingToDo,
    UserError,
    leaf_exceptions,
    stdout_closed,
)
from scanner.core.names import printable

EXIT_CODES = (
    "exit codes: 0 done, 1 findings (--fail-on; diff: changes), 2 bad usage or input "
    "(nothing scanned), 3 could not complete (outputs resumable with --resume), "
    "75 another run is writing the same outputs (nothing done), 130 interrupted"
)


def _lab_parser(commands: Subcommands) -> None:
    lab = commands.add_parser(
        "lab",
        help="serve a synthetic hosting provider's DNS on loopback, for tests and demos",
        epilog=EXIT_CODES,
        description="Serve the reverse and forward zones of a synthetic provider "
        "(authoritative, UDP and TCP) until interrupted. Prints HOST:PORT on stdout "
        "once it is ready.",
    )
    lab.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="lab description (YAML; default: the built-in configs/lab.yaml)",
    )
    lab.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    lab.add_argument("--port", type=int, default=0, help="port for UDP and TCP (0: a free one)")
    lab.add_argument("--port-file", metavar="FILE", help="also write HOST:PORT to FILE when ready")
    lab.add_argument(
        "--detach",
        action="store_true",
        help="serve in the background: return once the server listens (printing HOST:PORT), "
        "leaving it running; stop it with kill (see --pid-file)",
    )
    lab.add_argument("--pid-file", metavar="FILE", help="write the server's process id to FILE")
    lab.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)  # --detach's own
    lab.add_argument(
        "--truth",
        metavar="FILE",
        help="write the ground truth (ip, case, expected_status...) as CSV",
    )
    lab.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="MS",
        help="milliseconds added before every answer",
    )
    lab.add_argument(
        "--drop",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="fraction of UDP queries never answered",
    )
    lab.add_argument(
        "--servfail",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="fraction of queries answered SERVFAIL",
    )
    lab.add_argument(
        "--truncate",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="fraction of UDP answers truncated (TC bit: retry over TCP)",
    )
    lab.add_argument("--seed", type=int, default=1, help="seed for the fault choices")
    lab.add_argument(
        "--break-rfc8020",
        choices=("nxdomain-ent", "noerror-all"),
        default=None,
        help="answer as servers that break RFC 8020 do: NXDOMAIN for empty non-terminals, "
        "or NOERROR for names that do not exist (for walking the reverse tree)",
    )
    lab.add_argument(
        "--rotate",
        action="store_true",
        help="write each answer's records turned by one more every time the question is asked "
        "again, instead of in a random order: N askings see each of N records first",
    )
    lab.add_argument(
        "--record-arrivals",
        metavar="FILE",
        help="on exit, write the arrival time of every query (monotonic seconds, one per "
        "line) to FILE, to measure a scanner's pacing (with --authoritative, each name "
        "server's to FILE.ADDRESS)",
    )
    lab.add_argument(
        "--export-zones",
        metavar="DIR",
        help="write the lab zones as zone files into DIR (for Knot, BIND...), print their "
        "paths and exit instead of serving; DIR/secondary/ gets the stale secondary's copy",
    )
    lab.add_argument(
        "--authoritative",
        action="store_true",
        help="also serve the zones as their name servers ns1 (current, on 127.0.0.2) and ns2 "
        "(stale where the secondary_* cases are, on 127.0.0.3) on the same port, for "
        "scan --check-authoritative --authoritative-port PORT (no root needed)",
    )
    lab.set_defaults(handler=_run_lab)


def _report_parser(commands: Subcommands) -> None:
    report = commands.add_parser(
        "report",
        help="write a scan's results as one self-contained HTML page: summary, address map, "
        "what to fix, what changed",
        epilog=EXIT_CODES,
        description="Read a result file (CSV or JSONL, .gz too) in bounded memory and write "
        "an HTML report that needs no network to open: a headline and tiles (passing, to fix, "
        "new and fixed, name-server findings), maps coloured by the share failing (IPv4 per "
        "/24 on a Hilbert curve, IPv6 per /64), what to fix ranked by addresses with the "
        "record to paste, and with --previous or --history the changes and the trend.",
    )
    report.add_argument("results", metavar="RESULTS", help="the scan's CSV or JSONL output")
    report.add_argument(
        "-o", "--output", metavar="FILE", required=True, help="the HTML file to write"
    )
    report.add_argument(
        "--previous",
        metavar="OLD",
        help="an earlier scan's results: add the status transitions and the blocks that got worse",
    )
    report.add_argument(
        "--summary",
        metavar="FILE",
        help="the scan's --summary JSON: adds the resolvers, the scan's duration and what "
        "--check-authoritative found (serials, lame servers)",
    )
    report.add_argument(
        "--history",
        metavar="DB",
        help="the scan's --history database: a trend of the last 30 nights, and new and fixed "
        "since the night before when these results are its last night",
    )
    report.set_defaults(handler=_run_report)


def _diff_parser(commands: Subcommands) -> None:
    diff = commands.add_parser(
        "diff",
        help="compare two scans: changed statuses, PTR names, forward addresses",
        epilog=EXIT_CODES,
        description="Compare two result files (CSV, JSONL or XLSX) of earlier scans. Writes one "
        "row per changed IP and a summary on stderr. Exit code: 0 no changes, 1 changes.",
    )
    diff.add_argument("old", metavar="OLD", help="the earlier results")
    diff.add_argument("new", metavar="NEW", help="the later results")
    diff.add_argument("-o", "--output", metavar="FILE", help="write the changes to FILE "
                      "(.csv or .jsonl; default: CSV on stdout)")  # fmt: skip
    diff.add_argument("--format", choices=("csv", "jsonl"), default=None)
    diff.set_defaults(handler=_run_diff)


def _sort_parsers(commands: Subcommands) -> None:
    sort = commands.add_parser(
        "sort",
        help="write a result file's rows in address order",
        epilog=EXIT_CODES,
        description="Write the rows of a result file (CSV or JSONL, optionally .gz, or XLSX) in "
        "address order: IPv4 before IPv6, numerically. Rows are copied as they are; a /8 sorts in "
        "bounded memory, in runs on disk under $TMPDIR.",
    )
    sort.add_argument("results", metavar="RESULTS")
    sort.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write to FILE (the format of RESULTS; .gz compresses; default: stdout)",
    )
    sort.set_defaults(handler=_run_sort)
    merge = commands.add_parser(
        "merge",
        help="fold a rescan's rows back into the results it rescanned",
        epilog=EXIT_CODES,
        description="Write BASE with every row of UPDATES (e.g. a --rescan-failed result) in "
        "place of BASE's row for the same address, in address order.",
    )
    merge.add_argument("base", metavar="BASE")
    merge.add_argument("updates", metavar="UPDATES")
    merge.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE (the inputs' format; default: stdout)"
    )
    merge.set_defaults(handler=_run_merge)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fcrdns",
        description="Bulk scanner for forward-confirmed reverse DNS (FCrDNS).",
        epilog=EXIT_CODES,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    scan_parser(commands, epilog=EXIT_CODES).set_defaults(handler=_run_scan)
    _lab_parser(commands)
    _diff_parser(commands)
    _report_parser(commands)
    _sort_parsers(commands)
    history_parser(commands, epilog=EXIT_CODES)
    return parser


def scan_notice(message: str) -> None:
    """What a scan reports while it runs (scanner/core/notices.py), on stderr."""
    from scanner.scan.progress import write_line  # clears and redraws a progress line

    write_line(f"fcrdns scan: {printable(message, 500)}")


def _run_scan(args: argparse.Namespace) -> int:
    from scanner.scan.dryrun import describe
    from scanner.scan.planning import plan_scan
    from scanner.scan.run import ScanIncomplete, run_plan

    plan = plan_scan(scan_options(args))
    if args.dry_run:
        if plan.lock is not None:
            plan.lock.release()
        sys.stdout.write(describe(plan))
        return EXIT_OK
    if plan.finishing_only and plan.journal is not None:
        print(
            f"fcrdns scan: the scan in {plan.journal.path} staged every row before it was "
            "stopped; finishing its outputs",
            file=sys.stderr,
        )
    try:
        summary = run_plan(plan, notice=scan_notice)
    except ScanIncomplete as exc:
        print(f"fcrdns scan: error: {exc}", file=sys.stderr)
        if exc.partial_files:
            print(
                f"fcrdns scan: the rows so far are in {', '.join(exc.partial_files)}; once the "
                "cause is fixed, run the same command with --resume to continue",
                file=sys.stderr,
            )
        return EXIT_FAILED
    if not args.quiet:
        sys.stderr.write(summary.as_text())
    if summary.interrupted:
        return EXIT_INTERRUPTED
    if summary.rows < summary.targets:
        print(
            f"fcrdns scan: error: only {summary.rows:,} of {summary.targets:,} addresses have "
            "a row (a worker failed)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    # The rows before a --resume count too: they are in the outputs.
    found = {name: n for name, n in summary.matching(plan.fail_on).items() if n}
    if found:
        listed = ", ".join(f"{n:,} {name}" for name, n in found.items())
        print(f"fcrdns scan: findings: {listed} (--fail-on)", file=sys.stderr)
        return EXIT_FINDINGS
    return EXIT_OK


def _run_diff(args: argparse.Namespace) -> int:
    from scanner.commands.diff import run_diff_command

    return run_diff_command(args)


def _run_report(args: argparse.Namespace) -> int:
    from scanner.commands.report import run_report_command

    return run_report_command(args)


def _run_sort(args: argparse.Namespace) -> int:
    from scanner.commands.sort import run_sort_command

    return run_sort_command(args)


def _run_merge(args: argparse.Namespace) -> int:
    from scanner.commands.sort import run_merge_command

    return run_merge_command(args)


def _run_lab(args: argparse.Namespace) -> int:
    from scanner.commands.lab import run_lab_command

    return run_lab_command(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # `lab --detach` runs it again
    # Until a scan takes the signal over (to finish its rows), SIGTERM is an
    # interruption like Ctrl-C: exit 130, not the shell's 143.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        code: int = args.handler(args)
        return code
    except UserError as exc:
        print(f"fcrdns {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AlreadyRunning as exc:
        print(f"fcrdns {args.command}: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except Interrupted as exc:
        print(f"fcrdns {args.command}: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print(f"fcrdns {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except NothingToDo as exc:
        print(f"fcrdns {args.command}: {exc}", file=sys.stderr)
        return EXIT_OK
    except CouldNotComplete as exc:
        print(f"fcrdns {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        stdout_closed()
        return EXIT_FAILED
    except Exception as exc:  # a bug: one line here, the traceback in a file
        return _crashed(args.command, exc)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _crashed(command: str, caught: BaseException) -> int:
    exc = next(leaf_exceptions(caught))  # the first failure, out of anyio's groups
    what = printable(str(exc), 300)
    try:
        fd, path = tempfile.mkstemp(prefix=f"fcrdns-{command}-crash-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8") as log:
            traceback.print_exception(caught, file=log)
        where = f"the traceback is in {path}"
    except OSError:
        where = "the traceback could not be saved"
    print(
        f"fcrdns {command}: error: unexpected {type(exc).__name__}: {what} (a bug; {where}; "
        "please report it)",
        file=sys.stderr,
    )
    return EXIT_FAILED
