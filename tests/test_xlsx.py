"""The XLSX output, read back with openpyxl: every row, every value as written, typed cells."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import openpyxl
import pytest
from helpers import fcrdns, write_lab_config
from openpyxl.utils import get_column_letter

from scanner.core import rows
from scanner.files.xlsxfile import CELL_CHARACTERS, ROWS_PER_SHEET, write_workbook
from scanner.lab.process import LabProcess

NUMBER_COLUMNS = {"queries", "elapsed_ms", "attempts"}


def _sheet_rows(path) -> list[list[openpyxl.cell.Cell]]:
    workbook = openpyxl.load_workbook(path)  # not read_only: cell types and filters are kept
    found = []
    for sheet in workbook.worksheets:
        assert sheet.freeze_panes == "A2", sheet.title
        last = get_column_letter(len(rows.CSV_COLUMNS))  # a filter on every column
        assert sheet.auto_filter.ref == f"A1:{last}{sheet.max_row}", sheet.title
        header, *data = list(sheet.iter_rows())
        assert [cell.value for cell in header] == list(rows.CSV_COLUMNS)
        found += data
    return found


def _no_formula_anywhere(path) -> None:
    # In the file itself: no <f> element in any sheet (openpyxl would show a
    # formula as text starting with '=', which a string cell may hold too).
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(name) and b"<f " not in archive.read(name)


def test_a_lab_scan_as_xlsx_holds_every_row_as_the_csv_does(tmp_path):
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
    data = _sheet_rows(tmp_path / "r.xlsx")
    with (tmp_path / "r.jsonl").open(encoding="utf-8") as handle:
        objects = [json.loads(line) for line in handle]
    assert len(data) == len(objects) == 272
    for cells, obj in zip(data, objects, strict=True):
        values = dict(zip(rows.CSV_COLUMNS, cells, strict=True))
        for column, cell in values.items():
            if column in NUMBER_COLUMNS:
                assert cell.data_type == "n" and isinstance(cell.value, int | float), column
            else:
                assert cell.data_type == "s" or cell.value is None, (column, cell.value)
        assert values["ip"].value == obj["ip"]
        assert values["status"].value == obj["status"]
        assert (values["ptr_names"].value or "") == ";".join(obj["ptr_names"])
        assert values["queries"].value == obj["queries"]
        assert values["attempts"].value == obj["attempts"]
        assert values["elapsed_ms"].value == obj["elapsed_ms"]
        assert (values["reason"].value or "") == (obj["reason"] or "")
        assert (values["expected_name"].value or "") == (obj["expected_name"] or "")
    by_ip = {cells[0].value: cells for cells in data}
    column = rows.CSV_COLUMNS.index("expected_name")
    assert [by_ip[f"198.18.0.{n}"][column].value for n in (1, 2, 3, 4)] == [
        "0012", "1e5", "2024-01-02", "\\=1+1",
    ]  # fmt: skip


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
    assert workbook.sheetnames == ["results", "results 2", "results 3", "results 4"]
    got = []
    for sheet in workbook.worksheets:
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


def test_diff_refuses_an_xlsx_with_a_pointer_to_the_csv(tmp_path):
    (tmp_path / "a.xlsx").write_bytes(b"PK\x03\x04")
    result = fcrdns("diff", str(tmp_path / "a.xlsx"), str(tmp_path / "a.xlsx"))
    assert result.returncode == 2 and "CSV or JSONL" in result.stderr, result.stderr
