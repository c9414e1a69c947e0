"""Zones that are wrong the way real zones are, served by Knot on 127.0.0.1.

Each address's verdict is what DNS means. A zone's mistake (a CNAME loop, a
PTR to the root) is permanent, and `--rescan-failed` must not retry it
forever; names c-ares will not send are asked with their exact bytes and get
their real verdict; a referral is the server declining, not NODATA.
(`.ci/run` installs knot.)
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import dns.name
import pytest

from scanner.lab.realservers import Knot

# Runs the Debian tools `make test` installs (see the `lab` marker).
pytestmark = pytest.mark.lab

REVERSE = r"""$ORIGIN 2.0.192.in-addr.arpa.
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
7 PTR a\032b.hostile.example.
8 PTR \0611\0431.hostile.example.
8 PTR semi\;colon.hostile.example.
9 PTR caf\195\169.hostile.example.
10 PTR nul\000\007\027\09131m.hostile.example.
11 PTR back\\slash\..hostile.example.
12 NS ns.customer.example.
13 PTR x.sub.hostile.example.
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
    + "a\\032b A 192.0.2.7\n"
    + "\\0611\\0431 A 192.0.2.8\n"
    + "semi\\;colon A 192.0.2.99\n"
    + "caf\\195\\169 A 192.0.2.9\n"
    + "nul\\000\\007\\027\\09131m A 192.0.2.10\n"
    + "back\\\\slash\\. A 192.0.2.11\n"
    + "sub NS ns.elsewhere.example.\n"
)

# ip -> (status, words the reason must hold)
EXPECTED = {
    "192.0.2.1": ("no_forward", "CNAME loop: loop-a.hostile.example -> loop-b.hostile.example"),
    "192.0.2.2": ("no_forward", "PTR to the root name '.'"),
    "192.0.2.3": ("pass", ""),
    "192.0.2.4": ("ptr_nodata", "CNAME loop: 4.2.0.192.in-addr.arpa -> 4.loop.2.0.192"),
    "192.0.2.5": ("pass", ""),  # ten CNAMEs, answered in one go
    "192.0.2.6": ("pass", ""),  # the other name confirms
    # Names c-ares will not send: asked with their exact bytes.
    "192.0.2.7": ("pass", ""),
    "192.0.2.8": ("pass", ""),
    "192.0.2.9": ("pass", ""),
    "192.0.2.10": ("pass", ""),
    "192.0.2.11": ("pass", ""),
    # Referrals: the server is not authoritative for the name and does not recurse.
    "192.0.2.12": ("refused", "PTR lookup got a referral, not an answer"),
    "192.0.2.13": ("refused", "A lookup got a referral, not an answer"),
}


@pytest.fixture(scope="module")
def knot(tmp_path_factory):
    work = tmp_path_factory.mktemp("hostile")
    (work / "2.0.192.in-addr.arpa.zone").write_text(REVERSE)
    (work / "hostile.example.zone").write_text(FORWARD)
    zones = [str(work / "2.0.192.in-addr.arpa.zone"), str(work / "hostile.example.zone")]
    with Knot(work / "knot", zones) as server:
        yield server


# The names c-ares will not send, as the server holds them (exact labels).
EXACT = {
    "192.0.2.7": (b"a b",),
    "192.0.2.8": (b"=1+1", b"semi;colon"),
    "192.0.2.9": ("café".encode(),),
    "192.0.2.10": (b"nul\x00\x07\x1b[31m",),
    "192.0.2.11": (b"back\\slash.",),
}


def _labels(presented: str) -> bytes:
    return dns.name.from_text(presented.encode()).labels[0]


@pytest.mark.parametrize("engine", ["cares", "aiodns"])
def test_zone_mistakes_and_unusual_names_get_the_verdicts_dns_means(knot, tmp_path, engine):
    # The fallback engine cannot see referrals (aiodns hides the authority section).
    expected = {
        ip: want for ip, want in EXPECTED.items() if engine == "cares" or "referral" not in want[1]
    }
    last = max(expected, key=lambda ip: int(ip.rsplit(".", 1)[1]))
    out = tmp_path / "r.csv"
    scan = subprocess.run(
        [sys.executable, "-m", "scanner", "scan", f"192.0.2.1-{last}", "--resolver",
         f"127.0.0.1:{knot.port}", "--rate", "0", "-q", "-o", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "FCRDNS_DNS_ENGINE": engine},
    )  # fmt: skip
    assert scan.returncode == 0, scan.stderr
    with out.open(newline="", encoding="utf-8") as handle:
        rows = {row["ip"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(expected)
    for ip, (status, words) in expected.items():
        assert rows[ip]["status"] == status, rows[ip]
        assert words in rows[ip]["reason"], rows[ip]
    assert rows["192.0.2.2"]["ptr_names"] == "."
    assert rows["192.0.2.6"]["confirmed_name"] == "ok6.hostile.example"
    for ip, labels in EXACT.items():
        names = rows[ip]["ptr_names"].split(";")
        assert tuple(_labels(name) for name in names) == labels, rows[ip]
        assert _labels(rows[ip]["confirmed_name"]) == labels[0], rows[ip]
        assert int(rows[ip]["attempts"]) == 1 + len(labels), rows[ip]  # no retry: exact bytes
