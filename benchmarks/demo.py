"""`make demo`'s scan speed: the first thing a new user sees.

Runs the demo (scanner/commands/demo.py: the lab server on loopback, `fcrdns scan` over
its 4,416 addresses with --check-authoritative, the ground-truth check, the
report) three times in a temporary directory and reads its own output: the
scan's IPs/s as the scan prints it, and whether every verdict matched the
truth. Issue 23 asks for 1,500 IPs/s or more.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report, table

ROUNDS = 3
COMPLETE = re.compile(r"scan complete: ([\d,]+) of [\d,]+ addresses in ([\d.]+) s \(([\d,]+) IPs/s")
TRUTH = re.compile(r"results\.csv: ground truth: ([\d,]+)/([\d,]+) verdicts match")


def main() -> int:
    rows, speeds, command = [], [], ""
    with tempfile.TemporaryDirectory(prefix="fcrdns-demo-bench-") as name:
        for number in range(1, ROUNDS + 1):
            run = subprocess.run([sys.executable, "-m", "scanner.commands.demo"], cwd=name,
                                 capture_output=True, text=True, check=True)  # fmt: skip
            complete, truth = COMPLETE.search(run.stdout + run.stderr), TRUTH.search(run.stdout)
            if complete is None or truth is None:
                raise RuntimeError(f"the demo's output changed:\n{run.stdout[-2000:]}")
            command = next(line for line in run.stdout.splitlines() if line.startswith("$ fcrdns"))
            speeds.append(int(complete.group(3).replace(",", "")))
            rows.append([str(number), complete.group(1), complete.group(2), complete.group(3),
                         f"{truth.group(1)}/{truth.group(2)}"])  # fmt: skip
    report(
        "make demo: the scan's speed (lab server, --check-authoritative)",
        table(["round", "addresses", "scan s", "IPs/s", "verdicts matching the truth"], rows)
        + f"\n\nMedian: {statistics.median(speeds):,.0f} IPs/s (issue 23 asks for 1,500 or more).",
        [
            "python -m scanner.commands.demo",
            re.sub(r"127\.0\.0\.1:\d+|port \d+", "...", command[2:]),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
