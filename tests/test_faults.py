"""Packet loss, SERVFAIL, an outage and a dead resolver, against the lab server on 127.0.0.1."""

from __future__ import annotations

import csv
import json
import signal
import socket
import subprocess
import sys
import time

from helpers import ALL_CASES_MIX, write_lab_config

from scanner.lab.process import LabProcess
from scanner.lab.truth import compare

TEN_THOUSAND = ["198.18.0.0/19", "198.18.32.0/21"]  # 10,240 addresses


def test_lossy_server_every_verdict_still_equals_the_ground_truth(tmp_path):
    # Without the lab's permanently SERVFAILing names: with ten retries and back-off
    # capped at 8 s, each would hold a worker for half a minute. (The two-resolver
    # test below and the retry unit tests cover them.)
    mix = {case: weight for case, weight in ALL_CASES_MIX.items() if case != "servfail"}
    config = write_lab_config(tmp_path / "lab.yaml", TEN_THOUSAND, mix)
    truth, out, summary = tmp_path / "truth.csv", tmp_path / "r.csv", tmp_path / "s.json"
    faults = ["--drop", "0.2", "--servfail", "0.05", "--seed", "11"]
    lab = LabProcess(["--config", str(config), "--truth", str(truth), *faults]).start()
    try:
        scan = subprocess.run(
            [sys.executable, "-m", "scanner", "scan", *TEN_THOUSAND, "--resolver", lab.address,
             "--rate", "0", "--timeout", "0.5", "--retries", "10",
             "-o", str(out), "--summary", str(summary)],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    finally:
        counters = lab.stop()
    assert scan.returncode == 0, scan.stderr
    comparison = compare(str(out), str(truth))
    assert comparison.ok, comparison.as_text()
    stats = json.loads(summary.read_text())
    assert stats["counts"]["timeout"] == 0
    dropped = int(counters.split("dropped=")[1].split()[0])
    servfails = int(counters.split("servfail=")[1].split()[0])
    assert dropped > 3000 and servfails > 500  # the faults really happened
    # Every query sent reached the lab; every lost or SERVFAILed answer cost one
    # more query, a retry or a hedge (a copy sent before the timeout). Hedges of
    # queries that were merely slow (this lab server pauses, the more so on a
    # busy machine: 5.4% of the queries in one CI run) stay within the design's
    # cap, a tenth of the window at once.
    pool = stats["resolver_pool"]
    assert stats["attempts"] == pool["attempts"]  # the rows and the retry layer agree
    assert stats["attempts"] == stats["queries"] + pool["retries"] + pool["hedges"]
    sent = pool["attempts"] + pool["health_checks"] + stats["probe_queries"]
    assert int(counters.split("udp=")[1].split()[0]) == sent
    resent = pool["retries"] + pool["hedges"]
    faults = dropped + servfails  # the probe's own lost queries are not sent again
    assert faults - stats["probe_queries"] <= resent <= faults + 0.1 * stats["queries"]
    assert "retries:" in scan.stderr


def _outage(lab: LabProcess, kind: str, seconds: float) -> LabProcess:
    """Stop the only resolver for `seconds`, then bring it back; returns the running lab."""
    if kind == "pause":
        lab.process.send_signal(signal.SIGSTOP)
        time.sleep(seconds)  # the outage itself, not a wait for something to happen
        lab.process.send_signal(signal.SIGCONT)
        return lab
    port = lab.port
    command = lab.command[4:]
    lab.stop()
    time.sleep(seconds)
    return LabProcess([*command, "--port", str(port)]).start()


def test_only_resolver_stopped_mid_scan_no_row_lost_no_false_no_ptr(tmp_path):
    config = write_lab_config(tmp_path / "lab.yaml", ["198.18.0.0/21"])
    truth = tmp_path / "truth.csv"
    expected = {row["ip"]: row for row in _truth_rows(config, truth)}
    for kind in ("pause", "restart"):
        lab = LabProcess(["--config", str(config)]).start()
        try:
            scan = subprocess.Popen(
                [sys.executable, "-m", "scanner", "scan", "198.18.0.0/21",
                 "--resolver", lab.address, "--rate", "0", "--concurrency", "50", "-o", "-"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert scan.stdout is not None and scan.stderr is not None
            head = [scan.stdout.readline() for _ in range(201)]
            lab = _outage(lab, kind, 3.0)
            rest, errors = scan.stdout.read(), scan.stderr.read()
            assert scan.wait(timeout=120) == 0, errors
        finally:
            lab.stop()
        rows = list(csv.DictReader(("".join(head) + rest).splitlines()))
        assert sorted(r["ip"] for r in rows) == sorted(expected), kind  # each IP exactly once
        for row in rows:
            if expected[row["ip"]]["ptr_names"]:
                assert row["status"] != "no_ptr", (kind, row)
        wrong = [r["ip"] for r in rows if r["status"] != expected[r["ip"]]["expected_status"]]
        assert not wrong, (kind, wrong[:5])
        assert "benched" in errors, (kind, errors)


def _truth_rows(config, truth):
    with LabProcess(["--config", str(config), "--truth", str(truth)]):
        pass
    with truth.open() as handle:
        return list(csv.DictReader(handle))


def test_two_resolvers_one_dead_the_dead_one_is_benched(tmp_path):
    config = write_lab_config(tmp_path / "lab.yaml", ["198.18.0.0/22"])
    truth, out, summary = tmp_path / "truth.csv", tmp_path / "r.csv", tmp_path / "s.json"
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as dead,
        LabProcess(["--config", str(config), "--truth", str(truth)]) as lab,
    ):
        dead.bind(("127.0.0.1", 0))
        dead_address = f"127.0.0.1:{dead.getsockname()[1]}"
        scan = subprocess.run(
            [sys.executable, "-m", "scanner", "scan", "198.18.0.0/22", "--resolver", dead_address,
             "--resolver", lab.address, "--rate", "0", "--timeout", "0.5",
             "-o", str(out), "--summary", str(summary)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert scan.returncode == 0, scan.stderr
    comparison = compare(str(out), str(truth))
    assert comparison.ok, comparison.as_text()
    pool = json.loads(summary.read_text())["resolver_pool"]
    resolvers = {r["resolver"]: r for r in pool["resolvers"]}
    assert resolvers[dead_address]["times_benched"] >= 1
    assert resolvers[lab.address]["times_benched"] == 0
    # Once benched, the dead one only gets probes: the first wave of queries aside,
    # the live one does all the work. The first wave lasts until the dead one has
    # been silent for a second and failed a check (so that packet loss never
    # benches a resolver), with up to its window of queries in flight at a time.
    assert resolvers[lab.address]["attempts"] > 3 * resolvers[dead_address]["attempts"]
    assert f"resolver {dead_address}" in scan.stderr and "benched" in scan.stderr
