"""The staged outputs of a scan's run: opened (or reopened to resume) with the journal,
each batch of rows committed, and closed, complete or to be resumed."""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence

import anyio

from scanner.core.exits import UserError
from scanner.core.notices import Notice
from scanner.core.summary import Marks, Summary, labels, status_of
from scanner.files.journal import Journal
from scanner.files.sinks import OutputError, Sink, open_sinks
from scanner.scan.planning import Plan, plan_fingerprint
from scanner.scan.pool import Written
from scanner.scan.progress import Progress


async def open_outputs(plan: Plan, progress: Progress) -> tuple[list[Sink], Written]:
    """Open (or reopen, when resuming) the outputs and the journal."""
    offsets: list[int | None] = [None] * len(plan.specs)
    if plan.resumption is not None:
        saved = iter(plan.resumption.offsets)
        offsets = [None if spec.stream else next(saved) for spec in plan.specs]
    try:
        sinks = await open_sinks(plan.specs, offsets)
    except OutputError as exc:
        raise UserError(str(exc)) from None
    journal = plan.journal
    files = [sink for sink in sinks if sink.is_file]
    if journal is not None:
        if plan.resumption is None:
            crcs = [sink.sync() for sink in files]
            journal.start(plan_fingerprint(plan), [sink.offset for sink in files], crcs)
        else:
            for sink in files:
                sink.sync()  # the bytes before are the journal's, checked by verify()
            journal.resume()

    def written(positions: list[int], marks: Marks) -> None:
        if journal is not None:
            counted = [label for byte in marks for label in labels(byte)]
            if journal.record(positions, counted):
                commit(journal, files)
        progress.advance([status_of(byte) for byte in marks])

    return sinks, written


def commit(journal: Journal, files: Sequence[Sink]) -> None:
    """The rows recorded so far onto the disk, then into the journal (in that order)."""
    crcs = [sink.sync() for sink in files]
    journal.commit([sink.offset for sink in files], crcs)


def interrupt_on_signals() -> None:
    """SIGINT and SIGTERM raise KeyboardInterrupt again (the scan's own handling of
    them ended with its event loop, which leaves SIGTERM killing the process
    with no word: exit 143)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupt)
        signal.signal(signal.SIGINT, _raise_interrupt)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


async def close_outputs(
    plan: Plan, sinks: Sequence[Sink], summary: Summary, notice: Notice
) -> None:
    """Commit and close the staged outputs; when every row is in, the journal says so
    (run_plan() then finishes the outputs). Otherwise both stay, to resume."""
    interrupt_on_signals()
    with anyio.CancelScope(shield=True):
        complete = all_rows_in(summary)
        journal = plan.journal
        files = [sink for sink in sinks if sink.is_file]
        try:
            if journal is not None and journal.pending:
                commit(journal, files)
        finally:
            for sink in sinks:
                await sink.close()
        if journal is not None:
            if complete:
                journal.mark_complete()
            journal.close()
            if not complete:
                partial = ", ".join(s.partial_path for s in files)
                notice(
                    f"the rows so far are in {partial}; run the same command "
                    "with --resume to continue"
                )


def all_rows_in(summary: Summary) -> bool:
    return not summary.interrupted and summary.scanned + summary.resumed == summary.targets
