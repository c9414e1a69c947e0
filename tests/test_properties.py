"""Property tests over arbitrary label bytes: every output row reads back exactly, runs nothing.

Names are made of any bytes DNS labels can hold (hypothesis chooses them) and
written as the engines hand them over: in presentation format. Expected names
(`--expect`, `--helo`) are any text at all, as strangers' HELO names are.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json

import dns.name
from hypothesis import given
from hypothesis import strategies as st

from scanner.core import rows
from scanner.core.names import normal_name
from scanner.core.status import Outcome, Stage, Status
from scanner.core.verdict import ForwardCheck, Lookup, ScanResult, cname_loop, decide
from scanner.files.diff import compare, snapshots

# Characters that start a formula in a spreadsheet cell.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")

labels = st.binary(min_size=1, max_size=20)
wire_names = st.lists(labels, min_size=1, max_size=4).map(
    lambda found: dns.name.Name([*found, b"example", b""])
)
# As an engine hands a name over: presentation format, normalized.
names = wire_names.map(lambda name: normal_name(name.to_text()))
addresses = st.ip_addresses(network="198.18.0.0/15") | st.ip_addresses(network="2001:db8::/32")
free_text = st.text(max_size=40)  # a stranger's HELO name: any characters at all


@st.composite
def lookups(draw) -> Lookup:
    kind = draw(st.sampled_from(["answer", "nxdomain", "nodata", "loop", "timeout"]))
    if kind == "answer":
        found = draw(st.lists(addresses, max_size=3, unique=True))
        return Lookup(
            Outcome.ANSWER, tuple(map(str, found)), tuple(draw(st.lists(names, max_size=2)))
        )
    if kind == "loop":
        return cname_loop(draw(names), draw(st.lists(names, min_size=1, max_size=3)))
    if kind == "timeout":
        return Lookup(Outcome.TIMEOUT, detail="Timeout while contacting DNS servers")
    return Lookup(Outcome.NXDOMAIN if kind == "nxdomain" else Outcome.NODATA)


@st.composite
def results(draw, ip=None) -> ScanResult:
    ptr_names = tuple(draw(st.lists(names, max_size=4, unique=True)))
    forward = tuple(ForwardCheck(name, draw(lookups())) for name in ptr_names)
    status = draw(st.sampled_from(list(Status)))
    error = draw(st.sampled_from(["", "loop", "failed"]))
    if error == "loop":
        error = cname_loop(draw(names), draw(st.lists(names, min_size=1, max_size=2))).detail
    elif error == "failed" and forward:
        # The text the verdict itself writes for a forward lookup that failed
        # (built here by hand, it once left the name raw: not what a row holds).
        timeout = Lookup(Outcome.TIMEOUT, detail="Timeout while contacting DNS servers")
        some_ip = ipaddress.ip_address("198.18.0.1")
        first = (ForwardCheck(forward[0].name, timeout),)
        error = decide(some_ip, Lookup(Outcome.ANSWER, (forward[0].name,)), first).error
    else:
        error = ""
    expected = draw(st.one_of(st.just(""), names, free_text))
    return ScanResult(
        ip=ip if ip is not None else draw(addresses),
        status=status,
        stage=draw(st.sampled_from(list(Stage))),
        ptr_names=ptr_names,
        confirmed_name=draw(st.sampled_from(["", *ptr_names])),
        forward=forward,
        error=error,
        queries=draw(st.integers(0, 50)),
        attempts=draw(st.integers(0, 80)),
        elapsed=draw(st.floats(0, 30)),
        timestamp=draw(st.floats(1.7e9, 1.9e9)),
        generic_ptr=draw(st.booleans()),
        expected_name=expected,
        expected_match=draw(st.none() | st.booleans()) if expected else None,
        ptr_zone=draw(st.just("") | names),
        ptr_zone_ns=tuple(draw(st.lists(names, max_size=3))),
    )


def _wire(shown: str) -> dns.name.Name:
    return dns.name.from_text(shown.encode(), origin=None)


@given(st.lists(results(), min_size=1, max_size=5))
def test_csv_rows_read_back_exactly_and_no_part_of_a_cell_starts_a_formula(batch):
    text = rows.csv_header() + rows.csv_lines([rows.csv_record(result) for result in batch])
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[0] == list(rows.CSV_COLUMNS)
    assert parsed[1:] == [rows.csv_record(result) for result in batch]
    for record, result in zip(parsed[1:], batch, strict=True):
        assert len(record) == len(rows.CSV_COLUMNS)
        for column, cell in zip(rows.CSV_COLUMNS, record, strict=True):
            assert "\r" not in cell and "\n" not in cell, (column, cell)
            for part in cell.split(";"):
                # Spreadsheets may trim spaces on import: what follows them counts.
                assert not part.lstrip(" ").startswith(FORMULA_STARTS), (column, cell)
        names = [name for name in record[rows.CSV_COLUMNS.index("ptr_names")].split(";") if name]
        assert [_wire(name) for name in names] == [_wire(name) for name in result.ptr_names]


def test_a_failed_forward_lookup_of_a_hostile_name_starts_no_formula_in_the_error_cell():
    # Found by the property above: a label ";=" (shown by dnspython as "\\;=").
    name = normal_name(dns.name.Name([b";=", b"example", b""]).to_text())
    timeout = Lookup(Outcome.TIMEOUT, detail="Timeout while contacting DNS servers")
    ip = ipaddress.ip_address("198.18.0.1")
    result = decide(ip, Lookup(Outcome.ANSWER, (name,)), [ForwardCheck(name, timeout)])
    cell = rows.csv_record(result)[rows.CSV_COLUMNS.index("error")]
    assert cell.startswith("A ") and ": timeout" in cell
    assert not any(part.lstrip(" ").startswith(FORMULA_STARTS) for part in cell.split(";"))


@given(st.lists(results(), min_size=1, max_size=5))
def test_jsonl_rows_read_back_exactly(batch):
    for result in batch:
        line = rows.json_line(result)
        assert line.endswith("\n") and line.count("\n") == 1
        assert line.isprintable() or line[:-1].isprintable()
        obj = json.loads(line)
        assert list(obj) == [*rows.CSV_COLUMNS[:5], "forward", *rows.CSV_COLUMNS[6:]]
        assert [_wire(name) for name in obj["ptr_names"]] == [
            _wire(name) for name in result.ptr_names
        ]
        assert [_wire(check["name"]) for check in obj["forward"]] == [
            _wire(check.name) for check in result.forward
        ]
        assert [_wire(name) for name in obj["ptr_zone_ns"]] == [
            _wire(name) for name in result.ptr_zone_ns
        ]
        for check, written in zip(result.forward, obj["forward"], strict=True):
            assert written["outcome"] == check.lookup.outcome.value
            assert written["addresses"] == list(check.lookup.records)


@st.composite
def scans(draw) -> list[ScanResult]:
    ips = draw(st.lists(addresses, min_size=1, max_size=6, unique=True))
    return [draw(results(ip=ip)) for ip in ips]


@given(scans())
def test_the_csv_and_the_jsonl_of_one_scan_have_no_difference(tmp_path_factory, batch):
    work = tmp_path_factory.mktemp("diff")
    (work / "r.csv").write_text(rows.csv_header() + rows.encode("csv", batch), encoding="utf-8")
    (work / "r.jsonl").write_text(rows.encode("jsonl", batch), encoding="utf-8")
    changes = list(
        compare(
            snapshots(str(work / "r.csv"), str(work)), snapshots(str(work / "r.jsonl"), str(work))
        )
    )
    assert changes == []
    assert len(list(snapshots(str(work / "r.csv"), str(work)))) == len(batch)
