"""What `--check-authoritative` costs, in queries and time per IP, on the lab /16.

Knot serves the lab zones as the scan's resolver on 127.0.0.1 and as the
zones' two name servers on 127.0.0.2 (ns1) and 127.0.0.3 (ns2, the stale
secondary's copy), which the lab's NS records point at. The same scan three
ways, alternating in each round: plain, with `--zone-owner` (the zone lookups
--check-authoritative builds on), and with `--check-authoritative`
(--authoritative-rate 0: what the check itself costs, not its politeness
limit). First on loopback at --rate 0, then with dnsdist in front of every
server adding 50 ms and 1% loss (a user's path, --rate auto as by default).
"""

from __future__ import annotations

import json
import shlex
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report, table
from benchmarks.throughput import V4, Measured, measure, prepare_zones
from scanner.lab.config import NS_ADDRESSES, NS_NETWORK
from scanner.lab.realservers import Dnsdist, Knot, free_port
from scanner.lab.truth import compare

ROUNDS = 3
ADDRESSES = 65_536
WAYS = {
    "plain": [],
    "--zone-owner": ["--zone-owner"],
    "--check-authoritative": ["--check-authoritative", "--authoritative-rate", "0"],
}


def _median(runs: list[tuple[Measured, dict]]) -> tuple[Measured, dict]:
    return sorted(runs, key=lambda run: run[0].wall)[len(runs) // 2]


def _rounds(work: Path, truth: Path, resolver: int, ns_port: int, rate: list[str]):
    runs: dict[str, list[tuple[Measured, dict]]] = {way: [] for way in WAYS}
    correct = dict.fromkeys(WAYS, 1.0)
    commands = []
    out, summary = work / "out.csv", work / "summary.json"
    for _ in range(ROUNDS):
        for way, flags in WAYS.items():
            command = [sys.executable, "-m", "scanner", "scan", V4, "--resolver",
                       f"127.0.0.1:{resolver}", *rate, *flags, "--authoritative-allow", NS_NETWORK,
                       "--authoritative-port",
                       str(ns_port), "-q", "-o", str(out), "--summary", str(summary)]  # fmt: skip
            measured = measure(command, work / "scan.log")
            runs[way].append((measured, json.loads(summary.read_text())))
            comparison = compare(
                str(out), str(truth), within=[V4], authoritative=way == "--check-authoritative"
            )
            correct[way] = min(correct[way], comparison.matching / comparison.expected)
            out.unlink()
            if len(commands) < len(WAYS):
                shown = shlex.join(["fcrdns", *command[3:]]).replace(str(work), "$WORK")
                commands.append(shown.replace(f"127.0.0.1:{resolver}", "127.0.0.1:PORT"))
    return runs, correct, commands


def main() -> int:
    rows, notes, commands = [], [], []
    with tempfile.TemporaryDirectory(prefix="fcrdns-auth-") as name:
        work = Path(name)
        zones, truth = prepare_zones(work)
        secondary = sorted(str(path) for path in (work / "zones" / "secondary").glob("*.zone"))
        ns_port, wan_port = free_port(), free_port()
        with (
            Knot(work / "resolver", zones, workers=2) as knot,
            Knot(work / "ns1", zones, port=ns_port, host=NS_ADDRESSES["ns1"]),
            Knot(work / "ns2", secondary, port=ns_port, host=NS_ADDRESSES["ns2"]),
            Dnsdist(work / "wan", knot.port, knot.zones[0], delay_ms=50, loss=0.01) as wan,
            Dnsdist(work / "wan1", ns_port, knot.zones[0], delay_ms=50, loss=0.01,
                    port=wan_port, host=NS_ADDRESSES["ns1"], backend_host=NS_ADDRESSES["ns1"]),
            Dnsdist(work / "wan2", ns_port, knot.zones[0], delay_ms=50, loss=0.01,
                    port=wan_port, host=NS_ADDRESSES["ns2"], backend_host=NS_ADDRESSES["ns2"]),
        ):  # fmt: skip
            paths = [
                ("loopback, --rate 0", knot.port, ns_port, ["--rate", "0"]),
                ("dnsdist 50 ms, 1% loss, --rate auto", wan.port, wan_port, []),
            ]
            for label, resolver, port, rate in paths:
                runs, correct, shown = _rounds(work, truth, resolver, port, rate)
                commands += shown
                plain = _median(runs["plain"])[0]
                for way in WAYS:
                    best, summary = _median(runs[way])
                    direct = (summary.get("authoritative") or {}).get("queries", 0)
                    rows.append([
                        label, way, f"{best.wall:.1f}", f"{1e6 * best.wall / ADDRESSES:,.0f}",
                        f"{1e6 * best.cpu / ADDRESSES:,.0f}",
                        f"{summary['attempts'] / ADDRESSES:.2f}", f"{direct / ADDRESSES:.2f}",
                        f"{best.peak_mb:.0f}", f"{100 * correct[way]:.2f}%",
                    ])  # fmt: skip
                ratios = [
                    checked[0].wall / base[0].wall
                    for base, checked in zip(
                        runs["plain"], runs["--check-authoritative"], strict=True
                    )
                ]
                notes.append(
                    f"{label}: --check-authoritative took "
                    + ", ".join(f"{ratio:.2f}x" for ratio in ratios)
                    + f" the time of the plain scan (each round; plain median {plain.wall:.1f} s)."
                )
    body = table(
        ["path", "scan", "wall s", "wall us per IP", "CPU us per IP",
         "queries per IP (resolver)", "direct queries per IP", "peak MB", "correct"],
        rows,
    )  # fmt: skip
    body += "\n\n" + "\n".join(notes)
    body += (
        "\n\nDirect queries: the PTR of every address at each of the zone's two servers,"
        " plus each zone's SOA once per server (and per worker process); the resolver"
        " queries of --zone-owner and --check-authoritative add the zone lookups (SOA/NS"
        " per /24, A/AAAA of the name servers). With the default --authoritative-rate of"
        " 20 queries a second per server, a /16 takes about 55 minutes: the politeness"
        " limit, not the check, sets the time."
    )
    report(
        "--check-authoritative on the lab /16 (Knot as resolver and as the zones' two servers)",
        body,
        ["knotd -c knot.conf   # x3: the resolver; ns1 on 127.0.0.2, ns2 on 127.0.0.3",
         *commands],
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
