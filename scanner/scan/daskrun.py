"""`fcrdns scan --dask`: the scan cut into shards, each a task on a Dask cluster.

The client (this process) connects to a scheduler (`tcp://host:8786`) or
starts a `LocalCluster` (`local`, `local:N`), cuts the plan into shards with
the `--shard` machinery (shard k of S: every S-th position of the scan order),
and submits one task per shard that is not complete yet. Each task scans its
shard in its own event loop on a worker and writes one part file per output
(scanner/files/parts.py), atomically, then its summary. When every shard is
complete, the client copies the parts into the outputs in shard order, once;
run_plan() finishes the outputs and removes the parts. Rate, concurrency,
burst and per-resolver limits are the cluster's totals: each task gets its
share of the tasks that run at once.
The parts directory must be on a filesystem every worker reaches.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import anyio
import distributed

from scanner.core import rows
from scanner.core.exits import CouldNotComplete, leaf_exceptions
from scanner.core.notices import Notice, log_notice
from scanner.core.order import Shard
from scanner.core.status import Status
from scanner.core.summary import Summary
from scanner.core.verdict import ScanResult
from scanner.files.ownfiles import create_new
from scanner.files.parts import Parts
from scanner.files.sinks import OutputError, open_sinks
from scanner.scan.planning import Plan, plan_fingerprint
from scanner.scan.progress import Progress
from scanner.scan.shard import scan_shard
from scanner.scan.workers import worker_config

# A lost worker costs its shard's work again: shards of at most this many addresses.
SHARD_ADDRESSES = 262_144
# How long to wait for a remote scheduler to have a worker.
WORKER_WAIT = 60.0
COPY_CHUNK = 1 << 20


def default_shards(targets: int, threads: int) -> int:
    """Shards for `targets` addresses on `threads` worker threads: whole waves of equal shards.

    A shard ends only when its last address does, and the last few wait out
    their retries' back-off (seconds, for a SERVFAIL): every wave of shards
    pays that tail once, with its share of the rate unused. So there are as
    few waves as the size limit allows, each with a shard per thread; shards
    of equal size at equal rates end together, and need no smaller ones to
    balance the load.
    """
    waves = math.ceil(targets / (threads * SHARD_ADDRESSES))
    return max(1, min(targets, waves * threads))


class _PartSink:
    """A task's sink: each batch encoded once per output format, appended to its part file."""

    def __init__(self, paths: list[str], formats: list[str]) -> None:
        self.formats = formats
        self.files = [open(path, "wb", opener=create_new) for path in paths]  # noqa: SIM115

    async def write(self, results: Sequence[ScanResult]) -> None:
        for fmt, handle in zip(self.formats, self.files, strict=True):
            handle.write(rows.encode(fmt, results).encode("utf-8", "backslashreplace"))

    def close(self) -> None:
        for handle in self.files:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()


def scan_part(plan: Plan, parts_path: str, shard: int, shards: int) -> dict[str, Any]:
    """The Dask task: scan shard `shard` of `shards` into its part files; returns its summary."""
    started = time.perf_counter()
    parts = Parts(parts_path)
    mine = replace(plan, shard=Shard(shard, shards), specs=[], journal=None, resumption=None)
    formats = [spec.format for spec in plan.specs]
    temporaries = [parts.temporary(shard, i, fmt) for i, fmt in enumerate(formats)]
    sink = _PartSink(temporaries, formats)
    summary = Summary(targets=mine.total)
    try:
        # No signal handlers: a task runs in a worker's thread; the worker stops it.
        scan = functools.partial(scan_shard, mine, [sink], summary, stop_signals=())
        anyio.run(scan, backend="asyncio")
    except BaseException:
        sink.close()
        for path in temporaries:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        raise
    sink.close()
    summary.duration = time.perf_counter() - started
    for i, (fmt, path) in enumerate(zip(formats, temporaries, strict=True)):
        parts.write_part(shard, i, fmt, path)
    result = summary.as_dict()
    parts.complete_shard(shard, result)
    return result


@contextlib.contextmanager
def _client(address: str) -> Iterator[distributed.Client]:
    """A client of the cluster at `address`, or of a LocalCluster started here."""
    if address.startswith("local"):
        _, _, count = address.partition(":")
        workers = int(count) if count else os.cpu_count() or 1
        with distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster, distributed.Client(cluster) as client:  # fmt: skip
            yield client
        return
    try:
        client = distributed.Client(address, timeout=30)
    except (OSError, TimeoutError, ValueError) as exc:
        raise CouldNotComplete(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    with client:
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT)
        except TimeoutError:
            raise CouldNotComplete(
                f"the Dask scheduler at {address} has had no worker for {WORKER_WAIT:.0f} s"
            ) from None
        yield client


def scan_on_dask(
    plan: Plan,
    probe_queries: int = 0,
    notice: Notice = log_notice,
    progress: Progress | None = None,
) -> Summary:
    """Scan `plan` as shards on the Dask cluster of `--dask`, then merge the parts."""
    dask = plan.dask
    assert dask is not None
    started = time.perf_counter()
    parts = dask.parts
    with _client(dask.address) as client:
        threads = sum(client.nthreads().values())
        shards = dask.resumed_shards or dask.shards or default_shards(plan.total, threads)
        if dask.resumed_shards is None:
            parts.start(plan_fingerprint(plan), shards)
        done = parts.completed(shards)
        summary = _summary_before(plan, done, probe_queries)
        todo = [shard for shard in range(1, shards + 1) if shard not in done]
        at_once = max(1, min(threads, len(todo)))
        shared = replace(plan, config=worker_config(plan.config, at_once))
        if done:
            notice(f"{len(done)} of {shards} shards were complete; scanning the other {len(todo)}")
        try:
            _run_tasks(client, shared, parts, shards, todo, summary, notice, progress)
        except KeyboardInterrupt:
            summary.interrupted = True
    summary.duration = time.perf_counter() - started
    if summary.interrupted:
        notice(f"the complete shards are in {parts.path}; run the same command with --resume")
        return summary
    anyio.run(_merge, plan, parts, shards, backend="asyncio")
    summary.duration = time.perf_counter() - started
    return summary


def _summary_before(plan: Plan, done: dict[int, dict[str, Any]], probe_queries: int) -> Summary:
    """The summary of this run, with the shards complete before --resume as `before`."""
    earlier = Summary()
    for shard in done.values():
        earlier.absorb(shard)
    return Summary(
        targets=plan.total,
        before=earlier.counts if done else {},
        findings_before=earlier.findings if done else {},
        postfix_before=earlier.postfix if done else {},
        probe_queries=probe_queries,
    )


def _run_tasks(
    client: distributed.Client,
    plan: Plan,
    parts: Parts,
    shards: int,
    todo: list[int],
    summary: Summary,
    notice: Notice,
    progress: Progress | None = None,
) -> None:
    """Run one task per shard in `todo`; their summaries are added to `summary`."""
    # On every worker before any task: a task waits for no transfer, and the
    # scheduler has no reason to queue tasks where the data happens to be.
    shared = client.scatter(plan, broadcast=True)
    run = os.urandom(4).hex()
    futures = {
        client.submit(
            scan_part, shared, str(parts.path), shard, shards,
            key=f"fcrdns-shard-{shard}-of-{shards}-{run}", pure=False,
        ): shard
        for shard in todo
    }  # fmt: skip
    rows_total, rows_done = plan.total, summary.resumed
    finished = shards - len(todo)
    try:
        for future in distributed.as_completed(futures):
            shard = futures[future]
            try:
                result = future.result()
            except Exception as exc:
                cause = next(leaf_exceptions(exc))
                raise CouldNotComplete(f"shard {shard} of {shards} failed: {cause}") from None
            summary.absorb(result)
            finished += 1
            rows_done += sum(result["counts"].values())
            if progress is not None:
                progress.advance_counts({Status(k): n for k, n in result["counts"].items()})
                progress.set_phase(f"scanning on Dask: {finished} of {shards} shards done")
            if plan.progress:
                notice(
                    f"shard {shard} of {shards} done; {finished} of {shards} shards, "
                    f"{rows_done:,} of {rows_total:,} rows"
                )
    finally:
        client.cancel(list(futures))


async def _merge(plan: Plan, parts: Parts, shards: int) -> None:
    """Copy every shard's parts into the outputs' `.partial` files, in shard order.

    run_plan() then finishes the outputs and removes the parts; until then
    the parts are the scan's staging, and an interrupted merge or finish is
    redone from them by `--resume`."""
    for spec in plan.specs:
        if not spec.stream:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(spec.partial_path)  # a merge interrupted before: never complete
    try:
        sinks = await open_sinks(plan.specs, [None] * len(plan.specs))
    except OutputError as exc:
        raise CouldNotComplete(str(exc)) from None
    try:
        for shard in range(1, shards + 1):
            for i, (spec, sink) in enumerate(zip(plan.specs, sinks, strict=True)):
                with open(parts.part(shard, i, spec.format), "rb") as part:
                    while chunk := part.read(COPY_CHUNK):
                        await sink.write_encoded(chunk, 0)
        for sink in sinks:
            sink.sync()
    finally:
        with anyio.CancelScope(shield=True):
            for sink in sinks:
                await sink.close()
