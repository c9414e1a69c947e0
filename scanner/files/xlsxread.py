"""Reading an XLSX output back (`diff`, `sort`, `merge`, `scan --previous`), with openpyxl.

The workbook's rows become the rows a CSV output has: every column by its
header's name, each value as the CSV writes it (numbers as text, the date
cell as the ISO timestamp), and each zone's serials and lame servers, which
the workbook keeps once on its zones sheet (scanner/files/xlsxfile.py),
back on its rows. A colleague may have opened the file and saved it again:
columns are found by name, in any order, and extra sheets or columns are
left alone. Read in openpyxl's read-only mode: a row at a time.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from scanner.core.rows import CSV_COLUMNS
from scanner.files.xlsxfile import ZONE_FACTS

# Raised for what is not an XLSX workbook: openpyxl's own error, a zip's, a part missing.
_NOT_A_WORKBOOK = (zipfile.BadZipFile, KeyError, ValueError, TypeError, EOFError)


class WorkbookError(ValueError):
    """An XLSX file that is not a results workbook."""


def _text(column: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, float):
        if column == "elapsed_ms":
            return f"{value:.1f}"
        return str(int(value)) if value.is_integer() else str(value)
    return str(value)


def _rows_of(sheet: Any) -> Iterator[tuple[Any, ...]]:
    return iter(sheet.iter_rows(values_only=True))


def read_workbook(path: str) -> Iterator[dict[str, str]]:
    """The rows of the results sheets (`results`, `results 2`...), as a CSV output's rows."""
    import openpyxl  # a second of import time, only for a workbook

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except OSError:
        raise
    except _NOT_A_WORKBOOK as exc:
        raise WorkbookError(f"{path}: not an XLSX workbook ({type(exc).__name__})") from None
    except Exception as exc:  # openpyxl's InvalidFileException and its kin
        raise WorkbookError(f"{path}: not an XLSX workbook: {str(exc)[:200]}") from None
    try:
        names = [name for name in workbook.sheetnames if name.split(" ")[0] == "results"]
        if not names:
            raise WorkbookError(f"{path}: no sheet named 'results': not a fcrdns workbook")
        facts = _zone_facts(workbook) if "zones" in workbook.sheetnames else {}
        for name in names:
            rows = _rows_of(workbook[name])
            header = [str(cell or "") for cell in next(rows, ())]
            if "ip" not in header or "status" not in header:
                raise WorkbookError(f"{path}: sheet {name!r} has no ip and status columns")
            for cells in rows:
                if all(cell is None for cell in cells):
                    continue
                row = {column: "" for column in CSV_COLUMNS}
                row |= {col: _text(col, value) for col, value in zip(header, cells, strict=False)}
                zone = facts.get(row.get("ptr_zone", ""))
                if zone:
                    for column, value in zone.items():
                        row[column] = row.get(column) or value
                yield row
    except _NOT_A_WORKBOOK as exc:
        raise WorkbookError(f"{path}: a damaged XLSX workbook ({type(exc).__name__})") from None
    finally:
        workbook.close()


def _zone_facts(workbook: Any) -> dict[str, dict[str, str]]:
    rows = _rows_of(workbook["zones"])
    header = [str(cell or "") for cell in next(rows, ())]
    if "zone" not in header:
        return {}
    facts = {}
    for cells in rows:
        row = dict(zip(header, cells, strict=False))
        if row.get("zone"):
            facts[str(row["zone"])] = {c: _text(c, row.get(c)) for c in ZONE_FACTS}
    return facts


def staged_record(row: dict[str, str]) -> list[str | int | float]:
    """A row read back as the staging line of an XLSX output (rows.xlsx_record's cells)."""
    record: list[str | int | float] = []
    for column in CSV_COLUMNS:
        value = row.get(column, "")
        if column in ("queries", "attempts") and value.isdigit():
            record.append(int(value))
        elif column == "elapsed_ms" and value:
            try:
                record.append(float(value))
            except ValueError:
                record.append(value)
        else:
            record.append(value)
    return record
