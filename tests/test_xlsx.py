"""The XLSX output, read back with openpyxl: every row, every value as written, typed cells."""

from __future__ import annotations

import csv
import ipaddress
import json
import os
import subprocess
import sys
import zipfile
from datetime import datetime

import openpyxl
import pytest
import yaml
from helpers import fcrdns, write_lab_config
from openpyxl.utils import get_column_letter

from scanner.files.xlsxfile import CELL_CHARACTERS, ROWS_PER_SHEET, write_workbook
from scanner.lab.process import LabProcess

NUMBER_COLUMNS = {"queries", "elapsed_ms", "attempts"}


def _results(path) -> tuple[list[str], list[dict[str, openpyxl.cell.Cell]]]:
    """The results sheets' header and rows (cells by column name), after checking each
    sheet's frozen header and filter."""
    workbook = openpyxl.load_workbook(path)  # not read_only: cell types and filters are kept
    found, header = [], []
    for sheet in workbook.worksheets:
        if sheet.title == "zones":
            continue
        assert sheet.freeze_panes == "A2", sheet.title
        header_cells, *data = list(sheet.iter_rows())
        header = [cell.value for cell in header_cells]
        last = get_column_letter(len(header))  # a filter on every column
        assert sheet.auto_filter.ref == f"A1:{last}{sheet.max_row}", sheet.title
        found += [dict(zip(header, cells, strict=True)) for cells in data]
    return header, found


def _zones(path) -> list[dict[str, object]]:
    sheet = openpyxl.load_workbook(path)["zones"]
    header, *data = sheet.iter_rows(values_only=True)
    assert sheet.freeze_panes == "A2"
    return [dict(zip(header, row, strict=True)) for row in data]


def _no_formula_anywhere(path) -> None:
    # In the file itself: no <f> element in any sheet (openpyxl would show a
    # formula as text starting with '=', which a string cell may hold too).
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(name) and b"<f " not in archive.read(name)


def _address_order(ips: list[str]) -> list[str]:
    return sorted(ips, key=lambda ip: (ipaddress.ip_address(ip).version, ipaddress.ip_address(ip)))


def test_a_lab_scan_as_xlsx_is_laid_out_for_a_reader(tmp_path):
    config = write_lab_config(tmp_path / "lab.yaml", ["198.18.0.0/24", "2001:db8:5::/124"])
    expect = tmp_path / "expect.csv"
    # Numeric-looking and formula-like expected names stay text.
    expect.write_text("198.18.0.1,0012\n198.18.0.2,1e5\n198.18.0.3,2024-01-02\n198.18.0.4,=1+1\n")
    with LabProcess(["--config", str(config)]) as lab:
        scan = fcrdns(
            "scan", "198.18.0.0/24", "2001:db8:5::/124", "--resolver", lab.address,
            "--rate", "0", "-q", "--expect", str(expect),
            "-o", str(tmp_path / "r.xlsx"), "-o", str(tmp_path / "r.jsonl"),
        )  # fmt: skip
    assert scan.returncode == 0, scan.stderr
    assert not (tmp_path / "r.xlsx.partial").exists() and not (tmp_path / "r.xlsx.tmp").exists()
    _no_formula_anywhere(tmp_path / "r.xlsx")
    header, data = _results(tmp_path / "r.xlsx")
    # The columns a person reads first, first; the checks that ran (--expect), not
    # those that did not (--zone-owner, --check-authoritative); bookkeeping last.
    assert header[:4] == ["ip", "status", "ptr_names", "reason"]
    assert header[-1] == "timestamp" and "expected_name" in header
    assert not {"ptr_zone", "ptr_zone_ns", "ns_consistent", "ns_serials", "ns_lame"} & set(header)
    with (tmp_path / "r.jsonl").open(encoding="utf-8") as handle:
        objects = {obj["ip"]: obj for obj in map(json.loads, handle)}
    ips = [values["ip"].value for values in data]
    assert len(ips) == len(objects) == 272
    assert ips == _address_order(ips)  # address order, not the scan's completion order
    for values in data:
        obj = objects[values["ip"].value]
        for column, cell in values.items():
            if column in NUMBER_COLUMNS:
                assert cell.data_type == "n" and isinstance(cell.value, int | float), column
            elif column == "timestamp":
                assert cell.is_date and isinstance(cell.value, datetime), cell.value
            else:
                assert cell.data_type == "s" or cell.value is None, (column, cell.value)
        assert values["status"].value == obj["status"]
        assert (values["ptr_names"].value or "") == ";".join(obj["ptr_names"])
        assert values["queries"].value == obj["queries"]
        assert values["attempts"].value == obj["attempts"]
        assert values["elapsed_ms"].value == obj["elapsed_ms"]
        assert (values["reason"].value or "") == (obj["reason"] or "")
        assert (values["expected_name"].value or "") == (obj["expected_name"] or "")
        stamp = values["timestamp"].value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z"
        assert stamp == obj["timestamp"]
    by_ip = {values["ip"].value: values for values in data}
    assert [by_ip[f"198.18.0.{n}"]["expected_name"].value for n in (1, 2, 3, 4)] == [
        "0012", "1e5", "2024-01-02", "\\=1+1",
    ]  # fmt: skip
    sheet = openpyxl.load_workbook(tmp_path / "r.xlsx")["results"]
    widths = {cell.value: sheet.column_dimensions[cell.column_letter].width for cell in sheet[1]}
    assert widths["ip"] >= 15 and widths["ptr_names"] > widths["status"] >= len("status")
    # Without --zone-owner, one row per /24 and /64, the most failing first.
    zones = _zones(tmp_path / "r.xlsx")
    assert {zone["network"] for zone in zones} == {"198.18.0.0/24", "2001:db8:5::/64"}
    assert sum(zone["addresses"] for zone in zones) == 272
    v4 = next(zone for zone in zones if zone["network"] == "198.18.0.0/24")
    statuses = [obj["status"] for ip, obj in objects.items() if ":" not in ip]
    assert v4["mismatch"] == statuses.count("mismatch") and v4["no_ptr"] == statuses.count("no_ptr")


def test_zone_facts_are_on_the_zones_sheet_once_not_on_every_row(tmp_path):
    from scanner.lab.config import NS_NETWORK

    lab_file = tmp_path / "lab.yaml"
    write_lab_config(lab_file, ["198.18.0.0/24"])
    config = yaml.safe_load(lab_file.read_text())
    config["networks"][0]["lame_ns"] = True
    config["networks"][0]["mix"] |= {"secondary_changed": 5}
    lab_file.write_text(yaml.safe_dump(config))
    with LabProcess(["--config", str(lab_file), "--authoritative"]) as lab:
        scan = fcrdns(
            "scan", "198.18.0.0/24", "--resolver", lab.address, "--rate", "0", "-q",
            "--check-authoritative", "--authoritative-allow", NS_NETWORK,
            "--authoritative-port", str(lab.port), "--authoritative-rate", "0",
            "-o", str(tmp_path / "r.xlsx"), "-o", str(tmp_path / "r.csv"),
        )  # fmt: skip
    assert scan.returncode == 0, scan.stderr
    header, data = _results(tmp_path / "r.xlsx")
    assert {"ptr_zone", "ptr_zone_ns", "ns_consistent"} <= set(header)
    assert not {"ns_serials", "ns_lame"} & set(header)
    (zone,) = _zones(tmp_path / "r.xlsx")
    assert zone["zone"] == "0.18.198.in-addr.arpa" and zone["addresses"] == 256
    assert "ns3.hosting.example" in zone["ns_lame"] and "ns2.hosting.example=" in zone["ns_serials"]
    with (tmp_path / "r.csv").open(encoding="utf-8", newline="") as handle:
        csv_reasons = [row["reason"] for row in csv.DictReader(handle)]
    assert sum("lame name server" in reason for reason in csv_reasons) == 256  # the CSV: each row
    reasons = [values["reason"].value or "" for values in data]
    assert not any("lame name server" in reason for reason in reasons)
    assert all("0.18.198.in-addr.arpa's name servers: see the zones sheet" in r for r in reasons)
    assert max(map(len, reasons)) < max(map(len, csv_reasons)) - 100


def test_sort_merge_diff_and_previous_read_the_workbook(small_lab, tmp_path):
    lab, _ = small_lab
    first = fcrdns("scan", "198.18.0.0/26", "--resolver", lab.address, "-q",
                   "-o", str(tmp_path / "a.xlsx"), "-o", str(tmp_path / "a.csv"))  # fmt: skip
    assert first.returncode == 0, first.stderr
    # The workbook and the CSV of one scan say the same: no changes.
    same = fcrdns("diff", str(tmp_path / "a.xlsx"), str(tmp_path / "a.csv"))
    assert same.returncode == 0 and "no changes" in same.stderr, same.stderr
    sort = fcrdns("sort", str(tmp_path / "a.xlsx"), "-o", str(tmp_path / "s.xlsx"))
    assert sort.returncode == 0, sort.stderr
    resorted = fcrdns("diff", str(tmp_path / "s.xlsx"), str(tmp_path / "a.csv"))
    assert resorted.returncode == 0, resorted.stderr
    _, sorted_rows = _results(tmp_path / "s.xlsx")
    _, original = _results(tmp_path / "a.xlsx")
    assert [{c: v.value for c, v in row.items()} for row in sorted_rows] == [
        {c: v.value for c, v in row.items()} for row in original
    ]
    # A rescan of four addresses folded back in: those four rows are the rescan's.
    rescan = fcrdns("scan", "198.18.0.0/30", "--resolver", lab.address, "-q",
                    "-o", str(tmp_path / "u.xlsx"))  # fmt: skip
    assert rescan.returncode == 0, rescan.stderr
    merge = fcrdns("merge", str(tmp_path / "a.xlsx"), str(tmp_path / "u.xlsx"),
                   "-o", str(tmp_path / "m.xlsx"))  # fmt: skip
    assert merge.returncode == 0, merge.stderr
    _, merged = _results(tmp_path / "m.xlsx")
    _, updates = _results(tmp_path / "u.xlsx")
    assert len(merged) == 64
    stamps = {row["ip"].value: row["timestamp"].value for row in merged}
    assert all(stamps[row["ip"].value] == row["timestamp"].value for row in updates)
    # --previous names a workbook: nothing new since it.
    again = fcrdns("scan", "198.18.0.0/26", "--resolver", lab.address, "-q",
                   "-o", str(tmp_path / "b.csv"), "--previous", str(tmp_path / "a.xlsx"),
                   "--summary", str(tmp_path / "b.json"), "--fail-on", "new")  # fmt: skip
    assert again.returncode == 0, again.stderr
    since = json.loads((tmp_path / "b.json").read_text())["since_previous"]
    assert since["new_addresses"] == 0 and since["first_seen"] == 0


def test_past_a_sheets_rows_the_next_sheet_continues_and_long_cells_say_they_were_cut(tmp_path):
    assert ROWS_PER_SHEET == 1_048_576  # Excel's limit; a small one here keeps the test fast
    staging = tmp_path / "r.xlsx.partial"
    records = [[f"198.18.0.{n}", "pass", n, 1.5, "=cmd|' /C calc'!A0" if n == 3 else "x"]
               for n in range(10)]  # fmt: skip
    records[4][1] = "y" * (CELL_CHARACTERS + 10)
    staging.write_text("".join(json.dumps(record) + "\n" for record in records))
    columns = ("ip", "status", "n", "f", "text")
    written = write_workbook(str(staging), str(tmp_path / "r.xlsx"), columns, rows_per_sheet=4)
    assert written == 10
    workbook = openpyxl.load_workbook(tmp_path / "r.xlsx")
    assert workbook.sheetnames == ["results", "results 2", "results 3", "results 4", "zones"]
    got = []
    for sheet in workbook.worksheets[:-1]:
        header, *data = sheet.iter_rows(values_only=True)
        assert header == columns and sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref == f"A1:E{sheet.max_row}"
        got += data
    assert [row[0] for row in got] == [record[0] for record in records]
    assert got[3][4] == "=cmd|' /C calc'!A0"  # a string cell, as written
    assert len(got[4][1]) == CELL_CHARACTERS and got[4][1].endswith(
        "characters in all; the CSV and JSONL outputs hold them]"
    )
    assert all(isinstance(row[2], int) and row[3] == 1.5 for row in got)
    _no_formula_anywhere(tmp_path / "r.xlsx")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["-o", "-", "--format", "xlsx"], "written whole at the end"),
        (["-o", "r.xlsx.gz"], "compressed already"),
    ],
)
def test_xlsx_outputs_that_cannot_work_are_refused_before_scanning(tmp_path, arguments, message):
    result = subprocess.run(
        [sys.executable, "-m", "scanner", "scan", "192.0.2.1", "--resolver", "127.0.0.1:9",
         *arguments],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert os.listdir(tmp_path) == []


def test_a_file_named_xlsx_that_is_no_workbook_is_refused_clearly(tmp_path):
    (tmp_path / "a.xlsx").write_bytes(b"PK\x03\x04")
    (tmp_path / "b.csv").write_text("ip,status,ptr_names\n")
    book, other = str(tmp_path / "a.xlsx"), str(tmp_path / "b.csv")
    for command in (["diff", book, other], ["sort", book, "-o", str(tmp_path / "s.xlsx")]):
        result = fcrdns(*command)
        assert result.returncode == 2 and "not an XLSX workbook" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "s.xlsx").exists()
