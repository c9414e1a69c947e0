"""Progress on stderr while a scan runs: how far, how long, what it is doing, the verdicts.

Drawn with tqdm, only when stderr is a terminal (and not --quiet): a cron job's
mail or a redirected log gets the summary alone. The line itself is
scanner/core/progressline.py's. A thread redraws it every second, so the
elapsed time moves while the scan waits (the retry tail after a SERVFAIL,
the zones' own name servers, the probe before the first target, the
outputs being written) and the phase says which; the rows call `advance()`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence

from tqdm import tqdm

from scanner.core.progressline import progress_line
from scanner.core.status import Status

# Seconds between redraws when nothing else redraws it.
TICK = 1.0


class Progress:
    def __init__(self, total: int, *, done: int = 0, enabled: bool | None = None) -> None:
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.enabled = enabled
        self.total, self.done = total, done
        self._first = done  # rows done before this run (--resume): not part of its rate
        self.counts: Counter[Status] = Counter()
        self._phase = "probing the resolvers"
        self._detail: Callable[[], str] | None = None
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._lock = threading.Lock()
        # Held while the line is drawn, and by held() around a fork: a child must
        # not inherit stderr's lock from a redraw half done in another thread.
        self._drawing = threading.RLock()
        self._stop = threading.Event()
        tqdm.monitor_interval = 0  # no monitor thread of its own: ours redraws
        # tqdm draws the line (clearing what was there, and around tqdm.write's
        # lines); what the line says is ours, so its own counter is not kept.
        self._bar = tqdm(
            file=sys.stderr,
            disable=not enabled,
            bar_format="{desc}",
            ncols=10_000,  # never trimmed by tqdm: the line is fitted to the terminal already
            # A terminal that reports no size (as a bare pty does) still gets a line:
            # tqdm hides bars below a screen height of 0.
            nrows=shutil.get_terminal_size((100, 24)).lines,
            leave=False,
        )
        self._thread: threading.Thread | None = None
        if enabled:
            self._draw()
            self._thread = threading.Thread(target=self._tick, name="fcrdns-progress", daemon=True)
            self._thread.start()

    def set_phase(self, phase: str, detail: Callable[[], str] | None = None) -> None:
        """What the scan does now; `detail`, if given, is asked at each redraw and
        replaces the phase while it says something."""
        with self._lock:
            self._phase, self._detail = phase, detail
        self._draw()

    def advance(self, statuses: Sequence[Status]) -> None:
        """Rows written, by their statuses."""
        if self.enabled:
            self.advance_counts(Counter(statuses))

    def advance_counts(self, counts: Mapping[Status, int]) -> None:
        """Rows written, counted by status (a batch's, a Dask shard's)."""
        if not self.enabled:
            return
        with self._lock:
            self.counts.update(counts)
            self.done += sum(counts.values())
        self._draw(force=False)

    def _tick(self) -> None:
        # Just after each whole second of the scan: the elapsed time shown moves
        # by one at every redraw, not now and then by two.
        while True:
            since = time.monotonic() - self._started
            if self._stop.wait(TICK - since % TICK + 0.01):
                return
            self._draw()

    def _line(self) -> str:
        width = _width()
        elapsed = time.monotonic() - self._started
        phase = self._phase
        if self._detail is not None:
            phase = self._detail() or phase
        rate = (self.done - self._first) / elapsed if elapsed > 0 else 0.0
        counts = {status.value: n for status, n in self.counts.most_common()}
        return progress_line(self.done, self.total, elapsed, phase, counts, width, rate=rate)

    def _draw(self, force: bool = True) -> None:
        if not self.enabled:
            return
        with self._lock:
            now = time.monotonic()
            if not force and now - self._last_draw < 0.25:
                return
            self._last_draw = now
            line = self._line()
        with self._drawing:
            self._bar.set_description_str(line, refresh=True)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """No redraw while the block runs (it forks the worker processes)."""
        with self._drawing:
            yield

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._bar.close()


def _width() -> int:
    """The columns of the terminal the line is drawn on (stderr's), read at each redraw:
    a resized window gets a line that fits."""
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns or 100
    except (OSError, ValueError):
        return shutil.get_terminal_size((100, 24)).columns


def write_line(text: str) -> None:
    """A line on stderr that does not tear the progress line (tqdm clears and redraws it)."""
    tqdm.write(text, file=sys.stderr)
