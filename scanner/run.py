"""The `fcrdns scan` command: settings and targets in, results and a summary out.

Everything the user gave is validated before the first query is sent; a
problem there is a `UserError` (exit code 2) and no output file is left behind.
"""

from __future__ import annotations

import argparse
import codecs
import functools
import gc
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import anyio

from scanner import metrics
from scanner import targets as targeting
from scanner.adaptive import AdaptiveRate
from scanner.config import ConfigError, ScanConfig
from scanner.diagnose import Annotator, ExpectError, GenericNames, read_expectations
from scanner.exits import (
    EXIT_FAILED,
    EXIT_FINDINGS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CouldNotComplete,
    NothingToDo,
    UserError,
    leaf_exceptions,
    stdout_closed,
)
from scanner.health import ResolverHealth
from scanner.journal import Journal, JournalError, Positions, Resumption, fingerprint
from scanner.order import Shard, ShardError, positions, share
from scanner.ownfiles import planted_links
from scanner.pool import ResultSink, Target, Written, run_scan
from scanner.probe import PROBES, probe, probe_addresses
from scanner.progress import Progress
from scanner.ratelimit import RateLimiter
from scanner.resolver import (
    Nameserver,
    ResolverSpecError,
    open_resolver,
    private_resolvconf,
    remove_private_resolvconf,
    system_nameservers,
)
from scanner.results import ResultsError, transient_ips
from scanner.retry import ResolverPool, RetryPolicy, Upstream
from scanner.sinks import OutputError, OutputSpec, Sink, open_sinks
from scanner.status import TRANSIENT, Status
from scanner.summary import FLAGS, Summary, labels, status_of
from scanner.verdict import IPAddress
from scanner.window import InflightWindow
from scanner.workers import FrameSink, fork_workers, merge_workers, targets_in_shard, worker_config
from scanner.zoneowner import ZoneFinder


def _source(path: str) -> str:
    """How messages name a list file: '-' is stdin."""
    return "stdin" if path == "-" else path


def _read_lines(path: str) -> Iterator[str]:
    """The lines of a file, or of stdin for '-', read as they are used.

    A list of a million addresses is never held whole. Lists saved by
    spreadsheet programs and Windows editors start with a byte-order mark,
    which is not part of the first address.
    """
    try:
        handle = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise UserError(f"cannot read {path!r}: {exc.strerror}") from None
    try:
        for number, raw in enumerate(handle, start=1):
            if number == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            try:
                yield raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise UserError(
                    f"{_source(path)}:{number}: not UTF-8 text ({exc.reason})"
                ) from None
    except OSError as exc:
        raise UserError(f"cannot read {path!r}: {exc.strerror}") from None
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()


def load_config(args: argparse.Namespace) -> ScanConfig:
    try:
        config = ScanConfig.load(args.config) if args.config else ScanConfig()
        return config.updated(
            resolvers=tuple(args.resolver) if args.resolver else None,
            concurrency=args.concurrency,
            timeout=args.timeout,
            retries=args.retries,
            rate=args.rate,
            max_rate=args.max_rate,
            resolver_rate=args.resolver_rate,
            burst=args.burst,
            max_targets=args.max_targets,
            order=args.order,
            workers=args.workers,
            seed=args.seed,
            exclude=config.exclude + tuple(args.exclude) if args.exclude else None,
            format=args.format,
        )
    except ConfigError as exc:
        raise UserError(str(exc)) from None


def load_targets(args: argparse.Namespace, config: ScanConfig) -> targeting.TargetSet:
    try:
        include = targeting.parse_arguments(args.targets)
        for path in args.rescan_failed:
            try:
                include += targeting.parse_arguments(transient_ips(path), f"{path}: ip")
            except ResultsError as exc:
                raise UserError(str(exc)) from None
        for path in args.file:
            include += targeting.parse_lines(_read_lines(path), _source(path))
        exclude = targeting.parse_arguments(config.exclude, "exclusion")
        for path in args.exclude_file:
            exclude += targeting.parse_lines(_read_lines(path), _source(path))
        if not include and args.rescan_failed:
            sources = ", ".join(args.rescan_failed)
            raise NothingToDo(
                f"nothing to rescan: no transient failures in {sources}; no output written"
            )
        if not include:
            raise UserError("no targets: give IPs, CIDRs or ranges, or -f FILE")
        target_set = targeting.TargetSet.build(include, exclude, max_targets=config.max_targets)
        if not target_set.count:
            raise UserError("no targets left: the exclusions cover every address given")
        return target_set
    except targeting.TargetError as exc:
        raise UserError(str(exc)) from None


def load_expectations(args: argparse.Namespace) -> dict[IPAddress, str]:
    if not args.expect:
        return {}
    try:
        return read_expectations(_read_lines(args.expect), args.expect)
    except ExpectError as exc:
        raise UserError(str(exc)) from None


# --fail-on names besides the statuses: every transient status, and the findings.
FAIL_ON_GROUPS = ("transient", *FLAGS)


def parse_fail_on(text: str | None) -> list[str]:
    """The statuses and findings (`transient`, `expected_mismatch`, `generic_ptr`) named."""
    if not text:
        return []
    known = [status.value for status in Status] + list(FAIL_ON_GROUPS)
    names = []
    for name in (part.strip() for part in text.split(",")):
        if name not in known:
            raise UserError(f"--fail-on: unknown {name!r} (known: {', '.join(known)})")
        names.append(name)
    return names


def findings(summary: Summary, names: Sequence[str]) -> dict[str, int]:
    """How many rows of the finished outputs each --fail-on name matches."""
    counts = {status.value: n for status, n in summary.all_counts.items()}
    counts["transient"] = sum(n for status, n in summary.all_counts.items() if TRANSIENT[status])
    counts |= summary.all_findings
    return {name: counts[name] for name in names}


def output_specs(args: argparse.Namespace, config: ScanConfig) -> list[OutputSpec]:
    paths: Sequence[str] = args.output or ["-"]
    check_paths(args)
    try:
        specs = [OutputSpec.parse(path, config.format) for path in paths]
    except OutputError as exc:
        raise UserError(str(exc)) from None
    for spec in specs:  # opened after the resolvers are probed: usage errors come first
        if spec.stream:
            continue
        directory = os.path.dirname(spec.path) or "."
        if not os.path.isdir(directory):
            raise UserError(f"cannot open output {spec.path!r}: no directory {directory}")
        if not os.access(directory, os.W_OK):
            raise UserError(f"cannot open output {spec.path!r}: cannot create files in {directory}")
    return specs


def _check_writable(flag: str, path: str) -> None:
    """Written after the scan: find out now, not after hours of scanning."""
    if os.path.exists(path):
        if os.path.isdir(path):
            raise UserError(f"{flag} {path}: is a directory")
        if not os.access(path, os.W_OK):
            raise UserError(f"{flag} {path}: not writable")
        return
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise UserError(f"{flag} {path}: no directory {directory}")
    if not os.access(directory, os.W_OK):
        raise UserError(f"{flag} {path}: cannot create files in {directory}")


def check_paths(args: argparse.Namespace) -> None:
    """Every file the scan writes is written once, and never over a file it reads.

    Two outputs with one name would race for one `.partial` file; an output over
    an input (`-f hosts.csv -o hosts.csv`, `--rescan-failed r.csv -o r.csv`)
    would replace the list or the results the scan was started from.
    """
    written: dict[str, str] = {}
    outputs = [("-o", path) for path in args.output or ["-"]]
    outputs += [(flag, path) for flag, path in (("--summary", args.summary),
                                                 ("--metrics", args.metrics)) if path]  # fmt: skip
    for flag, path in outputs:
        key = path if path == "-" else os.path.realpath(path)
        if key in written:
            raise UserError(f"{flag} {path}: the same file is already an output ({written[key]})")
        written[key] = f"{flag} {path}"
        if path != "-" and flag != "-o":  # -o files are opened before the scan starts
            _check_writable(flag, path)
    inputs = [("-f", path) for path in args.file]
    inputs += [("--exclude-file", path) for path in args.exclude_file]
    inputs += [("--rescan-failed", path) for path in args.rescan_failed]
    inputs += [(flag, path) for flag, path in (("--config", args.config),
                                                ("--expect", args.expect)) if path]  # fmt: skip
    for flag, path in inputs:
        key = os.path.realpath(path) if path != "-" else None
        if key in written:
            raise UserError(
                f"{written[key]} would overwrite the input {flag} {path}: write the results "
                "to another file"
            )


def _notice(message: str) -> None:
    print(f"fcrdns scan: {message}", file=sys.stderr, flush=True)


def build_pool(config: ScanConfig, nameservers: Sequence[Nameserver]) -> ResolverPool:
    """The retry layer over one single-try c-ares resolver per nameserver."""
    resolvconf = private_resolvconf(nameservers)
    upstreams = [
        Upstream(
            str(server),
            open_resolver(server, timeout=config.timeout, resolvconf=resolvconf, notice=_notice),
            ResolverHealth(),
            RateLimiter(config.resolver_rate, config.burst) if config.resolver_rate else None,
            InflightWindow(ceiling=config.concurrency),
        )
        for server in nameservers
    ]
    adaptive = None
    rate = config.rate
    if rate == "auto":
        adaptive = AdaptiveRate(
            rate=config.start_rate,
            minimum=min(10.0, config.start_rate),
            maximum=config.max_rate,
            step=config.start_rate,
        )
        rate = adaptive.rate
    return ResolverPool(
        upstreams,
        limiter=RateLimiter(float(rate), config.burst),
        policy=RetryPolicy(retries=config.retries),
        adaptive=adaptive,
        notice=_notice,
        give_up_after=config.give_up_after,
    )


@dataclass(slots=True)
class Plan:
    """One scan, validated: what to scan, in which order, where the rows go."""

    config: ScanConfig
    target_set: targeting.TargetSet
    shard: Shard | None
    specs: list[OutputSpec]
    annotate: Annotator
    journal: Journal | None = None
    resumption: Resumption | None = None
    quiet: bool = False
    zone_owner: bool = False
    sort_outputs: bool = False  # --sorted
    probe_queries: int = 0

    @property
    def total(self) -> int:
        return targets_in_shard(self.target_set, self.shard)

    @property
    def done(self) -> Positions:
        return self.resumption.done if self.resumption else Positions(0)

    def sequence(self, stride: int = 1, offset: int = 0) -> Iterator[Target]:
        """(position, address) in scan order; this worker's positions, not yet done."""
        config, done = self.config, self.done
        indices = positions(
            self.target_set.count, order=config.order, seed=config.seed, shard=self.shard
        )
        address_at = self.target_set.address_at
        for position, index in enumerate(indices):
            if position % stride == offset and (not done or position not in done):
                yield position, address_at(index)

    def count(self, stride: int = 1, offset: int = 0) -> int:
        return share(self.total, stride, offset) - self.done.count_every(stride, offset)


def _tune_garbage_collector() -> None:
    """Collect cycles less often during a scan.

    A scan allocates a few container objects per query (futures, coroutine
    frames, result records), almost none of them in reference cycles, and keeps
    thousands alive at once (one task per query in flight). At the default
    threshold (700) the collector ran every few queries and walked them all:
    10-11% of the scan's CPU in a profile at 1,000 in flight. Objects made
    before the scan (modules, the target set) are moved out of its sight.
    """
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


async def scan_shard(
    plan: Plan,
    sinks: Sequence[ResultSink],
    summary: Summary,
    *,
    stride: int = 1,
    offset: int = 0,
    written: Written | None = None,
    stop_signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM),
) -> Summary:
    """Scan this process's share of the plan, writing to `sinks`."""
    config = plan.config
    try:
        nameservers = config.nameservers() or system_nameservers()
    except ResolverSpecError as exc:
        raise UserError(str(exc)) from None
    pool = build_pool(config, nameservers)
    _tune_garbage_collector()
    # No more workers than addresses to check: each worker is a task.
    concurrency = max(1, min(config.concurrency, plan.count(stride, offset)))
    try:
        await run_scan(
            plan.sequence(stride, offset),
            pool,
            sinks,
            concurrency=concurrency,
            summary=summary,
            stop_signals=stop_signals,
            annotate=plan.annotate,
            written=written,
            zones=ZoneFinder(pool) if plan.zone_owner else None,
        )
    finally:
        summary.resolvers = pool.stats()
        with anyio.CancelScope(shield=True):
            for upstream in pool.upstreams:
                await upstream.resolver.aclose()
        remove_private_resolvconf()
    return summary


async def _open_outputs(plan: Plan, progress: Progress) -> tuple[list[Sink], Written]:
    """Open (or reopen, when resuming) the outputs and the journal."""
    offsets: list[int | None] = [None] * len(plan.specs)
    if plan.resumption is not None:
        files = iter(plan.resumption.offsets)
        offsets = [None if spec.stream else next(files) for spec in plan.specs]
    try:
        sinks = await open_sinks(plan.specs, offsets)
    except OutputError as exc:
        raise UserError(str(exc)) from None
    journal = plan.journal
    files = [sink for sink in sinks if sink.is_file]
    if journal is not None:
        if plan.resumption is None:
            journal.start(plan_fingerprint(plan), [sink.offset for sink in files])
        else:
            journal.resume()

    def written(positions: list[int], marks: bytes) -> None:
        if journal is not None:
            counted = [label for byte in marks for label in labels(byte)]
            journal.record(positions, [sink.offset for sink in files], counted)
        progress.advance([status_of(byte) for byte in marks])

    return sinks, written


async def _close_outputs(plan: Plan, sinks: Sequence[Sink], summary: Summary) -> None:
    """Complete: outputs get their names, the journal goes. Otherwise both stay."""
    with anyio.CancelScope(shield=True):
        complete = not summary.interrupted and summary.scanned + summary.resumed == summary.targets
        for sink in sinks:
            await (sink.finalize(sort=plan.sort_outputs) if complete else sink.close())
        if plan.journal is not None:
            if complete:
                plan.journal.remove()
            else:
                plan.journal.close()
                partial = ", ".join(s.partial_path for s in sinks if s.is_file)
                print(
                    f"fcrdns scan: the rows so far are in {partial}; run the same command "
                    "with --resume to continue",
                    file=sys.stderr,
                )


def _new_summary(plan: Plan) -> Summary:
    before = plan.resumption.statuses if plan.resumption else {}
    return Summary(
        targets=plan.total,
        before={Status(name): n for name, n in before.items() if name not in FLAGS},
        findings_before={name: n for name, n in before.items() if name in FLAGS},
        probe_queries=plan.probe_queries,
    )


def _progress(plan: Plan) -> Progress:
    return Progress(plan.total, done=len(plan.done), enabled=None if not plan.quiet else False)


async def _scan_here(plan: Plan) -> Summary:
    summary = _new_summary(plan)
    progress = _progress(plan)
    sinks, written = await _open_outputs(plan, progress)
    try:
        return await scan_shard(plan, sinks, summary, written=written)
    finally:
        progress.close()
        await _close_outputs(plan, sinks, summary)


def _scan_with_workers(plan: Plan, count: int) -> Summary:
    share = replace(plan, config=worker_config(plan.config, count))
    formats = [spec.format for spec in plan.specs]

    def run_worker(worker: int, pipe: BinaryIO) -> int:
        summary = Summary(targets=share.count(count, worker))
        sink = FrameSink(pipe, formats)
        anyio.run(
            functools.partial(
                scan_shard, share, [sink], summary, stride=count, offset=worker,
                written=sink.batch_written, stop_signals=(signal.SIGTERM,),
            ),
            backend="asyncio",
        )  # fmt: skip
        sink.finish(summary)
        return EXIT_OK

    async def merge() -> Summary:
        summary = _new_summary(plan)
        started = time.perf_counter()
        progress = _progress(plan)
        sinks, written = await _open_outputs(plan, progress)
        try:
            workers = fork_workers(count, run_worker)
            for worker in await merge_workers(workers, sinks, summary, written):
                summary.absorb(worker)
        finally:
            progress.close()
            summary.duration = time.perf_counter() - started
            await _close_outputs(plan, sinks, summary)
        return summary

    return anyio.run(merge, backend="asyncio")


def plan_fingerprint(plan: Plan) -> str:
    """What must not change between an interrupted scan and its resumption."""
    return fingerprint(
        {
            "targets": plan.target_set.digest(),
            "order": plan.config.order,
            "seed": plan.config.seed,
            "shard": str(plan.shard) if plan.shard else None,
            "outputs": [(spec.path, spec.format) for spec in plan.specs if not spec.stream],
        }
    )


def make_plan(args: argparse.Namespace) -> Plan:
    config = load_config(args)
    target_set = load_targets(args, config)
    specs = output_specs(args, config)
    try:
        shard = Shard.parse(args.shard) if args.shard else None
    except ShardError as exc:
        raise UserError(str(exc)) from None
    generic = GenericNames(config.generic_patterns)
    annotate = Annotator(generic, load_expectations(args), args.helo or "")
    plan = Plan(
        config,
        target_set,
        shard,
        specs,
        annotate,
        quiet=args.quiet,
        zone_owner=args.zone_owner,
        sort_outputs=args.sorted,
    )
    files = [spec for spec in specs if not spec.stream]
    if not files:
        if args.resume:
            raise UserError("--resume needs an output file (-o FILE), not only streams")
        return plan
    plan.journal = Journal(files[0].path + ".journal")
    ours = [plan.journal.path, *(path for spec in files for path in spec.side_files())]
    planted = planted_links(ours)
    if planted:
        raise UserError(
            f"{planted[0]} is a symbolic link: the scan writes that file itself and will not "
            "write through a link (it could overwrite any file); remove the link"
        )
    if plan.journal.exists():
        if not args.resume:
            raise UserError(
                f"an interrupted scan left {plan.journal.path}: add --resume to continue it, "
                "or delete it and the .partial outputs to start again"
            )
        try:
            plan.resumption = plan.journal.load(plan_fingerprint(plan), plan.total)
        except JournalError as exc:
            raise UserError(str(exc)) from None
        missing = [f.partial_path for f in files if not Path(f.partial_path).exists()]
        if missing:
            raise UserError(f"cannot resume: {', '.join(missing)} missing")
    return plan


def stopped_by(exc: BaseException) -> OSError | CouldNotComplete | None:
    """Why the scan could not complete, if `exc` is only that (anyio reports in groups).

    An OSError (a full disk, a closed stdout) or the resolvers gone silent;
    None for anything else, which is a bug.
    """
    leaves = list(leaf_exceptions(exc))
    if leaves and all(isinstance(leaf, OSError | CouldNotComplete) for leaf in leaves):
        return leaves[0]  # type: ignore[return-value]
    return None


def check_resolvers(plan: Plan) -> int:
    """Stop before anything is written if no resolver can serve the scan (scanner/probe.py).

    Returns the number of queries the probe sent.
    """
    config = plan.config
    try:
        nameservers = config.nameservers() or system_nameservers()
    except ResolverSpecError as exc:
        raise UserError(str(exc)) from None
    resolvconf = private_resolvconf(nameservers)
    addresses = probe_addresses(
        plan.target_set.count, plan.target_set.address_at, min(PROBES, config.burst)
    )

    def engine(server: Nameserver):
        return open_resolver(server, timeout=config.timeout, resolvconf=resolvconf, notice=_notice)

    results = anyio.run(probe, nameservers, addresses, engine, backend="asyncio")
    if not any(result.serves for result in results):
        raise CouldNotComplete(
            "no resolver can serve this scan, so nothing was scanned: "
            + "; ".join(result.why_not() for result in results)
        )
    for result in results:
        if not result.serves:
            _notice(f"{result.why_not()}; scanning with the other resolvers")
    return sum(sum(result.outcomes.values()) for result in results)


def run_scan_command(args: argparse.Namespace) -> int:
    plan = make_plan(args)
    fail_on = parse_fail_on(args.fail_on)
    plan.probe_queries = check_resolvers(plan)
    workers = plan.config.worker_count(plan.total - len(plan.done))
    try:
        if workers > 1:
            summary = _scan_with_workers(plan, workers)
        else:
            summary = anyio.run(_scan_here, plan, backend="asyncio")
    except (OSError, CouldNotComplete, BaseExceptionGroup) as caught:
        exc = stopped_by(caught)
        if exc is None:
            raise
        if isinstance(exc, BrokenPipeError):  # stdout's reader went away (| head)
            stdout_closed()
        else:
            print(f"fcrdns scan: error: scan could not complete: {exc}", file=sys.stderr)
        if plan.journal is not None and plan.journal.exists():
            partial = ", ".join(spec.partial_path for spec in plan.specs if not spec.stream)
            print(
                f"fcrdns scan: the rows so far are in {partial}; once the cause is fixed, run "
                "the same command with --resume to continue",
                file=sys.stderr,
            )
        return EXIT_FAILED
    if not args.quiet:
        sys.stderr.write(summary.as_text())
    try:
        if args.summary:
            Path(args.summary).write_text(summary.as_json(), encoding="utf-8")
        if args.metrics:
            metrics.write(args.metrics, summary)
    except OSError as exc:
        print(f"fcrdns scan: error: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return EXIT_FAILED
    if summary.interrupted:
        return EXIT_INTERRUPTED
    if summary.scanned + summary.resumed < summary.targets:
        print(
            f"fcrdns scan: error: only {summary.scanned + summary.resumed:,} of "
            f"{summary.targets:,} addresses have a row (a worker failed)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    # The rows before a --resume count too: they are in the outputs.
    found = {name: n for name, n in findings(summary, fail_on).items() if n}
    if found:
        listed = ", ".join(f"{n:,} {name}" for name, n in found.items())
        print(f"fcrdns scan: findings: {listed} (--fail-on)", file=sys.stderr)
        return EXIT_FINDINGS
    return EXIT_OK
