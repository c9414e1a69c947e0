"""What counts as a new or a fixed finding (scanner/core/findings.py), and --previous's checks."""

from __future__ import annotations

from pathlib import Path

from helpers import fcrdns

from scanner.core.findings import NEW_KINDS, Changes, new_kinds, row_findings


def _row(status: str, **cells: str) -> dict[str, str]:
    return {"ip": "198.18.0.1", "status": status, **cells}


def test_a_rows_findings_from_csv_cells_and_jsonl_values():
    assert row_findings(_row("pass")) == frozenset()
    assert row_findings(_row("mismatch", generic_ptr="yes")) == {"mismatch", "generic_ptr"}
    jsonl = {"ip": "198.18.0.1", "status": "no_ptr", "ns_consistent": False, "generic_ptr": False}
    assert row_findings(jsonl) == {"no_ptr", "ns_inconsistent"}
    assert row_findings(_row("servfail")) == {"transient"}


def test_new_fixed_first_seen_and_not_compared():
    changes = Changes(previous="last.csv")
    changes.add(frozenset(), frozenset({"mismatch"}))  # broke
    changes.add(frozenset({"no_forward"}), frozenset())  # fixed
    changes.add(frozenset({"mismatch"}), frozenset({"mismatch"}))  # old: neither
    changes.add(frozenset({"mismatch"}), frozenset({"no_forward"}))  # changed kind
    changes.add(None, frozenset({"no_ptr"}))  # not in the previous file
    changes.add(frozenset({"transient"}), frozenset({"mismatch"}))  # unknown before
    changes.add(frozenset({"mismatch"}), frozenset({"transient"}))  # unknown now
    assert changes.new_of(NEW_KINDS) == 3  # mismatch, no_forward, no_ptr
    assert changes.new["mismatch"] == 1 and changes.new["no_ptr"] == 1
    assert changes.fixed["no_forward"] == 1 and changes.fixed["mismatch"] == 1
    assert (changes.new_addresses, changes.fixed_addresses) == (3, 2)
    assert (changes.first_seen, changes.not_compared) == (1, 2)
    assert changes.new["transient"] == 1 and changes.fixed["transient"] == 1


def test_fail_on_new_kinds():
    assert new_kinds(["new"]) == NEW_KINDS
    assert new_kinds(["new:mismatch", "no_ptr"]) == ("mismatch",)
    assert new_kinds(["new:transient"]) == ("transient",)


def test_previous_checked_before_anything_is_scanned(tmp_path: Path):
    out = tmp_path / "out.csv"
    bad = tmp_path / "last.csv"
    bad.write_text("name,value\nx,1\n")
    done = fcrdns("scan", "198.18.0.1", "--resolver", "127.0.0.1:9", "-o", str(out),
                  "--previous", str(bad))  # fmt: skip
    assert done.returncode == 2 and "--previous" in done.stderr and "not a fcrdns" in done.stderr
    same = fcrdns("scan", "198.18.0.1", "--resolver", "127.0.0.1:9", "-o", str(out),
                  "--previous", str(out))  # fmt: skip
    assert same.returncode == 2 and "would overwrite the input --previous" in same.stderr
    stream = fcrdns("scan", "198.18.0.1", "--resolver", "127.0.0.1:9", "--previous", str(bad))
    assert stream.returncode == 2 and "--previous needs an output file" in stream.stderr
    assert not out.exists()


def test_first_night_is_a_notice_and_fail_on_new_passes(small_lab, tmp_path: Path):
    lab, _ = small_lab
    out = tmp_path / "tonight.csv"
    done = fcrdns("scan", "198.18.0.0/28", "--resolver", lab.address, "-o", str(out), "-q",
                  "--previous", str(tmp_path / "last.csv"), "--fail-on", "new")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "last.csv does not exist yet (the first night?)" in done.stderr
    # The next night compares with it: the same lab, nothing new, exit 0, and the
    # old findings still fail an ordinary --fail-on.
    following = str(tmp_path / "next.csv")
    again = fcrdns("scan", "198.18.0.0/28", "--resolver", lab.address, "-o", following,
                   "--previous", str(out), "--fail-on", "new")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "since " + str(out) + ": 0 new findings" in again.stderr
