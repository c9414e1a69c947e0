"""Running a validated scan (scanner/scan/planning.py's `Plan`): rows to outputs, a summary back.

In this process, in forked worker processes (`--workers`), or as shards on a
Dask cluster (`--dask`, scanner/scan/daskrun.py); the resolvers are probed first,
so a scan nobody can answer stops before anything is written.
"""

from __future__ import annotations

import functools
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

import anyio

from scanner.core.exits import (
    EXIT_OK,
    CouldNotComplete,
    Interrupted,
    leaf_exceptions,
)
from scanner.core.findings import Changes
from scanner.core.lookups import Engine, Nameserver
from scanner.core.notices import Notice, log_notice
from scanner.core.summary import Summary, WalkCounts, split_labels
from scanner.dns.engines import open_resolver
from scanner.dns.resolvconf import (
    private_resolvconf,
    system_nameservers,
)
from scanner.files import metrics
from scanner.files.previous import compare_with
from scanner.files.publish import Finishing, finish
from scanner.files.results import ResultsError
from scanner.files.walkfile import WalkFile
from scanner.scan.nightly import store_in_history
from scanner.scan.outputs import all_rows_in, close_outputs, interrupt_on_signals, open_outputs
from scanner.scan.planning import Plan, arranged, walked_plan
from scanner.scan.probe import PROBES, probe, probe_addresses
from scanner.scan.progress import Progress
from scanner.scan.shard import scan_shard
from scanner.scan.walking import run_walk
from scanner.scan.workers import FrameSink, fork_workers, merge_workers, worker_config


def _new_summary(plan: Plan, probe_queries: int) -> Summary:
    statuses, findings, postfix = split_labels(plan.resumption.statuses if plan.resumption else {})
    return Summary(
        targets=plan.total,
        before=statuses,
        findings_before=findings,
        postfix_before=postfix,
        probe_queries=probe_queries,
    )


def _progress(plan: Plan) -> Progress:
    """The progress display, on a terminal only; never when the rows go to that terminal
    too (-o - on a tty), where it would be drawn between them."""
    rows_on_terminal = any(spec.path == "-" for spec in plan.specs) and sys.stdout.isatty()
    enabled = None if plan.progress and not rows_on_terminal else False
    # A walk's rows are counted once it has found its addresses.
    total = 0 if plan.walk is not None else plan.total
    return Progress(total, done=len(plan.done), enabled=enabled)


async def _scan_here(plan: Plan, probe_queries: int, notice: Notice, progress: Progress) -> Summary:
    summary = _new_summary(plan, probe_queries)
    sinks, written = await open_outputs(plan, progress)
    try:
        return await scan_shard(
            plan, sinks, summary, written=written, notice=notice, progress=progress
        )
    finally:
        await close_outputs(plan, sinks, summary, notice)


def _scan_with_workers(
    plan: Plan, count: int, probe_queries: int, notice: Notice, progress: Progress
) -> Summary:
    share = replace(plan, config=worker_config(plan.config, count))
    formats = [spec.format for spec in plan.specs]

    def run_worker(worker: int, pipe: BinaryIO) -> int:
        summary = Summary(targets=share.count(count, worker))
        sink = FrameSink(pipe, formats)
        anyio.run(
            functools.partial(
                scan_shard, share, [sink], summary, stride=count, offset=worker,
                written=sink.batch_written, stop_signals=(signal.SIGTERM,), notice=notice,
            ),
            backend="asyncio",
        )  # fmt: skip
        sink.finish(summary)
        return EXIT_OK

    async def merge() -> Summary:
        summary = _new_summary(plan, probe_queries)
        started = time.perf_counter()
        sinks, written = await open_outputs(plan, progress)
        try:
            progress.set_phase(f"scanning in {count} processes")
            with progress.held():
                workers = fork_workers(count, run_worker, notice)
            for worker in await merge_workers(workers, sinks, summary, written):
                summary.absorb(worker)
        finally:
            summary.duration = time.perf_counter() - started
            await close_outputs(plan, sinks, summary, notice)
        return summary

    return anyio.run(merge, backend="asyncio")


def stopped_by(exc: BaseException) -> OSError | CouldNotComplete | None:
    """Why the scan could not complete, if `exc` is only that (anyio reports in groups).

    An OSError (a full disk, a closed stdout) or the resolvers gone silent;
    None for anything else, which is a bug.
    """
    leaves = list(leaf_exceptions(exc))
    if leaves and all(isinstance(leaf, OSError | CouldNotComplete) for leaf in leaves):
        return leaves[0]  # type: ignore[return-value]
    return None


def check_resolvers(plan: Plan, notice: Notice = log_notice) -> int:
    """Stop before anything is written if no resolver can serve the scan (scanner/scan/probe.py).

    Returns the number of queries the probe sent.
    """
    config = plan.config
    nameservers = plan.nameservers or system_nameservers()
    resolvconf = private_resolvconf(nameservers)
    addresses = probe_addresses(
        plan.target_set.count, plan.target_set.address_at, min(PROBES, config.burst)
    )

    def engine(server: Nameserver) -> Engine:
        return open_resolver(server, timeout=config.timeout, resolvconf=resolvconf, notice=notice)

    results = anyio.run(probe, nameservers, addresses, engine, backend="asyncio")
    if not any(result.serves for result in results):
        raise CouldNotComplete(
            "no resolver can serve this scan, so nothing was scanned: "
            + "; ".join(result.why_not() for result in results)
        )
    for result in results:
        if not result.serves:
            notice(f"{result.why_not()}; scanning with the other resolvers")
    return sum(sum(result.outcomes.values()) for result in results)


class ScanIncomplete(CouldNotComplete):
    """The scan stopped before every address had a row; the rows so far are resumable."""

    def __init__(self, message: str, partial_files: Sequence[str]) -> None:
        super().__init__(message)
        self.partial_files = list(partial_files)


def run_plan(plan: Plan, *, notice: Notice = log_notice) -> Summary:
    """Scan `plan` into its outputs, finish them, and write its summary and metrics files.

    Returns the summary (interrupted, or with rows missing when a worker
    failed: the caller decides what that means). Raises `CouldNotComplete`
    when no resolver serves the scan or a summary file cannot be written,
    `ScanIncomplete` when an output or the resolvers failed mid-scan (or the
    outputs could not be finished), `Interrupted` when stopped while finishing
    the outputs, and `BrokenPipeError` when stdout's reader went away. The
    plan's lock is released when it returns or raises.
    """
    if plan.previous_missing is not None:
        notice(
            f"--previous {plan.previous_missing} does not exist yet (the first night?): "
            "nothing to compare with, so no finding counts as new"
        )
    try:
        summary = _scan_and_finish(plan, notice)
        if plan.previous is not None and all_rows_in(summary):
            summary.changes = _compare_with_previous(plan, plan.previous)
    finally:
        if plan.lock is not None:
            plan.lock.release()
    try:
        if plan.summary_file:
            Path(plan.summary_file).write_text(summary.as_json(), encoding="utf-8")
        if plan.metrics_file:
            metrics.write(plan.metrics_file, summary)
    except OSError as exc:
        raise CouldNotComplete(f"cannot write {exc.filename}: {exc.strerror}") from None
    if all_rows_in(summary):
        store_in_history(plan, summary, notice)
    return summary


def _compare_with_previous(plan: Plan, previous: str) -> Changes:
    """Tonight's findings, read from the first finished output, against `previous`."""
    tonight = next(spec.path for spec in plan.specs if not spec.stream)
    try:
        return compare_with(previous, tonight)
    except (ResultsError, OSError) as exc:
        raise CouldNotComplete(
            f"the outputs are complete, but comparing them with --previous failed: {exc}"
        ) from None


def _scan_and_finish(plan: Plan, notice: Notice) -> Summary:
    progress = _progress(plan)
    try:
        if plan.walk is not None:
            return _walk_then_scan(plan, notice, progress)
        # finishing_only: an earlier run staged every row and was stopped while finishing.
        staged = plan.finishing_only
        summary = _new_summary(plan, 0) if staged else _scan(plan, notice, progress)
        summary.walk = _walk_counts(plan)
        if all_rows_in(summary):
            progress.set_phase("finishing the outputs")
            _finish(plan, progress)
    finally:
        progress.close()
    return summary


def _walk_then_scan(plan: Plan, notice: Notice, progress: Progress) -> Summary:
    """--walk: the walk (scanner/scan/walking.py), then the rows of what it found."""
    job = plan.walk
    assert job is not None
    probe_queries = check_resolvers(plan, notice)
    try:
        run = run_walk(plan, notice, progress)
    except (OSError, BaseExceptionGroup) as caught:
        exc = stopped_by(caught)
        if exc is None:
            raise
        kept = [job.file.path] if job.file.path else []
        raise ScanIncomplete(f"the walk could not complete: {exc}", kept) from None
    report = run.report
    counts = WalkCounts(
        # Names answered (a stop cancels the ones in flight: asked, never answered).
        asked=run.records.names - run.answered_before,
        attempts=report.attempts,
        duration=run.duration,
        childless=report.childless,
    )
    if run.interrupted:
        if job.file.path:
            notice(f"the walk so far is in {job.file.path}; run the same command with --resume "
                   "to continue")  # fmt: skip
        counts.names, counts.leaves = run.records.names, len(run.records.found)
        return Summary(interrupted=True, probe_queries=probe_queries, walk=counts)
    walked = walked_plan(plan, run.records, run.notes)
    if walked.specs and any(not spec.stream for spec in walked.specs):
        walked = arranged(walked, resume=job.resume, dask=job.dask)
    else:
        walked = replace(walked, workers=walked.config.worker_count(walked.total))
    progress.total = walked.total
    summary = _scan(walked, notice, progress, probe_queries=probe_queries)
    summary.walk = _walk_counts(walked, counts)
    if run.pool is not None:
        if summary.resolvers is None:
            summary.resolvers = run.pool
        else:
            summary.resolvers.add(run.pool)
    if all_rows_in(summary):
        progress.set_phase("finishing the outputs")
        _finish(walked, progress)
    return summary


def _walk_counts(plan: Plan, counts: WalkCounts | None = None) -> WalkCounts | None:
    """What the walk of `plan` found, with what this run of it asked (`counts`)."""
    walked = plan.walked
    if walked is None:
        return None
    counts = counts if counts is not None else WalkCounts()
    counts.names, counts.leaves = walked.names, walked.leaves
    counts.not_walked = len(walked.prefix_rows)
    counts.not_asked = walked.empty.addresses()
    return counts


def _scan(
    plan: Plan, notice: Notice, progress: Progress, *, probe_queries: int | None = None
) -> Summary:
    """The rows of `plan`, the resolvers probed first (unless a walk before did)."""
    if probe_queries is None:
        probe_queries = check_resolvers(plan, notice)
    try:
        if plan.dask is not None:
            from scanner.scan.daskrun import scan_on_dask

            progress.set_phase("scanning on Dask")
            return scan_on_dask(plan, probe_queries, notice, progress)
        if plan.workers > 1:
            return _scan_with_workers(plan, plan.workers, probe_queries, notice, progress)
        return anyio.run(_scan_here, plan, probe_queries, notice, progress, backend="asyncio")
    except (OSError, CouldNotComplete, BaseExceptionGroup) as caught:
        exc = stopped_by(caught)
        if exc is None:
            raise
        if isinstance(exc, BrokenPipeError):
            raise exc from None
        partial = []
        if plan.parts is not None and plan.parts.exists():
            partial = [str(plan.parts.path)]
        elif plan.journal is not None and plan.journal.exists():
            partial = [spec.partial_path for spec in plan.specs if not spec.stream]
        raise ScanIncomplete(f"scan could not complete: {exc}", partial) from None


def _walk_file(plan: Plan) -> WalkFile:
    """The walk file of `plan`'s walk (none: a WalkFile of no path)."""
    files = [spec for spec in plan.specs if not spec.stream]
    return WalkFile(files[0].path + ".walk" if plan.walked is not None and files else None)


def _walk_finished(plan: Plan) -> None:
    """The rows of a walk are published: its file says so (the next run walks afresh)."""
    walk_file = _walk_file(plan)
    if walk_file.exists():
        walk_file.mark_finished()


def _finish(plan: Plan, display: Progress) -> None:
    """Give the staged outputs their names, as one transaction (scanner/files/publish.py)."""
    interrupt_on_signals()
    journal = plan.journal
    ready = dict(plan.resumption.ready) if plan.resumption is not None else {}
    progress = Finishing()

    def step(what: str) -> None:
        display.set_phase(f"finishing the outputs: {what}")

    try:
        if journal is not None:
            journal.reopen()
        finish(
            plan.specs, journal, ready, sort=plan.sort_outputs, progress=progress, on_step=step,
            published=functools.partial(_walk_finished, plan),
        )  # fmt: skip
        if plan.parts is not None:
            plan.parts.remove()
        _walk_file(plan).remove()  # said finished above: if this is not reached, no matter
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted while finishing the outputs: {progress.describe()}; run the same "
            "command to finish them"
        ) from None
    except OSError as exc:
        again = "--resume" if plan.parts is not None else "the same command"
        raise ScanIncomplete(
            f"could not finish the outputs: {exc.strerror or exc}; {progress.describe()}; "
            f"once the cause is fixed, run {again} to finish them",
            [],
        ) from None
    finally:
        if journal is not None:
            journal.close()
