"""Result sinks: CSV, JSONL and XLSX files (or stdout), written with aiofiles as rows arrive."""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import aiofiles

from scanner.core import rows
from scanner.core.exits import CouldNotComplete
from scanner.core.paths import FORMATS, format_of, written_in_place
from scanner.core.verdict import ScanResult
from scanner.files.ownfiles import PlantedLinkError, create_new, open_existing


class OutputError(ValueError):
    """An output that cannot be used: unknown format, or a file that cannot be opened."""


@dataclass(frozen=True, slots=True)
class OutputSpec:
    path: str  # "-" for stdout
    format: str
    # Written as it goes, in place: stdout, or an existing device, pipe or
    # socket (/dev/null, a FIFO). Only regular files are written as
    # `.partial` and renamed: renaming onto /dev/null would replace the device.
    stream: bool = False

    @property
    def compressed(self) -> bool:
        return self.path.lower().endswith(".gz")

    @property
    def partial_path(self) -> str:
        """Where a file output's rows go until the scan is complete."""
        return self.path + ".partial"

    @property
    def packing_path(self) -> str:
        """Where the finished output is built (compressed, sorted, a workbook, or
        the `.partial` file's second name) before it gets its own name."""
        return self.path + ".tmp"

    @property
    def sorting_path(self) -> str:
        """Where the rows are put in address order before they are built (--sorted, and
        every workbook)."""
        return self.path + ".sorting"

    def side_files(self) -> list[str]:
        """Every file a file output writes besides itself."""
        return [self.partial_path, self.packing_path, self.sorting_path]

    @classmethod
    def parse(cls, path: str, fmt: str | None = None) -> OutputSpec:
        if path != "-" and os.path.isdir(path):
            raise OutputError(f"output {path!r} is a directory")
        stream = path == "-" or written_in_place(path)
        if stream and path != "-" and path.lower().endswith(".gz"):
            raise OutputError(f"output {path!r}: a .gz output must be a regular file")
        if fmt is not None:
            if fmt not in FORMATS:
                raise OutputError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
        elif path == "-" or (stream and not format_of(path)):
            fmt = "csv"  # stdout, /dev/null, a FIFO: nothing to tell the format by
        else:
            fmt = format_of(path)
            if fmt is None:
                raise OutputError(
                    f"cannot tell the format of {path!r} from its extension: "
                    "use .csv, .jsonl or .xlsx, or give --format"
                )
        spec = cls(path, fmt, stream)
        if fmt == "xlsx" and stream:
            raise OutputError(
                f"output {path!r}: an XLSX workbook is written whole at the end, to a regular "
                "file; use CSV or JSONL for a stream"
            )
        if fmt == "xlsx" and spec.compressed:
            raise OutputError(f"output {path!r}: an XLSX file is compressed already; drop .gz")
        return spec


class Sink:
    """One output stream. `write()` takes a batch of results and flushes it.

    A regular file is written as `<path>.partial`; scanner/files/publish.py gives the
    finished output its real name when the scan is complete, so a reader never
    takes half a scan for the whole. `offset` is the bytes written so far and
    `crc` the CRC-32 of those since the last `sync()`, which the resume journal
    records. Streams (stdout, devices, pipes) are written in place.
    """

    def __init__(self, spec: OutputSpec) -> None:
        self.spec = spec
        self.rows = 0
        self.offset = 0
        self.crc = 0
        # aiofiles' file classes differ by mode (stdout, write, read-write).
        self._file: Any = None

    @property
    def is_file(self) -> bool:
        """Written as `.partial` and renamed when complete (and so resumable)."""
        return not self.spec.stream

    @property
    def partial_path(self) -> str:
        return self.spec.partial_path

    async def open(self, resume_at: int | None = None) -> None:
        """Open for writing; `resume_at`: continue the partial file from that byte
        (scanner/files/journal.py's `verify()` has checked it holds that many)."""
        try:
            if self.spec.path == "-":
                self._file = aiofiles.stdout_bytes
            elif self.spec.stream:
                self._file = await aiofiles.open(self.spec.path, "wb")
            elif resume_at is None:
                self._file = await aiofiles.open(self.partial_path, "wb", opener=create_new)
            else:
                self._file = await aiofiles.open(self.partial_path, "r+b", opener=open_existing)
                size = os.fstat(self._file.fileno()).st_size
                if size < resume_at:  # changed since it was verified: never pad it
                    raise OutputError(
                        f"cannot resume {self.partial_path!r}: {size:,} bytes, not {resume_at:,}"
                    )
                await self._file.truncate(resume_at)
                await self._file.seek(resume_at)
                self.offset = resume_at
        except PlantedLinkError as exc:
            raise OutputError(f"cannot open output {self.spec.path!r}: {exc}") from None
        except OSError as exc:
            reason = exc.strerror
            raise OutputError(f"cannot open output {self.spec.path!r}: {reason}") from None
        if resume_at is None:
            await self._write(self._header().encode())

    def _header(self) -> str:
        return rows.csv_header() if self.spec.format == "csv" else ""

    async def _write(self, data: bytes) -> None:
        if data:
            await self._file.write(data)
            await self._file.flush()
            self.offset += len(data)
            self.crc = zlib.crc32(data, self.crc)

    async def write(self, results: Sequence[ScanResult]) -> None:
        await self.write_encoded(
            rows.encode(self.spec.format, results).encode("utf-8", "backslashreplace"),
            len(results),
        )

    async def write_encoded(self, data: bytes, rows: int) -> None:
        """Write `rows` rows already encoded in this sink's format (from a worker)."""
        await self._write(data)
        self.rows += rows

    def sync(self) -> int:
        """Put the bytes written so far on the disk; the CRC-32 of those since the last sync."""
        if self._file is not None and self.is_file:
            os.fsync(self._file.fileno())
        crc, self.crc = self.crc, 0
        return crc

    async def close(self) -> None:
        if self._file is not None and self.spec.path != "-":
            await self._file.close()
        self._file = None

    def __repr__(self) -> str:
        return f"<Sink {self.spec.format} {self.spec.path!r} rows={self.rows}>"


class TerminalText:
    """A text stream for a terminal: control characters in what is written (an
    edited result file may hold ESC and BEL bytes, which a terminal obeys) are
    written as escapes; line ends and tabs stay."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if not text.isprintable():
            text = "".join(c if c.isprintable() or c in "\n\t" else repr(c)[1:-1] for c in text)
        return self._stream.write(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()


def write_output(spec: OutputSpec, write: Callable[[TextIO], None]) -> None:
    """Write a command's whole output (diff, sort, merge): stdout and devices in
    place (escaped for a terminal), a file whole (`write_whole`)."""
    if spec.path == "-":
        write(TerminalText(sys.stdout) if sys.stdout.isatty() else sys.stdout)  # type: ignore[arg-type]
    elif spec.stream:
        with open(spec.path, "w", encoding="utf-8", newline="") as handle:
            write(handle)
    else:
        write_whole(spec, write)


def planted_side_file(spec: OutputSpec) -> str | None:
    """The side file of a file output that is a symbolic link, if one is (refused)."""
    if spec.stream:
        return None
    return next((path for path in spec.side_files() if os.path.islink(path)), None)


def write_whole(spec: OutputSpec, write: Callable[[TextIO], None]) -> None:
    """Write a file output at once, as a scan's outputs are: through `.partial`
    (never through a planted link), compressed for `.gz`, renamed when whole."""
    temporary = spec.partial_path
    try:
        with open(temporary, "wb", opener=create_new) as raw:
            if spec.compressed:
                name = os.path.basename(spec.path)
                with (
                    gzip.GzipFile(filename=name, mode="wb", fileobj=raw) as packed,
                    io.TextIOWrapper(packed, encoding="utf-8", newline="") as handle,
                ):
                    write(handle)
            else:
                with io.TextIOWrapper(raw, encoding="utf-8", newline="") as handle:
                    write(handle)
        os.replace(temporary, spec.path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise CouldNotComplete(f"cannot write {spec.path!r}: {exc.strerror or exc}") from None


async def open_sinks(
    specs: Sequence[OutputSpec], resume_at: Sequence[int | None] | None = None
) -> list[Sink]:
    sinks = []
    offsets = resume_at or [None] * len(specs)
    try:
        for spec, offset in zip(specs, offsets, strict=True):
            sink = Sink(spec)
            await sink.open(offset)
            sinks.append(sink)
    except BaseException:
        # Leave no header-only files behind for a scan that never started.
        for sink in sinks:
            await sink.close()
            if sink.is_file and offsets[0] is None:
                Path(sink.partial_path).unlink(missing_ok=True)
        raise
    return sinks
