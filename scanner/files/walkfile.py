"""The walk's own journal (`--walk`): every name of the reverse tree answered so far.

Beside the first output file, `<output>.walk` holds a header (a fingerprint
of the prefixes walked) and then one line per name answered, in the order
the answers came:

    D 2001:db8:42::/52                       the name exists: its children are asked
    N 2001:db8:43::/52                       NXDOMAIN: nothing below it
    F 2001:db8:42::1/128                     a leaf exists (an IPv6 address, an IPv4 /24)
    U 2001:db8:42:dd00::/56 referral "..."   no answer to judge by (the outcome, its detail)

and, when every name is answered, a `complete` line; once the rows made from
it are published, a `finished` line (the file of a run that ended: the next
run walks afresh). A child is only asked
after its parent's line, so whatever prefix of the file survives a SIGKILL
(a torn last line is ignored) describes a walk that `frontier()` continues
exactly: each name answered once more at most, each leaf recorded once.
Lines are flushed to the file as the walk goes, every `FLUSH_LINES` lines or
`FLUSH_INTERVAL` seconds; a crash loses the answers since, which a resumed
walk asks again. The file is written only by this process (the run lock is
held) and never through a link.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import time
from dataclasses import dataclass, field
from typing import TextIO

from scanner.core.names import quoted
from scanner.core.status import Outcome
from scanner.core.walk import Network, Step
from scanner.files.ownfiles import create_new, open_existing

HEADER = "fcrdns-walk 1"
FLUSH_LINES = 512
FLUSH_INTERVAL = 0.5

_CODES = {Step.DESCEND: "D", Step.NOTHING: "N", Step.FOUND: "F", Step.UNSEEN: "U"}
_STEPS = {code: step for step, code in _CODES.items()}


class WalkFileError(ValueError):
    """A walk file that cannot be continued (edited, of other prefixes, not a walk file)."""


@dataclass(frozen=True, slots=True)
class Unseen:
    """A subtree the walk could not see: its name's failed lookup, as the row will say it."""

    prefix: Network
    outcome: Outcome
    detail: str


@dataclass(slots=True)
class WalkRecords:
    """What a walk file says: every name answered, and what the rows need.

    `answered` is filled from a file (a walk to continue needs it to know its
    frontier); a walk going on only counts its names.
    """

    answered: dict[Network, Step] = field(default_factory=dict)
    names: int = 0
    found: list[Network] = field(default_factory=list)
    unseen: list[Unseen] = field(default_factory=list)
    empty: list[Network] = field(default_factory=list)  # IPv4 NXDOMAIN names (their rows)
    complete: bool = False
    finished: bool = False  # the rows made from it are published: a finished run's file

    def add(
        self,
        node: Network,
        step: Step,
        outcome: Outcome | None,
        detail: str,
        *,
        remember: bool = True,
    ) -> None:
        """`outcome` and `detail`: the failed lookup of a name not seen (else unused)."""
        self.names += 1
        if remember:
            self.answered[node] = step
        if step is Step.FOUND:
            self.found.append(node)
        elif step is Step.UNSEEN:
            self.unseen.append(Unseen(node, outcome or Outcome.OTHER_ERROR, detail))
        elif step is Step.NOTHING and node.version == 4:
            self.empty.append(node)


class WalkFile:
    """`<output>.walk`, or (streams only: `path` None) nothing, the records kept in memory."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._handle: TextIO | None = None
        self._pending = 0
        self._last_flush = 0.0

    def exists(self) -> bool:
        return self.path is not None and os.path.lexists(self.path)

    def load(self, fingerprint: str) -> WalkRecords:
        """The records of the walk file; WalkFileError if it is not this walk's."""
        assert self.path is not None
        records = WalkRecords()
        try:
            with open(open_existing(self.path, os.O_RDONLY), encoding="utf-8") as handle:
                text = handle.read()
        except UnicodeDecodeError:
            raise WalkFileError(f"{self.path} is not a walk file (not UTF-8 text)") from None
        lines = text.split("\n")
        torn = lines.pop()  # after the last newline: '' or a line cut short, ignored
        del torn
        if not lines or lines[0] != f"{HEADER} {fingerprint}":
            head = lines[0] if lines else ""
            if head.startswith(HEADER + " "):
                raise WalkFileError(
                    f"{self.path} is the walk of other prefixes or exclusions; delete it (and the "
                    "outputs' .partial and .journal files) to walk these"
                )
            raise WalkFileError(f"{self.path}: not a walk file (first line {quoted(head, 60)})")
        for number, line in enumerate(lines[1:], start=2):
            if line == "complete" and not records.complete:
                records.complete = True
                continue
            if line == "finished" and records.complete and not records.finished:
                records.finished = True
                continue
            if records.complete:
                raise WalkFileError(f"{self.path}:{number}: a line after 'complete'")
            try:
                node, step, outcome, detail = _parse(line)
            except (ValueError, KeyError, json.JSONDecodeError):
                raise WalkFileError(
                    f"{self.path}:{number}: not a walk record ({quoted(line, 60)}); the file was "
                    "edited or damaged: delete it to walk again"
                ) from None
            records.add(node, step, outcome, detail)
        return records

    def start(self, fingerprint: str) -> None:
        """A new walk file (one left over is replaced)."""
        if self.path is None:
            return
        self._handle = open(  # noqa: SIM115 (closed by close())
            self.path, "w", encoding="utf-8", opener=create_new
        )
        self._handle.write(f"{HEADER} {fingerprint}\n")
        self._handle.flush()
        self._last_flush = time.monotonic()

    def reopen(self) -> None:
        """Append to the walk file left by an interrupted walk."""
        if self.path is None:
            return
        self._handle = open(  # noqa: SIM115 (closed by close())
            self.path, "r+", encoding="utf-8", opener=open_existing
        )
        text = self._handle.read()
        end = text.rfind("\n") + 1
        self._handle.seek(0)
        # A torn last line goes: the next record starts on a line of its own.
        self._handle.truncate(len(text[:end].encode("utf-8")))
        self._handle.seek(0, os.SEEK_END)
        self._last_flush = time.monotonic()

    def record(self, node: Network, step: Step, outcome: Outcome | None, detail: str) -> None:
        if self._handle is None:
            return
        line = f"{_CODES[step]} {node}"
        if step is Step.UNSEEN:
            line += f" {(outcome or Outcome.OTHER_ERROR).value} {json.dumps(detail)}"
        self._handle.write(line + "\n")
        self._pending += 1
        if self._pending >= FLUSH_LINES or time.monotonic() - self._last_flush >= FLUSH_INTERVAL:
            self.flush()

    def flush(self) -> None:
        if self._handle is not None and self._pending:
            self._handle.flush()
            self._pending = 0
            self._last_flush = time.monotonic()

    def mark_complete(self) -> None:
        """Every name answered: said on the disk (fsynced) before the rows are made from it."""
        if self._handle is None:
            return
        self._handle.write("complete\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def mark_finished(self) -> None:
        """The rows are published: a finished run's file now (fsynced before the journal goes)."""
        if self.path is None:
            return
        with open(self.path, "a", encoding="utf-8", opener=open_existing) as handle:
            handle.write("finished\n")
            handle.flush()
            os.fsync(handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.flush()
            self._handle.close()
            self._handle = None

    def remove(self) -> None:
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def _parse(line: str) -> tuple[Network, Step, Outcome | None, str]:
    code, _, rest = line.partition(" ")
    step = _STEPS[code]
    if step is not Step.UNSEEN:
        return ipaddress.ip_network(rest), step, None, ""
    prefix, outcome, detail = rest.split(" ", 2)
    text = json.loads(detail)
    if not isinstance(text, str):
        raise ValueError("detail is not a string")
    return ipaddress.ip_network(prefix), step, Outcome(outcome), text
