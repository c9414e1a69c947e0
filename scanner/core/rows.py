"""How a `ScanResult` is written out: the CSV columns and the JSON object.

Pure formatting, shared by the file sinks. The CSV column order is part of the
interface (spreadsheets and scripts index by it): add columns at the end only.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from scanner.core.authority import AuthorityCheck
from scanner.core.mail import mail_of
from scanner.core.names import present
from scanner.core.reasons import reason, reason_of
from scanner.core.status import Outcome
from scanner.core.verdict import ForwardCheck, ScanResult, row_ip

CSV_COLUMNS = (
    "ip",
    "status",
    "stage",
    "ptr_names",
    "confirmed_name",
    "forward_addresses",
    "error",
    "queries",
    "elapsed_ms",
    "timestamp",
    "attempts",
    "generic_ptr",
    "reason",
    "expected_name",
    "expected_match",
    "ptr_zone",
    "ptr_zone_ns",
    "iprev",
    "postfix",
    "all_names_confirm",
    "valid_hostname",
    "ns_consistent",
    "ns_answers",
    "ns_serials",
    "ns_lame",
)
_YES_NO = {None: "", True: "yes", False: "no"}

# Cells starting with these are run as formulas by spreadsheet programs.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    if text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def _timestamp(seconds: float) -> str:
    """ISO 8601 in UTC, to the millisecond: 2026-11-26T08:00:00.123Z."""
    whole = int(seconds)
    micro = round((seconds - whole) * 1_000_000)  # as datetime rounds it
    if micro == 1_000_000:
        whole, micro = whole + 1, 0
    return f"{_second(whole)}.{micro // 1000:03d}Z"


@functools.lru_cache(maxsize=4)
def _second(whole: int) -> str:
    # Rows made in the same second share this part (thousands of them, in a scan).
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _forward_text(check: ForwardCheck) -> str:
    lookup = check.lookup
    if lookup.outcome is Outcome.ANSWER and lookup.records:
        return f"{present(check.name)}={' '.join(lookup.records)}"
    return f"{present(check.name)}={lookup.outcome.value}"


def _names(names: tuple[str, ...]) -> str:
    return ";".join(map(present, names))


def csv_record(result: ScanResult) -> list[str]:
    mail = mail_of(result)
    return [
        row_ip(result),
        result.status.value,
        result.stage.value,
        spreadsheet_safe(_names(result.ptr_names)),
        spreadsheet_safe(present(result.confirmed_name)),
        spreadsheet_safe(";".join(_forward_text(check) for check in result.forward)),
        spreadsheet_safe(result.error),
        str(result.queries),
        f"{result.elapsed * 1000:.1f}",
        _timestamp(result.timestamp),
        str(result.attempts),
        "yes" if result.generic_ptr else "no",
        spreadsheet_safe(reason_of(result)),
        spreadsheet_safe(present(result.expected_name)),
        _YES_NO[result.expected_match],
        spreadsheet_safe(present(result.ptr_zone)),
        spreadsheet_safe(_names(result.ptr_zone_ns)),
        mail.iprev.value,
        mail.postfix.value,
        _YES_NO[mail.all_names_confirm],
        _YES_NO[mail.valid_hostname],
        *map(spreadsheet_safe, _authority_cells(result.authority)),
    ]


def _authority_cells(check: AuthorityCheck | None) -> tuple[str, str, str, str]:
    """ns_consistent, ns_answers (when they are not all alike), ns_serials, ns_lame.

    Their names are already as present() shows them (scanner/core/authority.py).
    """
    if check is None:
        return ("", "", "", "")
    answers = check.answers_text() if check.consistent is not True else ""
    return (
        _YES_NO[check.consistent],
        answers,
        check.zone.serials_text(),
        check.zone.lame_text(),
    )


def xlsx_record(result: ScanResult) -> list[str | int | float]:
    """The CSV columns as typed cells: counts are numbers, the rest strings.

    No `'` guard: an XLSX string cell is never run as a formula. The reason
    leaves the zone's own facts to the workbook's zones sheet.
    """
    mail = mail_of(result)
    return [
        row_ip(result),
        result.status.value,
        result.stage.value,
        _names(result.ptr_names),
        present(result.confirmed_name),
        ";".join(_forward_text(check) for check in result.forward),
        result.error,
        result.queries,
        round(result.elapsed * 1000, 1),
        _timestamp(result.timestamp),
        result.attempts,
        "yes" if result.generic_ptr else "no",
        reason(result, mail, zone_facts=False) if result.authority else reason_of(result),
        present(result.expected_name),
        _YES_NO[result.expected_match],
        present(result.ptr_zone),
        _names(result.ptr_zone_ns),
        mail.iprev.value,
        mail.postfix.value,
        _YES_NO[mail.all_names_confirm],
        _YES_NO[mail.valid_hostname],
        *_authority_cells(result.authority),
    ]


def xlsx_line(result: ScanResult) -> str:
    """An XLSX output's row until the workbook is written: its cells as a JSON array.

    scanner/files/xlsxfile.py reads these lines back when the scan is complete.
    """
    return json.dumps(xlsx_record(result), ensure_ascii=False, separators=(",", ":")) + "\n"


def encode(fmt: str, results: Sequence[ScanResult]) -> str:
    """The rows of `results` in output format `fmt` (for xlsx, its staging lines)."""
    if fmt == "csv":
        return csv_lines([csv_record(result) for result in results])
    if fmt == "jsonl":
        return "".join(json_line(result) for result in results)
    if fmt == "xlsx":
        return "".join(xlsx_line(result) for result in results)
    raise ValueError(f"unknown output format {fmt!r}")


def csv_header() -> str:
    return csv_lines([list(CSV_COLUMNS)])


def csv_lines(records: list[list[str]]) -> str:
    """CSV text for the records, exactly as `csv.writer` writes them.

    Almost no cell needs quoting, and `csv.writer` costs more per row than
    building the whole rest of it, so a line is joined as it is and only a
    line with a comma inside a cell, a quote or a line break goes through
    `csv.writer`. There a cell holding a CR is quoted too: `csv.writer` quotes
    only the characters of its line terminator, and a bare CR split the row
    in spreadsheets (the next row could then start with a formula).
    """
    lines = []
    for record in records:
        line = ",".join(record)
        plain = line.count(",") == len(record) - 1 and not any(c in line for c in '"\n\r')
        if not line or not plain:
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\r\n").writerow(record)
            line = buffer.getvalue()[:-2]
        lines.append(line)
    lines.append("")
    return "\n".join(lines)


def json_object(result: ScanResult) -> dict[str, Any]:
    mail = mail_of(result)
    return {
        "ip": row_ip(result),
        "status": result.status.value,
        "stage": result.stage.value,
        "ptr_names": [present(name) for name in result.ptr_names],
        "confirmed_name": present(result.confirmed_name) or None,
        "forward": [
            {
                "name": present(check.name),
                "outcome": check.lookup.outcome.value,
                "addresses": list(check.lookup.records),
                "cname_chain": [present(name) for name in check.lookup.cnames],
                "detail": check.lookup.detail or None,
            }
            for check in result.forward
        ],
        "error": result.error or None,
        "queries": result.queries,
        "elapsed_ms": round(result.elapsed * 1000, 1),
        "timestamp": _timestamp(result.timestamp),
        "attempts": result.attempts,
        "generic_ptr": result.generic_ptr,
        "reason": reason_of(result) or None,
        "expected_name": present(result.expected_name) or None,
        "expected_match": result.expected_match,
        "ptr_zone": present(result.ptr_zone) or None,
        "ptr_zone_ns": [present(name) for name in result.ptr_zone_ns],
        "iprev": mail.iprev.value,
        "postfix": mail.postfix.value,
        "all_names_confirm": mail.all_names_confirm,
        "valid_hostname": mail.valid_hostname,
        **_authority_object(result.authority),
    }


def _authority_object(check: AuthorityCheck | None) -> dict[str, Any]:
    if check is None:
        return {"ns_consistent": None, "ns_answers": None, "ns_serials": None, "ns_lame": None}
    zone = check.zone
    return {
        "ns_consistent": check.consistent,
        "ns_answers": dict(check.answers),
        "ns_serials": {server.label: server.serial for server in zone.serving},
        "ns_lame": {server.label: server.lame for server in zone.lame},
    }


def json_line(result: ScanResult) -> str:
    return json.dumps(json_object(result), ensure_ascii=False, separators=(",", ":")) + "\n"
