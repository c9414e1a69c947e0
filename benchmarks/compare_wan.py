"""Wall time of several commits over dnsdist (50 ms, 1% loss) in front of Knot, in one run.

    ROUNDS=4 python benchmarks/compare_wan.py d1e504f HEAD
    RATE=auto python benchmarks/compare_wan.py d6ed3fe HEAD   # the defaults

The WAN twin of compare_commits.py: each commit checked out into a temporary
worktree, 198.18.0.0/18 of the lab zones scanned with --rate $RATE (default
0) through dnsdist, the commits alternating for ROUNDS rounds (default 2). Prints each
run's wall time, IPs/s, CPU per IP, hedges and retries. Not part of `make
bench`: a tool for a change that touches losses, retries or timeouts, where
a scan's tail decides its time and one run says little.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.throughput import prepare_zones
from scanner.lab.realservers import Dnsdist, Knot

ADDRESSES = 16_384
TARGET = "198.18.0.0/18"


def main(commits: list[str]) -> int:
    root = Path(__file__).resolve().parent.parent
    rounds = int(os.environ.get("ROUNDS", "2"))
    with tempfile.TemporaryDirectory(prefix="fcrdns-wan-") as name:
        work = Path(name)
        trees = {commit: work / commit for commit in commits}
        for commit, tree in trees.items():
            subprocess.run(["git", "-C", str(root), "worktree", "add", "-q", "--detach",
                            str(tree), commit], check=True)  # fmt: skip
        try:
            zones, _ = prepare_zones(work)
            with (
                Knot(work / "knot", zones, workers=2) as knot,
                Dnsdist(work / "dnsdist", knot.port, knot.probe_name, delay_ms=50,
                        loss=0.01) as dnsdist,
            ):  # fmt: skip
                for _ in range(rounds):
                    for commit, tree in trees.items():
                        run(commit, tree, work, dnsdist.port)
        finally:
            for tree in trees.values():
                subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force",
                                str(tree)], check=False)  # fmt: skip
    return 0


def run(commit: str, tree: Path, work: Path, port: int) -> None:
    summary = work / "summary.json"
    command = [sys.executable, "-m", "scanner", "scan", TARGET, "--resolver",
               f"127.0.0.1:{port}", "--rate", os.environ.get("RATE", "0"), "-q",
               "-o", str(work / "out.csv"),
               "--summary", str(summary)]  # fmt: skip
    before, started = os.times(), time.perf_counter()
    subprocess.run(command, env=dict(os.environ, PYTHONPATH=str(tree)), cwd=work, check=True)
    wall, after = time.perf_counter() - started, os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    pool = json.loads(summary.read_text())["resolver_pool"]
    print(
        f"{commit}: {wall:.2f} s, {ADDRESSES / wall:,.0f} IPs/s, "
        f"{1e6 * cpu / ADDRESSES:.0f} us CPU per IP, hedges {pool['hedges']}, "
        f"retries {pool['retries']}, {pool['attempts'] / wall:,.0f} q/s",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["HEAD"]))
