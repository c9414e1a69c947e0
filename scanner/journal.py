"""The resume journal: which positions of the scan order are safely in the outputs.

Beside the first output file, `<output>.journal` holds a header (a fingerprint
of everything that decides the scan order and the outputs, and the outputs'
sizes after their headers) and then one line per written batch: the positions
of its results in the scan order and every output's size after it. Lines are
appended after the batch is flushed, so after a crash (even SIGKILL) the
outputs are cut back to the last journaled sizes and the journaled positions are
exactly the rows they hold. A torn last line is ignored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# 2: the random scan order changed (a smaller Feistel domain); positions in a
# version 1 journal name other addresses.
VERSION = 2


class JournalError(ValueError):
    """A journal that cannot be used to resume."""


def fingerprint(settings: dict[str, Any]) -> str:
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(slots=True)
class Resumption:
    """What an interrupted scan left: the rows done and where each output ends."""

    done: set[int] = field(default_factory=set)
    offsets: list[int] = field(default_factory=list)


class Journal:
    def __init__(self, path: str) -> None:
        self.path = path
        self._handle = None

    def exists(self) -> bool:
        return Path(self.path).exists()

    def start(self, print_: str, offsets: Sequence[int]) -> None:
        """A new scan: the header line with the fingerprint and the initial sizes."""
        self._handle = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 (kept open)
        header = {"version": VERSION, "fingerprint": print_, "offsets": list(offsets)}
        self._write(header)

    def load(self, print_: str) -> Resumption:
        """Read an interrupted scan's journal; refuse it if the scan is not the same."""
        lines = Path(self.path).read_text(encoding="utf-8").split("\n")
        try:
            header = json.loads(lines[0])
        except (ValueError, IndexError):
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
        state = Resumption(offsets=list(header["offsets"]))
        for line in lines[1:-1]:  # the last element is "" or a torn line
            try:
                entry = json.loads(line)
            except ValueError:
                break
            state.done.update(entry["p"])
            state.offsets = entry["o"]
        return state

    def resume(self) -> None:
        self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open)

    def record(self, positions: Sequence[int], offsets: Sequence[int]) -> None:
        self._write({"p": list(positions), "o": list(offsets)})

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
