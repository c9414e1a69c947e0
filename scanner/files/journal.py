"""The resume journal: which positions of the scan order are safely in the outputs.

Beside the first output file, `<output>.journal` holds a header (a fingerprint
of everything that decides the scan order and the outputs, the outputs' sizes
after their headers and a CRC-32 of those headers) and then one line per
commit: the positions of the rows written since the last commit, every
output's size after them, a CRC-32 of each output's bytes since the last
commit, and how many of those rows have each status (so a resumed scan's
summary, metrics and --fail-on count the rows written before the
interruption too).

Durability: rows are flushed to the `.partial` outputs as they are written,
but a commit happens at most every `COMMIT_INTERVAL` seconds: the outputs are
fsynced first, and only then is the journal line written. So whatever the
journal says is on the disk, even after a power loss, and a crash loses at
most the rows since the last commit, which `--resume` redoes. On resume,
`verify()` reads every output up to its journaled size and checks each
commit's checksum: a `.partial` that is shorter (a restore, a copy) or
differs (an edit, a deleted journal line) is refused, never padded or
trusted. A torn last line is ignored; bytes past the last commit are cut off.

When the scan is complete, a `complete` line (fsynced) says every row is
staged; then each finished output, once built beside its final name, gets a
`ready` line with the identity of that file (scanner/files/publish.py), so a run
stopped during finalisation is finished by the same command.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from scanner.files.ownfiles import PlantedLinkError, create_new, open_existing

# 2: the random scan order changed (a smaller Feistel domain); positions in a
# version 1 journal name other addresses. 3: each batch's status counts.
# 4: commits with checksums, fsynced before they are journaled; the
# finalisation lines.
VERSION = 4

# Seconds between commits (fsync of the outputs, then a journal line). Each
# commit costs one fsync per output; `make bench` measures what they cost
# (benchmarks/RESULTS.md, "fsync").
COMMIT_INTERVAL = 1.0


class JournalError(ValueError):
    """A journal (or the outputs it describes) that cannot be used to resume."""


class _Inconsistent(ValueError):
    """A journal line that parses but contradicts the lines before it."""


def fingerprint(settings: dict[str, Any]) -> str:
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class Positions:
    """A set of positions in a scan order of `size`, one bit each.

    An interrupted scan of a /8 leaves up to 16.7 million positions done; as a
    set of ints that took 1.2 GB to resume, as bits it takes 2 MB.
    """

    __slots__ = ("_bits", "_count", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._bits = bytearray((size + 7) // 8)
        self._count = 0

    def add(self, position: int) -> bool:
        """Add `position`; False if it was there already."""
        if not 0 <= position < self.size:
            raise ValueError(f"position {position} outside a scan of {self.size}")
        byte, bit = position >> 3, 1 << (position & 7)
        if self._bits[byte] & bit:
            return False
        self._bits[byte] |= bit
        self._count += 1
        return True

    def __contains__(self, position: int) -> bool:
        return 0 <= position < self.size and bool(self._bits[position >> 3] >> (position & 7) & 1)

    def __len__(self) -> int:
        return self._count

    def count_every(self, stride: int, offset: int) -> int:
        """How many positions p with p % stride == offset are in the set."""
        if stride == 1:
            return self._count
        # A mask with the bit of every such position, repeating every `stride`
        # bytes (8 * stride bits is a whole number of strides).
        period = sum(1 << bit for bit in range(offset, 8 * stride, stride))
        mask = period.to_bytes(stride, "little") * (len(self._bits) // stride + 1)
        chosen = int.from_bytes(self._bits, "little") & int.from_bytes(
            mask[: len(self._bits)], "little"
        )
        return chosen.bit_count()


# A finished output's file, as `ready` recorded it: (device, inode, size).
Stamp = tuple[int, int, int]


def stamp_of(path: str) -> Stamp | None:
    """The identity of the file at `path` (not following a link), or None."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    return (info.st_dev, info.st_ino, info.st_size)


@dataclass(slots=True)
class Resumption:
    """What an interrupted scan left: the rows done, their statuses, where each output ends."""

    done: Positions
    offsets: list[int] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)  # status value -> rows
    # Per commit (the header first): every output's size after it and the
    # CRC-32 of its bytes since the commit before.
    commits: list[tuple[list[int], list[int]]] = field(default_factory=list)
    complete: bool = False  # every row staged: only finalisation is left
    ready: dict[int, Stamp] = field(default_factory=dict)  # output index -> its built file


class Journal:
    def __init__(self, path: str, interval: float = COMMIT_INTERVAL) -> None:
        self.path = path
        self.interval = interval
        self._handle: TextIO | None = None
        self._intact: int | None = None  # bytes of whole lines, as read by load()
        self._positions: list[int] = []
        self._statuses: Counter[str] = Counter()
        self._committed = time.monotonic()

    def exists(self) -> bool:
        return os.path.lexists(self.path)  # a dangling link planted here counts

    def start(self, print_: str, offsets: Sequence[int], crcs: Sequence[int]) -> None:
        """A new scan: the header line with the fingerprint and the headers' sizes and CRCs."""
        self._handle = open(self.path, "w", encoding="utf-8", opener=create_new)  # noqa: SIM115
        header = {
            "version": VERSION,
            "fingerprint": print_,
            "offsets": list(offsets),
            "crcs": list(crcs),
        }
        self._write(header)
        self._committed = time.monotonic()

    def load(self, print_: str, size: int) -> Resumption:
        """Read an interrupted scan's journal (of a scan of `size` positions);
        refuse it if the scan is not the same."""
        try:
            with open(self.path, "rb", opener=open_existing) as handle:
                return self._read(handle, print_, size)
        except PlantedLinkError as exc:
            raise JournalError(str(exc)) from None

    def _damaged(self, number: int, why: str) -> JournalError:
        return JournalError(
            f"{self.path}:{number}: {why}; delete it and the .partial outputs to start again"
        )

    def _read(self, lines: Iterator[bytes], print_: str, size: int) -> Resumption:
        try:
            first = next(lines)
            header = json.loads(first)
            if not isinstance(header, dict) or not isinstance(header.get("offsets"), list):
                raise ValueError
        except (ValueError, StopIteration):
            raise JournalError(f"{self.path}: not a fcrdns journal") from None
        if header.get("version") != VERSION:
            raise JournalError(
                f"{self.path} was written by another version of fcrdns-scanner and cannot be "
                "resumed: delete it and the .partial outputs to start again"
            )
        if header.get("fingerprint") != print_:
            raise JournalError(
                f"the targets, order, shard or outputs differ from the interrupted scan in "
                f"{self.path}: run the same command to resume, or delete the journal and the "
                ".partial outputs to start again"
            )
        state = Resumption(Positions(size), list(header["offsets"]))
        if not first.endswith(b"\n"):
            raise self._damaged(1, "the header is cut short")
        state.commits.append((list(header["offsets"]), list(header.get("crcs", []))))
        outputs = len(state.offsets)
        add = state.done.add
        self._intact = len(first)
        for number, line in enumerate(lines, start=2):
            if not line.endswith(b"\n"):
                break  # torn by the crash: that commit never happened
            try:
                entry = json.loads(line)
                if "ready" in entry:
                    stamp = entry["stamp"]
                    state.ready[int(entry["ready"])] = (int(stamp[0]), int(stamp[1]), int(stamp[2]))
                elif "complete" in entry:
                    state.complete = True
                else:
                    if state.complete:
                        raise _Inconsistent("rows after the scan was complete")
                    offsets, crcs = list(entry["o"]), list(entry["c"])
                    if len(offsets) != outputs or len(crcs) != outputs:
                        raise _Inconsistent("another number of outputs than the header's")
                    if any(a > b for a, b in zip(state.offsets, offsets, strict=True)):
                        raise _Inconsistent("an output smaller than on the line before")
                    for position in entry["p"]:
                        if not add(position):
                            raise _Inconsistent(f"position {position} journaled twice")
                    state.offsets = offsets
                    state.commits.append((offsets, crcs))
                    state.statuses.update(entry["s"])
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                why = str(exc) if isinstance(exc, _Inconsistent) else "damaged"
                raise self._damaged(number, why) from None
            self._intact += len(line)
        return state

    def resume(self) -> None:
        """Append to the journal read by load(), after cutting off a torn last line:
        appended to, it would run into the next line and damage it."""
        if self._intact is None:
            raise RuntimeError("resume() needs load() first")
        self._handle = open(self.path, "a", encoding="utf-8", opener=open_existing)  # noqa: SIM115
        self._handle.truncate(self._intact)
        self._committed = time.monotonic()

    def record(self, positions: Sequence[int], statuses: Sequence[str]) -> bool:
        """Rows at `positions` were flushed to the outputs; True when a commit is due."""
        self._positions.extend(positions)
        self._statuses.update(statuses)
        return time.monotonic() - self._committed >= self.interval

    @property
    def pending(self) -> bool:
        return bool(self._positions)

    def commit(self, offsets: Sequence[int], crcs: Sequence[int]) -> None:
        """Journal the rows recorded since the last commit. The caller has fsynced
        the outputs (of sizes `offsets`, CRC-32 `crcs` of their bytes since then)."""
        self._write(
            {"p": self._positions, "o": list(offsets), "c": list(crcs), "s": self._statuses}
        )
        self._positions, self._statuses = [], Counter()
        self._committed = time.monotonic()

    def mark_complete(self) -> None:
        """Every row is staged (and fsynced): only finalisation is left."""
        self._write({"complete": True}, sync=True)

    def mark_ready(self, output: int, stamp: Stamp) -> None:
        """Output `output` is built (and fsynced) as the file `stamp` names."""
        self._write({"ready": output, "stamp": list(stamp)}, sync=True)

    def reopen(self) -> None:
        """Append to a journal after load() (finalisation; nothing is cut)."""
        self._handle = open(self.path, "a", encoding="utf-8", opener=open_existing)  # noqa: SIM115

    def _write(self, entry: dict[str, Any], sync: bool = False) -> None:
        assert self._handle is not None
        self._handle.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self._handle.flush()
        if sync:
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def remove(self) -> None:
        self.close()
        Path(self.path).unlink(missing_ok=True)


def verify(state: Resumption, partials: dict[int, str]) -> None:
    """Check that the staged outputs (output index -> `.partial` path) hold what
    the journal says, commit by commit.

    Raises `JournalError` naming the file when one is missing, shorter than
    journaled, or its bytes differ from a commit's checksum.
    """
    for index, path in partials.items():
        try:
            handle: BinaryIO = open(path, "rb", opener=open_existing)  # noqa: SIM115
        except FileNotFoundError:
            raise JournalError(f"cannot resume: {path} is missing") from None
        except OSError as exc:
            raise JournalError(f"cannot resume: {path}: {exc.strerror or exc}") from None
        with handle:
            length = os.fstat(handle.fileno()).st_size
            journaled = state.offsets[index]
            if length < journaled:
                raise JournalError(
                    f"cannot resume: {path} holds {length:,} bytes but the journal says "
                    f"{journaled:,} were written and synced: it was cut or replaced after the "
                    "scan wrote it. Delete it, the other .partial outputs and the journal to "
                    "start again"
                )
            start = 0
            for number, (offsets, crcs) in enumerate(state.commits):
                end = offsets[index]
                if number == 0 and not crcs:
                    start = end
                    continue
                crc = _crc_of(handle, start, end)
                if end < start or crc != crcs[index]:
                    raise JournalError(
                        f"cannot resume: {path} differs from what the journal says was written "
                        f"(bytes {start:,} to {end:,}): it was edited, or the journal was. "
                        "Delete it, the other .partial outputs and the journal to start again"
                    )
                start = end


def _crc_of(handle: BinaryIO, start: int, end: int) -> int:
    handle.seek(start)
    crc, left = 0, end - start
    while left > 0:
        chunk = handle.read(min(left, 1 << 20))
        if not chunk:
            break
        crc = zlib.crc32(chunk, crc)
        left -= len(chunk)
    return crc
