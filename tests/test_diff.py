"""fcrdns diff's comparison, including files larger than one sorted run."""

import csv
import ipaddress
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.core.rows import CSV_COLUMNS, csv_lines
from scanner.files import diff
from scanner.files.diff import compare, snapshots


def write_results(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, CSV_COLUMNS, restval="")
        writer.writeheader()
        for ip, status, names in rows:
            writer.writerow({"ip": ip, "status": status, "ptr_names": names})


def random_rows(rng, addresses, count):
    rows = []
    for _ in range(count):
        ip = rng.choice(addresses)
        rows.append((ip, rng.choice(["pass", "mismatch", "no_ptr"]), rng.choice(["", "a.example"])))
    return rows


def by_dict(rows):
    """What the files say, the simple way: the last row of each IP wins."""
    return {ip: (status, names) for ip, status, names in rows}


@pytest.mark.parametrize("run", [7, 100_000])
def test_changes_match_a_plain_comparison_whatever_the_run_size(tmp_path, run):
    rng = random.Random(run)
    v4 = [str(ipaddress.ip_address("198.18.0.0") + n) for n in range(0, 600, 3)]
    v6 = [str(ipaddress.ip_address("2001:db8::") + n) for n in range(0, 300, 7)]
    addresses = v4 + v6  # IPv4 sorts before IPv6
    old_rows, new_rows = random_rows(rng, addresses, 250), random_rows(rng, addresses, 250)
    write_results(tmp_path / "old.csv", old_rows)
    write_results(tmp_path / "new.csv", new_rows)
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    got = list(compare(snapshots(str(tmp_path / "old.csv"), str(scratch), run),
                       snapshots(str(tmp_path / "new.csv"), str(scratch), run)))  # fmt: skip

    old, new = by_dict(old_rows), by_dict(new_rows)
    want = {}
    for ip in old.keys() | new.keys():
        if ip not in new:
            want[ip] = ("disappeared",)
        elif ip not in old:
            want[ip] = ("appeared",)
        else:
            fields = (("status", 0), ("ptr_names", 1))
            kinds = tuple(kind for kind, i in fields if old[ip][i] != new[ip][i])
            if kinds:
                want[ip] = kinds
    assert {change.ip: change.kinds for change in got} == want
    order = [ipaddress.ip_address(change.ip) for change in got]
    assert order == sorted(order, key=lambda a: (a.version, int(a)))
    spilled = len(os.listdir(scratch))
    assert spilled == (0 if run > 500 else 2 * -(-250 // run))  # in memory, or in runs


def test_an_address_that_is_not_one_is_named(tmp_path):
    write_results(tmp_path / "bad.csv", [("198.18.0.1", "pass", ""), ("198.18.0.x", "pass", "")])
    with pytest.raises(diff.ResultsError, match=r"row 2: not an IP address: '198.18.0.x'"):
        next(snapshots(str(tmp_path / "bad.csv"), str(tmp_path)))


def test_two_spellings_of_one_address_are_one_address(tmp_path):
    write_results(tmp_path / "old.csv", [("2001:db8::1", "pass", "a.example")])
    write_results(tmp_path / "new.csv", [("2001:0DB8:0:0::0001", "mismatch", "a.example")])
    changes = list(compare(snapshots(str(tmp_path / "old.csv"), str(tmp_path)),
                           snapshots(str(tmp_path / "new.csv"), str(tmp_path))))  # fmt: skip
    assert [(change.ip, change.kinds) for change in changes] == [
        ("2001:0DB8:0:0::0001", ("status",))
    ]


@pytest.mark.lab
def test_no_room_to_sort_is_a_clear_error(tmp_path):
    """TMPDIR is a 32 KiB tmpfs (private mount namespace): the first sorted run does not fit."""
    rows = [(str(ipaddress.ip_address("198.18.0.0") + n), "pass", "") for n in range(diff.RUN + 10)]
    write_results(tmp_path / "old.csv", rows)
    write_results(tmp_path / "new.csv", rows)
    small = tmp_path / "small"
    small.mkdir()
    command = [sys.executable, "-m", "scanner", "diff", str(tmp_path / "old.csv"),
               str(tmp_path / "new.csv"), "-o", str(tmp_path / "changes.csv")]  # fmt: skip
    script = "\n".join([
        f"mount -t tmpfs -o size=32k tmpfs {small}",
        f"TMPDIR={small} {subprocess.list2cmdline(command)} 2> {tmp_path}/err",
        f"echo $? > {tmp_path}/rc",
    ])  # fmt: skip
    subprocess.run(["unshare", "--mount", "sh", "-c", script], check=True, timeout=120,
                   cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
    errors = (tmp_path / "err").read_text()
    assert (tmp_path / "rc").read_text().strip() == "2", errors
    assert "No space left on device" in errors and "set TMPDIR" in errors
    assert "Traceback" not in errors
    assert not (tmp_path / "changes.csv").exists()  # nothing written before the files are read


def test_cells_past_pythons_csv_limit_and_cut_gz_files(tmp_path):
    """An address with many names makes cells over 128 KB; a .gz cut short is a clear error."""
    import gzip

    names = ";".join(f"n{index:05d}.hosting.example" for index in range(8000))  # about 200 KB
    write_results(tmp_path / "old.csv", [("198.18.0.1", "pass", names)])
    write_results(tmp_path / "new.csv", [("198.18.0.1", "mismatch", names)])
    result = subprocess.run(
        [sys.executable, "-m", "scanner", "diff", str(tmp_path / "old.csv"),
         str(tmp_path / "new.csv")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # 1: changes found
    assert "198.18.0.1" in result.stdout and "Traceback" not in result.stderr
    packed = gzip.compress((tmp_path / "new.csv").read_bytes())
    (tmp_path / "cut.csv.gz").write_bytes(packed[: len(packed) // 2])
    cut = subprocess.run(
        [sys.executable, "-m", "scanner", "diff", str(tmp_path / "old.csv"),
         str(tmp_path / "cut.csv.gz")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert cut.returncode == 2 and "ends early" in cut.stderr, cut.stderr
    assert "Traceback" not in cut.stderr and cut.stdout == ""


def test_an_unknown_status_is_named_escaped_never_printed_raw(tmp_path):
    hostile = "\x1b]0;owned\x07pass"
    write_results(tmp_path / "old.csv", [("198.18.0.1", "pass", "")])
    write_results(tmp_path / "new.csv", [("198.18.0.1", hostile, "")])
    result = subprocess.run(
        [sys.executable, "-m", "scanner", "diff", str(tmp_path / "old.csv"),
         str(tmp_path / "new.csv")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "row 1: unknown status '\\x1b]0;owned\\x07pass'" in result.stderr
    assert "\x1b" not in result.stderr + result.stdout


def test_the_csv_and_the_jsonl_of_one_scan_compare_equal_whatever_the_names(tmp_path):
    from scanner.core.rows import csv_header, csv_record, json_line
    from scanner.core.status import Outcome, Stage, Status
    from scanner.core.verdict import ForwardCheck, Lookup, ScanResult

    hostile = ["=1+1.", "a\\;b.example", "x=y.example", "'quoted.example", "sp ace\r.example"]
    results = []
    for index, name in enumerate(hostile):
        others = ("b.example", name)
        results.append(ScanResult(
            ip=ipaddress.ip_address(f"198.18.0.{index + 1}"), status=Status.MISMATCH,
            stage=Stage.FORWARD, ptr_names=others,
            forward=tuple(ForwardCheck(n, Lookup(Outcome.ANSWER, ("203.0.113.9", "192.0.2.1")))
                          for n in others),
        ))  # fmt: skip
    (tmp_path / "r.csv").write_text(
        csv_header() + csv_lines([csv_record(r) for r in results]), encoding="utf-8"
    )
    (tmp_path / "r.jsonl").write_text("".join(map(json_line, results)), encoding="utf-8")
    changes = list(compare(snapshots(str(tmp_path / "r.csv"), str(tmp_path)),
                           snapshots(str(tmp_path / "r.jsonl"), str(tmp_path))))  # fmt: skip
    assert changes == []


@pytest.mark.parametrize("name", ["changes.csv.gz", "changes.jsonl.gz", "changes.csv"])
def test_diff_output_is_written_whole_and_compressed_when_named_gz(tmp_path, name):
    import gzip
    import json

    write_results(tmp_path / "old.csv", [("198.18.0.1", "pass", "a.example")])
    write_results(tmp_path / "new.csv", [("198.18.0.1", "mismatch", "a.example")])
    out = tmp_path / name
    result = subprocess.run(
        [sys.executable, "-m", "scanner", "diff", str(tmp_path / "old.csv"),
         str(tmp_path / "new.csv"), "-o", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    opener = gzip.open if name.endswith(".gz") else open
    with opener(out, "rt", encoding="utf-8") as handle:
        text = handle.read()
    if ".jsonl" in name:
        assert json.loads(text)["new_status"] == "mismatch"
    else:
        (row,) = csv.DictReader(text.splitlines())
        assert row["new_status"] == "mismatch"
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(["old.csv", "new.csv", name])
