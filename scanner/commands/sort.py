"""The `fcrdns sort` and `fcrdns merge` commands (scanner/files/sortfiles.py does the work)."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from scanner.core.exits import EXIT_OK, CouldNotComplete, UserError
from scanner.core.paths import format_of
from scanner.core.rows import CSV_COLUMNS
from scanner.files.results import ResultsError, read_results
from scanner.files.sinks import OutputError, OutputSpec, planted_side_file, write_output
from scanner.files.sortfiles import merged_lines, result_format, sorted_lines
from scanner.files.xlsxfile import write_workbook
from scanner.files.xlsxread import staged_record


def _output(path: str | None, fmt: str, inputs: list[str]) -> OutputSpec:
    target = path or "-"
    if target != "-" and os.path.realpath(target) in {os.path.realpath(p) for p in inputs}:
        raise UserError(f"-o {target} would overwrite an input: write to another file")
    try:
        spec = OutputSpec.parse(target)  # the format its name says
        if spec.stream:  # stdout or a device: the input's format
            spec = OutputSpec.parse(target, fmt)
    except OutputError as exc:
        raise UserError(str(exc)) from None
    if spec.format != fmt:
        raise UserError(f"-o {target}: the input is {fmt}; write a .{fmt} output (rows are copied)")
    if planted := planted_side_file(spec):
        raise UserError(f"{planted} is a symbolic link: remove it")
    return spec


def _write(spec: OutputSpec, lines: Iterator[str]) -> None:
    try:
        first = next(lines, None)  # the inputs are read and checked before any output
    except ResultsError as exc:
        raise UserError(str(exc)) from None
    rest = [] if first is None else [first]

    def write(handle: TextIO) -> None:
        handle.writelines(rest)
        handle.writelines(lines)

    write_output(spec, write)


def _formats(*paths: str) -> str:
    formats = set()
    try:
        for path in paths:
            is_workbook = format_of(path) == "xlsx" and path.lower().endswith(".xlsx")
            formats.add("xlsx" if is_workbook else result_format(path))
    except ResultsError as exc:
        raise UserError(str(exc)) from None
    if len(formats) > 1:
        raise UserError("give CSV, JSONL or XLSX result files, all of one format")
    return formats.pop()


def _staged(path: str, scratch: str) -> str:
    """A workbook's rows as the staging lines an XLSX output is built from, in `scratch`."""
    staging = os.path.join(scratch, f"{len(os.listdir(scratch))}.staged")
    try:
        with open(staging, "w", encoding="utf-8") as out:
            for row in read_results(path):
                record = staged_record(row)
                out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
    except ResultsError as exc:
        raise UserError(str(exc)) from None
    return staging


def _write_workbook(spec: OutputSpec, lines: Iterator[str], scratch: str) -> None:
    """The sorted staging lines as the workbook `spec`: built at its `.tmp`, then renamed."""
    ordered = os.path.join(scratch, "ordered.staged")
    try:
        with open(ordered, "w", encoding="utf-8") as out:
            out.writelines(lines)
    except ResultsError as exc:
        raise UserError(str(exc)) from None
    temporary = spec.packing_path
    try:
        Path(temporary).unlink(missing_ok=True)  # a stale one; a planted link was refused
        write_workbook(ordered, temporary, CSV_COLUMNS)
        os.replace(temporary, spec.path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise CouldNotComplete(f"cannot write {spec.path!r}: {exc.strerror or exc}") from None


def run_sort_command(args: argparse.Namespace) -> int:
    fmt = _formats(args.results)
    spec = _output(args.output, fmt, [args.results])
    with tempfile.TemporaryDirectory(prefix="fcrdns-sort-") as scratch:
        if fmt == "xlsx":
            staged = _staged(args.results, scratch)
            _write_workbook(spec, sorted_lines(staged, fmt, scratch), scratch)
        else:
            _write(spec, sorted_lines(args.results, fmt, scratch))
    return EXIT_OK


def run_merge_command(args: argparse.Namespace) -> int:
    fmt = _formats(args.base, args.updates)
    spec = _output(args.output, fmt, [args.base, args.updates])
    with tempfile.TemporaryDirectory(prefix="fcrdns-merge-") as scratch:
        if fmt == "xlsx":
            base, updates = _staged(args.base, scratch), _staged(args.updates, scratch)
            _write_workbook(spec, merged_lines(base, updates, fmt, scratch), scratch)
        else:
            _write(spec, merged_lines(args.base, args.updates, fmt, scratch))
    return EXIT_OK
