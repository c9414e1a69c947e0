"""Reading result files written by earlier scans (CSV, JSONL or XLSX)."""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

from scanner.core.status import TRANSIENT, Status
from scanner.files.xlsxread import WorkbookError, read_workbook


class ResultsError(ValueError):
    """A results file that cannot be read."""


# Python's csv refuses fields over 128 KB, and a row of ours can hold more: an
# address with many PTR names, each with many addresses (`forward_addresses`).
# The limit is per process; a result file is ours to read whole.
csv.field_size_limit(2**31 - 1)


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def jsonl_problem(row: object) -> str:
    """What makes `row` (a parsed JSONL line) not a row fcrdns writes; '' if nothing.

    Only the fields the readers use are checked, by type: a foreign or edited
    line is refused naming the field, never met later as a crash.
    """
    if not isinstance(row, dict):
        return "not an object"
    for field in ("ip", "status"):
        if not isinstance(row.get(field), str):
            return f"{field!r} is not a string"
    if not _strings(row.get("ptr_names")):
        return "'ptr_names' is not a list of strings"
    if not isinstance(row.get("confirmed_name", ""), str | None):
        return "'confirmed_name' is not a string or null"
    forward = row.get("forward", [])
    if not isinstance(forward, list):
        return "'forward' is not a list"
    for check in forward:
        if not (
            isinstance(check, dict)
            and isinstance(check.get("name"), str)
            and isinstance(check.get("outcome"), str)
            and _strings(check.get("addresses"))
        ):
            return "an entry of 'forward' is not an object with name, outcome and addresses"
    return ""


def read_results(path: str) -> Iterator[dict[str, str]]:
    """Rows of a CSV, JSONL or XLSX result file, with list fields joined by ';' as in CSV."""
    plain = path[:-3] if path.lower().endswith(".gz") else path
    if Path(plain).suffix.lower() == ".xlsx":
        yield from _workbook_rows(path, plain)
        return
    opener = gzip.open if plain != path else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            if Path(plain).suffix.lower() == ".csv":
                for number, row in enumerate(csv.DictReader(handle), start=2):
                    if "ip" not in row or "status" not in row:
                        raise ResultsError(f"{path}:{number}: not a fcrdns result row")
                    yield row
                return
            for number, line in enumerate(handle, start=1):
                try:
                    obj = json.loads(line)
                except ValueError:
                    raise ResultsError(f"{path}:{number}: not a fcrdns JSONL result") from None
                problem = jsonl_problem(obj)
                if problem:
                    raise ResultsError(f"{path}:{number}: not a fcrdns JSONL result: {problem}")
                obj["ptr_names"] = ";".join(obj["ptr_names"])
                obj["confirmed_name"] = obj["confirmed_name"] or ""
                yield obj
    except OSError as exc:  # gzip.BadGzipFile included
        reason = exc.strerror or str(exc)
        raise ResultsError(f"cannot read results {path!r}: {reason}") from None
    except EOFError:
        raise ResultsError(f"{path}: the compressed file ends early (cut off?)") from None
    except csv.Error as exc:
        raise ResultsError(f"{path}: not a CSV file fcrdns wrote: {exc}") from None
    except UnicodeDecodeError:
        raise ResultsError(f"{path}: not UTF-8 text") from None


def _workbook_rows(path: str, plain: str) -> Iterator[dict[str, str]]:
    if plain != path:
        raise ResultsError(f"{path}: an XLSX workbook is compressed already: give it unpacked")
    try:
        yield from read_workbook(path)
    except WorkbookError as exc:
        raise ResultsError(str(exc)) from None
    except OSError as exc:
        raise ResultsError(f"cannot read results {path!r}: {exc.strerror or exc}") from None


def transient_ips(path: str) -> Iterator[str]:
    """The IPs whose verdict in `path` was a transient failure, worth scanning again.

    Read as they are used: after a resolver outage that may be every row of a /8.
    """
    for row in read_results(path):
        try:
            status = Status(row["status"])
        except ValueError:
            raise ResultsError(f"{path}: unknown status {row['status']!r}") from None
        if TRANSIENT[status]:
            yield row["ip"]
