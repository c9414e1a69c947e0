"""`fcrdns scan`'s flags, and the scan's request (`ScanOptions`) made from them."""

from __future__ import annotations

import argparse
from typing import TypeAlias

from scanner.core.config import ConfigError
from scanner.core.exits import UserError
from scanner.core.jobfile import JobFile
from scanner.core.options import ScanOptions

# What `add_subparsers()` returns; argparse names the type privately.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def scan_parser(commands: Subcommands, *, epilog: str) -> argparse.ArgumentParser:
    """Add `scan` to the subcommands; its handler is the caller's to set."""
    scan = commands.add_parser(
        "scan",
        help="check forward-confirmed reverse DNS for IPs, CIDRs and ranges",
        epilog=epilog,
        description="Check forward-confirmed reverse DNS for every address given, "
        "writing one row per address.",
    )
    scan.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="an IP, a CIDR (198.18.0.0/24, 2001:db8::/120) or a range A-B",
    )
    scan.add_argument(
        "-f",
        "--file",
        action="append",
        default=[],
        metavar="FILE",
        help="read targets one per line from FILE ('-' for stdin); repeatable",
    )
    scan.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="TARGET",
        help="do not scan these addresses; repeatable",
    )
    scan.add_argument(
        "--exclude-file",
        action="append",
        default=[],
        metavar="FILE",
        help="read exclusions one per line from FILE; repeatable",
    )
    scan.add_argument(
        "-o",
        "--output",
        action="append",
        default=[],
        metavar="FILE",
        help="write results to FILE (.csv, .jsonl or .xlsx; '-' for stdout, the "
        "default); repeatable, e.g. -o out.csv -o out.jsonl",
    )
    scan.add_argument(
        "--format",
        choices=("csv", "jsonl", "xlsx"),
        default=None,
        help="output format for every output (default: by file extension; csv for stdout)",
    )
    scan.add_argument(
        "--resolver",
        action="append",
        default=None,
        metavar="IP[:PORT]",
        help="nameserver to query: IP, IP:PORT or [IPv6]:PORT; repeatable "
        "(default: the system resolver configuration)",
    )
    scan.add_argument(
        "--concurrency",
        type=int,
        default=None,
        metavar="N",
        help="queries in flight at most: the ceiling of the adaptive in-flight window "
        "(default 5000)",
    )
    scan.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="wait per query try (default 2.0); c-ares adapts it to the resolver, never "
        "above this, and the try after a timeout (and every try for a zone found slow) "
        "waits all of it",
    )
    scan.add_argument(
        "--retries",
        type=int,
        default=None,
        metavar="N",
        help="attempts after the first for a query that timed out or got SERVFAIL, REFUSED "
        "or a network error (default 5); never for NXDOMAIN or NODATA",
    )
    scan.add_argument(
        "--rate",
        default=None,
        metavar="auto|QPS",
        help="queries per second for the whole scan, retries included: a number, 0 for no "
        "limit, or 'auto' (the default) to adapt to how the resolvers cope",
    )
    scan.add_argument(
        "--max-rate",
        type=float,
        default=None,
        metavar="QPS",
        help="ceiling of --rate auto (default 2000)",
    )
    scan.add_argument(
        "--resolver-rate",
        type=float,
        default=None,
        metavar="QPS",
        help="queries per second to each resolver (default 0: no limit of its own)",
    )
    scan.add_argument(
        "--burst",
        type=int,
        default=None,
        metavar="N",
        help="queries that may go out at once above the rate (default 20)",
    )
    scan.add_argument(
        "--rescan-failed",
        action="append",
        default=[],
        metavar="RESULTS",
        help="scan the IPs whose status in RESULTS (an earlier CSV or JSONL output) is "
        "transient: timeout, servfail, refused or error; repeatable",
    )
    scan.add_argument(
        "--workers",
        default=None,
        metavar="auto|N",
        help="processes to scan with, each taking a shard, rows merged into one output "
        "(default auto: one per core, up to 4, for scans of 8,192 addresses or more)",
    )
    scan.add_argument(
        "--order",
        choices=("random", "sequential"),
        default=None,
        help="scan order: random (default: a seeded permutation that spreads queries over "
        "reverse zones) or sequential (address order)",
    )
    scan.add_argument("--seed", type=int, default=None, help="seed of the random order (1)")
    scan.add_argument(
        "--shard",
        default=None,
        metavar="K/N",
        help="scan only shard K of N (1-based): every N-th target of the order, so N runs "
        "with the same targets, order and seed scan each address exactly once",
    )
    scan.add_argument(
        "--max-targets",
        type=int,
        default=None,
        metavar="N",
        help="refuse to scan more addresses than this (default 2^24); with --walk, the most "
        "names of the reverse tree to ask, and IPv4 addresses to write rows for",
    )
    scan.add_argument(
        "--config",
        metavar="FILE",
        help="a YAML job file: settings, targets, outputs, checks, alerts (configs/job.yaml); "
        "flags override it",
    )
    scan.add_argument("--summary", metavar="FILE", help="also write the summary as JSON to FILE")
    scan.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress display and no summary on stderr (errors and warnings still); "
        "the progress display only ever appears when stderr is a terminal",
    )
    scan.add_argument(
        "--walk",
        action="store_true",
        help="find the addresses that have reverse names by walking the reverse tree below "
        "each prefix (any size, IPv6 or IPv4; RFC 8020), then check each one found: "
        "docs/walk.md",
    )
    scan.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted scan (same command, same outputs) from its journal "
        "(<first output>.journal); without a journal, start a new scan",
    )
    scan.add_argument(
        "--expect",
        metavar="FILE",
        help="CSV of ip,hostname: the name each IP should have (e.g. each mail server's "
        "HELO name); adds expected_name and expected_match. Every line is checked; only "
        "the scanned addresses' names are kept",
    )
    scan.add_argument(
        "--helo",
        metavar="NAME",
        help="the name every IP should have (for IPs not in --expect)",
    )
    scan.add_argument(
        "--zone-owner",
        action="store_true",
        help="add ptr_zone and ptr_zone_ns: the reverse zone serving each PTR and its name "
        "servers (SOA/NS queries, cached per zone), so you know whom to ask for a fix",
    )
    scan.add_argument(
        "--check-authoritative",
        action="store_true",
        help="ask each name server of every PTR's reverse zone directly (implies --zone-owner): "
        "adds ns_consistent, ns_answers, ns_serials and ns_lame, and a per-zone report of "
        "serials and lame servers in the summary",
    )
    scan.add_argument(
        "--authoritative-rate",
        type=float,
        default=None,
        metavar="QPS",
        help="with --check-authoritative: queries per second to each of a zone's own name "
        "servers, on top of --rate (default 20; 0: no limit of its own)",
    )
    scan.add_argument(
        "--authoritative-allow",
        action="append",
        default=[],
        metavar="CIDR",
        help="with --check-authoritative: also ask name server addresses in CIDR (by default "
        "only global unicast addresses are asked: a zone's NS records must not aim our "
        "queries at loopback or internal hosts); repeatable",
    )
    scan.add_argument(
        "--authoritative-port",
        type=int,
        default=None,
        metavar="PORT",
        help="with --check-authoritative: the port the zones' name servers are asked on "
        "(default 53; for labs and tests)",
    )
    scan.add_argument(
        "--metrics",
        metavar="FILE",
        help="write the summary in the Prometheus text format to FILE (atomically), for "
        "node_exporter's textfile collector",
    )
    scan.add_argument(
        "--previous",
        metavar="RESULTS",
        help="the last results (CSV, JSONL or XLSX, or a --history database: its last night) "
        "to count tonight's findings against: the "
        "summary, JSON and metrics say what is new and what was fixed, and --fail-on new "
        "alerts on new findings only; a file that does not exist yet (the first night) is a "
        "notice",
    )
    scan.add_argument(
        "--history",
        metavar="DB",
        help="once the outputs are complete, store the night in DB: an SQLite file (made if "
        "missing) or a postgresql:// URL; only the rows that changed since the last night are "
        "added, whole or not at all (fcrdns history DB reads it; --previous DB compares with "
        "its last night). Needs a CSV or XLSX output (-o FILE)",
    )
    scan.add_argument(
        "--dry-run",
        action="store_true",
        help="check everything and say what the scan would do (addresses, resolvers, "
        "processes, rate, queries and time), then stop: no query is sent, nothing written",
    )
    scan.add_argument(
        "--sorted",
        action="store_true",
        help="write the file outputs in address order once the scan is complete (IPv4 before "
        "IPv6, numerically); rows are written as they complete otherwise",
    )
    scan.add_argument(
        "--fail-on",
        metavar="NAME[,NAME...]",
        help="exit with code 1 when any row of the outputs has one of these statuses, or "
        "'transient' (timeout, servfail, refused, error), 'expected_mismatch' (expected_match "
        "no), 'generic_ptr' or 'ns_inconsistent' (ns_consistent no) (for cron and CI "
        "alerting), e.g. --fail-on mismatch,no_ptr; 'new' counts only findings the "
        "--previous results did not have, 'new:KIND' those of one kind "
        "(--fail-on new:mismatch,new:no_forward)",
    )
    scan.add_argument(
        "--dask",
        metavar="local[:N]|ADDRESS",
        help="scan in shards on a Dask cluster: 'local' or 'local:N' starts N worker "
        "processes here (default: one per core); otherwise a scheduler address such as "
        "tcp://host:8786. Needs the [dask] extra and -o FILE (parts are written to FILE.parts/, "
        "which every worker must reach)",
    )
    scan.add_argument(
        "--dask-shards",
        type=int,
        default=None,
        metavar="N",
        help="shards (Dask tasks) to cut the scan into (default: one per worker thread, or "
        "a multiple of that so that no shard exceeds 262,144 addresses)",
    )
    return scan


def scan_options(args: argparse.Namespace) -> ScanOptions:
    """The scan's request from its flags: --config's job file, overridden by the flags."""
    try:
        job = JobFile.load(args.config) if args.config else JobFile()
        settings = job.settings
        settings = settings.updated(
            resolvers=tuple(args.resolver) if args.resolver else None,
            concurrency=args.concurrency,
            timeout=args.timeout,
            retries=args.retries,
            rate=args.rate,
            max_rate=args.max_rate,
            resolver_rate=args.resolver_rate,
            authoritative_rate=args.authoritative_rate,
            authoritative_port=args.authoritative_port,
            authoritative_allow=(
                (*settings.authoritative_allow, *args.authoritative_allow)
                if args.authoritative_allow
                else None
            ),
            burst=args.burst,
            max_targets=args.max_targets,
            order=args.order,
            workers=args.workers,
            seed=args.seed,
            format=args.format,
        )
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    # Targets given on the command line replace the job's (both lists: a one-off
    # scan of one block with the job's settings); so do outputs.
    given_targets = bool(args.targets or args.file)
    return ScanOptions(
        targets=args.targets if given_targets else job.targets,
        target_files=args.file if given_targets else job.target_files,
        exclude=args.exclude,
        exclude_files=[*job.exclude_files, *args.exclude_file],
        rescan_failed=args.rescan_failed,
        settings=settings,
        config_file=args.config,
        outputs=args.output or job.outputs or ["-"],
        shard=args.shard,
        resume=args.resume or job.resume,
        walk=args.walk or job.walk,
        expect_file=args.expect or job.expect,
        helo=args.helo or job.helo,
        zone_owner=args.zone_owner or job.zone_owner,
        check_authoritative=args.check_authoritative or job.check_authoritative,
        sort_outputs=args.sorted or job.sorted,
        progress=not args.quiet,
        fail_on=[part.strip() for part in args.fail_on.split(",")] if args.fail_on else job.fail_on,
        summary_file=args.summary or job.summary,
        metrics_file=args.metrics or job.metrics,
        previous=args.previous or job.previous,
        history=args.history or job.history,
        dask=args.dask,
        dask_shards=args.dask_shards,
    )
