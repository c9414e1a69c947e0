"""Servers that break RFC 8020, through `fcrdns scan --walk`: told apart before the walk,
named in a clear message, never a silent empty result or an endless walk."""

from __future__ import annotations

import csv
import ipaddress
import json

from helpers import fcrdns
from test_walk_scan import PREFIX, rows_of, sparse_lab, walk

from scanner.lab.process import LabProcess

SMALL = ipaddress.ip_network("2001:db8:42::/120")


def test_a_server_answering_noerror_for_every_name_is_refused_naming_it(tmp_path):
    out = tmp_path / "walk.csv"
    lab_args = ["--config", str(sparse_lab(tmp_path, 40)), "--break-rfc8020", "noerror-all"]
    with LabProcess(lab_args) as lab:
        refused = walk(lab, out, timeout=60)
        # A prefix small enough is checked address by address instead, said so.
        small = fcrdns("scan", str(SMALL), "--walk", "--resolver", lab.address, "--rate", "0",
                       "-o", str(tmp_path / "small.csv"), cwd=tmp_path)  # fmt: skip
    assert refused.returncode == 3
    assert f"cannot walk {PREFIX} through the resolver {lab.address}" in refused.stderr
    assert "answers NOERROR for fcrdns-probe-" in refused.stderr
    assert "never end" in refused.stderr and "Traceback" not in refused.stderr
    assert not out.exists() and not (tmp_path / "walk.csv.walk").exists()
    assert small.returncode == 0, small.stderr
    assert f"not walking {SMALL}: the resolver {lab.address}" in small.stderr
    assert len(rows_of(tmp_path / "small.csv")) == 256


def test_a_server_hiding_empty_non_terminals_is_caught_with_last_nights_results(tmp_path):
    config = sparse_lab(tmp_path, 40)
    good = tmp_path / "last-night.csv"
    with LabProcess(["--config", str(config)]) as lab:
        assert walk(lab, good).returncode == 0
    out = tmp_path / "walk.csv"
    with LabProcess(["--config", str(config), "--break-rfc8020", "nxdomain-ent"]) as lab:
        caught = walk(lab, out, "--previous", str(good))
        # Without a known address the walk cannot tell an empty zone: it says so.
        blind = walk(lab, tmp_path / "blind.csv", "--summary", str(tmp_path / "s.json"))
    assert caught.returncode == 3, caught.stderr
    with good.open(encoding="utf-8", newline="") as handle:
        known = next(row["ip"] for row in csv.DictReader(handle) if row["ptr_names"])
    assert f"cannot walk {PREFIX} through the resolver {lab.address}" in caught.stderr
    assert f"above {known}, whose PTR it has" in caught.stderr
    assert "breaks RFC 8020 for empty non-terminals" in caught.stderr
    assert blind.returncode == 0
    assert "1 name exists with nothing below although holding no PTR" in blind.stderr
    assert "--previous with last night's results" in blind.stderr
    assert rows_of(tmp_path / "blind.csv") == {}
    assert json.loads((tmp_path / "s.json").read_text())["walk"]["names_with_nothing_below"] == 1
