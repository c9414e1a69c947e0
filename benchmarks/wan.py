"""Throughput and exactness over a slow, lossy network: dnsdist in front of Knot, on loopback.

Users scan through a resolver across a network: answers take 20-300 ms and
some packets are lost. This kernel has no netem, so dnsdist plays the network:
every UDP answer is delayed (DelayAction) and a share of queries is dropped
(ProbaRule + DropAction). It listens on 127.0.0.1 only and its security polling
is off (scanner/lab/realservers.py).

For each round trip (0, 50, 150 ms) and loss (0, 1, 2%), 198.18.0.0/18 (16,384
addresses) is scanned by fcrdns with its defaults and --rate 0, by fcrdns with
its defaults (--rate auto), and by the naive baseline at 200 and 1,000 queries
in flight. Then, at 50 ms and 1%: alternating rounds of the baseline at 1,000
and fcrdns (the ratio of each round), fcrdns at several --concurrency ceilings,
and fcrdns' CPU per IP there against loopback (straight to Knot). Last, the
path most users have: fcrdns -> Unbound (recursive; every lab zone a stub) ->
dnsdist (50 ms, 1%) -> Knot, a fresh Unbound (empty cache) for each tool.

Every run is a child process measured as in throughput.py (wall time, CPU of
the run's processes, peak PSS); verdicts are checked against the lab's truth.
"""

from __future__ import annotations

import csv
import ipaddress
import json
import shlex
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report, table
from benchmarks.throughput import measure, prepare_zones
from scanner.lab.realservers import Dnsdist, Knot, Unbound

HERE = Path(__file__).resolve().parent
TARGET = "198.18.0.0/18"
ADDRESSES = ipaddress.ip_network(TARGET).num_addresses
DELAYS = (0, 50, 150)  # ms added to every answer
LOSSES = (0.0, 0.01, 0.02)  # share of queries dropped
ROUNDS = 3  # alternating rounds at 50 ms + 1%, for the ratio
CEILINGS = (100, 200, 1000, 5000, 10000)


@dataclass
class Row:
    tool: str
    ips_per_s: float
    cpu_us: float
    correct: float
    transient: int | None
    retries: int | None
    hedges: int | None
    peak_mb: float

    def cells(self) -> list[str]:
        return [
            self.tool,
            f"{self.ips_per_s:,.0f}",
            f"{self.cpu_us:.0f}",
            f"{100 * self.correct:.2f}%",
            "-" if self.transient is None else f"{self.transient:,}",
            "-" if self.retries is None else f"{self.retries:,}",
            "-" if self.hedges is None else f"{self.hedges:,}",
            f"{self.peak_mb:.0f}",
        ]


HEADER = [
    "tool",
    "IPs/s",
    "CPU us per IP",
    "verdicts correct",
    "transient rows",
    "retries",
    "hedges",
    "peak memory MB",
]


def load_truth(path: Path) -> dict[str, tuple[str, str]]:
    network = ipaddress.ip_network(TARGET)
    with path.open() as handle:
        return {
            row["ip"]: (row["expected_status"], row["confirmed_name"])
            for row in csv.DictReader(handle)
            if ipaddress.ip_address(row["ip"]) in network
        }


def share_correct(results: Path, truth: dict[str, tuple[str, str]]) -> float:
    """Rows whose status and confirmed name equal the truth, of the truth's addresses."""
    with results.open() as handle:
        got = {row["ip"]: (row["status"], row["confirmed_name"]) for row in csv.DictReader(handle)}
    return sum(1 for ip, verdict in truth.items() if got.get(ip) == verdict) / len(truth)


class Runner:
    def __init__(self, work: Path, truth: dict[str, tuple[str, str]]) -> None:
        self.work = work
        self.truth = truth
        self.commands: dict[str, list[str]] = {}

    def fcrdns(self, label: str, port: int, *options: str) -> Row:
        out, summary = self.work / "fcrdns.csv", self.work / "fcrdns.json"
        command = [
            sys.executable,
            "-m",
            "scanner",
            "scan",
            TARGET,
            "--resolver",
            f"127.0.0.1:{port}",
            "-q",
            "-o",
            str(out),
            "--summary",
            str(summary),
            *options,
        ]
        self.commands.setdefault(label, command)
        run = measure(command, self.work / "fcrdns.log")
        stats = json.loads(summary.read_text())
        return Row(
            label,
            ADDRESSES / run.wall,
            1e6 * run.cpu / ADDRESSES,
            share_correct(out, self.truth),
            stats["transient_failures"],
            stats["resolver_pool"]["retries"],
            stats["resolver_pool"]["hedges"],
            run.peak_mb,
        )

    def naive(self, in_flight: int, port: int) -> Row:
        label = f"naive asyncio + aiodns, {in_flight:,} in flight"
        out = self.work / "naive.csv"
        command = [
            sys.executable,
            str(HERE / "naive_baseline.py"),
            "--in-flight",
            str(in_flight),
            f"127.0.0.1:{port}",
            str(out),
            TARGET,
        ]
        self.commands.setdefault(label, command)
        run = measure(command, self.work / "naive.log")
        correct = share_correct(out, self.truth)
        cpu_us = 1e6 * run.cpu / ADDRESSES
        return Row(label, ADDRESSES / run.wall, cpu_us, correct, None, None, None, run.peak_mb)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="fcrdns-wan-") as name:
        work = Path(name)
        zones, truth_path = prepare_zones(work)
        runner = Runner(work, load_truth(truth_path))
        sections = []
        with Knot(work / "knot", zones, workers=2) as knot:

            def path(delay: int, loss: float) -> Dnsdist:
                return Dnsdist(
                    work / "dnsdist", knot.port, knot.zones[0], delay_ms=delay, loss=loss
                )

            matrix = []
            for delay in DELAYS:
                for loss in LOSSES:
                    with path(delay, loss) as wan:
                        cell = f"{delay} ms, {loss:.0%} loss"
                        for row in (
                            runner.fcrdns("fcrdns (defaults, --rate 0)", wan.port, "--rate", "0"),
                            runner.fcrdns("fcrdns (defaults, --rate auto)", wan.port),
                            runner.naive(200, wan.port),
                            runner.naive(1000, wan.port),
                        ):
                            matrix.append([cell, *row.cells()])
            sections.append(
                f"The matrix: {TARGET} ({ADDRESSES:,} addresses) through dnsdist.\n\n"
                + table(["path", *HEADER], matrix)
            )

            with path(50, 0.01) as wan:
                ratios, ours, theirs = [], [], []
                for _ in range(ROUNDS):
                    base = runner.naive(1000, wan.port)
                    fast = runner.fcrdns("fcrdns (defaults, --rate 0)", wan.port, "--rate", "0")
                    theirs.append(base)
                    ours.append(fast)
                    ratios.append(fast.ips_per_s / base.ips_per_s)
                rounds = [
                    [
                        f"{i + 1}",
                        f"{b.ips_per_s:,.0f}",
                        f"{o.ips_per_s:,.0f}",
                        f"{r:.2f}x",
                        f"{100 * o.correct:.2f}%",
                        f"{o.transient:,}",
                    ]
                    for i, (b, o, r) in enumerate(zip(theirs, ours, ratios, strict=True))
                ]
                sections.append(
                    "50 ms + 1% loss, alternating rounds (the acceptance figure):\n\n"
                    + table(
                        [
                            "round",
                            "naive, 1,000 in flight, IPs/s",
                            "fcrdns --rate 0, IPs/s",
                            "fcrdns vs baseline",
                            "fcrdns correct",
                            "fcrdns transient rows",
                        ],
                        rounds,
                    )
                    + f"\n\nMedian ratio: {statistics.median(ratios):.2f}x."
                )
                sweep = [
                    runner.fcrdns(
                        f"fcrdns --rate 0 --concurrency {ceiling}",
                        wan.port,
                        "--rate",
                        "0",
                        "--concurrency",
                        str(ceiling),
                    ).cells()
                    for ceiling in CEILINGS
                ]
                sections.append(
                    "50 ms + 1% loss, by --concurrency (the window's ceiling):\n\n"
                    + table(HEADER, sweep)
                )
                wan_cpu = statistics.median(row.cpu_us for row in ours)

            loopback = [
                runner.fcrdns(
                    "fcrdns (defaults, --rate 0), straight to Knot", knot.port, "--rate", "0"
                )
                for _ in range(ROUNDS)
            ]
            loop_cpu = statistics.median(row.cpu_us for row in loopback)
            sections.append(
                f"CPU per IP, fcrdns defaults with --rate 0 (median of {ROUNDS}): "
                f"{loop_cpu:.0f} us straight to Knot on loopback, {wan_cpu:.0f} us at 50 ms + 1% "
                f"loss ({wan_cpu / loop_cpu:.2f}x)."
            )

            with path(50, 0.01) as wan:
                relay = _Upstream(wan.port, knot.zones)
                unbound_rows = []
                tools = {
                    "fcrdns (defaults, --rate 0)": ("--rate", "0"),
                    "fcrdns (defaults)": (),
                    "naive, 1,000 in flight": None,
                }
                for label, options in tools.items():
                    with Unbound(work / "unbound", relay) as unbound:
                        if options is None:
                            row = runner.naive(1000, unbound.port)
                        else:
                            row = runner.fcrdns(label, unbound.port, *options)
                    row.tool = label
                    unbound_rows.append(row.cells())
                sections.append(
                    "The realistic path: scanner -> Unbound (recursive, cold cache) -> dnsdist "
                    "(50 ms, 1% loss) -> Knot:\n\n" + table(HEADER, unbound_rows)
                )

    commands = [
        "knotd -c knot.conf   # lab zones exported by: fcrdns lab --export-zones DIR",
        "dnsdist --supervised --disable-syslog -C dnsdist.conf   # see scanner/lab/realservers.py",
        *(
            shlex.join(["python" if c == sys.executable else c for c in command])
            .replace(str(work), "$WORK")
            .replace(str(HERE), "benchmarks")
            for command in runner.commands.values()
        ),
    ]
    report("Over a slow, lossy network: dnsdist in front of Knot", "\n\n".join(sections), commands)
    return 0


@dataclass
class _Upstream:
    """What Unbound needs to know of the server it stubs to: here dnsdist's port, Knot's zones."""

    port: int
    zones: list[str]
    host: str = "127.0.0.1"


if __name__ == "__main__":
    sys.exit(main())
