"""The scan pipeline: lazy targets -> N workers -> bounded stream -> sinks.

Everything runs in one task group. The workers share one lazy iterator of
targets: each takes the next when it is free, so every target goes to exactly
one worker (a plain iterator is enough: all the workers run on one thread, and
taking the next target never awaits). Each worker has at most one query in
flight, so `concurrency` workers bound the queries in flight. Workers are
started as the resolver's in-flight windows open (`capacity()`), not all at
once. The result stream is bounded, so memory does not grow with the number of
targets. On SIGINT/SIGTERM
the workers are cancelled, and the writer drains and flushes every result
already made before returning.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from scanner.core.lookups import Resolver
from scanner.core.summary import Marks, Summary, mark
from scanner.core.verdict import IPAddress, ScanResult
from scanner.scan.checker import Annotate, AuthorityLookup, ZoneLookup, check_ip
from scanner.scan.walkplan import Known

WRITE_BATCH = 256
# A batch not yet full waits this long for more rows before it is written.
# Writing a batch costs the same for one row as for 256 (a hop to aiofiles'
# thread, a flush, a journal line, a progress redraw): on a slow path, where
# answers trickle in, writing each trickle as it came cost more CPU per IP than
# the DNS work itself. A crash loses at most this much work, which `--resume`
# redoes.
WRITE_DELAY = 0.05
# How often the crew of workers is matched to the resolvers' capacity even
# when no IP completes (each completion checks it too).
CREW_CHECK = 0.05


class ResultSink(Protocol):
    async def write(self, results: Sequence[ScanResult]) -> None: ...


# The workers try the non-blocking stream call first: the awaiting one passes a
# cancellation checkpoint, which in anyio costs an async-library lookup per
# item (measured: 7% of the scan). They await only when they would block, and
# every DNS lookup in between is itself a checkpoint. (A producer task feeding
# a stream of targets cost a task switch per target: it was always full.)


# (position in the scan order, what to check): an address; an address whose PTR a
# walk already answered (`Known`); or a row already made (a subtree a walk could not see).
Target = tuple[int, IPAddress | Known | ScanResult]


@runtime_checkable
class Sized(Protocol):
    """A resolver that says how many lookups can make progress now (the retry
    layer's windows): the pool keeps that many workers, no more."""

    def capacity(self) -> int: ...


Done = tuple[int, ScanResult]
# (positions in the scan order, a mark per row: scanner/core/summary.py's `mark`, 16 bits)
Written = Callable[[list[int], Marks], None]


async def _work(
    resolver: Resolver,
    targets: Iterator[Target],
    send: MemoryObjectSendStream[Done],
    annotate: Annotate | None,
    zones: ZoneLookup | None,
    authority: AuthorityLookup | None,
    grow: Callable[[], None],
) -> None:
    # The result stream is shared by all workers and closed by `run_scan` once
    # every worker has ended: a worker cancelled before its first step closes nothing.
    for position, target in targets:
        if isinstance(target, ScanResult):
            done = (position, target)
        elif isinstance(target, Known):
            result = await check_ip(target.ip, resolver, annotate, zones, authority, ptr=target.ptr)
            done = (position, result)
        else:
            done = (position, await check_ip(target, resolver, annotate, zones, authority))
        try:
            send.send_nowait(done)
        except anyio.WouldBlock:
            await send.send(done)
        except anyio.BrokenResourceError:
            # The writer failed (a full disk) and closed its end before this
            # worker's cancellation arrived: its error is the one to report,
            # and the row was never journaled, so a resumed scan redoes it.
            return
        grow()


async def _write(
    receive: MemoryObjectReceiveStream[Done],
    sinks: Sequence[ResultSink],
    summary: Summary,
    written: Written | None,
) -> None:
    async with receive:
        async for first in receive:
            batch = [first]
            if not _fill(receive, batch):
                await anyio.sleep(WRITE_DELAY)
                _fill(receive, batch)
            results = [result for _, result in batch]
            for sink in sinks:
                await sink.write(results)
            if written is not None:
                written([position for position, _ in batch], Marks("H", map(mark, results)))
            for result in results:
                summary.add(result)


def _fill(receive: MemoryObjectReceiveStream[Done], batch: list[Done]) -> bool:
    """Add the rows ready now, up to a full batch; True if the batch is complete
    (full, or the stream has ended)."""
    while len(batch) < WRITE_BATCH:
        try:
            batch.append(receive.receive_nowait())
        except anyio.WouldBlock:
            return False
        except anyio.EndOfStream:
            return True
    return True


class _Crew:
    """The worker tasks: as many as the resolver's windows can keep busy, up to `concurrency`."""

    def __init__(
        self, group: TaskGroup, concurrency: int, capacity: Callable[[], int] | None
    ) -> None:
        self.group = group
        self.concurrency = concurrency
        self.capacity = capacity
        self.size = 0
        self.finished = False  # a worker found no target left
        self.job: tuple[Any, ...] = ()

    def grow(self) -> None:
        capacity = self.capacity
        wanted = self.concurrency if capacity is None else _crew_for(capacity(), self.concurrency)
        while self.size < wanted and not self.finished:
            self.size += 1
            self.group.start_soon(self._work)

    async def _work(self) -> None:
        await _work(*self.job)
        self.finished = True

    async def keep(self) -> None:
        """Grow the crew also while no IP completes (every worker waiting to retry)."""
        while not self.finished:
            await anyio.sleep(CREW_CHECK)
            self.grow()


def _crew_for(capacity: int, concurrency: int) -> int:
    """Workers to keep a resolver window of `capacity` queries full.

    A worker spends part of each IP between queries (deciding the verdict,
    handing the row over), so a few more workers than the window keep it full;
    many more would only wait for room. Starting all `concurrency` workers at
    once cost, at 5,000, a tenth of a short scan's CPU, and memory for tasks
    that the window never let run.
    """
    return min(concurrency, capacity + capacity // 8 + 16)


async def _cancel_on_signal(
    scope: anyio.CancelScope, summary: Summary, signals_: tuple[signal.Signals, ...]
) -> None:
    with anyio.open_signal_receiver(*signals_) as signals:
        async for _ in signals:
            summary.interrupted = True
            scope.cancel()
            return


async def run_scan(
    targets: Iterable[Target],
    resolver: Resolver,
    sinks: Sequence[ResultSink],
    *,
    concurrency: int,
    summary: Summary | None = None,
    stop_signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM),
    annotate: Annotate | None = None,
    written: Written | None = None,
    zones: ZoneLookup | None = None,
    authority: AuthorityLookup | None = None,
) -> Summary:
    """Check every target once and write one result per target to every sink.

    `targets` are (position, address) pairs; `written(positions, marks)` is
    called after each batch is flushed to every sink (the resume journal and the
    progress display listen there).
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    summary = summary if summary is not None else Summary()
    started = time.perf_counter()
    shared = iter(targets)
    # Room for a full write batch beyond the workers: while the writer is busy
    # with one batch, finished workers hand over their results without blocking
    # (a blocking send costs a checkpoint and an event).
    result_send, result_receive = anyio.create_memory_object_stream[Done](
        concurrency + 2 * WRITE_BATCH
    )
    work_scope = anyio.CancelScope()

    capacity = resolver.capacity if isinstance(resolver, Sized) else None

    async def work() -> None:
        with work_scope:
            async with result_send, anyio.create_task_group() as workers:
                crew = _Crew(workers, concurrency, capacity)
                crew.job = (resolver, shared, result_send, annotate, zones, authority, crew.grow)
                crew.grow()
                if capacity is not None:
                    workers.start_soon(crew.keep)

    failure: Exception | None = None
    async with anyio.create_task_group() as group:
        if stop_signals:
            group.start_soon(_cancel_on_signal, work_scope, summary, stop_signals)
        group.start_soon(work)
        # Returns once every worker has closed its result stream (done or cancelled).
        try:
            await _write(result_receive, sinks, summary, written)
        except Exception as exc:  # a sink failed (a full disk): stop the workers
            failure = exc
        group.cancel_scope.cancel()  # the signal watcher is the only task left
    summary.duration = time.perf_counter() - started
    if failure is not None:
        # Raised after the task group, so the caller sees the sink's own error
        # (an OSError it reports as "could not complete"), not a group of it.
        raise failure
    return summary
