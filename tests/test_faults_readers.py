"""Every reader parses, and nothing raw reaches a terminal (issue 22, findings 12 and 13).

`sort`, `merge`, `diff` and `report` on files a person or a tool has edited:
a torn or foreign line, fields of the wrong type, control characters.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

from helpers import fcrdns
from hypothesis import given
from hypothesis import strategies as st

from scanner.files.results import ResultsError, read_results

ROW = {"ip": "192.0.2.1", "status": "pass", "stage": "forward", "ptr_names": ["a.example"],
       "confirmed_name": "a.example", "forward": [{"name": "a.example", "outcome": "answer",
       "addresses": ["192.0.2.1"]}], "reason": ""}  # fmt: skip


def jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


def test_sort_refuses_a_torn_jsonl_line_naming_it(tmp_path):
    whole = jsonl(tmp_path / "r.jsonl", [{**ROW, "ip": f"192.0.2.{n}"} for n in (9, 3, 5)])
    with open(whole, "a", encoding="utf-8") as handle:
        handle.write('{"ip":"192.0.2.1","status":"pa')  # cut by a full disk
    run = fcrdns("sort", whole, "-o", str(tmp_path / "sorted.jsonl"))
    assert run.returncode == 2, run.stderr
    assert "r.jsonl:4: not a fcrdns result line" in run.stderr
    assert not (tmp_path / "sorted.jsonl").exists()


def test_merge_compares_jsonl_columns_as_it_does_csv_ones(tmp_path):
    base = jsonl(tmp_path / "base.jsonl", [ROW])
    other = jsonl(tmp_path / "new.jsonl", [{**ROW, "extra": 1}])
    run = fcrdns("merge", base, other, "-o", str(tmp_path / "m.jsonl"))
    assert run.returncode == 2 and "different columns" in run.stderr, run.stderr


def test_report_and_diff_refuse_forward_entries_that_are_not_objects(tmp_path):
    bad = jsonl(tmp_path / "bad.jsonl", [{**ROW, "forward": ["x", 3]}])
    good = jsonl(tmp_path / "good.jsonl", [ROW])
    for run in (fcrdns("report", bad, "-o", str(tmp_path / "r.html")),
                fcrdns("diff", good, bad, "-o", str(tmp_path / "d.csv"))):  # fmt: skip
        assert run.returncode == 2, run.stderr
        assert "bad.jsonl:1: not a fcrdns JSONL result: an entry of 'forward'" in run.stderr


def test_report_refuses_a_summary_whose_fields_are_not_a_scans(tmp_path):
    good = jsonl(tmp_path / "good.jsonl", [ROW])
    cases = (("duration_s", "abc", "'duration_s' is not a number"),
             ("resolver_pool", [], "'resolver_pool' is not an object"))  # fmt: skip
    for field, value, words in cases:
        summary = tmp_path / "s.json"
        summary.write_text(json.dumps({"counts": {"pass": 1}, field: value}))
        run = fcrdns("report", good, "--summary", str(summary), "-o", str(tmp_path / "r.html"))
        assert run.returncode == 2 and words in run.stderr, run.stderr


def on_a_terminal(*args: str) -> bytes:
    """What `fcrdns ARGS` shows on a terminal (a pseudo-terminal here)."""
    main, child = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "scanner", *args], stdout=child,
                               stderr=subprocess.PIPE)  # fmt: skip
    os.close(child)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the other end closed: the process is done
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    assert process.wait(timeout=60) in (0, 1), process.stderr.read() if process.stderr else ""
    return shown


def test_sort_and_diff_to_a_terminal_escape_control_characters(tmp_path):
    header = "ip,status,ptr_names,forward_addresses,reason\r\n"
    plain = "192.0.2.1,pass,a.example,a.example=192.0.2.1,\r\n"
    planted = "192.0.2.2,mismatch,b.example,b.example=\x1b]0;owned\x07,\x1b[2Jcleared\r\n"
    before, edited = tmp_path / "before.csv", tmp_path / "edited.csv"
    before.write_text(header + plain, encoding="utf-8", newline="")
    edited.write_text(header + planted + plain, encoding="utf-8", newline="")
    for args in (("sort", str(edited), "-o", "-"), ("diff", str(before), str(edited), "-o", "-")):
        shown = on_a_terminal(*args)
        assert b"192.0.2.2" in shown, shown
        assert b"\x1b" not in shown and b"\x07" not in shown, shown
        assert b"\\x1b" in shown  # shown as an escape, not dropped
    # Into a pipe or a file the bytes stay as they are: the data is the user's.
    piped = fcrdns("sort", str(edited), "-o", "-")
    assert "\x1b[2Jcleared" in piped.stdout


@given(st.binary(max_size=300))
def test_any_bytes_are_rows_or_a_clear_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("any") / "r.jsonl"
    path.write_bytes(data)
    try:
        for row in read_results(str(path)):
            assert isinstance(row["ip"], str) and isinstance(row["ptr_names"], str)
    except ResultsError as exc:
        assert str(exc).startswith(str(path)) or "r.jsonl" in str(exc)
