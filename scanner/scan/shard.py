"""Scanning one share of a plan in this process: the retry layer built from the
settings, the worker pool run over the share, the statistics into the summary.

The local run, each worker process (scanner/scan/workers.py) and each Dask
task (scanner/scan/daskrun.py) scan their share through `scan_shard`.
"""

from __future__ import annotations

import contextlib
import gc
import signal
from collections.abc import Callable, Iterator, Sequence

import anyio

from scanner.core.adaptive import AdaptiveRate
from scanner.core.authority import parse_networks
from scanner.core.config import ScanConfig
from scanner.core.health import ResolverHealth
from scanner.core.lookups import Nameserver
from scanner.core.notices import Notice, log_notice
from scanner.core.summary import Summary
from scanner.core.window import InflightWindow
from scanner.dns.engines import open_resolver
from scanner.dns.policy import RetryPolicy
from scanner.dns.ratelimit import RateLimiter
from scanner.dns.resolvconf import private_resolvconf, remove_private_resolvconf, system_nameservers
from scanner.dns.retry import ResolverPool
from scanner.dns.upstream import Upstream
from scanner.scan.authcheck import AuthorityChecker
from scanner.scan.planning import Plan
from scanner.scan.pool import ResultSink, Written, run_scan
from scanner.scan.progress import Progress
from scanner.scan.zoneowner import ZoneFinder


def build_pool(
    config: ScanConfig, nameservers: Sequence[Nameserver], notice: Notice = log_notice
) -> ResolverPool:
    """The retry layer over one single-try c-ares resolver per nameserver."""
    resolvconf = private_resolvconf(nameservers)
    upstreams = [
        Upstream(
            str(server),
            open_resolver(server, timeout=config.timeout, resolvconf=resolvconf, notice=notice),
            ResolverHealth(),
            RateLimiter(config.resolver_rate, config.burst) if config.resolver_rate else None,
            InflightWindow(ceiling=config.concurrency),
        )
        for server in nameservers
    ]
    adaptive = None
    rate = config.rate
    if rate == "auto":
        start = config.auto_start_rate()
        adaptive = AdaptiveRate(
            rate=start,
            minimum=min(10.0, start),
            maximum=config.max_rate,
            # Additive steps of a twentieth of the ceiling (100 q/s at 2,000).
            step=config.max_rate / 20,
        )
        rate = adaptive.rate
    return ResolverPool(
        upstreams,
        limiter=RateLimiter(float(rate), config.burst),
        policy=RetryPolicy(retries=config.retries),
        adaptive=adaptive,
        notice=notice,
        give_up_after=config.give_up_after,
    )


def activity(pool: ResolverPool, authority: AuthorityChecker | None) -> Callable[[], str]:
    """What the scan is waiting for, in words, for the progress display ('' if nothing
    stands out): the zones' own name servers, lookups being retried."""

    def now() -> str:
        parts = []
        if authority is not None and authority.surveying:
            zones = authority.surveying
            whose = "1 zone's" if zones == 1 else f"{zones:,} zones'"
            parts.append(f"asking {whose} name servers")
        elif authority is not None and authority.waiting:
            parts.append(f"{authority.waiting:,} wait for name servers (--authoritative-rate)")
        if pool.retrying:
            lookups = "1 lookup" if pool.retrying == 1 else f"{pool.retrying:,} lookups"
            parts.append(f"retrying {lookups} (SERVFAIL, timeout)")
        return "; ".join(parts)

    return now


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Collect cycles less often during a scan.

    A scan allocates a few container objects per query (futures, coroutine
    frames, result records), almost none of them in reference cycles, and keeps
    thousands alive at once (one task per query in flight). At the default
    threshold (700) the collector ran every few queries and walked them all:
    10-11% of the scan's CPU in a profile at 1,000 in flight. Objects made
    before the scan (modules, the target set) are moved out of its sight. The
    program's own settings come back when the scan ends (it may be embedded).
    """
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


async def scan_shard(
    plan: Plan,
    sinks: Sequence[ResultSink],
    summary: Summary,
    *,
    stride: int = 1,
    offset: int = 0,
    written: Written | None = None,
    stop_signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM),
    notice: Notice = log_notice,
    progress: Progress | None = None,
) -> Summary:
    """Scan this process's share of the plan, writing to `sinks`; `progress` is told
    what the scan waits for."""
    config = plan.config
    nameservers = plan.nameservers or system_nameservers()
    pool = build_pool(config, nameservers, notice)
    # No more workers than addresses to check: each worker is a task.
    concurrency = max(1, min(config.concurrency, plan.count(stride, offset)))
    zones = ZoneFinder(pool) if plan.zone_owner else None
    authority = None
    if plan.check_authoritative:
        authority = AuthorityChecker(
            pool,
            pool.limiter,
            server_rate=config.authoritative_rate,
            port=config.authoritative_port,
            timeout=config.timeout,
            allowed=parse_networks(config.authoritative_allow),
        )
    if progress is not None:
        progress.set_phase("scanning", activity(pool, authority))
    try:
        with _fewer_collections():
            await run_scan(
                plan.sequence(stride, offset),
                pool,
                sinks,
                concurrency=concurrency,
                summary=summary,
                stop_signals=stop_signals,
                annotate=plan.annotate,
                written=written,
                zones=zones,
                authority=authority,
            )
    finally:
        summary.resolvers = pool.stats()
        if authority is not None:
            summary.authority = authority.report()
        with anyio.CancelScope(shield=True):
            await pool.aclose()
        remove_private_resolvconf()
    return summary
