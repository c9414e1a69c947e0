"""Finishing a complete scan's outputs as one transaction: every output or none gets its name.

The scan's rows are staged in each file output's `.partial` (fsynced, and
journaled as complete: scanner/files/journal.py). Finishing then goes in two steps:

1. **build**: each output is made from its `.partial` at `OUT.tmp` (sorted for
   `--sorted`, compressed for `.gz`, a workbook for `.xlsx`, or, for a plain
   CSV or JSONL, a second name of the `.partial` file itself), fsynced, and the
   journal records it as `ready` with that file's identity (device, inode,
   size);
2. **publish**: once every output is ready, each `.tmp` is renamed to its name,
   the directory fsynced, and the `.partial` files and the journal removed.

A stop at any moment (SIGKILL, SIGTERM, a full disk) leaves the journal, and
the same command goes on from there: an output whose built file is still at
`.tmp`, or already under its name (the same inode), is not built again; the
others are. Nothing is published before everything is built, so the files a
reader sees under the output names are either all of last night's or, within
the few renames of step 2, tonight's.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from scanner.core.rows import CSV_COLUMNS
from scanner.files.journal import Journal, Stamp, stamp_of
from scanner.files.ownfiles import PlantedLinkError, create_new
from scanner.files.sinks import OutputSpec
from scanner.files.sortfiles import sort_into
from scanner.files.xlsxfile import write_workbook


@dataclass(slots=True)
class Finishing:
    """How far finalisation got: which outputs are built and which have their names."""

    built: list[str] = field(default_factory=list)
    published: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = ["every row is staged"]
        if self.published:
            parts.append("complete: " + ", ".join(self.published))
        if self.built:
            parts.append("built, not yet renamed: " + ", ".join(self.built))
        if self.waiting:
            parts.append("not yet written: " + ", ".join(self.waiting))
        return "; ".join(parts)


def _sync_directory(path: str) -> None:
    """The renames in a directory reach the disk."""
    descriptor = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _second_name(source: str, destination: str) -> None:
    """`destination` as another name of `source` (its rows, without copying
    them), or a synced copy where the filesystem has no hard links."""
    if os.path.islink(destination):
        raise PlantedLinkError(f"{destination} is a symbolic link: refusing to write through it")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(destination)  # a stale one, from a build that was stopped
    try:
        os.link(source, destination, follow_symlinks=False)
    except FileExistsError:
        raise PlantedLinkError(f"{destination} appeared while being created: refusing it") from None
    except OSError:
        with (
            open(source, "rb") as plain,
            open(destination, "wb", opener=create_new) as copy,
        ):
            shutil.copyfileobj(plain, copy, 1 << 20)
            copy.flush()
            os.fsync(copy.fileno())


def _gzip(source: str, destination: str, name: str) -> None:
    with (
        open(source, "rb") as plain,
        open(destination, "wb", opener=create_new) as raw,
    ):
        with gzip.GzipFile(filename=name, mode="wb", fileobj=raw) as packed:
            shutil.copyfileobj(plain, packed, 1 << 20)
        raw.flush()
        os.fsync(raw.fileno())


def build(spec: OutputSpec, sort: bool) -> None:
    """Make the finished output of `spec` at its `.tmp` path, from its `.partial`."""
    source, destination = spec.partial_path, spec.packing_path
    sorted_path = spec.sorting_path
    try:
        # A workbook is for people: its rows are always in address order.
        if sort or spec.format == "xlsx":
            if spec.format != "xlsx" and not spec.compressed:
                sort_into(source, spec.format, destination)
                return
            sort_into(source, spec.format, sorted_path)
            source = sorted_path
        if spec.format == "xlsx":
            write_workbook(source, destination, CSV_COLUMNS)
        elif spec.compressed:
            _gzip(source, destination, os.path.basename(spec.path))
        else:
            _second_name(source, destination)
    finally:
        if source == sorted_path:
            os.unlink(sorted_path)


def drop_stale_build(spec: OutputSpec) -> None:
    """Remove a `.tmp` left by a build that was stopped before the journal recorded it.

    For a plain CSV or JSONL the `.tmp` is a second name of the `.partial`
    itself, so while it is there the `.partial` has two names, which a
    resume refuses (a planted hard link looks the same). It is built again
    in any case; a `.tmp` that is not the `.partial`'s own name is left alone
    (the build replaces it, refusing a symbolic link: `stamp_of` does not
    follow one, so a link is never the `.partial`'s inode).
    """
    staged, packing = stamp_of(spec.partial_path), stamp_of(spec.packing_path)
    if staged is not None and packing is not None and staged[:2] == packing[:2]:
        os.unlink(spec.packing_path)


def _is(path: str, stamp: Stamp | None) -> bool:
    return stamp is not None and stamp_of(path) == stamp


def built(spec: OutputSpec, stamp: Stamp | None) -> bool:
    """Whether the output built as `stamp` is still there, at `.tmp` or under its name."""
    return _is(spec.packing_path, stamp) or _is(spec.path, stamp)


def finish(
    specs: Sequence[OutputSpec],
    journal: Journal | None,
    ready: dict[int, Stamp],
    *,
    sort: bool,
    progress: Finishing,
    on_step: Callable[[str], None] = lambda _: None,
    published: Callable[[], None] = lambda: None,
) -> None:
    """Build every file output not yet built, then publish them all (the module's two steps).

    `ready` holds the outputs built by an earlier run (from the journal);
    `progress` is kept up to date, so an interruption can say what is done.
    Without a journal (a Dask scan, whose parts are the staging) nothing is
    recorded, and an interrupted finish starts over. `published` is called once
    every output has its name, before the journal goes.
    """
    files = [spec for spec in specs if not spec.stream]
    progress.waiting = [spec.path for spec in files]
    for index, spec in enumerate(files):
        stamp = ready.get(index)
        if not built(spec, stamp):
            on_step(f"writing {spec.path}")
            try:
                build(spec, sort)
            except PlantedLinkError as exc:
                raise OSError(str(exc)) from None
            stamp = stamp_of(spec.packing_path)
            assert stamp is not None
            if journal is not None:
                journal.mark_ready(index, stamp)
            ready[index] = stamp
        progress.waiting.remove(spec.path)
        if _is(spec.path, stamp):
            progress.published.append(spec.path)
        else:
            progress.built.append(spec.path)
    for index, spec in enumerate(files):
        if _is(spec.packing_path, ready[index]):
            os.replace(spec.packing_path, spec.path)
            progress.built.remove(spec.path)
            progress.published.append(spec.path)
    for spec in files:
        _sync_directory(spec.path)
    for spec in files:
        if os.path.lexists(spec.partial_path):
            os.unlink(spec.partial_path)
    published()
    if journal is not None:
        journal.remove()
