"""Several worker processes (`--workers N`), each scanning a share, merged into one output.

The parent parses and validates everything, then forks the workers before any
event loop or thread exists. Worker j of W scans the positions p of the scan
order with p mod W == j, with a share of the concurrency and of the rate, and
sends its rows back through a pipe, already encoded for every output, in
frames: a tag, a row count, a length, then the rows' positions and bytes. The
parent writes each batch to the real sinks and the resume journal as it
arrives, and merges the workers' summaries at the end.

On SIGINT/SIGTERM the parent sends SIGTERM to every worker (workers ignore
SIGINT, so a terminal's Ctrl-C reaching the whole group is handled once); each
worker flushes what it has and sends its summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import os
import signal
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, BinaryIO

import anyio

from scanner.core import rows
from scanner.core.config import ScanConfig
from scanner.core.exits import leaf_exceptions
from scanner.core.notices import Notice, log_notice
from scanner.core.summary import Marks, Summary
from scanner.core.verdict import ScanResult
from scanner.files.sinks import Sink
from scanner.scan.pool import Written

_HEADER = struct.Struct("!cII")  # tag, rows, payload length
BATCH = b"b"  # payload: the rows' positions, then each format's bytes (length-prefixed)
SUMMARY = b"s"


def worker_config(config: ScanConfig, workers: int) -> ScanConfig:
    """Each worker's share of the concurrency, of the rates and of the burst.

    The burst is shared too: each worker's limiter may send its burst at once,
    and the scan's bound is rate x T + burst, not + burst per worker.
    """

    def share(value: float) -> float:
        return value / workers if value else value

    rate = config.rate if config.rate == "auto" else share(float(config.rate))
    return replace(
        config,
        concurrency=max(1, -(-config.concurrency // workers)),
        rate=rate,
        burst=max(1, config.burst // workers),
        start_rate=share(config.auto_start_rate()),
        max_rate=share(config.max_rate),
        resolver_rate=share(config.resolver_rate),
        authoritative_rate=share(config.authoritative_rate),
        workers=1,
    )


class FrameSink:
    """A worker's sink: every batch, encoded once per output format, framed into a pipe.

    The positions of the rows in the scan order travel with them, so the parent
    can journal them for --resume.
    """

    def __init__(self, pipe: BinaryIO, formats: Sequence[str]) -> None:
        self.pipe = pipe
        self.formats = list(formats)
        self._pending: list[bytes] = []

    async def write(self, results: Sequence[ScanResult]) -> None:
        parts = []
        for fmt in self.formats:
            data = rows.encode(fmt, results).encode("utf-8", "backslashreplace")
            parts.append(struct.pack("!I", len(data)) + data)
        self._pending = parts

    def batch_written(self, positions: list[int], marks: Marks) -> None:
        """Called by the pipeline after `write()`: the batch is complete, send it."""
        payload = (
            struct.pack(f"!{len(positions)}Q", *positions)
            + marks.tobytes()
            + b"".join(self._pending)
        )
        self.pipe.write(_HEADER.pack(BATCH, len(positions), len(payload)) + payload)
        self.pipe.flush()
        self._pending = []

    def finish(self, summary: Summary) -> None:
        payload = summary.as_json().encode()
        self.pipe.write(_HEADER.pack(SUMMARY, 0, len(payload)) + payload)
        self.pipe.flush()


def _unpack_batch(count: int, payload: bytes, formats: int) -> tuple[list[int], Marks, list[bytes]]:
    positions = list(struct.unpack_from(f"!{count}Q", payload))
    marks = Marks("H", payload[8 * count : 10 * count])  # the same machine: native order
    cursor, parts = 10 * count, []
    for _ in range(formats):
        (length,) = struct.unpack_from("!I", payload, cursor)
        cursor += 4
        parts.append(payload[cursor : cursor + length])
        cursor += length
    return positions, marks, parts


def fork_workers(
    count: int, run_worker: Callable[[int, BinaryIO], int], notice: Notice = log_notice
) -> list[tuple[int, BinaryIO]]:
    """Start `count` worker processes; returns (pid, read end of its pipe) for each."""
    started: list[tuple[int, BinaryIO]] = []
    for worker in range(count):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                os.close(read_fd)
                for _, other in started:
                    other.close()
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                # The fork happened inside the parent's event loop, and the child
                # inherits its marks: the thread's running loop, and the context
                # in which anyio noted "asyncio". Both would make the worker's own
                # anyio.run() refuse to start ("Already running asyncio").
                asyncio.events._set_running_loop(None)
                with os.fdopen(write_fd, "wb") as pipe:
                    code = contextvars.Context().run(run_worker, worker, pipe)
            except BaseException as exc:  # a worker must never return into the parent's code
                cause = next(leaf_exceptions(exc))  # out of anyio's exception groups
                notice(f"worker {worker + 1} stopped: {cause}")
            finally:
                sys.stderr.flush()
                os._exit(code)
        os.close(write_fd)
        started.append((pid, os.fdopen(read_fd, "rb")))
    return started


def _read_frame(pipe: BinaryIO) -> tuple[bytes, int, bytes] | None:
    """The next whole frame, or None at the end of the pipe.

    A worker killed while writing a frame leaves a torn one, cut short by the
    end of the pipe: it is dropped whole (its rows never reach an output or
    the journal), and the scan ends incomplete, resumable.
    """
    header = pipe.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    tag, count, length = _HEADER.unpack(header)
    payload = pipe.read(length)
    if len(payload) < length:
        return None
    return tag, count, payload


async def merge_workers(
    workers: list[tuple[int, BinaryIO]],
    sinks: Sequence[Sink],
    summary: Summary,
    written: Written | None = None,
) -> list[dict[str, Any]]:
    """Copy every worker's batches to the sinks; returns the workers' summaries."""
    summaries: list[dict[str, Any]] = []
    lock = anyio.Lock()

    async def drain(pipe: BinaryIO) -> None:
        with pipe:
            while (frame := await anyio.to_thread.run_sync(_read_frame, pipe)) is not None:
                tag, count, payload = frame
                if tag == SUMMARY:
                    summaries.append(json.loads(payload))
                    continue
                positions, marks, parts = _unpack_batch(count, payload, len(sinks))
                async with lock:  # a batch goes to every sink, then to the journal, whole
                    for sink, data in zip(sinks, parts, strict=True):
                        await sink.write_encoded(data, count)
                    if written is not None:
                        written(positions, marks)

    async def forward_signals() -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                summary.interrupted = True
                for pid, _ in workers:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)

    async with anyio.create_task_group() as group:
        group.start_soon(forward_signals)
        async with anyio.create_task_group() as readers:
            for _, pipe in workers:
                readers.start_soon(drain, pipe)
        group.cancel_scope.cancel()  # every worker is done: stop watching signals
    for pid, _ in workers:
        await anyio.to_thread.run_sync(os.waitpid, pid, 0)
    return summaries
