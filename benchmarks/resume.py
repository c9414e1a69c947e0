"""Memory to resume an interrupted scan of a /8: the journal's done positions, loaded.

A /8 is 16,777,216 addresses (the default --max-targets). The journal of a
scan interrupted after 15,000,000 rows is written as the scanner writes it (a
line per batch of 256 positions), then loaded in a child process two ways:
by the scanner (`Journal.load`, one bit per position) and, as the baseline,
into a set of ints (what the scanner did before). Peak memory is sampled
from /proc like the throughput benchmark's.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report, table
from benchmarks.throughput import measure
from scanner.journal import Journal

SIZE = 2**24  # a /8
DONE = 15_000_000
BATCH = 256

LOADERS = {
    "set of ints (before)": (
        "import json,sys\n"
        "lines = open(sys.argv[1]).read().split('\\n')\n"
        "done = set()\n"
        "for line in lines[1:-1]: done.update(json.loads(line)['p'])\n"
        "assert len(done) == int(sys.argv[2])\n"
    ),
    "Journal.load (bits)": (
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})\n"
        "from scanner.journal import Journal\n"
        f"state = Journal(sys.argv[1]).load('bench', {SIZE})\n"
        "assert len(state.done) == int(sys.argv[2])\n"
    ),
}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="fcrdns-resume-") as name:
        path = Path(name) / "out.csv.journal"
        journal = Journal(str(path))
        journal.start("bench", [200])
        for start in range(0, DONE, BATCH):
            journal.record(range(start, min(DONE, start + BATCH)), [200 + 150 * start])
        journal.close()
        size_mb = path.stat().st_size / 1e6
        rows = []
        for label, code in LOADERS.items():
            run = measure([sys.executable, "-c", code, str(path), str(DONE)], Path(name) / "log")
            rows.append([label, f"{run.wall:.1f}", f"{run.peak_mb:.0f}"])
    body = (
        f"A journal of a /8 scan ({SIZE:,} positions) interrupted after {DONE:,} rows"
        f" ({size_mb:.0f} MB), loaded in a child process:\n\n"
        + table(["loaded as", "seconds", "peak memory MB"], rows)
    )
    report(
        "Resuming an interrupted /8: memory of the done positions",
        body,
        ["python benchmarks/resume.py"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
