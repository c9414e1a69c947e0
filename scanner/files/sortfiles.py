"""Result files in address order, and rescans folded back into the results they rescanned.

`fcrdns sort RESULTS -o SORTED` writes the rows of a result file in address
order (IPv4 before IPv6, numerically: 198.18.0.2 before 198.18.0.10, as a
spreadsheet sorting text never would). `fcrdns merge BASE UPDATES -o OUT`
writes BASE with every row of UPDATES (a `--rescan-failed` result) in place
of BASE's row for the same address, in address order. `scan --sorted` sorts
its finished outputs the same way. Rows are kept as they were written (a
CSV row is parsed and written back the same, a JSONL line is copied), in
bounded memory (scanner/files/extsort.py).
"""

from __future__ import annotations

import csv
import gzip
import heapq
import itertools
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from scanner.core.paths import format_of
from scanner.core.rows import csv_lines
from scanner.files.extsort import Keyed, address_key, last_of_each, sorted_by_address
from scanner.files.ownfiles import create_new
from scanner.files.results import ResultsError, jsonl_problem


def result_format(path: str) -> str:
    """csv or jsonl, by the file name (optionally .gz)."""
    fmt = format_of(path)
    if fmt not in ("csv", "jsonl"):
        raise ResultsError(f"{path}: not a result file (.csv, .jsonl, optionally .gz)")
    return fmt


@contextmanager
def keyed_rows(path: str, fmt: str) -> Iterator[tuple[str, Iterator[Keyed]]]:
    """(header line, rows as (address key, line)) of a result file, read as it is used."""
    opener = gzip.open if path.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            yield _rows(path, fmt, handle)
    except OSError as exc:
        raise ResultsError(f"cannot read {path!r}: {exc.strerror or exc}") from None
    except EOFError:
        raise ResultsError(f"{path}: the compressed file ends early (cut off?)") from None
    except UnicodeDecodeError:
        raise ResultsError(f"{path}: not UTF-8 text") from None
    except csv.Error as exc:
        raise ResultsError(f"{path}: not a CSV file fcrdns wrote: {exc}") from None


def _rows(path: str, fmt: str, handle: TextIO) -> tuple[str, Iterator[Keyed]]:
    if fmt == "csv":
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header or "ip" not in header:
            raise ResultsError(f"{path}: no header with an ip column: not a fcrdns result file")
        column = header.index("ip")

        def csv_rows() -> Iterator[Keyed]:
            for number, cells in enumerate(reader, start=2):
                yield (
                    _key(path, number, cells[column] if column < len(cells) else ""),
                    csv_lines([cells]),
                )

        return csv_lines([header]), csv_rows()
    ip_of: Callable[[str], str] = _jsonl_ip if fmt == "jsonl" else _staged_ip

    def lines() -> Iterator[Keyed]:
        for number, line in enumerate(handle, start=1):
            try:
                ip = ip_of(line)
            except (ValueError, KeyError, TypeError, IndexError):
                raise ResultsError(f"{path}:{number}: not a fcrdns result line") from None
            yield _key(path, number, ip), line if line.endswith("\n") else line + "\n"

    return "", lines()


def _key(path: str, number: int, ip: str) -> bytes:
    try:
        return address_key(ip)
    except ValueError:
        raise ResultsError(f"{path}:{number}: not an IP address: {ip!r}") from None


def _jsonl_ip(line: str) -> str:
    # Every line parsed and checked: a torn or foreign line is an error, never
    # a row sorted to the top (a fast path that read only the address took it).
    row = json.loads(line)
    problem = jsonl_problem(row)
    if problem:
        raise ValueError(problem)
    return str(row["ip"])


def _staged_ip(line: str) -> str:
    if line.startswith('["'):
        return line[2 : line.index('"', 2)]
    return str(json.loads(line)[0])


def sorted_lines(path: str, fmt: str, scratch: str) -> Iterator[str]:
    """The header (CSV) and the rows of `path`, in address order (stable)."""
    with keyed_rows(path, fmt) as (header, rows):
        ordered = _read_first(sorted_by_address(rows, scratch))
        if header:
            yield header
        for _, line in ordered:
            yield line


def merged_lines(base: str, updates: str, fmt: str, scratch: str) -> Iterator[str]:
    """BASE's rows with UPDATES' rows in place of those of the same address, in address order."""
    with keyed_rows(base, fmt) as (header, old), keyed_rows(updates, fmt) as (new_header, new):
        if header != new_header or (fmt == "jsonl" and _keys(base) != _keys(updates)):
            raise ResultsError(f"{base} and {updates} have different columns: cannot merge them")
        # Tagged so that on equal addresses UPDATES comes after BASE: the last one wins.
        olds = last_of_each(sorted_by_address(old, scratch))
        news = last_of_each(sorted_by_address(new, scratch))
        tagged_old = ((key, (0, line)) for key, line in olds)
        tagged_new = ((key, (1, line)) for key, line in news)
        merged = heapq.merge(tagged_old, tagged_new, key=lambda item: (item[0], item[1][0]))
        ordered = _read_first(last_of_each(merged))
        if header:
            yield header
        for _, (_, line) in ordered:
            yield line


def _keys(path: str) -> list[str] | None:
    """The fields of a JSONL result file's first row (its columns), in order."""
    opener = gzip.open if path.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        first = handle.readline()
    try:
        row = json.loads(first)
    except ValueError:
        return None
    return list(row) if isinstance(row, dict) else None


def _read_first(ordered: Iterator[Keyed]) -> Iterator[Keyed]:
    """`ordered`, with its first item taken now: every input row has been read
    (and checked) by then, so a bad row is reported before anything is written."""
    first = next(ordered, None)
    return ordered if first is None else itertools.chain([first], ordered)


def sort_into(path: str, fmt: str, destination: str) -> None:
    """Write the rows of an uncompressed result file (a scan's `.partial`) in
    address order to `destination`, made afresh and synced to the disk."""
    with (
        tempfile.TemporaryDirectory(prefix="fcrdns-sort-") as scratch,
        open(destination, "w", encoding="utf-8", newline="", opener=create_new) as out,
    ):
        out.writelines(sorted_lines(path, fmt, scratch))
        out.flush()
        os.fsync(out.fileno())
