"""Scans over a slow, lossy network: dnsdist in front of Knot, both on 127.0.0.1.

dnsdist delays every UDP answer and drops a share of the queries (the kernel
here has no netem); its security polling is off. The scan must still give
every address its exact verdict, whatever the in-flight ceiling, and a burst of
losses must never bench the only resolver. `.ci/run` installs knot and dnsdist.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
from helpers import ALL_CASES_MIX, fcrdns, write_lab_config

from scanner.lab.realservers import Dnsdist, Knot
from scanner.lab.truth import compare

# The window must open past 200 and health checks must cross the lossy path
# in time: measured alone (pyproject.toml, `serial`).
pytestmark = [pytest.mark.serial, pytest.mark.lab]

MIX = {case: weight for case, weight in ALL_CASES_MIX.items() if case != "servfail"}
NETWORK = "198.18.0.0/22"  # 1,024 addresses


@pytest.fixture(scope="module")
def knot(tmp_path_factory):
    work = tmp_path_factory.mktemp("wan")
    config = write_lab_config(work / "lab.yaml", [NETWORK], MIX)
    truth = work / "truth.csv"
    export = fcrdns(
        "lab", "--config", str(config), "--truth", str(truth), "--export-zones", str(work / "z")
    )
    assert export.returncode == 0, export.stderr
    with Knot(work / "knot", export.stdout.split()) as server:
        yield server, truth


def scan(port: int, out: Path, summary: Path, *options: str):
    return fcrdns(
        "scan", NETWORK, "--resolver", f"127.0.0.1:{port}", "--rate", "0", "-q",
        "-o", str(out), "--summary", str(summary), *options,
        timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("ceiling", [None, "100", "10000"])
def test_every_verdict_is_exact_over_a_slow_lossy_path(knot, tmp_path, ceiling):
    server, truth = knot
    out, summary = tmp_path / "r.csv", tmp_path / "s.json"
    options = ("--concurrency", ceiling) if ceiling else ()
    with Dnsdist(tmp_path / "dd", server.port, server.zones[0], delay_ms=50, loss=0.02) as wan:
        result = scan(wan.port, out, summary, *options)
    assert result.returncode == 0, result.stderr
    comparison = compare(str(out), str(truth))
    assert comparison.ok, comparison.as_text()
    stats = json.loads(summary.read_text())
    assert stats["transient_failures"] == 0
    assert stats["sent_again"] > 0  # the path really lost queries: some were sent again
    resolver = stats["resolver_pool"]["resolvers"][0]
    assert resolver["times_benched"] == 0
    # The window opened past the old fixed default of 200 whenever the ceiling let it.
    if ceiling != "100":
        assert resolver["window"]["largest_in_flight"] > 200, resolver["window"]
    else:
        assert resolver["window"]["largest_in_flight"] <= 100


def test_a_burst_of_losses_does_not_bench_the_only_resolver(knot, tmp_path):
    """Every query for one /24's reverse zone is dropped, the rest lose 1%.

    Hundreds of timeouts expire together, run after run, while the other
    answers keep coming: the resolver is alive and must never be benched. The
    dropped addresses end as `timeout` (transient: never a false "no PTR"),
    every other address gets its exact verdict.
    """
    server, truth = knot
    out, summary = tmp_path / "r.csv", tmp_path / "s.json"
    silent = ipaddress.ip_network("198.18.1.0/24")
    with Dnsdist(
        tmp_path / "dd", server.port, server.zones[0], delay_ms=20, loss=0.01,
        drop_suffixes=["1.18.198.in-addr.arpa"],  # the reverse zone of 198.18.1.0/24
    ) as wan:  # fmt: skip
        result = scan(wan.port, out, summary, "--timeout", "0.5", "--retries", "3")
    assert result.returncode == 0, result.stderr
    stats = json.loads(summary.read_text())
    assert stats["resolver_pool"]["resolvers"][0]["times_benched"] == 0, result.stderr
    assert stats["resolver_pool"]["all_benched_waits"] == 0
    # The tail of the scan is all dropped queries: the resolver was checked
    # (each check's own query crosses the lossy path), and kept.
    assert stats["resolver_pool"]["health_checks"] >= 1
    assert stats["counts"]["timeout"] == silent.num_addresses
    rest = [str(net) for net in ipaddress.ip_network(NETWORK).address_exclude(silent)]
    outside = tmp_path / "outside.csv"
    with out.open() as rows, outside.open("w") as kept:
        for number, line in enumerate(rows):
            if number == 0 or ipaddress.ip_address(line.split(",", 1)[0]) not in silent:
                kept.write(line)
    comparison = compare(str(outside), str(truth), within=rest)
    assert comparison.ok, comparison.as_text()
