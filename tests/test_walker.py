"""Walking the reverse tree of a sparse IPv6 /48 served by the lab (issue 26's walk, its core).

The lab plants a few hundred addresses (low interface ids and SLAAC-like
random ones across dozens of /64s, a child zone, a /56 delegated to a server
that never answers). The walk, through the retry layer, must find every
address that has a reverse name, exactly once, ask exactly what a perfect
walker asks, and report the dead /56 as one subtree it could not see.
Servers that break RFC 8020 either way are told apart before a walk.
"""

from __future__ import annotations

import csv
import ipaddress
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest
import yaml

from scanner.core.config import ScanConfig
from scanner.core.status import Outcome
from scanner.core.verdict import IPAddress, Lookup
from scanner.core.walk import Network, Step
from scanner.lab.process import LabProcess
from scanner.scan.shard import build_pool
from scanner.scan.walker import rfc8020_problem, walk

PREFIX = ipaddress.ip_network("2001:db8:42::/48")
CHILD = ipaddress.ip_network("2001:db8:42:ee00::/56")
DEAD = ipaddress.ip_network("2001:db8:42:dd00::/56")


def _sparse_lab(tmp_path: Path, planted: int = 300) -> Path:
    config = {
        "seed": 5,
        "domain": "hosting.example",
        "generic_domain": "pool.example",
        "networks": [{
            "cidr": str(PREFIX), "sparse": planted, "child_zone": str(CHILD),
            "dead_delegation": str(DEAD),
            "mix": {"confirm": 40, "mismatch": 10, "no_ptr": 10, "ptr_nodata": 3, "dangling": 5},
        }],
    }  # fmt: skip
    path = tmp_path / "sparse.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _walk(address: str, known: Sequence[IPAddress] = ()):
    found: list[tuple[IPAddress, Lookup]] = []
    unseen: list[tuple[Network, Lookup]] = []

    def answered(node: Network, step: Step, lookup: Lookup) -> None:
        if step is Step.FOUND:
            found.append((node.network_address, lookup))
        elif step is Step.UNSEEN:
            unseen.append((node, lookup))

    async def run():
        config = ScanConfig(resolvers=(address,), rate=0.0, retries=1, timeout=0.5)
        pool = build_pool(config, config.nameservers())
        try:
            problem = await rfc8020_problem(pool, PREFIX, known)
            if problem:
                return problem, None
            return None, await walk(pool, [PREFIX], answered, concurrency=200)
        finally:
            await pool.aclose()

    problem, report = anyio.run(run)
    return problem, report, found, unseen


def test_the_walk_finds_every_planted_name_once_and_asks_what_a_perfect_walker_asks(tmp_path):
    truth_file = tmp_path / "truth.csv"
    with LabProcess(["--config", str(_sparse_lab(tmp_path)), "--truth", str(truth_file)]) as lab:
        problem, report, found, unseen = _walk(lab.address)
    assert problem is None
    with truth_file.open(encoding="utf-8", newline="") as handle:
        truth = {ipaddress.ip_address(row["ip"]): row for row in csv.DictReader(handle)}
    # Every address with a reverse name (all but no_ptr's), nothing else, each once.
    named = {ip for ip, row in truth.items() if row["expected_status"] != "no_ptr"}
    addresses = [ip for ip, _ in found]
    assert len(addresses) == len(set(addresses)) and set(addresses) == named
    assert any(ip in CHILD for ip in named) and not any(ip in DEAD for ip in truth)
    for ip, lookup in found:  # ptr_nodata's names exist without a PTR
        wanted = Outcome.NODATA if truth[ip]["expected_status"] == "ptr_nodata" else Outcome.ANSWER
        assert lookup.outcome is wanted
    # The dead delegation: one subtree not seen, never "nothing here".
    assert [(prefix, lookup.outcome) for prefix, lookup in unseen] == [(DEAD, Outcome.REFERRAL)]
    # A perfect walker asks the start and the 16 children of every existing name above
    # the addresses: here every name with an address, or the dead /56, below it.
    existing = {
        ipaddress.ip_network(f"{ip}/{length}", strict=False)
        for ip in (*named, DEAD.network_address)
        for length in range(48, 128, 4)
        if ip not in DEAD or length < DEAD.prefixlen
    }
    assert report.asked == 1 + 16 * len(existing), (report, len(existing))
    assert report.found == len(named) and report.unseen == 1 and report.childless == 0


@pytest.mark.parametrize("mode", ["noerror-all", "nxdomain-ent"])
def test_a_server_breaking_rfc_8020_is_told_apart_before_the_walk(tmp_path, mode):
    truth_file = tmp_path / "truth.csv"
    lab = LabProcess(["--config", str(_sparse_lab(tmp_path, 40)), "--truth", str(truth_file),
                      "--break-rfc8020", mode])  # fmt: skip
    with lab:
        with truth_file.open(encoding="utf-8", newline="") as handle:
            known = [ipaddress.ip_address(row["ip"]) for row in csv.DictReader(handle)
                     if row["expected_status"] == "pass"][:1]  # fmt: skip
        problem, report, _, _ = _walk(lab.address, known)
    assert report is None and problem is not None
    if mode == "noerror-all":
        assert "answers NOERROR for fcrdns-probe-" in problem and "never end" in problem
    else:
        assert f"above {known[0]}, whose PTR it has" in problem


def test_without_a_known_address_a_server_hiding_empty_non_terminals_is_flagged(tmp_path):
    lab = LabProcess(["--config", str(_sparse_lab(tmp_path, 40)), "--break-rfc8020",
                      "nxdomain-ent"])  # fmt: skip
    with lab:
        problem, report, found, unseen = _walk(lab.address)
    # Nothing can be found below the zone's apex: the walk says it looked suspicious.
    assert problem is None and not found and not unseen
    assert report.childless == 1 and report.asked == 17
