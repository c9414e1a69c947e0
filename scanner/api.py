"""fcrdns-scanner as a library: describe a scan, validate it, then stream or run it.

    from scanner.api import ScanOptions, ScanConfig, plan_scan, run_plan, scan_results

    plan = plan_scan(ScanOptions(targets=["198.18.0.0/24"],
                                 settings=ScanConfig(resolvers=("127.0.0.1:5353",))))
    async with scan_results(plan) as results:   # rows as they complete, in this event loop
        async for result in results:
            print(result.ip, result.status)

    summary = run_plan(plan_scan(ScanOptions(..., outputs=["out.csv"])))  # what `fcrdns scan` does

`plan_scan()` raises `UserError` for anything wrong in the options (the
messages `fcrdns scan` prints); `run_plan()` raises `CouldNotComplete` when the
scan cannot finish (`ScanIncomplete`: the outputs are resumable with
`resume=True`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from scanner import API_NAMES
from scanner.core.config import ScanConfig as ScanConfig
from scanner.core.exits import CouldNotComplete as CouldNotComplete
from scanner.core.exits import NothingToDo as NothingToDo
from scanner.core.exits import UserError as UserError
from scanner.core.options import ScanOptions as ScanOptions
from scanner.core.summary import Summary as Summary
from scanner.core.verdict import ScanResult as ScanResult
from scanner.scan.planning import Plan as Plan
from scanner.scan.planning import plan_scan as plan_scan
from scanner.scan.run import ScanIncomplete as ScanIncomplete
from scanner.scan.run import run_plan as run_plan
from scanner.scan.shard import scan_shard

# The names are listed once, in scanner/__init__.py (which must know them without
# importing this module); every one of them is defined here.
__all__ = sorted(API_NAMES)

# Rows made but not yet taken by the caller, at most: a slow consumer slows the scan down.
BUFFERED_RESULTS = 1024


class _StreamSink:
    def __init__(self, send: MemoryObjectSendStream[ScanResult]) -> None:
        self.send = send

    async def write(self, results: Sequence[ScanResult]) -> None:
        for result in results:
            await self.send.send(result)


@contextlib.asynccontextmanager
async def scan_results(plan: Plan) -> AsyncIterator[_Results]:
    """Scan `plan` in the running event loop; yields an async iterator of its results.

    One `ScanResult` per address, in the order they complete. The plan's
    outputs, journal, workers and Dask settings are not used: the rows are
    yours. Leaving the `async with` block early stops the scan (its queries
    in flight are abandoned). No signal handlers are installed. The summary
    (counts, queries, the resolvers' statistics) is `results.summary` once
    the iteration has ended.
    """
    send, receive = anyio.create_memory_object_stream[ScanResult](BUFFERED_RESULTS)
    summary = Summary(targets=plan.total)

    async def scan() -> None:
        async with send:
            await scan_shard(plan, [_StreamSink(send)], summary, stop_signals=())

    async with anyio.create_task_group() as group, receive:
        group.start_soon(scan)
        results = _Results(receive, summary)
        try:
            yield results
        finally:
            group.cancel_scope.cancel()


class _Results:
    """The results of `scan_results()`: iterate with `async for`; `summary` as they come."""

    def __init__(self, receive: AsyncIterator[ScanResult], summary: Summary) -> None:
        self._receive = receive
        self.summary = summary

    def __aiter__(self) -> AsyncIterator[ScanResult]:
        return self._receive.__aiter__()
