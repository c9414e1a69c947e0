"""One run per output set: a lock beside each output file, held for the whole run.

Two runs of one nightly command (a slow night overlapping the next cron
start) would both write the same `.partial` files and journal: the second
loaded the first's live journal and wrote into its outputs. Each file output
`OUT` has `OUT.lock`, locked with `flock()` for the whole run: the kernel
releases it however the run ends (SIGKILL included), so a lock is never
stale. A run that finds one held stops at once, touching nothing
(`AlreadyRunning`, exit code 75, EX_TEMPFAIL: try again later).

The lock file holds the holder's process id, for the message, and is removed
by its holder when the run ends; a run that opened it just before that
checks, once locked, that the name still leads to the file it locked, and
otherwise starts again with the new one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Sequence
from types import TracebackType

from scanner.core.exits import AlreadyRunning, UserError


def _holder(descriptor: int) -> str:
    try:
        text = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return f" (process {text})" if text.isdigit() else ""


def _lock_one(path: str) -> int:
    while True:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            descriptor = os.open(path, flags, 0o666)
        except OSError as exc:
            if os.path.islink(path):
                raise UserError(f"{path} is a symbolic link: remove it") from None
            raise UserError(f"cannot open the lock file {path}: {exc.strerror}") from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(descriptor)
            os.close(descriptor)
            raise AlreadyRunning(
                f"another fcrdns scan{holder} is writing these outputs ({path} is locked): "
                "nothing was done; run again when it has finished"
            ) from None
        try:
            here = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            here = None
        mine = os.fstat(descriptor)
        if here is not None and (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino):
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
            return descriptor
        os.close(descriptor)  # removed by the run that held it: lock the new one


class RunLock:
    """The locks of a run's output files (`OUT.lock`); a context manager."""

    def __init__(self, outputs: Sequence[str]) -> None:
        self.paths = sorted({output + ".lock" for output in outputs})
        self._held: list[tuple[str, int]] = []

    def acquire(self) -> RunLock:
        try:
            for path in self.paths:
                self._held.append((path, _lock_one(path)))
        except BaseException:
            self.release()
            raise
        return self

    def release(self) -> None:
        """Remove the lock files, then unlock (in that order: see the module's docstring)."""
        for path, descriptor in reversed(self._held):
            with contextlib.suppress(OSError):
                os.unlink(path)
            os.close(descriptor)
        self._held = []

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<RunLock {self.paths} held={len(self._held)}>"
