"""The XLSX output, written with xlsxwriter: the way to open a scan in a spreadsheet.

A CSV cell is whatever the spreadsheet makes of its text: `0012` becomes 12,
`1e5` 100000, `2024-01-02` a date, and the import options decide what is a
formula. In an XLSX file every cell has a type: here every text is a string
cell (never a formula, a number or a date, whatever it looks like) and only
the counts are numbers.

An XLSX file is a zip archive written whole at the end, so a scan cannot
append to one. The scan streams rows into the output's `.partial` file as
JSON arrays of cell values, one line per row (`rows.xlsx_line`), like any
other output (and journaled for `--resume` like any other); when the scan is complete,
`write_workbook()` turns them into the workbook with xlsxwriter in constant
memory mode (a row at a time), at `<path>.tmp`, which scanner/files/publish.py
renames.
"""

from __future__ import annotations

import json
import os
from typing import Any

import xlsxwriter

from scanner.files.ownfiles import create_new

# Excel's limits: rows per sheet (the header included), characters per cell.
ROWS_PER_SHEET = 1_048_576
CELL_CHARACTERS = 32_767


def _fit(text: str) -> str:
    """A string that fits a cell; a longer one is cut and says so."""
    if len(text) <= CELL_CHARACTERS:
        return text
    note = f" [cut: {len(text):,} characters in all; the CSV and JSONL outputs hold them]"
    return text[: CELL_CHARACTERS - len(note)] + note


def write_workbook(
    staging: str,
    destination: str,
    columns: tuple[str, ...],
    rows_per_sheet: int = ROWS_PER_SHEET,
) -> int:
    """Write the rows of `staging` as the workbook `destination` (made afresh); rows written.

    Every sheet starts with the header row, frozen, with an autofilter over
    its rows; past `rows_per_sheet` rows the next sheet continues.
    """
    options = {
        "constant_memory": True,
        "strings_to_numbers": False,
        "strings_to_formulas": False,
        "strings_to_urls": False,
    }
    written, sheets = 0, 0
    with (
        open(staging, encoding="utf-8") as lines,
        open(destination, "wb", opener=create_new) as raw,
    ):
        workbook = xlsxwriter.Workbook(raw, options)
        bold = workbook.add_format({"bold": True})
        sheet, row = None, rows_per_sheet
        for line in lines:
            if row == rows_per_sheet:
                if sheet is not None:
                    sheet.autofilter(0, 0, row - 1, len(columns) - 1)
                sheets += 1
                sheet, row = _start_sheet(workbook, sheets, columns, bold), 1
            assert sheet is not None  # started on the first row
            for column, value in enumerate(json.loads(line)):
                if isinstance(value, str):
                    sheet.write_string(row, column, _fit(value))
                else:
                    sheet.write_number(row, column, value)
            row += 1
            written += 1
        if sheet is None:  # no rows: the header alone
            sheet, row = _start_sheet(workbook, 1, columns, bold), 1
        sheet.autofilter(0, 0, row - 1, len(columns) - 1)
        workbook.close()
        raw.flush()
        os.fsync(raw.fileno())
    return written


def _start_sheet(workbook: Any, number: int, columns: tuple[str, ...], bold: Any) -> Any:
    sheet = workbook.add_worksheet("results" if number == 1 else f"results {number}")
    sheet.freeze_panes(1, 0)
    for column, name in enumerate(columns):
        sheet.write_string(0, column, name, bold)
    return sheet
