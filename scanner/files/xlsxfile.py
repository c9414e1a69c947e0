"""The XLSX output, written with xlsxwriter: the scan as a colleague opens it in a spreadsheet.

A CSV cell is whatever the spreadsheet makes of its text: `0012` becomes 12,
`1e5` 100000, `2024-01-02` a date, and the import options decide what is a
formula. In an XLSX file every cell has a type: here every text is a string
cell (never a formula, a number or a date, whatever it looks like), the
counts are numbers and `timestamp` is a date cell (UTC).

The workbook is laid out for reading, not for scripts (the CSV keeps its
fixed, documented column order for those):
- rows in address order, the header frozen, an autofilter, widths fitted;
- the columns a person reads first first (`XLSX_FIRST`), the optional
  checks' columns only when some row has a value in them (the check ran),
  the bookkeeping (`stage`, `queries`, `timestamp`...) last;
- a `zones` sheet with one row per reverse zone (per /24 or /64 without
  `--zone-owner`): its addresses, failures by kind, name servers, serials and
  lame servers. Those zone facts are there once, not on each of a zone's rows.

An XLSX file is a zip archive written whole at the end, so a scan cannot
append to one. The scan streams rows into the output's `.partial` file as
JSON arrays of cell values in CSV column order, one line per row
(`rows.xlsx_line`), journaled for `--resume` like any other output; when the
scan is complete they are sorted (scanner/files/publish.py) and
`write_workbook()` reads them twice: once to measure (widths, the columns
in use, the zones), once to write, with xlsxwriter in constant memory mode.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import xlsxwriter

from scanner.core.findings import FINDING_STATUSES
from scanner.core.status import TRANSIENT, Status
from scanner.files.ownfiles import create_new

# Excel's limits: rows per sheet (the header included), characters per cell.
ROWS_PER_SHEET = 1_048_576
CELL_CHARACTERS = 32_767

XLSX_FIRST = (
    "ip", "status", "ptr_names", "reason", "confirmed_name", "forward_addresses",
    "iprev", "postfix", "all_names_confirm", "valid_hostname", "generic_ptr",
)  # fmt: skip
# Columns only some scans fill (--expect/--helo, --zone-owner, --check-authoritative).
XLSX_OPTIONAL = (
    "expected_name", "expected_match", "ptr_zone", "ptr_zone_ns", "ns_consistent", "ns_answers",
)  # fmt: skip
XLSX_LAST = ("error", "stage", "queries", "attempts", "elapsed_ms", "timestamp")
# Facts of a zone, the same on each of its rows: on the zones sheet instead.
ZONE_FACTS = ("ns_serials", "ns_lame")
# The zones sheet: what each zone's rows add up to, then the zone's own facts.
ZONE_COUNTS = (
    "addresses", "failing", *FINDING_STATUSES, "transient", "generic_ptr", "ns_inconsistent",
)  # fmt: skip
ZONE_COLUMNS = ("zone", "network", *ZONE_COUNTS, "name_servers", *ZONE_FACTS)
# Characters a column is made wide at most (the text wraps in the cell beyond),
# and at least for an address (IPv4 in full: 255.255.255.255).
WIDEST = 60
IP_WIDTH = 16
DATE_FORMAT = "yyyy-mm-dd hh:mm:ss.000"


def _fit(text: str) -> str:
    """A string that fits a cell; a longer one is cut and says so."""
    if len(text) <= CELL_CHARACTERS:
        return text
    note = f" [cut: {len(text):,} characters in all; the CSV and JSONL outputs hold them]"
    return text[: CELL_CHARACTERS - len(note)] + note


def layout(columns: Sequence[str], used: set[str]) -> list[str]:
    """The sheet's columns, in reading order, of the staged `columns` (those in `used` only,
    for the optional ones)."""
    known = (*XLSX_FIRST, *XLSX_OPTIONAL, *XLSX_LAST)
    first = [c for c in (*XLSX_FIRST, *XLSX_OPTIONAL) if c in columns]
    first = [c for c in first if c not in XLSX_OPTIONAL or c in used]
    others = [c for c in columns if c not in known and c not in ZONE_FACTS]
    return first + others + [c for c in XLSX_LAST if c in columns]


def parse_timestamp(text: str) -> datetime | None:
    """A row's `timestamp` (2026-11-26T08:00:00.123Z) as a naive UTC datetime, for a date cell."""
    try:
        return datetime.fromisoformat(text.removesuffix("Z"))
    except ValueError:
        return None


@dataclass(slots=True)
class _Zone:
    zone: str
    network: str
    counts: dict[str, int] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)

    def add(self, cells: dict[str, Any]) -> None:
        counts = self.counts
        counts["addresses"] = counts.get("addresses", 0) + 1
        status = str(cells.get("status", ""))
        try:
            transient = TRANSIENT[Status(status)]
        except ValueError:
            transient = False
        failing = status in FINDING_STATUSES or transient
        for name, hit in (
            ("failing", failing),
            (status, status in FINDING_STATUSES),
            ("transient", transient),
            ("generic_ptr", cells.get("generic_ptr") == "yes"),
            ("ns_inconsistent", cells.get("ns_consistent") == "no"),
        ):
            if hit:
                counts[name] = counts.get(name, 0) + 1
        for name, column in (("name_servers", "ptr_zone_ns"), *((f, f) for f in ZONE_FACTS)):
            if not self.facts.get(name) and cells.get(column):
                self.facts[name] = str(cells[column])

    def record(self) -> list[str | int]:
        return [
            self.zone,
            self.network,
            *(self.counts.get(name, 0) for name in ZONE_COUNTS),
            *(self.facts.get(name, "") for name in ("name_servers", *ZONE_FACTS)),
        ]


def _network_of(ip: str) -> str:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@dataclass(slots=True)
class _Measure:
    """What the first reading finds: columns in use, widths, the zones."""

    used: set[str] = field(default_factory=set)
    widths: dict[str, int] = field(default_factory=dict)
    zones: dict[tuple[str, str], _Zone] = field(default_factory=dict)

    def add(self, cells: dict[str, Any]) -> None:
        for column, value in cells.items():
            if value not in ("", None):
                self.used.add(column)
                size = 23 if column == "timestamp" else len(str(value))
                if size > self.widths.get(column, 0):
                    self.widths[column] = size
        zone = str(cells.get("ptr_zone") or "")
        key = (zone, "" if zone else _network_of(str(cells.get("ip", ""))))
        if key not in self.zones:
            self.zones[key] = _Zone(*key)
        self.zones[key].add(cells)


def _staged(staging: str, columns: Sequence[str]) -> Iterator[dict[str, Any]]:
    with open(staging, encoding="utf-8") as lines:
        for line in lines:
            yield dict(zip(columns, json.loads(line), strict=False))


def write_workbook(
    staging: str,
    destination: str,
    columns: tuple[str, ...],
    rows_per_sheet: int = ROWS_PER_SHEET,
) -> int:
    """Write the rows of `staging` (in the order given) as the workbook `destination`
    (made afresh); returns the rows written.

    Every results sheet starts with the header row, frozen, with an autofilter
    over its rows; past `rows_per_sheet` rows the next sheet continues.
    """
    measure = _Measure()
    for cells in _staged(staging, columns):
        measure.add(cells)
    sheet_columns = layout(columns, measure.used)
    options = {
        "constant_memory": True,
        "strings_to_numbers": False,
        "strings_to_formulas": False,
        "strings_to_urls": False,
    }
    with open(destination, "wb", opener=create_new) as raw:
        workbook = xlsxwriter.Workbook(raw, options)
        styles = _Styles(workbook)
        sheets = _ResultSheets(workbook, sheet_columns, measure.widths, styles, rows_per_sheet)
        for cells in _staged(staging, columns):
            sheets.write(cells)
        sheets.close()
        _zones_sheet(workbook, measure.zones.values(), styles)
        workbook.close()
        raw.flush()
        os.fsync(raw.fileno())
    return sheets.written


class _Styles:
    def __init__(self, workbook: Any) -> None:
        self.bold = workbook.add_format({"bold": True})
        self.date = workbook.add_format({"num_format": DATE_FORMAT})


def _width(column: str, widths: dict[str, int]) -> int:
    size = max(len(column), widths.get(column, 0))
    if column == "ip":
        size = max(size, IP_WIDTH - 1)
    return min(size, WIDEST) + 1


class _ResultSheets:
    """The results sheets, written a row at a time."""

    def __init__(
        self,
        workbook: Any,
        columns: list[str],
        widths: dict[str, int],
        styles: _Styles,
        rows_per_sheet: int,
    ) -> None:
        self.workbook, self.columns, self.widths, self.styles = workbook, columns, widths, styles
        self.rows_per_sheet = rows_per_sheet
        self.sheet: Any = None
        self.row = rows_per_sheet
        self.sheets = 0
        self.written = 0

    def _start(self) -> None:
        self._end_sheet()
        self.sheets += 1
        name = "results" if self.sheets == 1 else f"results {self.sheets}"
        sheet = self.workbook.add_worksheet(name)
        sheet.freeze_panes(1, 0)
        for number, column in enumerate(self.columns):
            sheet.set_column(number, number, _width(column, self.widths))
            sheet.write_string(0, number, column, self.styles.bold)
        self.sheet, self.row = sheet, 1

    def _end_sheet(self) -> None:
        if self.sheet is not None:
            self.sheet.autofilter(0, 0, self.row - 1, len(self.columns) - 1)
            self.sheet = None

    def write(self, cells: dict[str, Any]) -> None:
        if self.row == self.rows_per_sheet:
            self._start()
        sheet, row = self.sheet, self.row
        for number, column in enumerate(self.columns):
            value = cells.get(column, "")
            if column == "timestamp" and isinstance(value, str) and value:
                when = parse_timestamp(value)
                if when is not None:
                    sheet.write_datetime(row, number, when, self.styles.date)
                    continue
            if isinstance(value, str):
                if value:
                    sheet.write_string(row, number, _fit(value))
            elif value is not None:
                sheet.write_number(row, number, value)
        self.row += 1
        self.written += 1

    def close(self) -> None:
        if not self.sheets:  # no rows at all: the header alone
            self._start()
        self._end_sheet()


def _zones_sheet(workbook: Any, zones: Any, styles: _Styles) -> None:
    """One row per reverse zone (or /24, /64), the most failing first."""
    sheet = workbook.add_worksheet("zones")
    sheet.freeze_panes(1, 0)
    ordered = sorted(zones, key=lambda z: (-z.counts.get("failing", 0), z.zone, z.network))
    records = [zone.record() for zone in ordered]
    for number, column in enumerate(ZONE_COLUMNS):
        longest = max((len(str(record[number])) for record in records), default=0)
        sheet.set_column(number, number, min(max(len(column), longest), WIDEST) + 1)
        sheet.write_string(0, number, column, styles.bold)
    for row, record in enumerate(records, start=1):
        for number, value in enumerate(record):
            if isinstance(value, str):
                if value:
                    sheet.write_string(row, number, _fit(value))
            else:
                sheet.write_number(row, number, value)
    sheet.autofilter(0, 0, len(records), len(ZONE_COLUMNS) - 1)
