"""What `--dask local:2` costs against `--workers 2`, on the lab /16.

The same scan two ways on this machine: two forked worker processes whose rows
the parent merges as they arrive (`--workers 2`), and a Dask LocalCluster of
two worker processes, each running one shard as a task that writes part files,
merged by the client at the end (`--dask local:2`). Knot serves the lab zones
on loopback (--rate 0), then the same through dnsdist adding 50 ms and 1% loss
(a user's path; --rate auto, the default). Alternating rounds; the table
shows each way's median run, and the overhead is taken within each round.
"""

from __future__ import annotations

import shlex
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report, table
from benchmarks.throughput import V4, Measured, measure, prepare_zones
from scanner.lab.realservers import Dnsdist, Knot
from scanner.lab.truth import compare

ROUNDS = 3
ADDRESSES = 65_536


def _median(runs: list[Measured]) -> Measured:
    return sorted(runs, key=lambda run: run.wall)[len(runs) // 2]


WAYS = {"--workers 2": ["--workers", "2"], "--dask local:2": ["--dask", "local:2"]}


def _rounds(
    work: Path, truth: Path, port: int, rate: list[str]
) -> tuple[dict[str, list[Measured]], dict[str, float], list[str]]:
    """Alternating runs of each way; their measures, the worst share correct, the commands."""
    runs: dict[str, list[Measured]] = {way: [] for way in WAYS}
    correct = dict.fromkeys(WAYS, 1.0)
    commands = []
    out = work / "out.csv"
    for _ in range(ROUNDS):
        for way, flags in WAYS.items():
            command = [sys.executable, "-m", "scanner", "scan", V4, "--resolver",
                       f"127.0.0.1:{port}", *rate, *flags, "-q", "-o", str(out)]  # fmt: skip
            runs[way].append(measure(command, work / "scan.log"))
            comparison = compare(str(out), str(truth), within=[V4])
            correct[way] = min(correct[way], comparison.matching / comparison.expected)
            out.unlink()
            if len(commands) < len(WAYS):
                shown = shlex.join(["fcrdns", *command[3:]]).replace(str(work), "$WORK")
                commands.append(shown.replace(f"127.0.0.1:{port}", "127.0.0.1:PORT"))
    return runs, correct, commands


def main() -> int:
    rows, overheads, commands = [], {}, []
    with tempfile.TemporaryDirectory(prefix="fcrdns-dask-") as name:
        work = Path(name)
        zones, truth = prepare_zones(work)
        with (
            Knot(work / "knot", zones, workers=2) as knot,
            Dnsdist(work / "dnsdist", knot.port, knot.zones[0], delay_ms=50, loss=0.01) as wan,
        ):
            paths = [
                ("loopback, --rate 0", knot.port, ["--rate", "0"]),
                ("dnsdist 50 ms, 1% loss, --rate auto", wan.port, []),
            ]
            for label, port, rate in paths:
                runs, correct, shown = _rounds(work, truth, port, rate)
                commands += shown
                overheads[label] = [
                    dask.wall / workers.wall
                    for workers, dask in zip(
                        runs["--workers 2"], runs["--dask local:2"], strict=True
                    )
                ]
                for way in WAYS:
                    best = _median(runs[way])
                    rows.append([
                        label, way, f"{best.wall:.1f}", f"{ADDRESSES / best.wall:,.0f}",
                        f"{best.peak_mb:.0f}", f"{100 * correct[way]:.2f}%",
                    ])  # fmt: skip
    body = table(["path", "scan", "wall s", "IPs/s", "peak MB (all processes)", "correct"], rows)
    for label, ratios in overheads.items():
        body += (
            f"\n\n{label}: --dask local:2 took "
            + ", ".join(f"{ratio:.2f}x" for ratio in ratios)
            + " the time of --workers 2 (each round)."
        )
    body += (
        "\n\nThe Dask run includes starting the LocalCluster (a scheduler and two worker"
        " processes, which import the scanner) and merging the part files at the end;"
        " --workers forks two processes and merges rows as they come."
    )
    report(
        "--dask local:2 against --workers 2 on the lab /16 (Knot)",
        body,
        ["knotd -c knot.conf   # lab zones exported by: fcrdns lab --export-zones DIR", *commands],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
