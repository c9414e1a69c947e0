"""Does `--rate N` hold? Measured where it matters: at the DNS server.

Knot serves the lab zones on 127.0.0.1; a packet socket on the loopback
interface records the kernel's arrival time of every UDP packet sent to Knot's
port. The scan of a /18 (about 32,000 queries) at --rate 2000 goes to Knot, by one
process and then by two (whose limiters share the rate and the burst); the
report is the average rate between the first and the last query and the
busiest 1-second window, against the bound rate + burst.

The kernel's timestamps are the only exact record. The Python lab server,
which used to record arrivals, could not keep up with 2,000 queries a second on
a busy 2-core machine; dnsdist's query log stalls about once a second and then
writes a backlog together, which made the busiest second look busier than the
scanner's own sends (traced with strace) ever were. Needs CAP_NET_RAW (root).
"""

from __future__ import annotations

import shlex
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report, table
from benchmarks.throughput import prepare_zones
from scanner.lab.realservers import Knot

RATE, BURST = 2000, 20
TARGET = "198.18.0.0/18"
WORKERS = (1, 2)  # processes scanning; their limiters share the rate and the burst
SO_TIMESTAMPNS = 35  # linux/socket.h: the packet's kernel receive time, as a timespec
ETH_P_IP = 0x0800
PACKET_HOST = 0  # addressed to this host (not our own outgoing copy)


class Arrivals(threading.Thread):
    """Kernel timestamps of the UDP packets to 127.0.0.1:`port`, until stopped."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.times: list[float] = []
        self._done = threading.Event()
        self._socket = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.ntohs(ETH_P_IP))
        self._socket.bind(("lo", 0))
        self._socket.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self._socket.settimeout(0.2)

    def run(self) -> None:
        target = socket.inet_aton("127.0.0.1")
        while not self._done.is_set():
            try:
                packet, ancillary, _flags, address = self._socket.recvmsg(128, 64)
            except TimeoutError:
                continue
            header = (packet[0] & 0x0F) * 4
            if address[2] != PACKET_HOST or packet[9] != socket.IPPROTO_UDP:
                continue
            if packet[16:20] != target or packet[header + 2 : header + 4] != self.port.to_bytes(2):
                continue
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    seconds, nanoseconds = struct.unpack("qq", data[:16])
                    self.times.append(seconds + nanoseconds / 1e9)

    def stop(self) -> list[float]:
        self._done.set()
        self.join()
        self._socket.close()
        return sorted(self.times)


def busiest_window(times: list[float], width: float = 1.0) -> int:
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= width:
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> int:
    rows, commands, holds = [], [], True
    with tempfile.TemporaryDirectory(prefix="fcrdns-rate-") as name:
        work = Path(name)
        zones, _truth = prepare_zones(work)
        with Knot(work / "knot", zones, workers=2) as knot:
            for workers in WORKERS:
                scan = [
                    "fcrdns", "scan", TARGET, "--resolver", "KNOT", "--rate", str(RATE),
                    "--burst", str(BURST), "--workers", str(workers), "-q",
                    "-o", str(work / "out.csv"),
                ]  # fmt: skip
                arrivals = Arrivals(knot.port)
                arrivals.start()
                command = [sys.executable, "-m", "scanner", *scan[1:]]
                command[command.index("KNOT")] = f"127.0.0.1:{knot.port}"
                try:
                    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                finally:
                    times = arrivals.stop()
                count = len(times)
                average = (count - 1) / (times[-1] - times[0])
                busiest = busiest_window(times)
                held = (
                    count >= 20_000
                    and abs(average - RATE) <= 0.03 * RATE
                    and busiest <= RATE + BURST
                )
                holds &= held
                rows.append([
                    str(workers), f"{count:,}", f"{average:,.1f} q/s", f"{busiest:,}",
                    "yes" if held else "NO",
                ])  # fmt: skip
                commands.append(
                    shlex.join(scan).replace("KNOT", "127.0.0.1:PORT").replace(name, "$WORK")
                )
    body = table(
        [
            "workers",
            "queries at the server",
            "average rate, first to last query",
            "busiest 1-second window",
            "held",
        ],
        rows,
    ) + (
        f"\n\nBounds: at least 20,000 queries, the average {RATE:,} ± 3%"
        f" ({RATE * 0.97:,.0f}-{RATE * 1.03:,.0f}), the busiest second at most rate + burst"
        f" = {RATE + BURST:,}. Pacing holds: {'yes' if holds else 'NO'}."
    )
    report(
        f"Rate limiter: --rate {RATE} measured at the server (kernel arrival times)",
        body,
        [
            "knotd -c knot.conf   # lab zones exported by: fcrdns lab --export-zones DIR",
            "# arrivals: an AF_PACKET socket on lo, SO_TIMESTAMPNS (benchmarks/rate.py)",
            *commands,
        ],
    )
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
