"""Scans through real servers: Unbound (recursive) -> Knot (authoritative), on 127.0.0.1.

The lab zones are exported as zone files for Knot; Unbound reaches them through
stub zones. Unbound's own rate limits and a Knot stopped mid-scan are the fault
sources. `.ci/run` installs both from Debian packages.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ALL_CASES_MIX, fcrdns, write_lab_config

from scanner.core.status import TRANSIENT, Status
from scanner.lab.realservers import Knot, Unbound
from scanner.lab.truth import compare

MIX = {case: weight for case, weight in ALL_CASES_MIX.items() if case != "servfail"}
NETWORKS = ["198.18.0.0/21", "2001:db8:1::/120"]  # 2,048 + 256 addresses


@pytest.fixture(scope="module")
def lab_zones(tmp_path_factory) -> tuple[list[str], Path]:
    work = tmp_path_factory.mktemp("zones")
    config = write_lab_config(work / "lab.yaml", NETWORKS, MIX)
    truth = work / "truth.csv"
    export = fcrdns(
        "lab", "--config", str(config), "--truth", str(truth), "--export-zones", str(work / "z")
    )
    assert export.returncode == 0, export.stderr
    return export.stdout.split(), truth


def scan_through(unbound: Unbound, out: Path, summary: Path, *options: str):
    return fcrdns(
        "scan", *NETWORKS, "--resolver", f"127.0.0.1:{unbound.port}",
        "-o", str(out), "--summary", str(summary), *options,
        timeout=300,
    )  # fmt: skip


@pytest.mark.lab
def test_verdicts_through_unbound_equal_the_ground_truth(lab_zones, tmp_path):
    zones, truth = lab_zones
    out, summary = tmp_path / "r.csv", tmp_path / "s.json"
    with Knot(tmp_path / "knot", zones) as knot, Unbound(tmp_path / "unbound", knot) as unbound:
        scan = scan_through(unbound, out, summary)  # the defaults, as a user would run it
    assert scan.returncode == 0, scan.stderr
    comparison = compare(str(out), str(truth))
    assert comparison.ok, comparison.as_text()


@pytest.mark.parametrize(
    ("limit", "effect"),
    [
        ({"ip-ratelimit": 300, "ip-ratelimit-factor": 0}, "dropped"),  # client queries dropped
        ({"ratelimit": 300, "ratelimit-factor": 0}, "servfail"),  # upstream: SERVFAIL
    ],
)
@pytest.mark.serial  # the scan must outrun Unbound's 300 q/s to meet its limit
@pytest.mark.lab
def test_adaptive_rate_backs_off_below_unbounds_rate_limit(lab_zones, tmp_path, limit, effect):
    zones, truth = lab_zones
    out, summary = tmp_path / "r.csv", tmp_path / "s.json"
    with (
        Knot(tmp_path / "knot", zones) as knot,
        Unbound(tmp_path / "unbound", knot, options=limit) as unbound,
    ):
        scan = scan_through(unbound, out, summary, "--rate", "auto", "--max-rate", "5000")
    assert scan.returncode == 0, scan.stderr
    comparison = compare(str(out), str(truth))
    assert comparison.ok, comparison.as_text()
    stats = json.loads(summary.read_text())
    assert stats["sent_again"] > 0, f"Unbound's limit was never hit ({effect})"
    assert stats["resolver_pool"]["adaptive"]["decreases"] > 0
    assert stats["resolver_pool"]["rate"] < 5000


@pytest.mark.lab
def test_knot_stopped_mid_scan_loses_no_row_and_reports_no_false_no_ptr(lab_zones, tmp_path):
    zones, truth = lab_zones
    knot = Knot(tmp_path / "knot", zones).start()
    try:
        with Unbound(tmp_path / "unbound", knot) as unbound:
            scan = subprocess.Popen(
                [sys.executable, "-m", "scanner", "scan", *NETWORKS,
                 "--resolver", f"127.0.0.1:{unbound.port}", "--rate", "0",
                 "--concurrency", "50", "--retries", "10", "-o", "-"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert scan.stdout is not None and scan.stderr is not None
            head = [scan.stdout.readline() for _ in range(301)]  # header + 300 rows
            knot.process.send_signal(signal.SIGTERM)  # the outage starts mid-scan
            knot.process.wait(timeout=10)
            time.sleep(3)  # the outage itself, not a wait for something to happen
            knot.start()  # same port, same zones
            rest = scan.stdout.read()
            errors = scan.stderr.read()
            assert scan.wait(timeout=300) == 0, errors
    finally:
        knot.stop()
    rows = list(csv.DictReader(("".join(head) + rest).splitlines()))
    expected = {row["ip"]: row for row in csv.DictReader(truth.open())}
    assert sorted(row["ip"] for row in rows) == sorted(expected)  # each IP exactly once
    for row in rows:
        want = expected[row["ip"]]
        if row["status"] != want["expected_status"]:
            # Only a transient verdict may differ: never a false answer.
            assert TRANSIENT[Status(row["status"])], (row, want)
        if want["ptr_names"]:
            assert row["status"] != "no_ptr", row
    # Unbound keeps answering SERVFAIL from its own failure cache for a while after
    # Knot is back, so a name asked just then can honestly end transient; nearly
    # all must have recovered within the retries.
    wrong = [r for r in rows if r["status"] != expected[r["ip"]]["expected_status"]]
    assert len(wrong) <= len(rows) // 100, f"{len(wrong)} transient verdicts: {wrong[:3]}"
