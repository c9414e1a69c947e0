"""The walk (`fcrdns scan PREFIX --walk`) against a plain nibble walk with dnspython.

Knot serves a sparse /48 of the lab (2,000 planted addresses over dozens of
/64s, a child zone, a dead /56). The baseline is what the research scripts
do (nomis/ip6walk, arpawalk): a depth-first walk, one PTR query at a time
with dnspython, descending where the answer is not NXDOMAIN. Both must be
exact: the baseline's names with a reverse name against the truth, the
scanner's rows against the truth (compared by benchmarks' own check below).
Reported: names asked against a perfect walker's count (16 per existing name
above an address, and the start), time and time per address found, and for
the scanner the whole run (the walk and then every found address's check).
"""

from __future__ import annotations

import csv
import ipaddress
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report, table
from scanner.core.walk import children, reverse_name_of
from scanner.lab.realservers import Knot
from scanner.lab.truth import perfect_walk

PREFIX = ipaddress.ip_network("2001:db8:42::/48")
DEAD = ipaddress.ip_network("2001:db8:42:dd00::/56")
PLANTED = 2_000
ROUNDS = 2


def prepare(work: Path) -> tuple[list[str], Path, set[str], int]:
    config = {"seed": 11, "networks": [{
        "cidr": str(PREFIX), "sparse": PLANTED, "child_zone": "2001:db8:42:ee00::/56",
        "dead_delegation": str(DEAD),
        "mix": {"confirm": 40, "mismatch": 10, "no_ptr": 10, "ptr_nodata": 3,
                "dangling": 5}}]}  # fmt: skip
    (work / "lab.yaml").write_text(yaml.safe_dump(config))
    truth = work / "truth.csv"
    zones = subprocess.run(
        [sys.executable, "-m", "scanner", "lab", "--config", str(work / "lab.yaml"), "--truth",
         str(truth), "--export-zones", str(work / "zones")],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    with truth.open(encoding="utf-8", newline="") as handle:
        named = {row["ip"] for row in csv.DictReader(handle) if row["expected_status"] != "no_ptr"}
    return zones, truth, named, perfect_walk(str(truth), PREFIX, [DEAD])


def baseline_walk(port: int) -> tuple[set[str], int, float]:
    """The research scripts' walk: depth first, one query at a time (dnspython)."""
    found: set[str] = set()
    asked = 0
    started = time.perf_counter()
    stack = [PREFIX]
    while stack:
        node = stack.pop()
        query = dns.message.make_query(reverse_name_of(node), dns.rdatatype.PTR)
        answer = dns.query.udp(query, "127.0.0.1", port=port, timeout=2)
        asked += 1
        if answer.rcode() == dns.rcode.NXDOMAIN:
            continue
        if answer.rcode() != dns.rcode.NOERROR or (not answer.answer and not answer.authority):
            continue  # a failure: the subtree is silently dropped, as the scripts do
        if any(rrset.rdtype == dns.rdatatype.NS for rrset in answer.authority) and not any(
            rrset.rdtype == dns.rdatatype.SOA for rrset in answer.authority
        ):
            continue  # a referral: dropped too
        if node.prefixlen == 128:
            found.add(str(node.network_address))
        else:
            stack.extend(reversed(list(children(node))))
    return found, asked, time.perf_counter() - started


def scanner_walk(port: int, work: Path, rate: str) -> tuple[list[str], dict, float]:
    out, summary = work / f"walk-{rate}.csv", work / f"walk-{rate}.json"
    command = [sys.executable, "-m", "scanner", "scan", str(PREFIX), "--walk", "--resolver",
               f"127.0.0.1:{port}", "-q", "-o", str(out), "--summary", str(summary)]  # fmt: skip
    if rate != "auto":
        command += ["--rate", rate]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - started
    with out.open(encoding="utf-8", newline="") as handle:
        ips = [row["ip"] for row in csv.DictReader(handle)]
    return ips, json.loads(summary.read_text()), wall


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory(prefix="fcrdns-walk-") as name:
        work = Path(name)
        zones, _, named, perfect = prepare(work)
        with Knot(work / "knot", zones, workers=2) as knot:
            for round_ in range(1, ROUNDS + 1):
                found, asked, seconds = baseline_walk(knot.port)
                assert found == named, "the baseline walk is not exact"
                rows.append([
                    f"dnspython nibble walk (baseline), round {round_}", f"{asked:,}",
                    f"{asked / perfect:.2f}", f"{seconds:.1f}",
                    f"{1000 * seconds / len(found):.1f}", "no (walk only)",
                ])  # fmt: skip
                for rate in ("0", "auto"):
                    ips, summary, wall = scanner_walk(knot.port, work, rate)
                    addresses = [ip for ip in ips if "/" not in ip]
                    assert len(addresses) == len(set(addresses)) and set(addresses) == named
                    assert [ip for ip in ips if "/" in ip] == [str(DEAD)]
                    walked = summary["walk"]
                    rows.append([
                        f"fcrdns --walk --rate {rate}, round {round_}",
                        f"{walked['names_asked']:,}", f"{walked['names_asked'] / perfect:.2f}",
                        f"{walked['duration_s']:.1f} (whole run {wall:.1f})",
                        f"{1000 * walked['duration_s'] / len(addresses):.1f}",
                        "yes: every address's row, the dead /56 one row",
                    ])  # fmt: skip
            commands = [
                shlex.join(["fcrdns", "scan", str(PREFIX), "--walk", "--resolver",
                            "127.0.0.1:KNOT_PORT", *(["--rate", "0"] if rate == "0" else []),
                            "-q", "-o", "walk.csv", "--summary", "walk.json"])
                for rate in ("0", "auto")
            ]  # fmt: skip
    report(
        f"Walk: a sparse /48 ({len(named):,} addresses with reverse names) served by Knot",
        table(
            [
                "walker",
                "names asked",
                "x perfect",
                "walk seconds",
                "ms per address found",
                "checked",
            ],
            rows,
        )
        + f"\n\nA perfect walker asks {perfect:,} names (the start and 16 below every name "
        "that exists above an address). The baseline stops at the dead /56 silently (a "
        "referral it drops); the scanner's rows say it was not walked.",
        commands,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
