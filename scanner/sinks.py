"""Result sinks: CSV and JSONL files (or stdout), written with aiofiles as rows arrive."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiofiles

from scanner import rows
from scanner.verdict import ScanResult

FORMATS = ("csv", "jsonl")
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


class OutputError(ValueError):
    """An output that cannot be used: unknown format, or a file that cannot be opened."""


@dataclass(frozen=True, slots=True)
class OutputSpec:
    path: str  # "-" for stdout
    format: str

    @classmethod
    def parse(cls, path: str, fmt: str | None = None) -> OutputSpec:
        if fmt is not None:
            if fmt not in FORMATS:
                raise OutputError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
            return cls(path, fmt)
        if path == "-":
            return cls(path, "csv")
        suffix = Path(path).suffix.lower()
        if suffix not in _EXTENSIONS:
            raise OutputError(
                f"cannot tell the format of {path!r} from its extension: "
                "use .csv or .jsonl, or give --format"
            )
        return cls(path, _EXTENSIONS[suffix])


class Sink:
    """One output stream. `write()` takes a batch of results and flushes it."""

    def __init__(self, spec: OutputSpec) -> None:
        self.spec = spec
        self.rows = 0
        self._file = None

    async def open(self) -> None:
        if self.spec.path == "-":
            self._file = aiofiles.stdout
        else:
            try:
                self._file = await aiofiles.open(
                    self.spec.path, "w", encoding="utf-8", errors="backslashreplace", newline=""
                )
            except OSError as exc:
                raise OutputError(
                    f"cannot open output {self.spec.path!r}: {exc.strerror}"
                ) from None
        header = self._header()
        if header:
            await self._file.write(header)
            await self._file.flush()

    def _header(self) -> str:
        return rows.csv_header() if self.spec.format == "csv" else ""

    def _format(self, results: Sequence[ScanResult]) -> str:
        if self.spec.format == "csv":
            return rows.csv_lines([rows.csv_record(result) for result in results])
        return "".join(rows.json_line(result) for result in results)

    async def write(self, results: Sequence[ScanResult]) -> None:
        await self.write_text(self._format(results), len(results))

    async def write_text(self, text: str, rows: int) -> None:
        """Write `rows` rows already encoded in this sink's format (from a worker)."""
        await self._file.write(text)
        await self._file.flush()
        self.rows += rows

    async def close(self) -> None:
        if self._file is not None and self.spec.path != "-":
            await self._file.close()
        self._file = None

    def __repr__(self) -> str:
        return f"<Sink {self.spec.format} {self.spec.path!r} rows={self.rows}>"


async def open_sinks(specs: Sequence[OutputSpec]) -> list[Sink]:
    sinks = []
    try:
        for spec in specs:
            sink = Sink(spec)
            await sink.open()
            sinks.append(sink)
    except BaseException:
        # Leave no header-only files behind for a scan that never started.
        for sink in sinks:
            await sink.close()
            if sink.spec.path != "-":
                Path(sink.spec.path).unlink(missing_ok=True)
        raise
    return sinks
