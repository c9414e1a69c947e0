"""fcrdns-scanner as a library: describe a scan, validate it, then stream or run it.

    from scanner.api import ScanOptions, ScanConfig, plan_scan, run_plan, scan_results

    plan = plan_scan(ScanOptions(targets=["198.18.0.0/24"],
                                 settings=ScanConfig(resolvers=("127.0.0.1:5353",))))
    async with scan_results(plan) as results:   # rows as they complete, in this event loop
        async for result in results:
            print(result.ip, result.status, result.reason)

    result = await check_address("192.0.2.1", ScanConfig(resolvers=("127.0.0.1:5353",)))

    summary = run_plan(plan_scan(ScanOptions(..., outputs=["out.csv"])))  # what `fcrdns scan` does

A `ScanResult` from `scan_results()` or `check_address()` carries what its
output row carries: the verdict and its lookups, `reason` (the row's words)
and `mail` (how receiving mail servers judge the address). `plan_scan()`
raises `UserError` for anything wrong in the options (the messages `fcrdns
scan` prints); `run_plan()` raises `CouldNotComplete` when the scan cannot
finish (`ScanIncomplete`: the outputs are resumable with `resume=True`) and
reports what an operator should know through `notice` (by default, warnings
on the `fcrdns` logger). An exception raised in your own `async for` body
comes out as itself, not inside an exception group.
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
from scanner.core.exits import leaf_exceptions
from scanner.core.notices import Notice, log_notice
from scanner.core.options import ScanOptions as ScanOptions
from scanner.core.reasons import reason_of
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
            reason_of(result)  # kept on the result, with its mail verdicts: what its row says
            await self.send.send(result)


@contextlib.asynccontextmanager
async def scan_results(plan: Plan, *, notice: Notice = log_notice) -> AsyncIterator[_Results]:
    """Scan `plan` in the running event loop; yields an async iterator of its results.

    One `ScanResult` per address, in the order they complete. The plan's
    outputs, journal, workers and Dask settings are not used: the rows are
    yours. Leaving the `async with` block early stops the scan (its queries
    in flight are abandoned). No signal handlers are installed. The summary
    (counts, queries, the resolvers' statistics) is `results.summary` once
    the iteration has ended. An exception from the block, or the scan's own
    (`CouldNotComplete` when the resolvers fall silent), is raised as itself.
    """
    send, receive = anyio.create_memory_object_stream[ScanResult](BUFFERED_RESULTS)
    summary = Summary(targets=plan.total)
    raised: BaseException | None = None

    async def scan() -> None:
        async with send:
            await scan_shard(plan, [_StreamSink(send)], summary, stop_signals=(), notice=notice)

    try:
        async with anyio.create_task_group() as group, receive:
            group.start_soon(scan)
            try:
                yield _Results(receive, summary)
            except BaseException as exc:  # the caller's: raised again below, unwrapped
                raised = exc
            finally:
                group.cancel_scope.cancel()
    except BaseExceptionGroup as failed:
        leaves = list(leaf_exceptions(failed))
        # One failure, or the scan's own told by each worker that met it (every
        # worker waiting for a resolver learns at once that all fell silent).
        if len(leaves) == 1 or all(isinstance(leaf, CouldNotComplete) for leaf in leaves):
            raise leaves[0] from None
        raise
    if raised is not None:
        raise raised


async def check_address(
    address: str, config: ScanConfig, *, notice: Notice = log_notice
) -> ScanResult:
    """Check one address, as `fcrdns scan ADDRESS` would: its verdict, reason and mail verdicts.

    `config` names the resolvers (`ScanConfig(resolvers=(...))`, else the
    system's) and the rate, timeout and retries. Raises `UserError` when the
    address is not one.
    """
    plan = plan_scan(ScanOptions(targets=[address], settings=config))
    if plan.total != 1:
        raise UserError(f"expected one address, got {address!r} ({plan.total:,} addresses)")
    async with scan_results(plan, notice=notice) as results:
        async for result in results:
            return result
    raise CouldNotComplete(f"the scan of {address} ended without a result")


class _Results:
    """The results of `scan_results()`: iterate with `async for`; `summary` as they come."""

    def __init__(self, receive: AsyncIterator[ScanResult], summary: Summary) -> None:
        self._receive = receive
        self.summary = summary

    def __aiter__(self) -> AsyncIterator[ScanResult]:
        return self._receive.__aiter__()
