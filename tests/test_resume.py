"""Nightly-job safety: SIGKILL mid-scan and --resume, atomic outputs, .gz."""

from __future__ import annotations

import csv
import gzip
import ipaddress
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from helpers import fcrdns, write_lab_config

from scanner.lab.process import LabProcess
from scanner.lab.truth import compare

TWELVE_THOUSAND = "198.18.0.0-198.18.46.223"  # 12,000 addresses


def killable_env(tmp_path):
    """A process killed with SIGKILL cannot remove its private resolv.conf (the
    next run does): keep those in the test's own directory, not in /tmp."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp_path / "tmp")}


def start_scan(lab, out_csv, out_jsonl, *extra):
    out_xlsx = out_csv.with_suffix(".xlsx")
    return subprocess.Popen(
        [sys.executable, "-m", "scanner", "scan", TWELVE_THOUSAND, "--resolver", lab.address,
         "--rate", "0", "--resume", "-o", str(out_csv), "-o", str(out_jsonl),
         "-o", str(out_xlsx), "-o", "-", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=killable_env(out_csv.parent),
    )  # fmt: skip


def _commits(journal: Path) -> int:
    """Commit lines in a scan's journal (0 if there is none yet)."""
    if not journal.exists():
        return 0
    return sum(line.startswith('{"p":') for line in journal.read_text().splitlines())


def test_killed_three_times_and_resumed_every_ip_exactly_once(tmp_path):
    config = write_lab_config(tmp_path / "lab.yaml", ["198.18.0.0/17"])
    truth = tmp_path / "truth.csv"
    out_csv, out_jsonl = tmp_path / "r.csv", tmp_path / "r.jsonl"
    with LabProcess(["--config", str(config), "--truth", str(truth), "--latency", "2"]) as lab:
        # Kill at three different points; the third run uses two worker processes.
        # Held to 1,500 queries a second (about 750 addresses), so that the three
        # together, each running on to its first commit, leave rows to resume.
        kills = ((2000, ()), (2500, ()), (3000, ("--workers", "2")))
        for rows_before_kill, extra in kills:
            extra = ("--rate", "1500", *extra)
            journal = tmp_path / "r.csv.journal"
            commits = _commits(journal)
            scan = start_scan(lab, out_csv, out_jsonl, *extra)
            assert scan.stdout is not None
            for _ in range(rows_before_kill + 1):  # header + rows streamed
                assert scan.stdout.readline()
            # The kill must find something to resume: a commit of this run (one a
            # second). The lab serves faster than the rows reach their count then.
            while _commits(journal) == commits:
                assert scan.stdout.readline(), "the scan ended before its first commit"
            scan.send_signal(signal.SIGKILL)
            scan.wait(timeout=30)
            assert not out_csv.exists()  # never a half scan under the final name
            assert (tmp_path / "r.csv.partial").exists()
        final = start_scan(lab, out_csv, out_jsonl)
        _, errors = final.communicate(timeout=300)
    assert final.returncode == 0, errors
    assert "more were done before --resume" in errors
    rows = list(csv.DictReader(out_csv.open()))
    ips = [row["ip"] for row in rows]
    assert len(ips) == len(set(ips)) == 12_000
    expected = {row["ip"]: row for row in csv.DictReader(truth.open())}
    assert all(row["status"] == expected[row["ip"]]["expected_status"] for row in rows)
    jsonl_ips = [json.loads(line)["ip"] for line in out_jsonl.read_text().splitlines()]
    assert sorted(jsonl_ips) == sorted(ips)
    # The workbook holds the same rows, in address order.
    sheet = openpyxl.load_workbook(tmp_path / "r.xlsx", read_only=True).worksheets[0]
    in_address_order = sorted(ips, key=lambda ip: (":" in ip, ipaddress.ip_address(ip)))
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == in_address_order
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob("*.journal"))
    # The killed runs' private resolv.conf files, removed by the run after them.
    assert list((tmp_path / "tmp").iterdir()) == []


def test_changed_inputs_are_refused_on_resume(small_lab, tmp_path):
    lab, _ = small_lab
    out = tmp_path / "r.csv"
    scan = subprocess.Popen(
        [sys.executable, "-m", "scanner", "scan", "198.18.0.0/24", "--resolver", lab.address,
         "--rate", "0", "--concurrency", "2", "-o", str(out), "-o", "-"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=killable_env(tmp_path),
    )  # fmt: skip
    assert scan.stdout is not None
    for _ in range(11):
        scan.stdout.readline()
    scan.send_signal(signal.SIGKILL)
    scan.wait(timeout=30)
    again = fcrdns("scan", "198.18.0.0/24", "--resolver", lab.address, "-o", str(out))
    assert again.returncode == 2 and "add --resume" in again.stderr
    changed = fcrdns("scan", "198.18.0.0/25", "--resume", "--resolver", lab.address,
                     "-o", str(out))  # fmt: skip
    assert changed.returncode == 2 and "differ from the interrupted scan" in changed.stderr
    reordered = fcrdns("scan", "198.18.0.0/24", "--resume", "--seed", "9",
                       "--resolver", lab.address, "-o", str(out))  # fmt: skip
    assert reordered.returncode == 2 and "differ from the interrupted scan" in reordered.stderr
    # A journal from a version whose scan order differed cannot be resumed.
    journal = tmp_path / "r.csv.journal"
    saved = journal.read_text()
    header, rest = saved.split("\n", 1)
    journal.write_text(json.dumps({**json.loads(header), "version": 1}) + "\n" + rest)
    older = fcrdns("scan", "198.18.0.0/24", "--resume", "--resolver", lab.address,
                   "-o", str(out))  # fmt: skip
    assert older.returncode == 2 and "another version of fcrdns-scanner" in older.stderr
    journal.write_text(saved)
    resumed = fcrdns("scan", "198.18.0.0/24", "--resume", "--rate", "0",
                     "--resolver", lab.address, "-o", str(out))  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    rows = list(csv.DictReader(out.open()))
    assert sorted(row["ip"] for row in rows) == sorted(f"198.18.0.{n}" for n in range(256))


def test_gz_outputs_are_compressed_when_complete(small_lab, tmp_path):
    lab, truth = small_lab
    out = tmp_path / "r.csv.gz"
    scan = fcrdns("scan", "198.18.0.0/24", "2001:db8:5::/124", "--resolver", lab.address,
                  "--rate", "0", "-o", str(out))  # fmt: skip
    assert scan.returncode == 0, scan.stderr
    with gzip.open(out, "rt") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 272
    comparison = compare(str(out), str(truth))
    assert comparison.ok, comparison.as_text()
    # The gzip header names the file inside as gunzip would restore it.
    header = out.read_bytes()[:100]
    assert header[3] & 0x08 and header[10:].split(b"\0")[0] == b"r.csv"


@pytest.mark.lab
def test_disk_full_then_resumed_every_ip_exactly_once(small_lab, tmp_path):
    """The output's file system fills up mid-scan: exit 3 with the way out, then --resume.

    A 32 KiB tmpfs, mounted in a private mount namespace (so only this test sees
    it), holds about 100 of the 272 rows; it is then grown and the same command
    resumes.
    """
    lab, truth = small_lab
    disk = tmp_path / "disk"
    disk.mkdir()
    out = disk / "r.csv"
    scan = [sys.executable, "-m", "scanner", "scan", "198.18.0.0/24", "2001:db8:5::/124",
            "--resolver", lab.address, "--rate", "0", "-o", str(out), "--quiet"]  # fmt: skip
    script = "\n".join([
        f"mount -t tmpfs -o size=32k tmpfs {disk}",
        f"{subprocess.list2cmdline(scan)} 2> {tmp_path}/first.err; echo $? > {tmp_path}/first.rc",
        f"cp {disk}/* {tmp_path}/ 2>/dev/null",  # what the full disk held
        f"mount -o remount,size=8m {disk}",
        f"{subprocess.list2cmdline([*scan, '--resume'])}; echo $? > {tmp_path}/second.rc",
        f"cp {out} {tmp_path}/final.csv",
    ])  # fmt: skip
    subprocess.run(["unshare", "--mount", "sh", "-c", script], check=True, timeout=300)
    first_errors = (tmp_path / "first.err").read_text()
    assert (tmp_path / "first.rc").read_text().strip() == "3", first_errors
    assert "No space left on device" in first_errors and "with --resume" in first_errors
    assert "Traceback" not in first_errors
    assert (tmp_path / "r.csv.journal").exists() and not (tmp_path / "r.csv").exists()
    assert (tmp_path / "second.rc").read_text().strip() in ("0", "1")
    rows = list(csv.DictReader((tmp_path / "final.csv").open()))
    ips = [row["ip"] for row in rows]
    assert len(ips) == len(set(ips)) == 272
    comparison = compare(str(tmp_path / "final.csv"), str(truth))
    assert comparison.matching == comparison.expected == 272


def test_the_readmes_cron_job_counts_every_row_of_the_finished_file(tmp_path):
    """docs/nightly.md's command, interrupted and resumed: its exit code, metrics
    and summary describe the whole finished file, not only the resumed part."""
    from prometheus_client.parser import text_string_to_metric_families

    config = write_lab_config(tmp_path / "lab.yaml", ["198.18.0.0/21"])
    provider = tmp_path / "provider.txt"
    provider.write_text("198.18.0.0/21\n")
    tonight, metrics, summary = (
        tmp_path / "tonight.csv.gz",
        tmp_path / "m.prom",
        tmp_path / "s.json",
    )
    cron = [sys.executable, "-m", "scanner", "scan", "-f", str(provider), "--resume",
            "-o", str(tonight), "--metrics", str(metrics), "--fail-on", "mismatch,no_forward",
            "--summary", str(summary), "--rate", "0", "-q", "--helo", "mail.example"]  # fmt: skip
    with LabProcess(["--config", str(config), "--latency", "2"]) as lab:
        # Tonight's run is cut short (stdout shows the rows as they come; it is
        # not a file, so it does not change what --resume expects).
        first = subprocess.Popen(
            [*cron, "--resolver", lab.address, "-o", "-"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert first.stdout is not None
        for _ in range(1 + 800):
            assert first.stdout.readline()
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
        assert first.returncode == 130
        assert not tonight.exists()
        second = subprocess.run([*cron, "--resolver", lab.address], capture_output=True,
                                text=True, timeout=120, check=False)  # fmt: skip
    with gzip.open(tonight, "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len({row["ip"] for row in rows}) == 2048
    in_file = {status: sum(row["status"] == status for row in rows) for status in
               ("pass", "mismatch", "no_ptr", "ptr_nodata", "no_forward")}  # fmt: skip
    assert in_file["mismatch"] > 0
    assert second.returncode == 1, second.stderr  # findings, counted over the whole file
    stats = json.loads(summary.read_text())
    assert stats["rows"] == 2048 and 0 < stats["resumed"] < 2048
    assert stats["scanned"] + stats["resumed"] == 2048
    assert {status: stats["counts"][status] for status in in_file} == in_file
    # No row confirms the HELO name: every one counts, before and after the interruption.
    assert stats["findings"]["expected_mismatch"] == 2048
    generic = sum(row["generic_ptr"] == "yes" for row in rows)
    assert 0 < generic == stats["findings"]["generic_ptr"]
    gauges = {
        sample.labels["status"]: sample.value
        for family in text_string_to_metric_families(metrics.read_text())
        if family.name == "fcrdns_ips"
        for sample in family.samples
    }
    assert {status: int(gauges[status]) for status in in_file} == in_file
    diff = fcrdns("diff", str(tonight), str(tonight), "-o", str(tmp_path / "changes.csv"))
    assert diff.returncode == 0, diff.stderr


def test_a_worker_killed_mid_scan_is_exit_3_and_resume_completes_it(tmp_path):
    config = write_lab_config(tmp_path / "lab.yaml", ["198.18.0.0/18"])
    out = tmp_path / "r.csv"
    scan = [sys.executable, "-m", "scanner", "scan", "198.18.0.0/18", "--rate", "0",
            "--workers", "2", "--resume", "-q", "-o", str(out)]  # fmt: skip
    with LabProcess(["--config", str(config), "--latency", "2"]) as lab:
        first = subprocess.Popen(
            [*scan, "--resolver", lab.address, "-o", "-"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=killable_env(tmp_path),
        )  # fmt: skip
        assert first.stdout is not None
        for _ in range(1 + 2000):  # rows are flowing from both workers
            assert first.stdout.readline()
        children = Path(f"/proc/{first.pid}/task/{first.pid}/children").read_text().split()
        assert len(children) == 2
        os.kill(int(children[0]), signal.SIGKILL)
        _, errors = first.communicate(timeout=120)
        assert first.returncode == 3, errors
        assert "Traceback" not in errors and "--resume" in errors
        assert not out.exists()
        with (tmp_path / "r.csv.partial").open(encoding="utf-8", newline="") as handle:
            partial = list(csv.reader(handle))
        assert all(len(row) == len(partial[0]) for row in partial)  # every row whole
        second = subprocess.run([*scan, "--resolver", lab.address], capture_output=True,
                                text=True, timeout=300, check=False)  # fmt: skip
    assert second.returncode == 0, second.stderr
    ips = [row["ip"] for row in csv.DictReader(out.open(encoding="utf-8"))]
    assert len(ips) == len(set(ips)) == 2**14
