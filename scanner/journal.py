"""The resume journal: which positions of the scan order are safely in the outputs.

Beside the first output file, `<output>.journal` holds a header (a fingerprint
of everything that decides the scan order and the outputs, and the outputs'
sizes after their headers) and then one line per written batch: the positions
of its results in the scan order, every output's size after it, and how many
of its rows have each status (so a resumed scan's summary, metrics and
--fail-on count the rows written before the interruption too). Lines are
appended after the batch is flushed, so after a crash (even SIGKILL) the
outputs are cut back to the last journaled sizes and the journaled positions are
exactly the rows they hold. A torn last line is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from scanner.ownfiles import PlantedLinkError, create_new, open_existing

# 2: the random scan order changed (a smaller Feistel domain); positions in a
# version 1 journal name other addresses. 3: each batch's status counts.
VERSION = 3


class JournalError(ValueError):
    """A journal that cannot be used to resume."""


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

    def add(self, position: int) -> None:
        if not 0 <= position < self.size:
            raise ValueError(f"position {position} outside a scan of {self.size}")
        byte, bit = position >> 3, 1 << (position & 7)
        if not self._bits[byte] & bit:
            self._bits[byte] |= bit
            self._count += 1

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


@dataclass(slots=True)
class Resumption:
    """What an interrupted scan left: the rows done, their statuses, where each output ends."""

    done: Positions
    offsets: list[int] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)  # status value -> rows


class Journal:
    def __init__(self, path: str) -> None:
        self.path = path
        self._handle: TextIO | None = None
        self._intact: int | None = None  # bytes of whole lines, as read by load()

    def exists(self) -> bool:
        return os.path.lexists(self.path)  # a dangling link planted here counts

    def start(self, print_: str, offsets: Sequence[int]) -> None:
        """A new scan: the header line with the fingerprint and the initial sizes."""
        self._handle = open(self.path, "w", encoding="utf-8", opener=create_new)  # noqa: SIM115
        header = {"version": VERSION, "fingerprint": print_, "offsets": list(offsets)}
        self._write(header)

    def load(self, print_: str, size: int) -> Resumption:
        """Read an interrupted scan's journal (of a scan of `size` positions);
        refuse it if the scan is not the same."""
        try:
            with open(self.path, "rb", opener=open_existing) as handle:
                return self._read(handle, print_, size)
        except PlantedLinkError as exc:
            raise JournalError(str(exc)) from None

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
        add = state.done.add
        self._intact = len(first)
        for number, line in enumerate(lines, start=2):
            if not line.endswith(b"\n"):
                break  # torn by the crash: that batch was never journaled
            try:
                entry = json.loads(line)
                for position in entry["p"]:
                    add(position)
                state.offsets = list(entry["o"])
                state.statuses.update(entry["s"])
                self._intact += len(line)
            except (ValueError, KeyError, TypeError):
                raise JournalError(
                    f"{self.path}:{number}: damaged; delete it and the .partial outputs to "
                    "start again"
                ) from None
        return state

    def resume(self) -> None:
        """Append to the journal read by load(), after cutting off a torn last line:
        appended to, it would run into the next line and damage it."""
        if self._intact is None:
            raise RuntimeError("resume() needs load() first")
        self._handle = open(self.path, "a", encoding="utf-8", opener=open_existing)  # noqa: SIM115
        self._handle.truncate(self._intact)

    def record(
        self, positions: Sequence[int], offsets: Sequence[int], statuses: Sequence[str]
    ) -> None:
        self._write({"p": list(positions), "o": list(offsets), "s": Counter(statuses)})

    def _write(self, entry: dict[str, Any]) -> None:
        assert self._handle is not None
        self._handle.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def remove(self) -> None:
        self.close()
        Path(self.path).unlink(missing_ok=True)
