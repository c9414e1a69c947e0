"""End to end against the lab DNS server on 127.0.0.1: `fcrdns scan` in a child process
where the process matters (exit codes, signals, files, stdout), the library API in
this process where only the rows' logic does."""

from __future__ import annotations

import csv
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import api_scan, fcrdns, write_lab_config

from scanner.core.exits import UserError
from scanner.core.rows import CSV_COLUMNS
from scanner.lab.process import LabProcess
from scanner.lab.truth import compare

V4_RANGES = ["198.18.0.0/20", "198.18.32.0/22"]  # 5,120 addresses
V6_RANGE = "2001:db8:2::/118"  # 1,024 addresses, reverse zone cut at /116


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_large_scan_matches_the_ground_truth_exactly(tmp_path):
    config = write_lab_config(tmp_path / "lab.yaml", [*V4_RANGES, V6_RANGE])
    truth = tmp_path / "truth.csv"
    out_csv, out_jsonl, summary = tmp_path / "r.csv", tmp_path / "r.jsonl", tmp_path / "s.json"
    with LabProcess(["--config", str(config), "--truth", str(truth)]) as lab:
        scan = fcrdns(
            "scan",
            *V4_RANGES,
            V6_RANGE,
            "--resolver",
            lab.address,
            "-o",
            str(out_csv),
            "-o",
            str(out_jsonl),
            "--summary",
            str(summary),
        )
    assert scan.returncode == 0, scan.stderr
    for path in (out_csv, out_jsonl):
        comparison = compare(str(path), str(truth))
        assert comparison.expected == 5_120 + 1_024
        assert comparison.ok, comparison.as_text()
    counts = json.loads(summary.read_text())["counts"]
    expected = {}
    for row in read_csv(truth):
        expected[row["expected_status"]] = expected.get(row["expected_status"], 0) + 1
    assert {k: v for k, v in counts.items() if v} == expected
    assert "scan complete: 6,144 of 6,144 addresses" in scan.stderr


def test_csv_output_is_well_formed_and_documented(small_lab, tmp_path):
    lab, _ = small_lab
    out = tmp_path / "r.csv"
    scan = fcrdns("scan", "198.18.0.0/24", "--resolver", lab.address, "--rate", "0", "-o", str(out))
    assert scan.returncode == 0, scan.stderr
    raw = out.read_bytes()
    raw.decode("utf-8")  # valid UTF-8
    rows = list(csv.reader(raw.decode().splitlines()))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert all(len(row) == len(CSV_COLUMNS) for row in rows[1:])
    assert len(rows) == 257
    readme = (Path(__file__).parent.parent / "docs" / "columns.md").read_text()
    for column in CSV_COLUMNS:
        assert f"`{column}`" in readme, f"column {column} is not documented in docs/columns.md"


def test_truncated_answers_are_retried_over_tcp(tmp_path):
    config = write_lab_config(tmp_path / "lab.yaml", ["198.18.0.0/24"])
    truth = tmp_path / "truth.csv"
    out = tmp_path / "r.jsonl"
    lab = LabProcess(["--config", str(config), "--truth", str(truth), "--truncate", "1"]).start()
    try:
        scan = fcrdns(
            "scan", "198.18.0.0/24", "--resolver", lab.address, "--rate", "0", "-o", str(out)
        )
    finally:
        counters = lab.stop()
    assert scan.returncode == 0, scan.stderr
    comparison = compare(str(out), str(truth))
    assert comparison.ok, comparison.as_text()
    # Every UDP answer was truncated, so every answer used came over TCP. (A retry
    # of a query that timed out meanwhile asks over UDP again, so there can be a
    # few more UDP queries than TCP ones.)
    udp = int(counters.split("udp=")[1].split()[0])
    tcp = int(counters.split("tcp=")[1].split()[0])
    truncated = int(counters.split("truncated=")[1].split()[0])
    assert truncated == udp > 0
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert tcp >= len(results) + sum(len(result["forward"]) for result in results)


def test_a_resolver_that_never_answers_stops_the_scan_and_claims_nothing(tmp_path):
    """Silence is never "no PTR": a resolver that answers nothing stops the scan
    before a row is written (exit 3). Rows of addresses whose queries alone go
    unanswered are `timeout` (tests/test_wan.py, a silent /24 over a lossy path)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        out = tmp_path / "r.csv"
        scan = fcrdns(
            *f"scan 198.18.0.0/29 --resolver 127.0.0.1:{port} -o {out}".split(),
            *["--timeout", "0.2", "--retries", "1", "--rate", "0"],
        )
    assert scan.returncode == 3, scan.stderr
    assert f"127.0.0.1:{port}: no answer to 16 PTR queries" in scan.stderr  # 8 twice
    assert list(tmp_path.iterdir()) == []


def test_invalid_target_line_exits_2_with_the_line_number_and_writes_nothing(tmp_path):
    targets = tmp_path / "targets.txt"
    targets.write_text("# provider A\n198.18.0.0/24\n\n198.18.1.0/33\n198.18.2.1\n")
    out = tmp_path / "r.csv"
    # The resolver is a closed port: the scan must stop before sending anything.
    scan = fcrdns("scan", "-f", str(targets), "--resolver", "127.0.0.1:9", "-o", str(out))
    assert scan.returncode == 2
    assert f"{targets}:4: not a CIDR block: '198.18.1.0/33'" in scan.stderr
    assert "Traceback" not in scan.stderr
    assert not out.exists() and scan.stdout == ""


def test_invalid_stdin_and_argument_errors(tmp_path):
    scan = fcrdns("scan", "-f", "-", "--resolver", "127.0.0.1:9", stdin="198.18.0.1\nnope\n")
    assert scan.returncode == 2 and "stdin:2: not an IP address: 'nope'" in scan.stderr
    scan = fcrdns("scan", "198.18.0.1", "--exclude", "x", "--resolver", "127.0.0.1:9")
    assert scan.returncode == 2 and "exclusion 'x'" in scan.stderr
    scan = fcrdns("scan", "2001:db8::/64", "--resolver", "127.0.0.1:9")
    assert scan.returncode == 2 and "more than the limit" in scan.stderr
    scan = fcrdns(
        "scan", "198.18.0.0/30", "--exclude", "198.18.0.0/29", "--resolver", "127.0.0.1:9"
    )
    assert scan.returncode == 2 and "exclusions cover every address" in scan.stderr
    scan = fcrdns("scan", "198.18.0.1", "--resolver", "resolver.example")
    assert scan.returncode == 2 and "bad resolver 'resolver.example'" in scan.stderr
    scan = fcrdns("scan", "198.18.0.1", "-o", str(tmp_path / "r.txt"), "--resolver", "127.0.0.1:9")
    assert scan.returncode == 2 and "cannot tell the format" in scan.stderr
    scan = fcrdns(
        "scan", "198.18.0.1", "-o", str(tmp_path / "no" / "r.csv"), "--resolver", "127.0.0.1:9"
    )
    assert scan.returncode == 2 and "cannot open output" in scan.stderr
    assert "Traceback" not in scan.stderr


def test_outputs_that_are_not_regular_files_are_written_in_place(small_lab, tmp_path):
    """A FIFO (like /dev/null, a device) gets the rows directly.

    Writing `.partial` beside it and renaming would replace the pipe or device
    with a regular file (as root, /dev/null itself); no journal goes beside it.
    """
    import os
    import threading

    lab, _ = small_lab
    fifo = tmp_path / "rows.csv"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()), daemon=True)
    reader.start()
    scan = fcrdns("scan", "198.18.0.0/26", "--resolver", lab.address, "--rate", "0",
                  "-o", str(fifo), "--quiet")  # fmt: skip
    reader.join(timeout=60)
    assert scan.returncode in (0, 1), scan.stderr
    assert fifo.is_fifo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab.yaml", "rows.csv", "truth.csv"]
    rows = list(csv.DictReader(received[0].splitlines()))
    assert sorted(r["ip"] for r in rows) == sorted(f"198.18.0.{i}" for i in range(64))
    resume = fcrdns("scan", "198.18.0.1", "--resolver", lab.address, "-o", str(fifo), "--resume")
    assert resume.returncode == 2 and "not only streams" in resume.stderr


def test_lists_and_results_saved_with_a_byte_order_mark_are_read(small_lab, tmp_path):
    """Spreadsheet programs and Windows editors start UTF-8 files with a BOM."""
    lab, _ = small_lab
    hosts = tmp_path / "hosts.txt"
    hosts.write_bytes(b"\xef\xbb\xbf198.18.0.1\r\n198.18.0.2\r\n")
    old = tmp_path / "old.csv"
    old.write_bytes(b"\xef\xbb\xbfip,status\r\n198.18.0.3,timeout\r\n")
    for source in (["-f", str(hosts)], ["--rescan-failed", str(old)]):
        scan = fcrdns("scan", *source, "--resolver", lab.address, "--quiet")
        assert scan.returncode == 0, scan.stderr
        ips = sorted(row["ip"] for row in csv.DictReader(scan.stdout.splitlines()))
        assert ips == (["198.18.0.1", "198.18.0.2"] if "-f" in source else ["198.18.0.3"])


def test_an_output_given_twice_or_over_an_input_is_refused(tmp_path):
    """Nothing is written: not the duplicate, not over the hosts list or old results."""
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("198.18.0.1\n")
    old = tmp_path / "old.csv"
    old.write_text("ip,status\n198.18.0.1,timeout\n")
    out = tmp_path / "r.csv"
    cases = [
        (["198.18.0.1", "-o", str(out), "-o", f"{tmp_path}/./r.csv"], "already an output (-o "),
        (["198.18.0.1", "-o", str(out), "--metrics", str(out)], "already an output"),
        (["-f", str(hosts), "-o", str(hosts)], "would overwrite the input -f"),
        (
            ["--rescan-failed", str(old), "-o", str(old)],
            "would overwrite the input --rescan-failed",
        ),
        # Written only after the scan: checked before it starts.
        (["198.18.0.1", "-o", str(out), "--metrics", f"{tmp_path}/no/m.prom"], "no directory"),
        (["198.18.0.1", "-o", str(out), "--summary", str(tmp_path)], "is a directory"),
    ]
    for args, message in cases:
        scan = fcrdns("scan", *args, "--resolver", "127.0.0.1:9")
        assert scan.returncode == 2 and message in scan.stderr, (args, scan.stderr)
        assert "Traceback" not in scan.stderr
    assert hosts.read_text() == "198.18.0.1\n"
    assert old.read_text() == "ip,status\n198.18.0.1,timeout\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hosts.txt", "old.csv"]


def test_directory_or_compressed_stream_output_is_refused_before_scanning(tmp_path):
    scan = fcrdns("scan", "198.18.0.1", "-o", str(tmp_path), "--format", "csv",
                  "--resolver", "127.0.0.1:9")  # fmt: skip
    assert scan.returncode == 2 and "is a directory" in scan.stderr
    import os

    os.mkfifo(tmp_path / "pipe.csv.gz")
    scan = fcrdns("scan", "198.18.0.1", "-o", str(tmp_path / "pipe.csv.gz"),
                  "--resolver", "127.0.0.1:9")  # fmt: skip
    assert scan.returncode == 2 and "must be a regular file" in scan.stderr
    assert "Traceback" not in scan.stderr


def interrupt_after_100_rows(tmp_path, *options):
    """Scan a slow lab /20 to stdout and a JSONL file; SIGINT after 100 rows are out.

    Returns the exit code, the CSV rows from stdout, the IPs in the file and stderr.
    """
    config = write_lab_config(tmp_path / "lab.yaml", ["198.18.0.0/20"])
    jsonl = tmp_path / "r.jsonl"
    with LabProcess(["--config", str(config), "--latency", "20"]) as lab:
        scan = subprocess.Popen(
            [
                *(sys.executable, "-m", "scanner", "scan", "198.18.0.0/20", *options),
                *f"--resolver {lab.address} --concurrency 20 --rate 0 -o - -o {jsonl}".split(),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert scan.stdout is not None and scan.stderr is not None
        seen = [scan.stdout.readline() for _ in range(101)]  # header + 100 rows streamed
        scan.send_signal(signal.SIGINT)
        # Not communicate(): it reads the pipe's descriptor and would skip what
        # readline() has already buffered.
        rest = scan.stdout.read()
        errors = scan.stderr.read()
        scan.wait(timeout=30)
    rows = list(csv.reader(("".join(seen) + rest).splitlines()))
    # An interrupted scan keeps its file under the .partial name, for --resume.
    assert not jsonl.exists()
    partial = tmp_path / "r.jsonl.partial"
    file_ips = [json.loads(line)["ip"] for line in partial.read_text().splitlines()]
    return scan.returncode, rows, file_ips, errors


def check_interrupted_outputs(code, rows, file_ips, errors):
    assert code == 130, errors
    assert "scan interrupted" in errors and "Traceback" not in errors
    assert tuple(rows[0]) == CSV_COLUMNS
    assert all(len(row) == len(CSV_COLUMNS) for row in rows[1:])
    stdout_ips = [row[0] for row in rows[1:]]
    assert 100 <= len(stdout_ips) < 4096
    # Every row made reached both outputs, each once.
    assert sorted(file_ips) == sorted(stdout_ips) and len(set(file_ips)) == len(file_ips)
    assert f"scan interrupted: {len(file_ips):,} of 4,096 addresses" in errors
    assert "--resume" in errors


def test_sigint_leaves_flushed_well_formed_outputs(tmp_path):
    code, rows, file_ips, errors = interrupt_after_100_rows(tmp_path)
    check_interrupted_outputs(code, rows, file_ips, errors)
    assert file_ips == [row[0] for row in rows[1:]]  # one process: the same order too


def test_sigint_with_worker_processes_leaves_flushed_outputs(tmp_path):
    check_interrupted_outputs(*interrupt_after_100_rows(tmp_path, "--workers", "2"))


def test_rescan_failed_scans_only_the_transient_failures_again(small_lab, tmp_path):
    lab, truth = small_lab
    answered, failed, again = tmp_path / "a.csv", tmp_path / "f.jsonl", tmp_path / "again.csv"
    scan = fcrdns(*f"scan 198.18.0.0/28 --resolver {lab.address} --rate 0 -o {answered}".split())
    assert scan.returncode == 0, scan.stderr
    # The same lab answering SERVFAIL to everything: every row transient.
    with LabProcess(["--config", str(tmp_path / "lab.yaml"), "--servfail", "1"]) as broken:
        scan = fcrdns(
            *f"scan 198.18.0.16/29 --resolver {broken.address}".split(),
            *f"--retries 0 --rate 0 -o {failed}".split(),
        )
    assert scan.returncode == 0, scan.stderr
    assert {json.loads(line)["status"] for line in failed.read_text().splitlines()} == {"servfail"}
    scan = fcrdns(
        *f"scan --rescan-failed {answered} --rescan-failed {failed}".split(),
        *f"--resolver {lab.address} --rate 0 -o {again}".split(),
    )
    assert scan.returncode == 0, scan.stderr
    rows = read_csv(again)
    assert sorted(r["ip"] for r in rows) == [f"198.18.0.{n}" for n in range(16, 24)]
    expected = {r["ip"]: r["expected_status"] for r in read_csv(truth)}
    assert all(r["status"] == expected[r["ip"]] for r in rows)
    # Nothing transient is good news for a nightly job: exit 0, and it says so.
    nothing = fcrdns(*f"scan --rescan-failed {answered} --resolver {lab.address}".split())
    assert nothing.returncode == 0 and "nothing to rescan" in nothing.stderr, nothing.stderr


def test_worker_processes_merge_into_one_output_with_every_ip_once(tmp_path):
    config = write_lab_config(tmp_path / "lab.yaml", ["198.18.0.0/21", "2001:db8:3::/120"])
    truth, out_csv, out_jsonl = tmp_path / "truth.csv", tmp_path / "r.csv", tmp_path / "r.jsonl"
    summary = tmp_path / "s.json"
    with LabProcess(["--config", str(config), "--truth", str(truth)]) as lab:
        scan = fcrdns(
            *f"scan 198.18.0.0/21 2001:db8:3::/120 --resolver {lab.address} --rate 0".split(),
            *f"--workers 3 -o {out_csv} -o {out_jsonl} --summary {summary}".split(),
        )
    assert scan.returncode == 0, scan.stderr
    for path in (out_csv, out_jsonl):
        comparison = compare(str(path), str(truth))
        assert comparison.ok, comparison.as_text()
    assert read_csv(out_csv)[0].keys() == set(CSV_COLUMNS)
    stats = json.loads(summary.read_text())
    assert stats["scanned"] == stats["targets"] == 2048 + 256
    pool = stats["resolver_pool"]
    # Every query sent is in some row's attempts: the retry layer's count and the rows' agree.
    assert pool["resolvers"][0]["attempts"] == pool["attempts"] == stats["attempts"] > 2048


def test_generic_ptr_and_reason_columns_on_the_lab(small_lab, tmp_path):
    lab, truth = small_lab
    targets = ["198.18.0.0/24", "2001:db8:5::/124"]
    rows, _ = api_scan(tmp_path / "r.csv", targets, lab.address)
    cases = {row["ip"]: row["case"] for row in read_csv(truth)}
    for row in rows:
        generic_case = cases[row["ip"]] in ("generic", "generic_noforward")
        assert (row["generic_ptr"] == "yes") == generic_case, row
        # A pass can still need words: a PTR name that Postfix refuses.
        assert (row["reason"] == "") == (row["status"] == "pass" and row["postfix"] == "accept")
    mismatches = [row for row in rows if row["status"] == "mismatch"]
    assert mismatches and all(
        " resolves to " in row["reason"] and f", not {row['ip']}" in row["reason"]
        for row in mismatches
    )


def test_fail_on_exits_1_on_findings_and_0_without(small_lab):
    lab, truth = small_lab
    statuses = {row["ip"]: row["expected_status"] for row in read_csv(truth)}
    mismatch = next(ip for ip, status in statuses.items() if status == "mismatch")
    passing = next(ip for ip, status in statuses.items() if status == "pass")
    common = f"--resolver {lab.address} --rate 0 --fail-on mismatch,no_ptr -o -".split()
    found = fcrdns("scan", mismatch, passing, *common)
    assert found.returncode == 1, found.stderr
    assert "findings: 1 mismatch" in found.stderr
    clean = fcrdns("scan", passing, *common)
    assert clean.returncode == 0, clean.stderr
    bad = fcrdns("scan", passing, "--fail-on", "mismatchh", "--resolver", lab.address)
    assert bad.returncode == 2 and "--fail-on: unknown 'mismatchh'" in bad.stderr


def test_metrics_file_parses_as_prometheus_text(small_lab, tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    lab, truth = small_lab
    metrics = tmp_path / "fcrdns.prom"
    api_scan(tmp_path / "r.csv", ["198.18.0.0/24"], lab.address, metrics_file=str(metrics))
    families = {f.name: f for f in text_string_to_metric_families(metrics.read_text())}
    by_status = {s.labels["status"]: s.value for s in families["fcrdns_ips"].samples}
    expected = {}
    for row in read_csv(truth):
        if row["ip"].startswith("198.18.0."):
            expected[row["expected_status"]] = expected.get(row["expected_status"], 0) + 1
    assert {k: v for k, v in by_status.items() if v} == expected
    assert families["fcrdns_targets"].samples[0].value == 256
    assert families["fcrdns_resolver_attempts"].samples[0].labels == {"resolver": lab.address}
    assert list(tmp_path.glob(".fcrdns.prom.*")) == []  # no temporary file left behind


def test_expected_names_from_a_file_and_helo(small_lab, tmp_path):
    lab, truth = small_lab
    rows = {row["ip"]: row for row in read_csv(truth) if row["ip"].startswith("198.18.0.")}
    confirm = next(ip for ip, row in rows.items() if row["case"] == "confirm")
    multi = next(ip for ip, row in rows.items() if row["case"] == "multi")
    mismatch = next(ip for ip, row in rows.items() if row["case"] == "mismatch")
    alias = rows[multi]["ptr_names"].split(";")[0]  # a PTR name that points elsewhere
    expect = tmp_path / "expect.csv"
    expect.write_text(
        f"ip,hostname\n{confirm},{rows[confirm]['confirmed_name'].upper()}.\n"
        f"{multi},{alias}\n{mismatch},{rows[mismatch]['ptr_names']}\n"
    )
    targets = [confirm, multi, mismatch, "198.18.0.255"]
    found, _ = api_scan(tmp_path / "r.csv", targets, lab.address, expect_file=str(expect),
                        helo="mail.example.net")  # fmt: skip
    got = {row["ip"]: row for row in found}
    assert got[confirm]["expected_match"] == "yes"  # case and final dot do not matter
    assert got[multi]["status"] == "pass" and got[multi]["expected_match"] == "no"
    assert f"expected name {alias}" in got[multi]["reason"]
    assert got[mismatch]["expected_match"] == "no"
    assert got["198.18.0.255"]["expected_name"] == "mail.example.net"
    assert got["198.18.0.255"]["expected_match"] == "no"
    bad = tmp_path / "bad.csv"
    bad.write_text("ip,hostname\n198.18.0.1,a.example\nnot-an-ip,b.example\n")
    with pytest.raises(UserError, match=f"{bad}:3: not an IP address"):
        api_scan(tmp_path / "r2.csv", ["198.18.0.1"], lab.address, expect_file=str(bad))


def test_diff_reports_exactly_the_changes_made_to_the_lab(tmp_path):
    import yaml

    config = write_lab_config(tmp_path / "lab.yaml", ["198.18.0.0/24"])
    truth, before, again = tmp_path / "truth.csv", tmp_path / "before.csv", tmp_path / "again.csv"
    after = tmp_path / "after.jsonl"
    scan_args = ["scan", "198.18.0.0/24", "--rate", "0", "--resolver"]
    with LabProcess(["--config", str(config), "--truth", str(truth)]) as lab:
        assert fcrdns(*scan_args, lab.address, "-o", str(before)).returncode == 0
        assert fcrdns(*scan_args, lab.address, "-o", str(again)).returncode == 0
    confirms = [row["ip"] for row in read_csv(truth) if row["case"] == "confirm"]
    renamed, moved, removed = confirms[:3]
    changed = yaml.safe_load(config.read_text())
    changed["overrides"] = {renamed: "generic", moved: "stale_a", removed: "no_ptr"}
    config.write_text(yaml.safe_dump(changed))
    with LabProcess(["--config", str(config)]) as lab:
        assert fcrdns(*scan_args, lab.address, "-o", str(after)).returncode == 0

    same = fcrdns("diff", str(before), str(again))
    assert same.returncode == 0 and "no changes" in same.stderr
    out = tmp_path / "diff.csv"
    diff = fcrdns("diff", str(before), str(after), "-o", str(out))
    assert diff.returncode == 1, diff.stderr
    rows = {row["ip"]: row for row in read_csv(out)}
    assert set(rows) == {renamed, moved, removed}
    assert rows[renamed]["change"] == "ptr_names;forward"  # PTR renamed, still passes
    assert rows[renamed]["old_status"] == rows[renamed]["new_status"] == "pass"
    assert rows[moved]["change"] == "status;forward"  # same PTR name, A record moved
    assert (rows[moved]["old_status"], rows[moved]["new_status"]) == ("pass", "mismatch")
    assert rows[moved]["old_ptr_names"] == rows[moved]["new_ptr_names"]
    assert (rows[removed]["new_status"], rows[removed]["new_ptr_names"]) == ("no_ptr", "")
    assert "3 IPs changed" in diff.stderr and "pass -> mismatch: 1" in diff.stderr


def test_progress_is_drawn_on_a_terminal_only(small_lab, tmp_path):
    import os
    import pty

    lab, _ = small_lab
    command = [sys.executable, "-m", "scanner", "scan", "198.18.0.0/24", "--resolver",
               lab.address, "--rate", "100", "-o", str(tmp_path / "r.csv")]  # fmt: skip
    leader, follower = pty.openpty()
    scan = subprocess.Popen(command, stderr=follower, stdout=subprocess.DEVNULL)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the scan has ended
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert scan.wait(timeout=60) == 0
    text = seen.decode(errors="replace")
    assert "/256" in text and "IPs/s" in text and "pass " in text  # done/total, rate, counts
    assert "scan complete" in text
    fast = [*command[3:], "--rate", "0"]  # the last --rate wins
    piped = fcrdns(*fast)
    assert piped.returncode == 0 and "elapsed" not in piped.stderr and "\r" not in piped.stderr
    quiet = fcrdns(*fast, "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_zone_owner_finds_each_zone_with_a_few_cached_queries(tmp_path):
    import yaml

    config = tmp_path / "lab.yaml"
    mix = {"confirm": 5, "mismatch": 1, "no_ptr": 2, "ptr_nodata": 1, "multi": 1}
    config.write_text(yaml.safe_dump({
        "seed": 3, "domain": "hosting.example", "generic_domain": "pool.example",
        "networks": [
            {"cidr": "198.18.0.0/23", "mix": mix},
            {"cidr": "198.19.7.0/26", "mix": mix, "delegated_to": "customer.example"},
            {"cidr": "2001:db8:6::/124", "mix": mix},
        ],
    }))  # fmt: skip
    truth = tmp_path / "truth.csv"
    targets = ["198.18.0.0/23", "198.19.7.0/26", "2001:db8:6::/124"]
    with LabProcess(["--config", str(config), "--truth", str(truth)]) as lab:
        rows, summary = api_scan(tmp_path / "r.csv", targets, lab.address, zone_owner=True)
    expected = {row["ip"]: row for row in read_csv(truth)}
    assert len(rows) == 512 + 64 + 16
    for row in rows:
        want = expected[row["ip"]]
        assert (row["ptr_zone"], row["ptr_zone_ns"]) == (want["ptr_zone"], want["ptr_zone_ns"])
    delegated = [r for r in rows if r["ptr_zone"] == "0-26.7.19.198.in-addr.arpa"]
    assert delegated and all(r["ptr_zone_ns"] == "ns1.customer.example;ns2.customer.example"
                             for r in delegated)  # fmt: skip
    # Zone queries: one SOA per parent name (the /24 names, the classless zone...),
    # plus SOA and NS per apex; nothing like one per address.
    # (Every query sent for an address, retries and hedges included, is in its
    # row's `attempts`; the rest were the zone finder's.)
    assert summary.attempts == sum(int(r["attempts"]) for r in rows)
    assert summary.resolvers is not None
    zone_queries = summary.resolvers.attempts - summary.attempts
    assert 0 < zone_queries <= 20, zone_queries


def test_concurrent_lookups_each_get_their_own_answer_and_nothing_is_cached(tmp_path):
    """Against the lab server: 40 PTR lookups at once, then every one again.

    Each lookup must get its own answer, and the repeated questions must reach
    the server again: c-ares' answer cache is off (a scan never asks twice, and
    the cache grew memory with every answer).
    """
    import ipaddress

    import anyio

    from scanner.core.lookups import Nameserver
    from scanner.dns.cares_engine import AresResolver

    config = write_lab_config(tmp_path / "lab.yaml", ["198.18.0.0/26", "2001:db8:1::/124"])
    truth, arrivals = tmp_path / "truth.csv", tmp_path / "arrivals.txt"
    lab = LabProcess(
        ["--config", str(config), "--truth", str(truth), "--record-arrivals", str(arrivals)]
    ).start()
    expected = {
        row["ip"]: set(filter(None, row["ptr_names"].split(";"))) for row in read_csv(truth)
    }
    found: dict[tuple[int, str], object] = {}

    async def ask(resolver, round_, ip):
        name = ipaddress.ip_address(ip).reverse_pointer
        found[round_, ip] = await resolver.lookup(name, "PTR")

    async def main():
        resolver = AresResolver(Nameserver.parse(lab.address))
        try:
            for round_ in (1, 2):
                async with anyio.create_task_group() as group:
                    for ip in expected:
                        group.start_soon(ask, resolver, round_, ip)
            return resolver.queries
        finally:
            await resolver.aclose()

    try:
        queries = anyio.run(main)
    finally:
        lab.stop()
    assert queries == 2 * len(expected) == 2 * 80
    # DNS record sets are unordered; every lookup got exactly its own IP's names.
    assert {key: set(lookup.records) for key, lookup in found.items()} == {
        (round_, ip): names for round_ in (1, 2) for ip, names in expected.items()
    }
    assert len(arrivals.read_text().split()) == queries


def test_metrics_to_a_pipe_are_written_in_place(tmp_path):
    """--metrics /dev/stdout or a FIFO: no temporary file renamed onto the pipe."""
    import os
    import threading

    from scanner.core.summary import Summary
    from scanner.files import metrics

    fifo = tmp_path / "metrics.prom"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()), daemon=True)
    reader.start()
    metrics.write(str(fifo), Summary(targets=3))
    reader.join(timeout=30)
    assert fifo.is_fifo() and [p.name for p in tmp_path.iterdir()] == ["metrics.prom"]
    assert "fcrdns_targets 3" in received[0]


def test_diff_of_files_that_are_not_complete_results_is_a_clear_error(tmp_path):
    partial = tmp_path / "trimmed.csv"
    partial.write_text("ip,status\n198.18.0.3,pass\n")
    junk = tmp_path / "junk.csv"
    junk.write_text("not,a,results\nfile\n")
    for old, message in ((partial, "no ptr_names column"), (junk, "not a fcrdns result row")):
        diff = fcrdns("diff", str(old), str(partial))
        assert diff.returncode == 2 and message in diff.stderr, diff.stderr
        assert "Traceback" not in diff.stderr
    # The changes never go over one of the files compared.
    diff = fcrdns("diff", str(junk), str(partial), "-o", str(partial))
    assert diff.returncode == 2 and "would overwrite one of the results" in diff.stderr
    assert partial.read_text() == "ip,status\n198.18.0.3,pass\n"
