"""Zones that are wrong the way real zones are, served by Knot on 127.0.0.1.

Each address's verdict is what DNS means, and none is transient: a zone's
mistake is permanent, and `--rescan-failed` must not retry it forever.
(`.ci/run` installs knot.)
"""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from scanner.lab.realservers import Knot

REVERSE = """$ORIGIN 2.0.192.in-addr.arpa.
$TTL 60
@ SOA ns.hostile.example. hostmaster.hostile.example. 1 3600 600 86400 60
@ NS ns.hostile.example.
1 PTR loop-a.hostile.example.
2 PTR .
3 PTR ok.hostile.example.
4 CNAME 4.loop
4.loop CNAME 4
5 PTR long-1.hostile.example.
6 PTR loop-a.hostile.example.
6 PTR ok6.hostile.example.
"""
FORWARD = (
    """$ORIGIN hostile.example.
$TTL 60
@ SOA ns hostmaster 1 3600 600 86400 60
@ NS ns
ns A 192.0.2.53
loop-a CNAME loop-b
loop-b CNAME loop-a
ok A 192.0.2.3
ok6 A 192.0.2.6
"""
    + "".join(f"long-{i} CNAME long-{i + 1}\n" for i in range(1, 11))
    + "long-11 A 192.0.2.5\n"
)

# ip -> (status, words the reason must hold)
EXPECTED = {
    "192.0.2.1": ("no_forward", "CNAME loop: loop-a.hostile.example -> loop-b.hostile.example"),
    "192.0.2.2": ("no_forward", "PTR to the root name '.'"),
    "192.0.2.3": ("pass", ""),
    "192.0.2.4": ("ptr_nodata", "CNAME loop: 4.2.0.192.in-addr.arpa -> 4.loop.2.0.192"),
    "192.0.2.5": ("pass", ""),  # ten CNAMEs, answered in one go
    "192.0.2.6": ("pass", ""),  # the other name confirms
}


@pytest.fixture(scope="module")
def knot(tmp_path_factory):
    work = tmp_path_factory.mktemp("hostile")
    (work / "2.0.192.in-addr.arpa.zone").write_text(REVERSE)
    (work / "hostile.example.zone").write_text(FORWARD)
    zones = [str(work / "2.0.192.in-addr.arpa.zone"), str(work / "hostile.example.zone")]
    with Knot(work / "knot", zones) as server:
        yield server


def test_cname_loops_and_a_root_ptr_get_permanent_verdicts_that_say_why(knot, tmp_path):
    out = tmp_path / "r.csv"
    scan = subprocess.run(
        [sys.executable, "-m", "scanner", "scan", "192.0.2.1-192.0.2.6", "--resolver",
         f"127.0.0.1:{knot.port}", "--rate", "0", "-q", "-o", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert scan.returncode == 0, scan.stderr
    with out.open(newline="", encoding="utf-8") as handle:
        rows = {row["ip"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(EXPECTED)
    for ip, (status, words) in EXPECTED.items():
        assert rows[ip]["status"] == status, rows[ip]
        assert words in rows[ip]["reason"], rows[ip]
    assert rows["192.0.2.2"]["ptr_names"] == "."
    assert rows["192.0.2.6"]["confirmed_name"] == "ok6.hostile.example"
