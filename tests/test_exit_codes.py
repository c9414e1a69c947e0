"""One meaning per exit code: 0 done, 1 findings, 2 usage, 3 could not complete, 130 interrupted.

And a resolver that cannot serve the scan is noticed in seconds, before
anything is written; one that goes silent mid-scan stops it with resumable
outputs instead of letting it crawl.
"""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from helpers import fcrdns, write_lab_config

from scanner.commands import cli
from scanner.lab.process import LabProcess


def test_nothing_listening_on_the_resolvers_port_stops_the_scan_at_once(tmp_path):
    started = time.monotonic()
    scan = fcrdns(
        "scan", "192.0.2.0/24", "--resolver", "127.0.0.1:9", "-o", str(tmp_path / "r.csv")
    )
    assert time.monotonic() - started < 10
    assert scan.returncode == 3, scan.stderr
    assert "no resolver can serve this scan, so nothing was scanned" in scan.stderr
    assert "127.0.0.1:9: no answer to 8 PTR queries" in scan.stderr
    assert list(tmp_path.iterdir()) == []  # no output, no .partial, no journal


def test_a_resolver_that_refuses_every_question_stops_the_scan(small_lab, tmp_path):
    lab, _ = small_lab  # serves 198.18.0.0/24 and refuses everything else
    scan = fcrdns(
        "scan", "203.0.113.0/24", "--resolver", lab.address, "-o", str(tmp_path / "r.csv")
    )
    assert scan.returncode == 3, scan.stderr
    assert "REFUSED all 8 PTR queries" in scan.stderr
    assert not (tmp_path / "r.csv").exists() and not (tmp_path / "r.csv.partial").exists()


def test_an_authoritative_server_refusing_part_of_the_range_is_a_per_row_answer(
    small_lab, tmp_path
):
    lab, _ = small_lab
    out = tmp_path / "r.csv"
    scan = fcrdns("scan", "203.0.113.0/26", "198.18.0.0/26", "--resolver", lab.address,
                  "--rate", "0", "-q", "-o", str(out))  # fmt: skip
    assert scan.returncode == 0, scan.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    refused = [row for row in rows if row["status"] == "refused"]
    assert len(rows) == 128 and len(refused) == 64
    assert all(row["attempts"] == "2" for row in refused)  # asked once more, not five times
    assert {row["status"] for row in rows if row["ip"].startswith("198.18.")} != {"refused"}


def test_resolvers_silent_mid_scan_stop_it_with_resumable_outputs(tmp_path):
    config = write_lab_config(tmp_path / "lab.yaml", ["198.18.0.0/20"])
    settings = tmp_path / "scan.yaml"
    settings.write_text("give_up_after: 3\nrate: 0\nworkers: 1\n")
    out = tmp_path / "r.csv"
    command = [sys.executable, "-m", "scanner", "scan", "198.18.0.0/20", "--config",
               str(settings), "-q", "-o", str(out), "-o", "-"]  # fmt: skip
    with LabProcess(["--config", str(config), "--latency", "2"]) as lab:
        scan = subprocess.Popen(
            [*command, "--resolver", lab.address],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert scan.stdout is not None
        for _ in range(500):  # rows are coming: the lab answers
            assert scan.stdout.readline()
    # The lab is gone (its port closed): nothing answers any more.
    stopped = time.monotonic()
    _, errors = scan.communicate(timeout=120)
    assert scan.returncode == 3, errors
    assert time.monotonic() - stopped < 60
    assert "no resolver has answered anything for" in errors and "--resume" in errors
    assert "Traceback" not in errors
    assert not out.exists() and (tmp_path / "r.csv.partial").exists()
    with LabProcess(["--config", str(config)]) as lab:
        resumed = subprocess.run(
            [*command[:-2], "--resolver", lab.address, "--resume"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    ips = [row["ip"] for row in csv.DictReader(out.open(encoding="utf-8"))]
    assert len(ips) == len(set(ips)) == 4096


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--timeout", "inf"], "timeout: expected seconds > 0, got inf"),
        (["--timeout", "nan"], "timeout: expected seconds > 0, got nan"),
        (["--timeout", "1e9"], "timeout: expected seconds > 0 and at most 300"),
        (["--rate", "nan"], "rate: expected 'auto' or queries per second >= 0, got nan"),
        (["--max-rate", "inf"], "max_rate: expected queries per second >= 0, got inf"),
        (["--retries", "1000"], "retries: at most 100, got 1,000"),
    ],
)
def test_every_numeric_option_is_checked_before_anything_starts(tmp_path, option, message):
    scan = fcrdns("scan", "192.0.2.1", "--resolver", "127.0.0.1:9", "-o", str(tmp_path / "r.csv"),
                  *option)  # fmt: skip
    assert scan.returncode == 2 and message in scan.stderr, scan.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_closed_stdout_ends_the_scan_quietly(small_lab, tmp_path):
    lab, _ = small_lab
    scan = subprocess.Popen(
        [sys.executable, "-m", "scanner", "scan", "198.18.0.0/24", "--resolver", lab.address,
         "--rate", "50", "-q", "-o", "-", "-o", str(tmp_path / "r.csv")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert scan.stdout is not None and scan.stderr is not None
    assert scan.stdout.readline().startswith("ip,")  # as `| head -1` reads
    scan.stdout.close()
    errors = scan.stderr.read()
    assert scan.wait(timeout=60) == 3
    assert "Traceback" not in errors and "Broken pipe" not in errors, errors
    assert "with --resume" in errors  # the file output is resumable
    assert (tmp_path / "r.csv.partial").exists() and not (tmp_path / "r.csv").exists()


def test_a_bug_is_exit_3_with_one_line_and_the_traceback_in_a_file(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def broken(args):
        raise ZeroDivisionError("division by zero\x1b[2J")

    monkeypatch.setattr(cli, "_run_diff", broken)  # looked up when the parser is built
    assert cli.main(["diff", "a.csv", "b.csv"]) == 3
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "unexpected ZeroDivisionError" in error
    assert "\x1b" not in error  # nothing raw reaches the terminal
    logs = list(tmp_path.glob("fcrdns-diff-crash-*.log"))
    assert len(logs) == 1 and "Traceback" in logs[0].read_text()
    assert str(logs[0]) in error


def test_a_device_output_needs_no_format(small_lab):
    lab, _ = small_lab
    scan = fcrdns("scan", "198.18.0.0/29", "--resolver", lab.address, "-q", "-o", "/dev/null")
    assert scan.returncode == 0, scan.stderr


def test_the_lab_on_a_busy_port_writes_no_truth_file(small_lab, tmp_path):
    lab, _ = small_lab
    port = lab.address.rsplit(":", 1)[1]
    busy = fcrdns("lab", "--port", port, "--truth", str(tmp_path / "t.csv"))
    assert busy.returncode == 2 and "cannot listen" in busy.stderr, busy.stderr
    assert not (tmp_path / "t.csv").exists()


def test_a_sigterm_before_the_scan_starts_is_an_interruption(tmp_path):
    # Reading targets from a pipe that stays open: the scan is still starting.
    process = subprocess.Popen(
        [sys.executable, "-m", "scanner", "scan", "-f", "-", "--resolver", "127.0.0.1:9"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdin is not None
    process.stdin.write("192.0.2.1\n")
    process.stdin.flush()
    while not _catches(process.pid, signal.SIGTERM):  # the command line has taken over
        assert process.poll() is None
    process.terminate()
    _, errors = process.communicate(timeout=30)
    assert process.returncode == 130, errors
    assert "Traceback" not in errors


def _catches(pid: int, signum: int) -> bool:
    """Whether the process has a handler for `signum` (its SigCgt mask in /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(
        next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16
    )
    return bool(caught >> (signum - 1) & 1)


@pytest.mark.parametrize(
    ("fail_on", "extra", "code"),
    [
        ("transient", [], 1),  # the lab's servfail case
        ("generic_ptr", [], 1),
        ("expected_mismatch", ["--helo", "mail.example"], 1),
        ("expected_mismatch", [], 0),  # no expectation, no mismatch
        ("no_such_thing", [], 2),
    ],
)
def test_fail_on_takes_findings_as_well_as_statuses(small_lab, tmp_path, fail_on, extra, code):
    lab, _ = small_lab
    scan = fcrdns("scan", "198.18.0.0/24", "2001:db8:5::/124", "--resolver", lab.address,
                  "--rate", "0", "-q", "-o", str(tmp_path / "r.csv"), "--fail-on", fail_on,
                  *extra)  # fmt: skip
    assert scan.returncode == code, scan.stderr
    if code == 1:
        assert f" {fail_on} (--fail-on)" in scan.stderr
