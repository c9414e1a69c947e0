"""`fcrdns report` on a million rows: its time and peak memory.

The results file is made up (no scan needed): 131,072 IPv4 rows (198.18.0.0/15)
and 868,928 IPv6 rows spread over 4,096 /64s of 2001:db8::/32, with every
status, generic names, zones and mismatching names, in the CSV columns a scan
writes. The baseline in the same run is reading the same file with Python's
csv.DictReader and nothing else: the floor any streaming report has.
"""

from __future__ import annotations

import csv
import ipaddress
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report, table
from benchmarks.throughput import measure
from scanner.core.rows import CSV_COLUMNS

ROWS = 1_000_000
V4 = ipaddress.ip_network("198.18.0.0/15")
STATUSES = ["pass"] * 70 + ["mismatch"] * 10 + ["no_ptr"] * 12 + ["no_forward"] * 5 + [
    "servfail", "timeout", "ptr_nodata"]  # fmt: skip
ROUNDS = 3
V6_ZONE = "8.b.d.0.1.0.0.2.ip6.arpa"
READ_ONLY = (
    "import csv, sys\ncsv.field_size_limit(2**31 - 1)\n"
    "for _ in csv.DictReader(open(sys.argv[1], newline='')): pass"
)


def addresses():
    yield from V4
    v6 = ROWS - V4.num_addresses
    per_block = -(-v6 // 4096)
    for index in range(v6):
        block, host = divmod(index, per_block)
        yield ipaddress.IPv6Address((0x20010DB8 << 96) | (block << 64) | (host + 1))


def write_results(path: Path) -> None:
    rng = random.Random(15)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for ip in addresses():
            status = rng.choice(STATUSES)
            name = f"srv-{int(ip) & 0xFFFFFF:x}.hosting.example"
            if status == "mismatch" and rng.random() < 0.5:
                name = f"old-mail-{rng.randrange(40)}.hosting.example"  # renamed servers
            forward = f"{name}=203.0.113.{rng.randrange(1, 255)}" if status == "mismatch" else ""
            zone = (
                ip.reverse_pointer.split(".", 1)[1]
                if ip.version == 4
                else "8.b.d.0.1.0.0.2.ip6.arpa"
            )
            row = dict.fromkeys(CSV_COLUMNS, "")
            row |= {
                "ip": str(ip), "status": status, "stage": "forward", "ptr_names": name,
                "forward_addresses": forward, "queries": "2", "elapsed_ms": "1.0",
                "timestamp": "2026-11-29T08:00:00.000Z", "attempts": "2",
                "generic_ptr": "yes" if rng.random() < 0.1 else "no", "ptr_zone": zone,
                "ptr_zone_ns": "ns1.hosting.example;ns2.hosting.example",
                "iprev": "pass" if status == "pass" else "fail",
                "postfix": "accept" if status == "pass" else "reject",
            }  # fmt: skip
            writer.writerow([row[column] for column in CSV_COLUMNS])


def main() -> int:
    rows, commands = [], []
    with tempfile.TemporaryDirectory(prefix="fcrdns-report-") as name:
        work = Path(name)
        results = work / "results.csv"
        write_results(results)
        size = results.stat().st_size
        reading = [sys.executable, "-c", READ_ONLY, str(results)]
        making = [sys.executable, "-m", "scanner", "report", str(results), "-o",
                  str(work / "report.html")]  # fmt: skip
        runs: dict[str, list] = {"read the CSV (csv.DictReader)": [], "fcrdns report": []}
        for _ in range(ROUNDS):
            runs["read the CSV (csv.DictReader)"].append(measure(reading, work / "log"))
            runs["fcrdns report"].append(measure(making, work / "log"))
        page = (work / "report.html").stat().st_size
        for label, measured in runs.items():
            best = sorted(measured, key=lambda run: run.wall)[len(measured) // 2]
            rows.append([label, f"{best.wall:.1f}", f"{ROWS / best.wall:,.0f}",
                         f"{best.peak_mb:.0f}"])  # fmt: skip
        ratios = [
            made.wall / read.wall
            for read, made in zip(runs["read the CSV (csv.DictReader)"], runs["fcrdns report"],
                                  strict=True)
        ]  # fmt: skip
        commands = [
            "python benchmarks/report.py   # writes the 1,000,000-row results.csv",
            "fcrdns report $WORK/results.csv -o $WORK/report.html",
        ]
    body = table(["run", "wall s (median)", "rows/s", "peak MB (PSS)"], rows)
    body += (
        f"\n\nResults file: {ROWS:,} rows, {size / 1e6:,.0f} MB of CSV; the report: "
        f"{page / 1e3:,.0f} KB of HTML. The report took "
        + ", ".join(f"{ratio:.2f}x" for ratio in ratios)
        + " the time of only reading the file (each round)."
    )
    report("fcrdns report of 1,000,000 rows", body, commands)
    return 0


if __name__ == "__main__":
    sys.exit(main())
