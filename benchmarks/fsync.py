"""What the durable journal costs: a /16 scanned against Knot with and without fsync.

The scan fsyncs its outputs before each journal commit (at most once a second,
scanner/files/journal.py), so that what the journal says is on the disk. Baseline in
the same run: the same scan with `os.fsync` made a no-op in the scanning
process (nothing else differs). Three outputs (CSV, JSONL, XLSX) as a nightly
job writes them; three rounds, alternating, the median reported.
"""

from __future__ import annotations

import shlex
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report, table
from benchmarks.throughput import V4, Measured, measure, prepare_zones
from scanner.lab.realservers import Knot

ROUNDS = 3
ADDRESSES = 65_536
ROOT = str(Path(__file__).resolve().parent.parent)
WAYS = {
    "fsync before each commit (the scanner)": "",
    "os.fsync a no-op (baseline)": "os.fsync = lambda descriptor: None\n",
}


def _command(way: str, resolver: int, work: Path) -> list[str]:
    code = (
        f"import os, sys\nsys.path.insert(0, {ROOT!r})\n{WAYS[way]}"
        "from scanner.commands.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    )
    outputs = [f"{work}/out.{suffix}" for suffix in ("csv", "jsonl", "xlsx")]
    return [sys.executable, "-c", code, "scan", V4, "--resolver", f"127.0.0.1:{resolver}",
            "--rate", "0", "--workers", "1", "-q",
            *(arg for out in outputs for arg in ("-o", out))]  # fmt: skip


def main() -> int:
    runs: dict[str, list[Measured]] = {way: [] for way in WAYS}
    with tempfile.TemporaryDirectory(prefix="fcrdns-fsync-") as name:
        work = Path(name)
        zones, _ = prepare_zones(work)
        with Knot(work / "resolver", zones, workers=2) as knot:
            for _ in range(ROUNDS):
                for way in WAYS:
                    for old in work.glob("out.*"):
                        old.unlink()
                    runs[way].append(measure(_command(way, knot.port, work), work / "scan.log"))
            shown = shlex.join(["fcrdns", *_command(next(iter(WAYS)), knot.port, work)[3:]])
    rows = []
    for way, measured in runs.items():
        best = sorted(measured, key=lambda run: run.wall)[len(measured) // 2]
        rows.append([way, f"{best.wall:.2f}", f"{1e6 * best.cpu / ADDRESSES:,.0f}",
                     ", ".join(f"{run.wall:.2f}" for run in measured)])  # fmt: skip
    report(
        "fsync of the outputs before each journal commit: a /16 against Knot, three outputs",
        table(["scan", "median wall s", "CPU us per IP", "wall s, each round"], rows),
        [shown.replace(name, "$WORK")],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
