"""CPU per IP of several commits in one run: where did a slowdown come from?

    python benchmarks/compare_commits.py 62acba2 14a4c60 HEAD
    TARGET=198.18.0.0/18 RATE=1500 WORKERS=1 python benchmarks/compare_commits.py A HEAD

Each commit is checked out into a temporary worktree; the same /16 scan of the
lab zones served by Knot (--workers 2, --rate 0, CSV; TARGET, RATE and
WORKERS change them) runs with that commit's
package first on PYTHONPATH (from a directory outside the tree), the commits
alternating, ROUNDS rounds. Prints each run's wall time and CPU per IP (the
scan's processes, children included) and each commit's median. Not part of
`make bench`: a tool for chasing a regression that `make bench` showed.
"""

from __future__ import annotations

import ipaddress
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.throughput import V4, prepare_zones
from scanner.lab.realservers import Knot

ROUNDS = int(os.environ.get("ROUNDS", "3"))
TARGET = os.environ.get("TARGET", V4)
ADDRESSES = ipaddress.ip_network(TARGET).num_addresses


def main(commits: list[str]) -> int:
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="fcrdns-commits-") as name:
        work = Path(name)
        trees = {}
        for commit in commits:
            tree = work / commit
            subprocess.run(["git", "-C", str(root), "worktree", "add", "-q", "--detach",
                            str(tree), commit], check=True)  # fmt: skip
            trees[commit] = tree
        try:
            zones, _ = prepare_zones(work)
            cpu: dict[str, list[float]] = {commit: [] for commit in commits}
            with Knot(work / "knot", zones, workers=2) as knot:
                for _ in range(ROUNDS):
                    for commit, tree in trees.items():
                        command = [sys.executable, "-m", "scanner", "scan", TARGET,
                                   "--resolver", f"127.0.0.1:{knot.port}",
                                   "--rate", os.environ.get("RATE", "0"),
                                   "--workers", os.environ.get("WORKERS", "2"),
                                   "-q", "-o", str(work / "out.csv")]  # fmt: skip
                        before, started = os.times(), time.perf_counter()
                        subprocess.run(command, env=dict(os.environ, PYTHONPATH=str(tree)),
                                       cwd=work, check=True)  # fmt: skip
                        wall, after = time.perf_counter() - started, os.times()
                        used = (after.children_user - before.children_user) + (
                            after.children_system - before.children_system
                        )
                        cpu[commit].append(1e6 * used / ADDRESSES)
                        print(f"{commit}: {wall:.2f} s, {cpu[commit][-1]:.0f} us CPU per IP")
            for commit, values in cpu.items():
                print(f"{commit}: median {statistics.median(values):.0f} us CPU per IP")
        finally:
            for tree in trees.values():
                subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force",
                                str(tree)], check=False)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["HEAD"]))
