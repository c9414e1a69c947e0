"""A hostile zone cannot aim our queries (issue 22, findings 4 and 5).

A reverse zone lists 40 name servers, each with three loopback addresses
(standing for a network's internal hosts). With --check-authoritative the scan
asks only the addresses the operator allows, at most `MAX_ADDRESSES` per zone
of at most `MAX_NAMESERVERS` names: proven by strace in a network namespace
that has only loopback, as test_isolation proves it for the plain scan.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_isolation import INET, INET6

from scanner.core.authority import MAX_ADDRESSES, MAX_NAMESERVERS, parse_networks, refusal

# Runs the Debian tools `make test` installs (see the `lab` marker).
pytestmark = pytest.mark.lab

NAMES = 40
REVERSE = (
    "$ORIGIN 2.0.192.in-addr.arpa.\n$TTL 60\n"
    "@ SOA ns01.hostile.example. hostmaster.hostile.example. 1 3600 600 86400 60\n"
    + "".join(f"@ NS ns{n:02}.hostile.example.\n" for n in range(1, NAMES + 1))
    + "".join(f"{n} PTR host{n}.hostile.example.\n" for n in range(1, 17))
)
FORWARD = (
    "$ORIGIN hostile.example.\n$TTL 60\n"
    "@ SOA ns01 hostmaster 1 3600 600 86400 60\n@ NS ns01\n"
    + "".join(f"ns{n:02} A 127.0.{block}.{n}\n" for n in range(1, NAMES + 1) for block in (1, 2, 3))
    + "".join(f"host{n} A 192.0.2.{n}\n" for n in range(1, 17))
)
SCANS = [
    [],  # the default: global unicast only
    ["--authoritative-allow", "127.0.0.0/8"],  # everything admitted: the caps hold
    ["--authoritative-allow", "127.0.2.1/32"],  # one address admitted
]


def destinations(trace: Path) -> list[tuple[str, int]]:
    found = []
    for line in trace.read_text().splitlines():
        for pattern in (INET, INET6):
            found += [(address, int(port)) for port, address in pattern.findall(line)]
    return found


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    work = tmp_path_factory.mktemp("steering")
    (work / "2.0.192.in-addr.arpa.zone").write_text(REVERSE)
    (work / "hostile.example.zone").write_text(FORWARD)
    (work / "scans.json").write_text(json.dumps(SCANS))
    driver = Path(__file__).with_name("netns_authoritative.py")
    run = subprocess.run(["unshare", "--net", sys.executable, str(driver), str(work)],
                         capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr
    port = int(run.stdout.strip())
    return work, port


def direct(work: Path, port: int, number: int) -> list[tuple[str, int]]:
    """The destinations of scan `number` other than the resolver (127.0.0.1)."""
    sent = destinations(work / f"trace-{number}.txt")
    assert ("127.0.0.1", port) in sent, "strace saw no query: the check would prove nothing"
    return [destination for destination in sent if destination != ("127.0.0.1", port)]


def unchecked(work: Path, number: int) -> dict[str, str]:
    summary = json.loads((work / f"summary-{number}.json").read_text())
    zone = summary["authoritative"]["zones"]["2.0.192.in-addr.arpa"]
    return {s["address"] or s["server"]: s["unchecked"] for s in zone["servers"] if s["unchecked"]}


def test_by_default_a_zone_cannot_aim_direct_queries_at_loopback(traced):
    work, port = traced
    assert direct(work, port, 0) == []
    reasons = unchecked(work, 0)
    loopback = [a for a, why in reasons.items() if "a loopback address" in why]
    assert len(loopback) == MAX_NAMESERVERS * 3  # the first 8 names' addresses, none asked
    over = [name for name, why in reasons.items() if f"over {MAX_NAMESERVERS} name servers" in why]
    assert len(over) == NAMES - MAX_NAMESERVERS
    rows = (work / "r-0.csv").read_text()
    assert "no name server of 2.0.192.in-addr.arpa could be asked" in rows


def test_admitted_addresses_are_asked_at_most_the_stated_number_per_zone(traced):
    work, port = traced
    asked = {address for address, _ in direct(work, port, 1)}
    assert len(asked) == MAX_ADDRESSES
    first_names = {
        f"127.0.{block}.{n}" for n in range(1, MAX_NAMESERVERS + 1) for block in (1, 2, 3)
    }
    assert asked <= first_names
    reasons = unchecked(work, 1)
    assert sum(f"over {MAX_ADDRESSES} server addresses" in why for why in reasons.values()) == (
        MAX_NAMESERVERS * 3 - MAX_ADDRESSES
    )


def test_only_the_allowed_address_is_asked(traced):
    work, port = traced
    assert {address for address, _ in direct(work, port, 2)} == {"127.0.2.1"}


@pytest.mark.parametrize(
    ("address", "allowed", "why"),
    [
        ("192.0.2.53", [], "a private or special-purpose address"),  # documentation
        ("198.18.0.1", [], "a private or special-purpose address"),  # benchmarking
        ("10.1.2.3", [], "a private or special-purpose address"),
        ("127.0.0.1", [], "a loopback address"),
        ("::1", [], "a loopback address"),
        ("::ffff:127.0.0.1", [], "a loopback address"),
        ("169.254.1.1", [], "a link-local address"),
        ("fe80::1", [], "a link-local address"),
        ("224.0.0.1", [], "a multicast address"),
        ("ff02::1", [], "a multicast address"),
        ("0.0.0.0", [], "the unspecified address"),
        ("240.0.0.1", [], "a reserved address"),
        ("not-an-ip", [], "not an IP address"),
        ("93.184.215.14", [], ""),
        ("2a00:1450::1", [], ""),
        ("127.0.0.2", ["127.0.0.0/29"], ""),
        ("127.0.0.9", ["127.0.0.0/29"], "a loopback address"),
        ("::ffff:127.0.0.2", ["127.0.0.0/29"], ""),
    ],
)
def test_which_addresses_a_zone_may_send_us_to(address, allowed, why):
    said = refusal(address, parse_networks(allowed))
    assert (why in said) if why else said == ""
    assert ipaddress.ip_network("127.0.0.0/29") == parse_networks(["127.0.0.1/29"])[0]
