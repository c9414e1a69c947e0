"""Progress on stderr while a scan runs: rate, done/total, ETA and the verdicts so far.

Drawn with tqdm, only when stderr is a terminal (and not --quiet): a cron job's
mail or a redirected log gets the summary alone.
"""

from __future__ import annotations

import shutil
import sys
from collections import Counter
from collections.abc import Sequence

from tqdm import tqdm

from scanner.core.status import Status

_SHORT = {
    Status.PASS: "pass",
    Status.MISMATCH: "mism",
    Status.NO_PTR: "noptr",
    Status.PTR_NODATA: "nodata",
    Status.NO_FORWARD: "nofwd",
    Status.TIMEOUT: "tmo",
    Status.SERVFAIL: "sfail",
    Status.REFUSED: "ref",
    Status.ERROR: "err",
}


class Progress:
    def __init__(self, total: int, *, done: int = 0, enabled: bool | None = None) -> None:
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.counts: Counter[Status] = Counter()
        size = shutil.get_terminal_size((100, 24))
        self._bar = tqdm(
            total=total,
            initial=done,
            unit="IP",
            file=sys.stderr,
            disable=not enabled,
            # A terminal that reports no size (as a bare pty does) still gets a bar:
            # tqdm hides bars below a screen height of 0.
            ncols=size.columns,
            nrows=size.lines,
            mininterval=0.5,
            smoothing=0.05,
            leave=False,
        )

    def advance(self, statuses: Sequence[Status]) -> None:
        self.counts.update(statuses)
        if self._bar.disable:
            return
        self._bar.set_postfix_str(
            " ".join(f"{_SHORT[s]} {n}" for s, n in self.counts.most_common()), refresh=False
        )
        self._bar.update(len(statuses))

    def close(self) -> None:
        self._bar.close()
