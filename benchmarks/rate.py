"""Does `--rate N` hold? Measured where it matters: at the DNS server.

Knot serves the lab zones; dnsdist in front of it (on 127.0.0.1, security
polling off) logs the arrival time of every query. The scan of a /18 (about
32,000 queries) at --rate 2000 goes to dnsdist; the report is the average rate
between the first and the last query and the busiest 1-second window, against
the bound rate + burst. (The Python lab server used to record the arrivals;
on a busy 2-core machine it could no longer keep up with 2,000 queries a
second, and a server that falls behind cannot tell a slow scanner from
itself.)
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report, table
from benchmarks.throughput import prepare_zones
from scanner.lab.realservers import Dnsdist, Knot

RATE, BURST = 2000, 20
TARGET = "198.18.0.0/18"
# dnsdist's LogAction line, with its timestamp: [seconds.nanoseconds] Packet from ...
# The scan's query types only: the servers' own readiness probes are SOA.
ARRIVAL = re.compile(r"^\[(\d+\.\d+)\] Packet from \S+ for \S+ (?:PTR|A|AAAA) ", re.M)


def busiest_window(times: list[float], width: float = 1.0) -> int:
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= width:
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="fcrdns-rate-") as name:
        work = Path(name)
        zones, _truth = prepare_zones(work)
        arrivals = work / "arrivals.log"
        scan = [
            "fcrdns", "scan", TARGET, "--resolver", "DNSDIST", "--rate", str(RATE),
            "--burst", str(BURST), "-q", "-o", str(work / "out.csv"),
        ]  # fmt: skip
        with (
            Knot(work / "knot", zones, workers=2) as knot,
            Dnsdist(work / "dnsdist", knot.port, knot.zones[0], log_queries=arrivals) as relay,
        ):
            command = [sys.executable, "-m", "scanner", *scan[1:]]
            command[command.index("DNSDIST")] = f"127.0.0.1:{relay.port}"
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        # dnsdist has stopped: its log is complete.
        times = sorted(float(moment) for moment in ARRIVAL.findall(arrivals.read_text()))
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
        f"Rate limiter: --rate {RATE} measured at the server (dnsdist in front of Knot)",
        body,
        [
            "knotd -c knot.conf   # lab zones exported by: fcrdns lab --export-zones DIR",
            "dnsdist --supervised --disable-syslog -C dnsdist.conf   # LogAction with timestamps",
            shlex.join(scan).replace("DNSDIST", "127.0.0.1:PORT"),
        ],
    )
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
