import ipaddress
import random
from dataclasses import replace

import pytest

from scanner.core.authority import ServerState, ZoneHealth, agreement
from scanner.core.diagnose import (
    ExpectError,
    GenericNames,
    _spellings,
    embeds_address,
    expected_match,
    read_expectations,
)
from scanner.core.reasons import reason
from scanner.core.status import Outcome, Stage, Status
from scanner.core.targets import TargetSet, parse_arguments
from scanner.core.verdict import ForwardCheck, Lookup, ScanResult, decide

IP = ipaddress.ip_address("198.51.100.23")
IP6 = ipaddress.ip_address("2001:db8:4::17")

GENERIC = [
    "198-51-100-23.dsl.example.net",
    "23-100-51-198.static.example.net",
    "host-198-51-100-23.pool.example",
    "198.51.100.23.broadband.example.com",
    "23.100.51.198.in-addr.isp.example",
    "c6336417.cust.example.org",
    "198051100023.example.net",
    "ip-198-051-100-023.example.net",
    "198_51_100_23.example.net",
    "dynamic-pool-17.example.net",
    "dhcp-77-12.campus.example.edu",
    "adsl12.example.net",
    "ppp-4412.dialup.example.net",
    "cable-modem.cpe.example.net",
    "pool-71-105-9-4.nycmny.example.net",
    "dyn3352.example.org",
    "static.customer.example.net",
    "host-123.isp.example.com",
    "node42.residential.example",
    "unassigned.example.net",
    "ftth-4-5.example.net",
    "user-2291.example.net",
]
GENERIC6 = [
    "2001-db8-4--17.ip6.example.net",
    "7.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.4.0.0.0.8.b.d.0.1.0.0.2.rev.example.net",
    "20010db8000400000000000000000017.example.net",
    "2001-0db8-0004-0000-0000-0000-0000-0017.static.example",
]
NOT_GENERIC = [
    "mail.example.com",
    "mx1.example.org",
    "smtp-out.example.net",
    "www.example.com",
    "relay.mail.example.net",
    "srv-xk3f9.hosting.example",
    "ns1.example.org",
    "statistics.example.com",
    "hostmaster.example.org",
    "dynamo.example.com",
    "poolside.example.com",
    "vpn.example.net",
    "web198.example.net",
]


@pytest.mark.parametrize("name", GENERIC)
def test_generic_names(name):
    assert GenericNames().is_generic(name, IP)


@pytest.mark.parametrize("name", GENERIC6)
def test_generic_ipv6_names(name):
    assert GenericNames().is_generic(name, IP6)


@pytest.mark.parametrize("name", NOT_GENERIC)
def test_server_names_are_not_generic(name):
    assert not GenericNames().is_generic(name, IP)


def test_the_table_is_big_enough():
    assert len(GENERIC) + len(GENERIC6) + len(NOT_GENERIC) >= 30


def test_patterns_come_from_the_configuration():
    custom = GenericNames([r"\.cust\d+\."])
    assert custom.is_generic("a.cust7.example", IP)
    assert not custom.is_generic("dsl.example", IP)  # the defaults are replaced
    assert custom.is_generic("198-51-100-23.example", IP)  # the address always counts


def test_patterns_match_whatever_the_case():
    assert GenericNames().is_generic("DSL-Pool.Example.NET", IP)
    assert GenericNames([r"\.Cust\d+\."]).is_generic("a.CUST7.example", IP)
    assert GenericNames([r"\Scust"]).is_generic("a.CUST7.example", IP)  # \S: not lower case


def test_embedding_needs_the_whole_address():
    assert not embeds_address("51-100-23.example.net", IP)
    assert not embeds_address("198-51-100-230.example.net", ipaddress.ip_address("198.51.100.2"))


def result(status, stage, forward=(), error=""):
    return ScanResult(IP, status, stage, tuple(c.name for c in forward), "", tuple(forward),
                      error=error)  # fmt: skip


@pytest.mark.parametrize(
    ("row", "words"),
    [
        (result(Status.PASS, Stage.FORWARD), ""),
        (result(Status.NO_PTR, Stage.REVERSE),
         "no PTR record: 23.100.51.198.in-addr.arpa does not exist; add to the reverse zone: "
         "`23.100.51.198.in-addr.arpa. IN PTR <the host's name>.`"),
        (result(Status.PTR_NODATA, Stage.REVERSE),
         "23.100.51.198.in-addr.arpa exists but has no PTR record"),
        (result(Status.MISMATCH, Stage.FORWARD,
                [ForwardCheck("mail.example.com", Lookup(Outcome.ANSWER, ("198.51.100.7",)))]),
         "PTR mail.example.com resolves to 198.51.100.7, not 198.51.100.23; fix: add "
         "`mail.example.com. IN A 198.51.100.23` in mail.example.com's zone, or change "
         "`23.100.51.198.in-addr.arpa. IN PTR mail.example.com.` in the reverse zone to a name "
         "whose A record is 198.51.100.23"),
        (result(Status.NO_FORWARD, Stage.FORWARD,
                [ForwardCheck("old.example.com", Lookup(Outcome.NXDOMAIN)),
                 ForwardCheck("v6.example.com", Lookup(Outcome.NODATA))]),
         "PTR old.example.com does not exist (NXDOMAIN); PTR v6.example.com has no A record"),
        (result(Status.TIMEOUT, Stage.REVERSE, error="PTR x: timeout"),
         "PTR lookup failed, try again later: PTR x: timeout"),
    ],
)  # fmt: skip
def test_reason_in_plain_words(row, words):
    assert reason(row).startswith(words)


def test_every_spelling_of_every_address_is_found():
    # The quick pre-check in embeds_address must never reject a real spelling:
    # random addresses (zero octets and octets under 10 included), every
    # spelling, inside a server-like name.
    rng = random.Random(7)
    special = [0, 1, 9, 10, 99, 100, 255]
    for _ in range(300):
        octets = [rng.choice([*special, rng.randrange(256)]) for _ in range(4)]
        ip = ipaddress.ip_address(".".join(map(str, octets)))
        for form in _spellings(ip):
            assert embeds_address(f"mx-{form}.mail.example.net", ip), (form, ip)
            assert embeds_address(f"{form.upper()}.example.net", ip), (form, ip)
    groups = [0, 1, 0xF, 0x10, 0xDB8, 0xFFFF]
    for _ in range(300):
        words = [rng.choice([*groups, rng.randrange(1 << 16)]) for _ in range(8)]
        ip = ipaddress.ip_address(":".join(f"{word:x}" for word in words))
        for form in _spellings(ip):
            assert embeds_address(f"mx-{form}.mail.example.net", ip), (form, ip)


def test_an_expected_name_is_read_as_ptr_names_are_its_final_dot_included():
    ip = ipaddress.ip_address("192.0.2.7")
    result = ScanResult(
        ip, Status.PASS, Stage.FORWARD, ("host.test\\.",), "host.test\\.",
        (ForwardCheck("host.test\\.", Lookup(Outcome.ANSWER, ("192.0.2.7",))),),
    )  # fmt: skip
    assert expected_match(result, "Host.Test\\.")  # the escaped dot is the name's own
    assert not expected_match(result, "host.test.")  # the root's dot: another name


def test_a_reason_lists_a_few_addresses_of_a_name_and_counts_the_rest():
    ip = ipaddress.ip_address("192.0.2.15")
    many = tuple(f"203.0.113.{n}" for n in range(1, 251))
    result = decide(ip, Lookup(Outcome.ANSWER, ("big.example",)),
                    [ForwardCheck("big.example", Lookup(Outcome.ANSWER, many))])  # fmt: skip
    assert reason(result).startswith(
        "PTR big.example resolves to 203.0.113.1, 203.0.113.2, 203.0.113.3, 203.0.113.4 "
        "and 246 more, not 192.0.2.15; fix: add `big.example. IN A 192.0.2.15`"
    )


def test_a_zone_whose_servers_this_host_cannot_reach_says_so_and_not_lame():
    unreachable = ServerState(
        "ns1.example", "2001:db8::53", unchecked="not asked: no route from this host"
    )
    zone = ZoneHealth("100.51.198.in-addr.arpa", (unreachable,))
    row = replace(result(Status.PASS, Stage.FORWARD), authority=agreement([], zone))
    words = reason(row)
    assert words == (
        "no name server of 100.51.198.in-addr.arpa could be asked: 2001:db8::53: no route "
        "from this host"
    )
    # One server reached: the comparison stands on it, and the row says nothing more.
    reached = ServerState("ns2.example", "198.51.100.53", serial=7)
    zone = ZoneHealth("100.51.198.in-addr.arpa", (unreachable, reached))
    row = replace(row, authority=agreement([], zone))
    assert reason(row) == ""


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['192.0.2.1,"mail.example', "192.0.2.2,b.example"], r"list:1: not a CSV line"),
        (["192.0.2.1,a.example", '192.0.2.2,"b.example'], r"list:2: not a CSV line"),
        (["192.0.2.1,a.example", "192.0.2.1,b.example"], r"list:2: 192.0.2.1 is given twice "
         r"\(first on line 1\)"),
        (["192.0.2.1,a\x00b.example"], r"list:1: 'a\\x00b.example' cannot be a host name"),
        (["fe80::1%eth0,a.example"], r"list:1: a scope id"),
        (["192.0.2.1,a.example,extra"], r"list:1: expected 'ip,hostname'"),
        (["192.0.2.1," + "x" * 64 + ".example"], r"a label longer than 63"),
        (["192.0.2.1,a..example"], r"an empty label"),
        (["ip,hostname", "x" * 1_000_000 + ",a.example"], r"list:2: not an IP address: 'xxx"),
    ],
)  # fmt: skip
def test_expectations_are_parsed_line_by_line_and_refused_with_the_line(lines, message):
    with pytest.raises(ExpectError, match=message) as caught:
        read_expectations(lines, "list")
    assert len(str(caught.value)) < 300


def test_a_stray_quote_no_longer_swallows_the_lines_after_it():
    lines = ["192.0.2.1,a.example"] + [f"192.0.2.{n},h{n}.example" for n in range(2, 102)]
    assert len(read_expectations(lines, "list")) == 101
    lines[1] = '192.0.2.2,"h2.example'  # the quote does not close
    with pytest.raises(ExpectError, match="list:2:"):
        read_expectations(lines, "list")


def test_only_the_scanned_addresses_expectations_are_kept_but_every_line_is_checked():
    # Issue 22, finding 10: a provider-wide file for the scan of one block
    # held every line in memory (100 MB took 467 MB). It is still read whole.
    scanned = TargetSet.build(parse_arguments(["198.18.0.0/30"]))
    lines = ["ip,hostname\n"] + [f"198.18.{n >> 8}.{n & 255},mx{n}.example\n" for n in range(5000)]
    kept = read_expectations(lines, "e.csv", scanned)
    assert kept == {ipaddress.ip_address(f"198.18.0.{n}"): f"mx{n}.example" for n in range(4)}
    bad = [*lines, "203.0.113.9,bad\x01name\n"]  # outside the scan, still refused
    with pytest.raises(ExpectError, match=r"e\.csv:5002: .*control character"):
        read_expectations(bad, "e.csv", scanned)


def test_a_target_set_knows_its_addresses():
    targets = TargetSet.build(parse_arguments(["198.18.0.8/30", "198.18.1.1", "2001:db8::/126"]))
    inside = ["198.18.0.8", "198.18.0.11", "198.18.1.1", "2001:db8::", "2001:db8::3"]
    outside = ["198.18.0.7", "198.18.0.12", "198.18.1.0", "198.18.1.2", "2001:db8::4", "::1"]
    assert all(ipaddress.ip_address(ip) in targets for ip in inside)
    assert not any(ipaddress.ip_address(ip) in targets for ip in outside)
    assert "198.18.0.8" not in targets  # text is not an address


def test_reasons_name_the_zone_and_the_record_to_paste():
    ip = ipaddress.ip_address("198.18.0.9")
    zone = "0.18.198.in-addr.arpa"
    missing = ScanResult(ip, Status.NO_PTR, Stage.REVERSE, (), "", (),
                         expected_name="mx1.example.net", ptr_zone=zone)  # fmt: skip
    assert reason(missing).startswith(
        "no PTR record: 9.0.18.198.in-addr.arpa does not exist; add to the reverse zone "
        "0.18.198.in-addr.arpa: `9.0.18.198.in-addr.arpa. IN PTR mx1.example.net.`"
    )
    v6 = ipaddress.ip_address("2001:db8::25")
    dangling = decide(v6, Lookup(Outcome.ANSWER, ("gone.example",)),
                      [ForwardCheck("gone.example", Lookup(Outcome.NXDOMAIN))])  # fmt: skip
    assert "fix: add `gone.example. IN AAAA 2001:db8::25` in gone.example's zone" in reason(
        dangling
    )
    # Two PTR names, one stale: Postfix accepts one and rejects the other; the stale one is named.
    good = ForwardCheck("srv.example", Lookup(Outcome.ANSWER, ("198.18.0.9",)))
    moved = ForwardCheck("old.example", Lookup(Outcome.ANSWER, ("203.0.113.5",)))
    both = decide(ip, Lookup(Outcome.ANSWER, ("srv.example", "old.example")), [good, moved])
    words = reason(both)
    assert "stale: delete `9.0.18.198.in-addr.arpa. IN PTR old.example.` from the reverse zone" in (
        words
    )
    assert "srv.example." not in words.split("stale:")[1]
