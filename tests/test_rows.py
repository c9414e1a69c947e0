import csv
import io
import ipaddress
import json
import random
from dataclasses import replace

from scanner.core.rows import CSV_COLUMNS, csv_header, csv_lines, csv_record, json_line
from scanner.core.status import Outcome, Stage, Status
from scanner.core.verdict import ForwardCheck, Lookup, ScanResult

RESULT = ScanResult(
    ip=ipaddress.ip_address("198.18.0.5"),
    status=Status.MISMATCH,
    stage=Stage.FORWARD,
    ptr_names=("=cmd|calc.example", "b.example"),
    forward=(
        ForwardCheck("=cmd|calc.example", Lookup(Outcome.ANSWER, ("203.0.113.1", "203.0.113.2"))),
        ForwardCheck("b.example", Lookup(Outcome.NXDOMAIN)),
    ),
    queries=3,
    elapsed=0.0123,
    timestamp=1_700_000_000.5,
)


def test_csv_columns_are_stable_and_start_with_ip_status():
    assert CSV_COLUMNS[:2] == ("ip", "status")
    assert csv_header() == ",".join(CSV_COLUMNS) + "\n"


def test_csv_row_joins_multiple_values_and_defuses_formulas():
    row = next(csv.reader(io.StringIO(csv_lines([csv_record(RESULT)]))))
    fields = dict(zip(CSV_COLUMNS, row, strict=True))
    assert fields["ptr_names"] == "\\=cmd|calc.example;b.example"
    assert (
        fields["forward_addresses"]
        == "\\=cmd|calc.example=203.0.113.1 203.0.113.2;b.example=nxdomain"
    )
    assert fields["elapsed_ms"] == "12.3"
    assert fields["timestamp"] == "2023-11-14T22:13:20.500Z"


def test_a_name_behind_a_semicolon_cannot_start_a_formula_in_any_cell():
    # Spreadsheets split on ';' too: every part of every cell must be safe.
    hostile = ("a.example", "=1+1.", "x;=sum(1+1).example", "-2+3.example", "@x.example")
    result = replace(
        RESULT,
        ptr_names=hostile,
        forward=tuple(ForwardCheck(name, Lookup(Outcome.NXDOMAIN)) for name in hostile),
        expected_name="helo.example;=1+1",
        expected_match=False,
        ptr_zone="=zone.example",
        ptr_zone_ns=("0012;=1+1;ns.example", "+ns2.example"),
    )
    row = next(csv.reader(io.StringIO(csv_lines([csv_record(result)]))))
    assert len(row) == len(CSV_COLUMNS)
    for cell in row:
        for part in cell.split(";"):
            assert not part.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r")), (cell, part)
    assert json.loads(json_line(result))["ptr_names"] == row[CSV_COLUMNS.index("ptr_names")].split(
        ";"
    )


def test_json_line_has_every_detail_and_names_as_the_csv_shows_them():
    obj = json.loads(json_line(RESULT))
    assert obj["ptr_names"] == ["\\=cmd|calc.example", "b.example"]
    assert obj["forward"][1] == {
        "name": "b.example",
        "outcome": "nxdomain",
        "addresses": [],
        "cname_chain": [],
        "detail": None,
    }
    assert obj["status"] == "mismatch" and obj["confirmed_name"] is None


def test_timestamps_match_the_iso_format_to_the_millisecond():
    import random
    from datetime import UTC, datetime

    from scanner.core.rows import _timestamp

    rng = random.Random(5)
    moments = [1_700_000_000.0, 1_700_000_000.9995, 1_700_000_000.123, 1_799_999_999.9999999]
    moments += [rng.uniform(1.6e9, 1.9e9) for _ in range(2000)]
    for moment in moments:
        iso = datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")
        assert _timestamp(moment) == iso.replace("+00:00", "Z"), moment


def test_csv_lines_write_what_csv_writer_writes():
    # Lines are joined by hand unless a cell needs quoting; every kind of cell
    # that does (commas, quotes, line breaks, a lone empty cell) must come out
    # as csv.writer writes it.
    rng = random.Random(3)
    alphabet = ["a", "b.example", ",", '"', "\n", "\r", " ", "'", "=", ";", "", "é"]
    records = [[]] + [[""]] + [
        ["".join(rng.choice(alphabet) for _ in range(rng.randrange(4)))
         for _ in range(rng.randrange(1, 6))]
        for _ in range(3000)
    ]  # fmt: skip
    expected = []
    for record in records:  # csv.writer's lines, quoting cells with a CR or LF
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerow(record)
        expected.append(buffer.getvalue()[:-2] + "\n")
    text = csv_lines(records)
    assert text == "".join(expected)
    assert list(csv.reader(io.StringIO(text, newline=""))) == records
    assert csv_lines([]) == ""


def test_a_cell_holding_a_carriage_return_is_quoted_and_stays_one_row():
    # An --expect or --helo name comes from outside: a bare CR split the row in
    # spreadsheets, and the next "row" began with a formula.
    text = csv_lines([["198.51.100.7", "mail.example\r=1+1", "yes"]])
    assert text == '198.51.100.7,"mail.example\r=1+1",yes\n'
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["198.51.100.7", "mail.example\r=1+1", "yes"]
    ]
