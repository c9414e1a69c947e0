"""Run `fcrdns lab` in a child process: for the demo, tests and benchmarks."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Sequence
from types import TracebackType


class LabProcess:
    """`with LabProcess([...]) as lab:` starts the lab server and knows its address.

    The address is read from the server's first line on stdout, which it prints
    only once it is listening, so no polling or sleeping is needed.
    """

    def __init__(self, args: Sequence[str] = (), *, python: str = sys.executable) -> None:
        self.command = [python, "-m", "scanner", "lab", *args]
        self.process: subprocess.Popen[str] | None = None
        self.address = ""

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    def start(self) -> LabProcess:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line:
            error = self.process.stderr.read() if self.process.stderr else ""
            self.process.wait()
            raise RuntimeError(f"lab server did not start: {error.strip()}")
        self.address = line
        return self

    def stop(self) -> str:
        """Stop the server; returns what it printed on stderr (its counters)."""
        if self.process is None:
            return ""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            _, error = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, error = self.process.communicate()
        self.process = None
        return error

    def __enter__(self) -> LabProcess:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
