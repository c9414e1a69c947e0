"""The walk against real servers: Knot serving a sparse /48 with thousands of PTRs, and
Unbound in front of it, with aggressive NSEC caching off and on (a signed zone).

Acceptance of issue 26: every planted PTR found exactly once with its true
verdict, no extra rows, the dead /56 as one transient row, and no more than
1.5x the names a perfect walker asks (the walk asks exactly those).
"""

from __future__ import annotations

import csv
import ipaddress
import json
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rdata
import dns.rdatatype
import pytest
import yaml
from helpers import fcrdns

from scanner.lab.realservers import Knot, Unbound
from scanner.lab.truth import compare, perfect_walk

pytestmark = pytest.mark.lab

PREFIX = ipaddress.ip_network("2001:db8:42::/48")
CHILD = ipaddress.ip_network("2001:db8:42:ee00::/56")
DEAD = ipaddress.ip_network("2001:db8:42:dd00::/56")
PLANTED = 2_000
# Knot cannot answer SERVFAIL for chosen names: every other case the walk meets.
MIX = {"confirm": 40, "mismatch": 10, "no_ptr": 10, "ptr_nodata": 3, "dangling": 5, "cname": 4,
       "wrong_family": 2, "generic": 5}  # fmt: skip


@pytest.fixture(scope="module")
def sparse_zones(tmp_path_factory) -> tuple[list[str], Path, int]:
    """The zone files of a sparse /48, its truth, and the names a perfect walker asks."""
    work = tmp_path_factory.mktemp("sparse")
    config = {"seed": 11, "networks": [{
        "cidr": str(PREFIX), "sparse": PLANTED, "child_zone": str(CHILD),
        "dead_delegation": str(DEAD), "mix": MIX}]}  # fmt: skip
    (work / "lab.yaml").write_text(yaml.safe_dump(config))
    truth = work / "truth.csv"
    export = fcrdns("lab", "--config", str(work / "lab.yaml"), "--truth", str(truth),
                    "--export-zones", str(work / "zones"))  # fmt: skip
    assert export.returncode == 0, export.stderr
    with truth.open(encoding="utf-8", newline="") as handle:
        named = [ipaddress.ip_address(row["ip"]) for row in csv.DictReader(handle)
                 if row["expected_status"] != "no_ptr"]  # fmt: skip
    slash64s = {ipaddress.ip_network(f"{ip}/64", strict=False) for ip in named}
    assert len(named) > 1_500 and len(slash64s) >= 24  # thousands, across dozens of /64s
    return export.stdout.split(), truth, perfect_walk(str(truth), PREFIX, [DEAD])


def _walk(resolver: str, out: Path, summary: Path) -> dict[str, int]:
    done = fcrdns("scan", str(PREFIX), "--walk", "--resolver", resolver, "--rate", "0", "-q",
                  "--zone-owner", "-o", str(out), "--summary", str(summary),
                  timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(summary.read_text())


def _check(out: Path, truth: Path, dead_status: str) -> None:
    comparison = compare(str(out), str(truth))
    with truth.open(encoding="utf-8", newline="") as handle:
        absent = sorted(row["ip"] for row in csv.DictReader(handle)
                        if row["expected_status"] == "no_ptr")  # fmt: skip
    assert comparison.wrong == [] and comparison.duplicates == []
    assert comparison.missing == absent
    assert comparison.unexpected == [str(DEAD)]
    with out.open(encoding="utf-8", newline="") as handle:
        dead = next(row for row in csv.DictReader(handle) if row["ip"] == str(DEAD))
    assert dead["status"] == dead_status and "not walked" in dead["reason"]


def test_a_walk_of_knot_finds_every_ptr_once_asking_what_a_perfect_walker_asks(
    sparse_zones, tmp_path
):
    zones, truth, perfect = sparse_zones
    with Knot(tmp_path / "knot", zones) as knot:
        summary = _walk(f"127.0.0.1:{knot.port}", tmp_path / "out.csv", tmp_path / "s.json")
    # Knot is authoritative, so the dead /56 is a referral it cannot follow.
    _check(tmp_path / "out.csv", truth, "refused")
    walked = summary["walk"]
    assert walked["names_asked"] == perfect <= 1.5 * perfect
    assert walked["prefixes_not_walked"] == 1


def _signed(zones: list[str], directory: Path) -> list[str]:
    """The reverse zones' files, to be signed by Knot (the others as they are)."""
    return [path for path in zones if path.endswith(".ip6.arpa.zone")]


def _keys_of(apex: str, port: int) -> list[dns.rdata.Rdata]:
    """The zone's DNSKEYs once Knot has signed it (it signs after loading, in the background)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        query = dns.message.make_query(apex + ".", dns.rdatatype.DNSKEY)
        answer = dns.query.udp(query, "127.0.0.1", port=port, timeout=2)
        for rrset in answer.answer:
            if rrset.rdtype == dns.rdatatype.DNSKEY:
                return list(rrset)
        time.sleep(0.1)  # polling another process's state
    return []


@pytest.mark.parametrize("aggressive", [False, True], ids=["plain", "aggressive-nsec"])
def test_the_same_walk_through_unbound_with_aggressive_nsec_off_and_on(
    sparse_zones, tmp_path, aggressive
):
    zones, truth, perfect = sparse_zones
    signed = _signed(zones, tmp_path) if aggressive else []
    with Knot(tmp_path / "knot", zones, signed=signed) as knot:
        options: dict[str, str | int] = {"aggressive-nsec": "yes" if aggressive else "no"}
        anchors = []
        if aggressive:
            # The signed zones' keys, as Knot made them, are Unbound's trust anchors: it
            # validates their NSEC chains and answers from them (RFC 8198).
            for path in signed:
                apex = Path(path).name.removesuffix(".zone")
                keys = _keys_of(apex, knot.port)
                assert keys, f"Knot did not sign {apex}"
                anchors += [f"{apex}. DNSKEY {rdata.to_text()}" for rdata in keys]
        with Unbound(tmp_path / "unbound", knot, options=options, anchors=anchors) as unbound:
            summary = _walk(f"127.0.0.1:{unbound.port}", tmp_path / "out.csv", tmp_path / "s.json")
    # Through a resolver the dead delegation's server never answers: SERVFAIL.
    _check(tmp_path / "out.csv", truth, "servfail")
    walked = summary["walk"]
    assert walked["names_asked"] == perfect and walked["prefixes_not_walked"] == 1
