"""`fcrdns scan PREFIX --walk` against the lab server: the rows, the resume, the bounds.

The lab plants a few hundred addresses in an IPv6 /48 (low and SLAAC-like
interface ids over dozens of /64s, a child zone, a /56 delegated to a server
that never answers). A walk must give every planted address with a reverse
name its true row exactly once, the dead /56 one transient row, and ask
exactly what a perfect walker asks; killed and resumed, the same rows.
"""

from __future__ import annotations

import csv
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from helpers import fcrdns

from scanner.lab.process import LabProcess
from scanner.lab.truth import compare
from scanner.lab.truth import perfect_walk as lab_perfect_walk

PREFIX = ipaddress.ip_network("2001:db8:42::/48")
CHILD = ipaddress.ip_network("2001:db8:42:ee00::/56")
DEAD = ipaddress.ip_network("2001:db8:42:dd00::/56")
# Every column but the ones that say when and how long (and the reason, which a
# walk words with what it knows: compared apart).
TIMING = ("queries", "attempts", "elapsed_ms", "timestamp")


def sparse_lab(tmp_path: Path, planted: int = 300) -> Path:
    config = {
        "seed": 5,
        "networks": [{
            "cidr": str(PREFIX), "sparse": planted, "child_zone": str(CHILD),
            "dead_delegation": str(DEAD),
            "mix": {"confirm": 40, "mismatch": 10, "no_ptr": 10, "ptr_nodata": 3, "dangling": 5,
                    "cname": 4, "wrong_family": 2},
        }],
    }  # fmt: skip
    path = tmp_path / "sparse.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def perfect_walk(truth: Path) -> int:
    return lab_perfect_walk(str(truth), PREFIX, [DEAD])


def rows_of(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_ip = {row["ip"]: row for row in rows}
    assert len(by_ip) == len(rows), "a row twice"
    return by_ip


def without_timing(rows: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {ip: {k: v for k, v in row.items() if k not in TIMING} for ip, row in rows.items()}


def killed_mid_walk(
    lab: LabProcess, out: Path, *, rate: str, lines: int, sig: int = signal.SIGKILL
) -> tuple[int, str]:
    """A walk into `out` at `rate`, sent `sig` once its walk file has `lines` lines;
    its exit code and stderr."""
    walk_file = out.with_name(out.name + ".walk")
    killed = subprocess.Popen(
        [sys.executable, "-m", "scanner", "scan", str(PREFIX), "--walk", "--resolver",
         lab.address, "--rate", rate, "-q", "-o", str(out)],
        cwd=out.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and killed.poll() is None:
        if walk_file.exists() and walk_file.read_text().count("\n") > lines:
            break
        time.sleep(0.05)  # polling a file another process writes
    assert killed.poll() is None, "the walk ended before it could be killed"
    os.kill(killed.pid, sig)
    _, stderr = killed.communicate(timeout=60)
    return killed.returncode, stderr


def walk(lab: LabProcess, out: Path, *more: str, timeout: float = 120):
    return fcrdns(
        "scan", str(PREFIX), "--walk", "--resolver", lab.address, "--rate", "0", "-q",
        "-o", str(out), *more, cwd=out.parent, timeout=timeout,
    )  # fmt: skip


def test_a_walk_gives_every_planted_address_its_true_row_once_and_the_dead_56_one_row(tmp_path):
    truth = tmp_path / "truth.csv"
    out, summary = tmp_path / "walk.csv", tmp_path / "s.json"
    with LabProcess(["--config", str(sparse_lab(tmp_path)), "--truth", str(truth)]) as lab:
        done = walk(lab, out, "--zone-owner", "--summary", str(summary), "--metrics",
                    str(tmp_path / "m.prom"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    # Every address with a reverse name, its true verdict, mail verdicts and zone; nothing else.
    comparison = compare(str(out), str(truth))
    with truth.open(encoding="utf-8", newline="") as handle:
        planted = list(csv.DictReader(handle))
    absent = sorted(row["ip"] for row in planted if row["expected_status"] == "no_ptr")
    assert comparison.wrong == [] and comparison.duplicates == []
    assert comparison.missing == absent and absent  # no reverse name: nothing to find
    assert comparison.unexpected == [str(DEAD)]
    rows = rows_of(out)
    zones = {row["ip"]: row["ptr_zone"] for row in planted}
    assert all(rows[ip]["ptr_zone"] == zones[ip] for ip in rows if ip != str(DEAD))
    assert any(ipaddress.ip_address(ip) in CHILD for ip in rows if ip != str(DEAD))
    assert {zones[ip] for ip in rows if ip != str(DEAD)} >= {"e.e.2.4.0.0.8.b.d.0.1.0.0.2.ip6.arpa"}
    # The dead /56: one transient row saying what failed, and how to walk it again.
    dead = rows[str(DEAD)]
    assert dead["status"] == "refused" and "referral" in dead["error"]
    assert "not walked" in dead["reason"] and "--rescan-failed" in dead["reason"]
    assert dead["timestamp"] > "2026"
    # Exactly what a perfect walker asks, and the counts in every form.
    data = json.loads(summary.read_text())["walk"]
    assert data["names"] == data["names_asked"] == perfect_walk(truth)
    assert data["prefixes_not_walked"] == 1 and data["leaves_found"] == len(rows) - 1
    assert f"fcrdns_walk_names {float(data['names'])}" in (tmp_path / "m.prom").read_text()
    assert not (tmp_path / "walk.csv.walk").exists()  # a finished run leaves no walk file


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_walk_stopped_midway_then_resumed_gives_the_same_rows_each_once(tmp_path, sig):
    truth = tmp_path / "truth.csv"
    reference, out = tmp_path / "reference.csv", tmp_path / "walk.csv"
    walk_file = tmp_path / "walk.csv.walk"
    with LabProcess(["--config", str(sparse_lab(tmp_path)), "--truth", str(truth)]) as lab:
        assert walk(lab, reference).returncode == 0
        # Polite enough to be caught in the middle: killed once a few thousand names are in.
        code, said = killed_mid_walk(lab, out, rate="3000", lines=3000, sig=sig)
        if sig == signal.SIGTERM:  # said so, and the summary of what was walked
            assert code == 130 and "Traceback" not in said and "a bug" not in said
            assert f"the walk so far is in {walk_file};" in said and "--resume" in said
        answered = walk_file.read_text().count("\n") - 1
        assert "complete" not in walk_file.read_text()
        refused = walk(lab, out)
        assert refused.returncode == 2 and "--resume to continue it" in refused.stderr
        resumed = walk(lab, out, "--resume", "--summary", str(tmp_path / "s.json"))
    assert resumed.returncode == 0, resumed.stderr
    data = json.loads((tmp_path / "s.json").read_text())["walk"]
    # No name asked twice beyond the few in flight at the kill; every address once.
    assert data["names"] == perfect_walk(truth)
    assert answered <= data["names"] - data["names_asked"] <= answered + 512
    assert without_timing(rows_of(out)) == without_timing(rows_of(reference))


def test_the_walk_is_bounded_by_max_targets_and_resumes_past_it(tmp_path):
    truth = tmp_path / "truth.csv"
    reference, out = tmp_path / "reference.csv", tmp_path / "walk.csv"
    with LabProcess(["--config", str(sparse_lab(tmp_path, 60)), "--truth", str(truth)]) as lab:
        assert walk(lab, reference).returncode == 0
        stopped = walk(lab, out, "--max-targets", "1000")
        assert stopped.returncode == 3, stopped.stderr
        assert "--max-targets names (1,000 in all)" in stopped.stderr
        assert "--resume and a higher --max-targets" in stopped.stderr
        assert not out.exists() and (tmp_path / "walk.csv.walk").exists()
        again = walk(lab, out, "--resume", "--max-targets", "1000")
        assert again.returncode == 3  # the same bound: nothing more is asked
        resumed = walk(lab, out, "--resume", "--summary", str(tmp_path / "s.json"))
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((tmp_path / "s.json").read_text())["walk"]["names"] == perfect_walk(truth)
    assert without_timing(rows_of(out)) == without_timing(rows_of(reference))


def test_a_prefix_not_walked_is_walked_again_by_rescan_failed_with_walk(tmp_path):
    out, again = tmp_path / "walk.csv", tmp_path / "again.csv"
    with LabProcess(["--config", str(sparse_lab(tmp_path, 40))]) as lab:
        assert walk(lab, out).returncode == 0
        plain = fcrdns("scan", "--rescan-failed", str(out), "--resolver", lab.address, "-q",
                       "-o", str(again), cwd=tmp_path)  # fmt: skip
        assert plain.returncode == 2 and "add --walk to walk them again" in plain.stderr
        assert str(DEAD) in plain.stderr and not again.exists()
        walked = fcrdns("scan", "--rescan-failed", str(out), "--walk", "--resolver",
                        lab.address, "--rate", "0", "-q", "-o", str(again),
                        cwd=tmp_path)  # fmt: skip
    assert walked.returncode == 0, walked.stderr
    assert list(rows_of(again)) == [str(DEAD)]  # the dead /56 is still dead: one row
    # Prefix rows sort, merge and diff like any other.
    merged = fcrdns("merge", str(out), str(again), "-o", str(tmp_path / "merged.csv"))
    assert merged.returncode == 0, merged.stderr
    assert rows_of(tmp_path / "merged.csv").keys() == rows_of(out).keys()
    diff = fcrdns("diff", str(out), str(tmp_path / "merged.csv"))
    assert diff.returncode == 0, diff.stderr


def test_an_edited_walk_file_is_refused_naming_its_line(tmp_path):
    out = tmp_path / "walk.csv"
    walk_file = tmp_path / "walk.csv.walk"
    with LabProcess(["--config", str(sparse_lab(tmp_path, 40))]) as lab:
        killed_mid_walk(lab, out, rate="500", lines=40)
        lines = walk_file.read_text().split("\n")
        lines[3] = "D 2001:db8:42::/47\x1b[2J"
        walk_file.write_text("\n".join(lines))
        refused = walk(lab, out, "--resume")
    assert refused.returncode == 2
    assert "walk.csv.walk:4: not a walk record" in refused.stderr
    assert "\x1b" not in refused.stderr and "Traceback" not in refused.stderr
    # Another walk's file (other prefixes) is refused too, not continued.
    other = fcrdns("scan", "2001:db8:43::/48", "--walk", "--resume", "--resolver", "127.0.0.1:9",
                   "-o", str(out), cwd=tmp_path)  # fmt: skip
    assert other.returncode == 2 and "walk of other prefixes" in other.stderr


def test_a_walk_to_stdout_and_its_dry_run(tmp_path):
    with LabProcess(["--config", str(sparse_lab(tmp_path, 30))]) as lab:
        dry = fcrdns("scan", str(PREFIX), "--walk", "--dry-run", "--resolver", lab.address)
        streamed = fcrdns("scan", str(PREFIX), "--walk", "--resolver", lab.address, "--rate",
                          "0", "-q", "-o", "-", cwd=tmp_path)  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert (
        f"walk the reverse tree below {PREFIX}" in dry.stdout and "nothing was sent" in dry.stdout
    )
    assert streamed.returncode == 0, streamed.stderr
    rows = list(csv.DictReader(streamed.stdout.splitlines()))
    assert str(DEAD) in {row["ip"] for row in rows} and len(rows) > 20
    assert not list(tmp_path.glob("*.walk"))


def test_an_ipv4_walk_skips_what_does_not_exist_and_gives_the_full_scans_rows(tmp_path):
    """198.18.0.0/15, where only 198.18.0.0/16 is served (a /22, a /24 and an RFC 2317
    /26 of it): the same rows as the full scan for the /16, no_ptr rows for the rest,
    few queries."""
    mix = {"confirm": 40, "mismatch": 10, "no_ptr": 12, "ptr_nodata": 3, "dangling": 5, "cname": 4}
    config = {"seed": 3, "parent_zones": ["198.in-addr.arpa"], "networks": [
        {"cidr": "198.18.0.0/22", "mix": mix}, {"cidr": "198.18.40.0/24", "mix": mix},
        {"cidr": "198.18.41.0/26", "mix": mix, "delegated_to": "customer.example"}]}  # fmt: skip
    (tmp_path / "v4.yaml").write_text(yaml.safe_dump(config))
    walked, scanned = tmp_path / "walk.csv", tmp_path / "scan.csv"
    with LabProcess(["--config", str(tmp_path / "v4.yaml")]) as lab:
        walk_run = fcrdns("scan", "198.18.0.0/15", "--walk", "--resolver", lab.address, "--rate",
                          "0", "-q", "-o", str(walked), "--summary", str(tmp_path / "w.json"),
                          cwd=tmp_path)  # fmt: skip
        scan_run = fcrdns("scan", "198.18.0.0/15", "--resolver", lab.address, "--rate", "0",
                          "-q", "-o", str(scanned), "--summary", str(tmp_path / "s.json"),
                          cwd=tmp_path)  # fmt: skip
    assert walk_run.returncode == 0, walk_run.stderr
    assert scan_run.returncode == 0, scan_run.stderr
    words = ("reason", "error")  # the walk says why it did not ask
    walk_rows = {ip: {k: v for k, v in row.items() if k not in words}
                 for ip, row in without_timing(rows_of(walked)).items()}  # fmt: skip
    scan_rows = {ip: {k: v for k, v in row.items() if k not in words}
                 for ip, row in without_timing(rows_of(scanned)).items()}  # fmt: skip
    assert walk_rows == scan_rows and len(walk_rows) == 2**17  # every address, each once
    served = ipaddress.ip_network("198.18.0.0/16")
    rows = rows_of(walked)
    for ip in ("198.19.3.4", "198.18.9.4"):  # no /16 name; no /24 name
        assert ipaddress.ip_address(ip) in served or rows[ip]["status"] == "no_ptr"
        assert "does not exist, nor any name below it" in rows[ip]["reason"]
    assert "19.198.in-addr.arpa does not exist" in rows["198.19.3.4"]["reason"]
    assert "9.18.198.in-addr.arpa does not exist" in rows["198.18.9.4"]["reason"]
    walk_summary = json.loads((tmp_path / "w.json").read_text())
    scan_summary = json.loads((tmp_path / "s.json").read_text())
    # Two /16 names, the /16's 256 /24 names; then only the six /24s that exist.
    assert walk_summary["walk"]["names"] == 2 + 256
    assert walk_summary["walk"]["addresses_not_asked"] == 2**17 - 6 * 256
    # The RFC 2317 /26: its PTRs reached through the /24's CNAMEs, as in the scan.
    assert sum(1 for n in range(64) if rows[f"198.18.41.{n}"]["status"] == "pass") > 10
    asked = walk_summary["queries"] + walk_summary["walk"]["names"]
    assert asked * 20 < scan_summary["queries"], (asked, scan_summary["queries"])
