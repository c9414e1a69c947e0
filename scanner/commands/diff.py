"""The `fcrdns diff` command: compare two result files, write the changes and a summary."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from scanner.core.exits import EXIT_FINDINGS, EXIT_OK, UserError
from scanner.core.rows import csv_lines, spreadsheet_safe
from scanner.files.diff import DIFF_COLUMNS, Change, ChangeCounts, compare, snapshots
from scanner.files.results import ResultsError
from scanner.files.sinks import OutputError, OutputSpec, planted_side_file, write_output


def _write(handle: TextIO, fmt: str, changes: Iterable[Change]) -> None:
    if fmt == "csv":  # as the scan writes CSV: a cell holding a CR is quoted
        handle.write(csv_lines([list(DIFF_COLUMNS)]))
        for change in changes:
            handle.write(csv_lines([[spreadsheet_safe(v) for v in change.record()]]))
        return
    for change in changes:
        obj: dict[str, object] = dict(zip(DIFF_COLUMNS, change.record(), strict=True))
        obj["change"] = list(change.kinds)
        for key in ("old_ptr_names", "new_ptr_names", "old_forward", "new_forward"):
            obj[key] = [part for part in str(obj[key]).split(";") if part]
        handle.write(json.dumps(obj, ensure_ascii=False) + "\n")


def run_diff_command(args: argparse.Namespace) -> int:
    if args.output and os.path.realpath(args.output) in {
        os.path.realpath(args.old),
        os.path.realpath(args.new),
    }:
        raise UserError(f"-o {args.output} would overwrite one of the results being compared")
    try:
        spec = OutputSpec.parse(args.output or "-", args.format)
    except OutputError as exc:
        raise UserError(str(exc)) from None
    if spec.format == "xlsx":
        raise UserError("fcrdns diff writes CSV or JSONL (-o changes.csv, changes.jsonl.gz)")
    if planted := planted_side_file(spec):
        raise UserError(f"{planted} is a symbolic link: remove it")
    counts = ChangeCounts()
    # Large files are sorted in runs on disk: under $TMPDIR, like sort(1).
    try:
        with tempfile.TemporaryDirectory(prefix="fcrdns-diff-") as scratch:
            changes = counts.counting(
                compare(snapshots(args.old, scratch), snapshots(args.new, scratch))
            )
            try:
                # Both files are read (and checked) before the first change
                # comes out, so a bad file is reported before any output.
                first = next(changes, None)
            except ResultsError as exc:
                raise UserError(str(exc)) from None
            except OSError as exc:
                raise UserError(
                    f"cannot sort the results in {scratch}: {exc.strerror}; set TMPDIR to a "
                    "directory with room for about the size of both files"
                ) from None
            stream = itertools.chain([first] if first is not None else [], changes)
            write_output(spec, lambda handle: _write(handle, spec.format, stream))
    except OSError as exc:  # making or removing the scratch directory
        raise UserError(f"cannot use the temporary directory: {exc}") from None
    sys.stderr.write(f"{Path(args.old).name} -> {Path(args.new).name}: {counts.text()}")
    return EXIT_FINDINGS if counts.total else EXIT_OK
