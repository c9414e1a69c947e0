"""The hostile lab (configs/hostile-lab.yaml): every hostile scenario, scanned exactly.

The ground truth is made from the records' exact bytes (scanner/lab/hostile.py);
a scan must match it 100%, served by the lab server and by Knot from the
exported zone files. Its outputs must then be usable: diff and --rescan-failed
read its 140 KB cells, the CSV and JSONL compare equal, Calc finds no formula
in the CSV (the name servers' answers of --check-authoritative included), and
the XLSX holds the same rows.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import openpyxl
import pytest
from helpers import fcrdns
from test_spreadsheet import formula_cells

from scanner.core.verdict import MAX_FORWARD_NAMES
from scanner.files.xlsxfile import CELL_CHARACTERS
from scanner.lab.config import NS_NETWORK
from scanner.lab.hostile import BIG_ADDRESSES, BIG_NAMES, SCENARIOS
from scanner.lab.process import LabProcess
from scanner.lab.realservers import Knot
from scanner.lab.truth import compare

CONFIG = str(Path(__file__).parent.parent / "configs" / "hostile-lab.yaml")
TARGETS = ("192.0.2.0/27", "2001:db8:bad::/123")


def scan(resolver: str, out: Path, *extra: str):
    return fcrdns("scan", *TARGETS, "--resolver", resolver, "--rate", "0", "-q",
                  "-o", str(out / "r.csv"), "-o", str(out / "r.jsonl"), *extra)  # fmt: skip


@pytest.fixture(scope="module")
def scanned(tmp_path_factory) -> tuple[Path, Path]:
    """One scan of the hostile lab (CSV, JSONL, XLSX) and the truth file."""
    work = tmp_path_factory.mktemp("hostile-lab")
    truth = work / "truth.csv"
    # With the zones' name servers asked directly too: their answers hold the hostile names.
    with LabProcess(["--config", CONFIG, "--truth", str(truth), "--authoritative"]) as lab:
        result = scan(
            lab.address, work, "-o", str(work / "r.xlsx"), "--check-authoritative",
            "--authoritative-allow", NS_NETWORK,
            "--authoritative-port", str(lab.port), "--authoritative-rate", "0",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return work, truth


def test_the_lab_holds_every_scenario():
    with open(CONFIG, encoding="utf-8") as handle:
        assert "mix: {hostile: 1}" in handle.read()
    # 32 consecutive addresses per network: every scenario at least once in each.
    assert len(SCENARIOS) <= 32


def test_a_scan_of_the_hostile_lab_matches_the_truth_exactly(scanned):
    work, truth = scanned
    cases = {row["case"] for row in csv.DictReader(truth.open(encoding="utf-8"))}
    assert cases == {f"hostile: {scenario.title}" for scenario in SCENARIOS}
    for output in ("r.csv", "r.jsonl"):
        comparison = compare(str(work / output), str(truth))
        assert comparison.ok, comparison.as_text()
        assert comparison.matching == 64


@pytest.mark.lab
def test_knot_serving_the_exported_zones_gives_the_same_verdicts(tmp_path):
    truth = tmp_path / "truth.csv"
    export = fcrdns("lab", "--config", CONFIG, "--truth", str(truth),
                    "--export-zones", str(tmp_path / "zones"))  # fmt: skip
    assert export.returncode == 0, export.stderr
    with Knot(tmp_path / "knot", export.stdout.split()) as knot:
        result = scan(f"127.0.0.1:{knot.port}", tmp_path)
    assert result.returncode == 0, result.stderr
    comparison = compare(str(tmp_path / "r.csv"), str(truth))
    assert comparison.ok, comparison.as_text()


def test_its_big_cells_and_hostile_names_are_read_back_by_diff_and_rescan(scanned, tmp_path):
    work, _ = scanned
    objects = [json.loads(line) for line in (work / "r.jsonl").read_text().splitlines()]
    widest = max(objects, key=lambda obj: sum(len(check["addresses"]) for check in obj["forward"]))
    # Of its BIG_NAMES PTR names the first MAX_FORWARD_NAMES are looked up; the row says so.
    assert len(widest["ptr_names"]) == BIG_NAMES
    assert len(widest["forward"]) == MAX_FORWARD_NAMES
    assert sum(len(check["addresses"]) for check in widest["forward"]) == (
        MAX_FORWARD_NAMES * BIG_ADDRESSES
    )
    assert f"{BIG_NAMES - MAX_FORWARD_NAMES} more PTR names not checked" in widest["reason"]
    same = fcrdns("diff", str(work / "r.csv"), str(work / "r.jsonl"))
    assert same.returncode == 0 and same.stdout.count("\n") == 1, same.stdout + same.stderr
    with LabProcess(["--config", CONFIG]) as lab:
        rescan = fcrdns("scan", "--rescan-failed", str(work / "r.csv"), "--resolver", lab.address,
                        "--rate", "0", "-q", "-o", str(tmp_path / "again.csv"))  # fmt: skip
    assert rescan.returncode == 0, rescan.stderr
    again = list(csv.DictReader((tmp_path / "again.csv").open(encoding="utf-8")))
    refused = [obj["ip"] for obj in objects if obj["status"] == "refused"]
    assert sorted(row["ip"] for row in again) == sorted(refused)  # the referrals, nothing else


def test_calc_finds_no_formula_in_its_csv(scanned, tmp_path):
    work, _ = scanned
    # The stale ns2 lacks the hostile PTRs, so ns_answers holds the names too.
    csv.field_size_limit(1 << 24)
    rows = list(csv.DictReader((work / "r.csv").open(encoding="utf-8", newline="")))
    assert sum("=NXDOMAIN" in row["ns_answers"] and "\\=" in row["ns_answers"] for row in rows)
    assert formula_cells(work / "r.csv", tmp_path) == []


def test_its_xlsx_holds_the_same_rows_as_string_cells(scanned):
    work, _ = scanned
    objects = {
        obj["ip"]: obj for obj in map(json.loads, (work / "r.jsonl").read_text().splitlines())
    }
    sheet = openpyxl.load_workbook(work / "r.xlsx").worksheets[0]
    header, *data = sheet.iter_rows(values_only=True)
    assert len(data) == len(objects) == 64
    for values in data:
        row = dict(zip(header, values, strict=True))
        obj = objects[row["ip"]]
        assert row["status"] == obj["status"]
        assert (row["ptr_names"] or "") == ";".join(obj["ptr_names"])
        assert (row["confirmed_name"] or "") == (obj["confirmed_name"] or "")
        words, full = row["reason"] or "", obj["reason"] or ""
        if "see the zones sheet" in words:  # the zone's own facts are said there, once
            head = re.split(r"the name servers of |\S+'s name servers: see", words)[0].rstrip("; ")
            assert full.startswith(head)
        else:
            assert words == full
        forward = row["forward_addresses"] or ""
        checked = sum(len(check["addresses"]) for check in obj["forward"])
        if checked == MAX_FORWARD_NAMES * BIG_ADDRESSES:
            assert len(forward) == CELL_CHARACTERS and "characters in all" in forward
        else:
            assert len(forward) < CELL_CHARACTERS
