"""The `fcrdns sort` and `fcrdns merge` commands (scanner/files/sortfiles.py does the work)."""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Iterator
from typing import TextIO

from scanner.core.exits import EXIT_OK, UserError
from scanner.files.results import ResultsError
from scanner.files.sinks import OutputError, OutputSpec, planted_side_file, write_output
from scanner.files.sortfiles import merged_lines, result_format, sorted_lines


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
    try:
        formats = {result_format(path) for path in paths}
    except ResultsError as exc:
        raise UserError(str(exc)) from None
    if len(formats) > 1:
        raise UserError("give CSV or JSONL result files, all of one format")
    return formats.pop()


def run_sort_command(args: argparse.Namespace) -> int:
    fmt = _formats(args.results)
    spec = _output(args.output, fmt, [args.results])
    with tempfile.TemporaryDirectory(prefix="fcrdns-sort-") as scratch:
        _write(spec, sorted_lines(args.results, fmt, scratch))
    return EXIT_OK


def run_merge_command(args: argparse.Namespace) -> int:
    fmt = _formats(args.base, args.updates)
    spec = _output(args.output, fmt, [args.base, args.updates])
    with tempfile.TemporaryDirectory(prefix="fcrdns-merge-") as scratch:
        _write(spec, merged_lines(args.base, args.updates, fmt, scratch))
    return EXIT_OK
