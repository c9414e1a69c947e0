"""Running a walk (`--walk`): each prefix's server probed, then the reverse tree walked.

Before a prefix is walked, its server is asked whether it keeps RFC 8020
(scanner/scan/walker.py's `rfc8020_problem`, with addresses known from
`--previous` when given). A server that breaks it is named: a prefix small
enough to check address by address (at most --max-targets addresses; every
IPv4 prefix) is checked so, a larger one is refused. Then every prefix is
walked at once, through the retry layer the scan uses; each answer goes to
the walk file (scanner/files/walkfile.py) as it comes, so a walk stopped by a
signal, a kill or --max-targets continues with `--resume`.
"""

from __future__ import annotations

import ipaddress
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio

from scanner.core.exits import CouldNotComplete
from scanner.core.notices import Notice
from scanner.core.poolstats import PoolStats
from scanner.core.status import Outcome
from scanner.core.verdict import IPAddress, Lookup
from scanner.core.walk import Network, Step, frontier, start_nodes
from scanner.dns.resolvconf import remove_private_resolvconf, system_nameservers
from scanner.dns.retry import ResolverPool
from scanner.files.results import ResultsError, read_results
from scanner.files.walkfile import WalkRecords
from scanner.scan.planning import Plan
from scanner.scan.progress import Progress
from scanner.scan.shard import activity, build_pool
from scanner.scan.walker import WalkReport, rfc8020_problem, walk

# Addresses known to have a PTR (from --previous) tried per prefix by the probe.
KNOWN_PER_PREFIX = 3


@dataclass(slots=True)
class WalkRun:
    """A walk's run: every answer so far, what this run asked, what it noticed."""

    records: WalkRecords
    report: WalkReport
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False
    pool: PoolStats | None = None  # the retry layer's statistics of the walk
    answered_before: int = 0  # names answered by the interrupted runs of this walk
    duration: float = 0.0  # seconds walking


def run_walk(plan: Plan, notice: Notice, progress: Progress) -> WalkRun:
    """Walk `plan`'s prefixes (or continue its walk). Raises `CouldNotComplete` when a
    server cannot be walked, or when --max-targets names were asked and more remain."""
    return anyio.run(_run_walk, plan, notice, progress, backend="asyncio")


def _servers(plan: Plan) -> str:
    servers = [str(server) for server in plan.nameservers] or ["the system's resolvers"]
    return ("the resolver " if len(servers) == 1 else "the resolvers ") + ", ".join(servers)


async def _run_walk(plan: Plan, notice: Notice, progress: Progress) -> WalkRun:
    job = plan.walk
    assert job is not None
    config = plan.config
    pool = build_pool(config, plan.nameservers or system_nameservers(), notice)
    run = WalkRun(job.records or WalkRecords(), WalkReport())
    run.answered_before = run.records.names
    try:
        if job.records is not None:
            starts = [node for prefix in job.prefixes for node in start_nodes(prefix)]
            first = list(frontier(starts, job.records.answered))
            job.records.answered.clear()  # the frontier is known; the walk only counts on
            job.file.reopen()
        else:
            first, whole = await _trusted_starts(plan, pool, run.notes)
            job.file.start(job.fingerprint)
            for node in whole:  # checked address by address: a leaf as large as the prefix
                _answer(plan, run.records, node, Step.FOUND)
        for note in run.notes:
            notice(note)
        report = run.report

        def answered(node: Network, step: Step, lookup: Lookup) -> None:
            if step is Step.UNSEEN:
                _answer(plan, run.records, node, step, lookup.outcome, lookup.detail)
            else:
                _answer(plan, run.records, node, step)

        def now() -> str:
            busy = activity(pool, None)()
            walked = (
                f"walking the reverse tree: {report.asked:,} names asked, {report.waiting:,} "
                f"to ask, {report.found:,} found"
            )
            return f"{walked}; {busy}" if busy else walked

        progress.set_phase("walking the reverse tree", now)
        started = time.perf_counter()
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(_cancel_on_signal, scope, run)
                await walk(
                    pool,
                    first,
                    answered,
                    concurrency=config.concurrency,
                    max_names=max(0, config.max_targets - run.records.names),
                    report=report,
                )
                group.cancel_scope.cancel()
        job.file.flush()
        run.duration = time.perf_counter() - started
        if run.interrupted:
            return run
        if report.left:
            where = f"; the walk so far is in {job.file.path}" if job.file.path else ""
            again = " with --resume" if job.file.path else ""
            raise CouldNotComplete(
                f"the walk asked --max-targets names ({config.max_targets:,} in all) and "
                f"{report.left:,} more were waiting{where}: run the same command{again} and a "
                "higher --max-targets to go on"
            )
        job.file.mark_complete()
        if report.childless:
            names = (
                "1 name exists" if report.childless == 1 else f"{report.childless:,} names exist"
            )
            run.notes.append(
                f"{names} with nothing below although holding no "
                "PTR: an empty zone's apex, or a server answering NXDOMAIN for empty "
                "non-terminals (it breaks RFC 8020, and a walk misses what lies below); "
                "--previous with last night's results lets the walk check its server"
            )
            notice(run.notes[-1])
        return run
    finally:
        job.file.close()
        run.pool = pool.stats()
        with anyio.CancelScope(shield=True):
            await pool.aclose()
        remove_private_resolvconf()


def _answer(
    plan: Plan,
    records: WalkRecords,
    node: Network,
    step: Step,
    outcome: Outcome | None = None,
    detail: str = "",
) -> None:
    job = plan.walk
    assert job is not None
    records.add(node, step, outcome, detail, remember=False)
    job.file.record(node, step, outcome, detail)


async def _trusted_starts(
    plan: Plan, pool: ResolverPool, notes: list[str]
) -> tuple[list[Network], list[Network]]:
    """The names to start walking from, and the prefixes to check address by address
    instead (their server breaks RFC 8020, and they are small enough)."""
    job = plan.walk
    assert job is not None
    known = _known_addresses(plan.previous, job.prefixes)
    starts: list[Network] = []
    whole: list[Network] = []
    for prefix in job.prefixes:
        problem = await rfc8020_problem(pool, prefix, known.get(prefix, ()))
        if problem is None:
            starts.extend(start_nodes(prefix))
        elif prefix.version == 4 or prefix.num_addresses <= plan.config.max_targets:
            notes.append(
                f"not walking {prefix}: {_servers(plan)}: {problem}; checking each of its "
                f"{prefix.num_addresses:,} addresses instead"
            )
            whole.extend(start_nodes(prefix))
        else:
            raise CouldNotComplete(
                f"cannot walk {prefix} through {_servers(plan)}: {problem}; it has "
                f"{prefix.num_addresses:,} addresses, too many to check one by one "
                "(--max-targets): scan through a resolver that keeps RFC 8020, or give the "
                "addresses (-f FILE)"
            )
    return starts, whole


def _known_addresses(
    previous: str | None, prefixes: Sequence[Network]
) -> dict[Network, list[IPAddress]]:
    """A few addresses per prefix that had a PTR in the last results (--previous)."""
    known: dict[Network, list[IPAddress]] = {}
    if previous is None:
        return known
    try:
        for row in read_results(previous):
            if not row.get("ptr_names") or "/" in row["ip"]:
                continue
            try:
                ip = ipaddress.ip_address(row["ip"])
            except ValueError:
                continue
            for prefix in prefixes:
                if ip in prefix and len(known.setdefault(prefix, [])) < KNOWN_PER_PREFIX:
                    known[prefix].append(ip)
            if all(len(known.get(prefix, ())) >= KNOWN_PER_PREFIX for prefix in prefixes):
                break
    except (ResultsError, OSError):
        return known  # checked before the scan; a file gone since only costs the check
    return known


async def _cancel_on_signal(scope: anyio.CancelScope, run: WalkRun) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            run.interrupted = True
            scope.cancel()
            return
