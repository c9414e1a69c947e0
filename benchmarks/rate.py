"""Does `--rate N` hold? Measured where it matters: at the DNS server.

Starts the lab server recording the arrival time of every query, scans a /18
(about 32,000 queries) at --rate 2000, and reports the average rate between the
first and the last query and the busiest 1-second window, against the bound
rate + burst.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report, table
from scanner.lab.process import LabProcess

RATE, BURST = 2000, 20
TARGET = "198.18.0.0/18"


def busiest_window(times: list[float], width: float = 1.0) -> int:
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= width:
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="fcrdns-rate-") as work:
        config = Path(work) / "lab.yaml"
        config.write_text(
            "seed: 1\nnetworks:\n  - cidr: 198.18.0.0/18\n"
            "    mix: {confirm: 6, mismatch: 1, no_ptr: 2, dangling: 1}\n"
        )
        arrivals = Path(work) / "arrivals.txt"
        scan = [
            "fcrdns", "scan", TARGET, "--resolver", "LAB", "--rate", str(RATE),
            "--burst", str(BURST), "-o", str(Path(work) / "out.csv"),
        ]  # fmt: skip
        lab = LabProcess(["--config", str(config), "--record-arrivals", str(arrivals)]).start()
        try:
            command = [sys.executable, "-m", "scanner", *scan[1:]]
            command[command.index("LAB")] = lab.address
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        finally:
            lab.stop()
        times = sorted(float(line) for line in arrivals.read_text().split())
    count = len(times)
    average = (count - 1) / (times[-1] - times[0])
    busiest = busiest_window(times)
    rows = [
        ["queries measured at the server", f"{count:,}", "at least 20,000"],
        ["average rate, first to last query", f"{average:,.1f} q/s",
         f"{RATE:,} ± 3% ({RATE * 0.97:,.0f}-{RATE * 1.03:,.0f})"],
        ["busiest 1-second window", f"{busiest:,} queries",
         f"at most rate + burst = {RATE + BURST:,}"],
    ]  # fmt: skip
    verdict = count >= 20_000 and abs(average - RATE) <= 0.03 * RATE and busiest <= RATE + BURST
    body = table(["measure", "result", "bound"], rows) + (
        f"\n\nPacing holds: {'yes' if verdict else 'NO'}."
    )
    report(
        f"Rate limiter: --rate {RATE} measured at the lab server",
        body,
        [
            "python -m scanner lab --config LAB.yaml --record-arrivals arrivals.txt &",
            shlex.join(scan).replace("LAB", "127.0.0.1:PORT"),
        ],
    )
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
