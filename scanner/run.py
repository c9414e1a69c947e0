"""The `fcrdns scan` command: settings and targets in, results and a summary out.

Everything the user gave is validated before the first query is sent; a
problem there is a `UserError` (exit code 2) and no output file is left behind.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import anyio

from scanner import metrics
from scanner import targets as targeting
from scanner.adaptive import AdaptiveRate
from scanner.cli import EXIT_FAILED, EXIT_FINDINGS, EXIT_INTERRUPTED, EXIT_OK, UserError
from scanner.config import ConfigError, ScanConfig
from scanner.diagnose import Annotator, ExpectError, GenericNames, read_expectations
from scanner.health import ResolverHealth
from scanner.order import Shard, ShardError, positions
from scanner.pool import ResultSink, run_scan
from scanner.ratelimit import RateLimiter
from scanner.resolver import AresResolver, Nameserver, ResolverSpecError, system_nameservers
from scanner.results import ResultsError, transient_ips
from scanner.retry import ResolverPool, RetryPolicy, Upstream
from scanner.sinks import OutputError, OutputSpec, open_sinks
from scanner.status import Status
from scanner.summary import Summary
from scanner.verdict import IPAddress
from scanner.workers import (
    FrameSink,
    fork_workers,
    merge_workers,
    targets_in_shard,
    worker_config,
    worker_shard,
)


def _read_lines(path: str) -> list[str]:
    if path == "-":
        return sys.stdin.read().splitlines()
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"cannot read {path!r}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


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
            include += targeting.parse_lines(_read_lines(path), "stdin" if path == "-" else path)
        exclude = targeting.parse_arguments(config.exclude, "exclusion")
        for path in args.exclude_file:
            exclude += targeting.parse_lines(_read_lines(path), path)
        if not include and args.rescan_failed:
            raise UserError(f"nothing to rescan: no transient failures in {args.rescan_failed}")
        if not include:
            raise UserError("no targets: give IPs, CIDRs or ranges, or -f FILE")
        return targeting.TargetSet.build(include, exclude, max_targets=config.max_targets)
    except targeting.TargetError as exc:
        raise UserError(str(exc)) from None


def load_expectations(args: argparse.Namespace) -> dict[IPAddress, str]:
    if not args.expect:
        return {}
    try:
        return read_expectations(_read_lines(args.expect), args.expect)
    except ExpectError as exc:
        raise UserError(str(exc)) from None


def parse_fail_on(text: str | None) -> list[Status]:
    if not text:
        return []
    statuses = []
    for name in text.split(","):
        try:
            statuses.append(Status(name.strip()))
        except ValueError:
            known = ", ".join(status.value for status in Status)
            raise UserError(
                f"--fail-on: unknown status {name.strip()!r} (known: {known})"
            ) from None
    return statuses


def output_specs(args: argparse.Namespace, config: ScanConfig) -> list[OutputSpec]:
    paths: Sequence[str] = args.output or ["-"]
    try:
        return [OutputSpec.parse(path, config.format) for path in paths]
    except OutputError as exc:
        raise UserError(str(exc)) from None


def _notice(message: str) -> None:
    print(f"fcrdns scan: {message}", file=sys.stderr, flush=True)


def build_pool(config: ScanConfig, nameservers: Sequence[Nameserver]) -> ResolverPool:
    """The retry layer over one single-try c-ares resolver per nameserver."""
    upstreams = [
        Upstream(
            str(server),
            AresResolver(server, timeout=config.timeout),
            ResolverHealth(),
            RateLimiter(config.resolver_rate, config.burst) if config.resolver_rate else None,
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
    )


def scan_sequence(
    config: ScanConfig, target_set: targeting.TargetSet, shard: Shard | None
) -> Iterator[IPAddress]:
    indices = positions(target_set.count, order=config.order, seed=config.seed, shard=shard)
    return target_set.addresses(indices)


async def scan_shard(
    config: ScanConfig,
    target_set: targeting.TargetSet,
    sinks: Sequence[ResultSink],
    shard: Shard | None,
    summary: Summary,
    annotate: Annotator,
    stop_signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM),
) -> Summary:
    """Scan one shard (or everything) in this process, writing to `sinks`."""
    try:
        nameservers = config.nameservers() or system_nameservers()
    except ResolverSpecError as exc:
        raise UserError(str(exc)) from None
    pool = build_pool(config, nameservers)
    try:
        await run_scan(
            scan_sequence(config, target_set, shard),
            pool,
            sinks,
            concurrency=config.concurrency,
            summary=summary,
            stop_signals=stop_signals,
            annotate=annotate,
        )
    finally:
        summary.resolvers = pool.stats()
        with anyio.CancelScope(shield=True):
            for upstream in pool.upstreams:
                await upstream.resolver.aclose()
    return summary


async def _scan_here(
    config: ScanConfig,
    target_set: targeting.TargetSet,
    specs: list[OutputSpec],
    shard: Shard | None,
    annotate: Annotator,
) -> Summary:
    summary = Summary(targets=targets_in_shard(target_set, shard))
    try:
        sinks = await open_sinks(specs)
    except OutputError as exc:
        raise UserError(str(exc)) from None
    try:
        return await scan_shard(config, target_set, sinks, shard, summary, annotate)
    finally:
        with anyio.CancelScope(shield=True):
            for sink in sinks:
                await sink.close()


def _scan_with_workers(
    config: ScanConfig,
    target_set: targeting.TargetSet,
    specs: list[OutputSpec],
    shard: Shard | None,
    count: int,
    annotate: Annotator,
) -> Summary:
    share = worker_config(config, count)
    formats = [spec.format for spec in specs]

    def run_worker(worker: int, pipe: BinaryIO) -> int:
        part = worker_shard(shard, worker, count)
        summary = Summary(targets=targets_in_shard(target_set, part))
        sink = FrameSink(pipe, formats)
        anyio.run(
            scan_shard, share, target_set, [sink], part, summary, annotate, (signal.SIGTERM,),
            backend="asyncio",
        )  # fmt: skip
        sink.finish(summary)
        return EXIT_OK

    async def merge() -> Summary:
        summary = Summary(targets=targets_in_shard(target_set, shard))
        started = time.perf_counter()
        try:
            sinks = await open_sinks(specs)
        except OutputError as exc:
            raise UserError(str(exc)) from None
        workers = fork_workers(count, run_worker)
        try:
            for worker in await merge_workers(workers, sinks, summary):
                summary.absorb(worker)
        finally:
            with anyio.CancelScope(shield=True):
                for sink in sinks:
                    await sink.close()
        summary.duration = time.perf_counter() - started
        return summary

    return anyio.run(merge, backend="asyncio")


def run_scan_command(args: argparse.Namespace) -> int:
    config = load_config(args)
    target_set = load_targets(args, config)
    specs = output_specs(args, config)
    try:
        shard = Shard.parse(args.shard) if args.shard else None
    except ShardError as exc:
        raise UserError(str(exc)) from None
    fail_on = parse_fail_on(args.fail_on)
    annotate = Annotator(
        GenericNames(config.generic_patterns), load_expectations(args), args.helo or ""
    )
    workers = config.worker_count(targets_in_shard(target_set, shard))
    try:
        if workers > 1:
            summary = _scan_with_workers(config, target_set, specs, shard, workers, annotate)
        else:
            summary = anyio.run(
                _scan_here, config, target_set, specs, shard, annotate, backend="asyncio"
            )
    except OSError as exc:
        print(f"fcrdns scan: error: scan could not complete: {exc}", file=sys.stderr)
        return EXIT_FAILED
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
    if summary.scanned < summary.targets:
        print(
            f"fcrdns scan: error: only {summary.scanned:,} of {summary.targets:,} addresses "
            "have a row (a worker failed)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    found = [status for status in fail_on if summary.counts[status]]
    if found:
        counts = ", ".join(f"{summary.counts[s]:,} {s.value}" for s in found)
        print(f"fcrdns scan: findings: {counts} (--fail-on)", file=sys.stderr)
        return EXIT_FINDINGS
    return EXIT_OK
