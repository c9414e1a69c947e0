"""Our CSV opened by LibreOffice Calc itself: no cell, and no `;`-part of one, becomes a formula.

Calc imports with comma, semicolon and TAB as separators and formulas
evaluated (the CSV filter's options), and writes the sheet as flat ODF
(.fods), where every formula cell carries a `table:formula` attribute.
`.ci/run` installs Debian's libreoffice-calc-nogui.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import fcrdns

from scanner.core.rows import csv_header, csv_lines, csv_record
from scanner.core.status import Outcome, Stage, Status
from scanner.core.verdict import ForwardCheck, Lookup, ScanResult

# Runs the Debian tools `make test` installs (see the `lab` marker).
pytestmark = pytest.mark.lab

# Separators , ; TAB, text delimiter ", UTF-8, from line 1, no column formats,
# English, quoted fields not forced to text, special numbers detected, (three
# export-only tokens), all sheets, and token 13: evaluate formulas.
IMPORT = "Text - txt - csv (StarCalc):44/59/9,34,76,1,,1033,false,true,false,false,false,-1,true"
PAYLOADS = ("=1+1", "+1+2", "-3+4", "@SUM(1+1)", "=cmd|' /C calc'!A0", "=sum(1+1)")


def formula_cells(csv_path: Path, work: Path) -> list[str]:
    """The formulas Calc finds importing `csv_path` (after checking it really imported it)."""
    soffice = shutil.which("soffice") or pytest.fail(
        "soffice missing: install libreoffice-calc-nogui"
    )
    result = subprocess.run(
        [soffice, "--headless", "--norestore", f"-env:UserInstallation=file://{work}/profile",
         f"--infilter={IMPORT}", "--convert-to", "fods", "--outdir", str(work), str(csv_path)],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    sheet = work / (csv_path.stem + ".fods")
    assert result.returncode == 0 and sheet.exists(), result.stderr
    return re.findall(r'table:formula="([^"]*)"', sheet.read_text(encoding="utf-8"))


def test_calc_really_evaluates_formulas_with_these_options(tmp_path):
    # Without this the other tests could pass for a filter that imports
    # everything as text.
    control = tmp_path / "control.csv"
    control.write_text("a,=1+1,b;=2+2\n", encoding="utf-8")
    assert formula_cells(control, tmp_path) == ["of:=1+1", "of:=2+2"]


def test_rows_full_of_hostile_names_open_without_a_formula(tmp_path):
    names = (
        *(f"{payload}.example" for payload in PAYLOADS),
        "x;=1+1.example", "a\\;=sum(1+1).example", "mail.example\r=1+1", "tab\t=1+1.example",
    )  # fmt: skip
    results = [
        ScanResult(
            ip=ipaddress.ip_address(f"198.18.0.{index + 1}"),
            status=Status.MISMATCH,
            stage=Stage.FORWARD,
            ptr_names=(name, "ok.example"),
            forward=(ForwardCheck(name, Lookup(Outcome.ANSWER, ("203.0.113.1",))),),
            expected_name=name,
            expected_match=False,
            ptr_zone=name,
            ptr_zone_ns=(name, "0012;=1+1;ns.example"),
        )
        for index, name in enumerate(names)
    ]
    written = tmp_path / "hostile.csv"
    written.write_text(csv_header() + csv_lines([csv_record(r) for r in results]), "utf-8")
    assert formula_cells(written, tmp_path) == []


def test_a_scans_csv_with_hostile_expected_names_opens_without_a_formula(small_lab, tmp_path):
    lab, _ = small_lab
    expect = tmp_path / "expect.csv"
    lines = [f'198.18.0.{index + 1},"{payload}=1+1;=2+2"' for index, payload in enumerate(PAYLOADS)]
    expect.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "r.csv"
    scan = fcrdns("scan", "198.18.0.0/29", "--resolver", lab.address, "--rate", "0",
                  "--expect", str(expect), "-o", str(out))  # fmt: skip
    assert scan.returncode in (0, 1), scan.stderr
    assert "=1+1\\059=2+2" in out.read_text(encoding="utf-8")  # the ';' escaped
    assert formula_cells(out, tmp_path) == []
    # A control character cannot be in a host name: such an expectation is refused.
    expect.write_text('198.18.0.1,"mail.example\r=1+1"\n', encoding="utf-8")
    refused = fcrdns("scan", "198.18.0.0/29", "--resolver", lab.address, "--rate", "0",
                     "--expect", str(expect), "-o", str(tmp_path / "r2.csv"))  # fmt: skip
    assert refused.returncode == 2 and "cannot be a host name" in refused.stderr


def test_calc_opens_the_workbook_as_a_reader_needs_it(small_lab, tmp_path):
    """LibreOffice's own reading of results.xlsx: the sheets, widths, order and date cells."""
    lab, _ = small_lab
    book = tmp_path / "r.xlsx"
    scan = fcrdns("scan", "198.18.0.0/24", "2001:db8:5::/124", "--resolver", lab.address,
                  "--rate", "0", "-q", "--zone-owner", "-o", str(book))  # fmt: skip
    assert scan.returncode == 0, scan.stderr
    soffice = shutil.which("soffice") or pytest.fail("soffice missing: libreoffice-calc-nogui")
    converted = subprocess.run(
        [soffice, "--headless", "--norestore", f"-env:UserInstallation=file://{tmp_path}/profile",
         "--convert-to", "fods", "--outdir", str(tmp_path), str(book)],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    flat = tmp_path / "r.fods"
    assert converted.returncode == 0 and flat.exists(), converted.stderr
    text = flat.read_text(encoding="utf-8")
    assert re.findall(r'<table:table table:name="([^"]*)"', text) == ["results", "zones"]
    results = text[: text.index('<table:table table:name="zones"')]
    # Column widths as Calc sees them: the first column (ip) holds 255.255.255.255.
    widths = dict(re.findall(
        r'style:name="(co\d+)" style:family="table-column">\s*<style:table-column-properties'
        r'[^>]*style:column-width="([\d.]+)in"', text))  # fmt: skip
    first_column = re.search(r'<table:table-column table:style-name="(co\d+)"', results)
    assert first_column and float(widths[first_column.group(1)]) >= 1.1  # inches: 15+ characters
    rows = re.findall(r"<table:table-row[^>]*>(.*?)</table:table-row>", results, re.S)
    cells = [re.findall(r"<text:p>([^<]*)</text:p>", row) for row in rows]
    assert cells[0][:4] == ["ip", "status", "ptr_names", "reason"]
    ips = [row[0] for row in cells[1:] if row]
    assert len(ips) == 272
    assert ips == sorted(ips, key=lambda ip: (ipaddress.ip_address(ip).version,
                                              ipaddress.ip_address(ip)))  # fmt: skip
    assert results.count('office:value-type="date"') == 272  # every timestamp a date cell
    zones = text[text.index('<table:table table:name="zones"') :]
    assert "0.18.198.in-addr.arpa" in zones and "ns1.hosting.example" in zones
