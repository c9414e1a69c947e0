import ipaddress

import pytest

from scanner.core.status import Outcome, Stage, Status
from scanner.core.verdict import ForwardCheck, Lookup, confirms, decide, reverse_name

IP4 = ipaddress.ip_address("198.18.0.5")
IP6 = ipaddress.ip_address("2001:db8::5")


def ptr(*names):
    return Lookup(Outcome.ANSWER, tuple(names))


def fwd(name, outcome=Outcome.ANSWER, *addresses, cnames=()):
    return ForwardCheck(name, Lookup(outcome, tuple(addresses), tuple(cnames)))


A = Outcome.ANSWER
CASES = [
    # (ip, ptr lookup, forward checks) -> (status, stage, confirmed name)
    (
        IP4,
        ptr("a.example"),
        [fwd("a.example", A, "198.18.0.5")],
        (Status.PASS, Stage.FORWARD, "a.example"),
    ),
    (
        IP6,
        ptr("a.example"),
        [fwd("a.example", A, "2001:db8:0::0005")],
        (Status.PASS, Stage.FORWARD, "a.example"),
    ),
    (
        IP4,
        ptr("a.example", "b.example"),
        [fwd("a.example", A, "203.0.113.1"), fwd("b.example", A, "203.0.113.9", "198.18.0.5")],
        (Status.PASS, Stage.FORWARD, "b.example"),
    ),
    # A confirming name wins over another name's failure.
    (
        IP4,
        ptr("a.example", "b.example"),
        [fwd("a.example", Outcome.TIMEOUT), fwd("b.example", A, "198.18.0.5")],
        (Status.PASS, Stage.FORWARD, "b.example"),
    ),
    (
        IP4,
        ptr("a.example", "b.example"),
        [fwd("a.example", A, "203.0.113.1"), fwd("b.example", Outcome.TIMEOUT)],
        (Status.TIMEOUT, Stage.FORWARD, ""),
    ),
    (
        IP4,
        ptr("a.example"),
        [fwd("a.example", Outcome.SERVFAIL)],
        (Status.SERVFAIL, Stage.FORWARD, ""),
    ),
    (
        IP4,
        ptr("a.example"),
        [fwd("a.example", A, "203.0.113.1")],
        (Status.MISMATCH, Stage.FORWARD, ""),
    ),
    (
        IP4,
        ptr("a.example"),
        [fwd("a.example", Outcome.NXDOMAIN)],
        (Status.NO_FORWARD, Stage.FORWARD, ""),
    ),
    (
        IP4,
        ptr("a.example", "b.example"),
        [fwd("a.example", Outcome.NXDOMAIN), fwd("b.example", Outcome.NODATA)],
        (Status.NO_FORWARD, Stage.FORWARD, ""),
    ),
    (
        IP4,
        ptr("a.example", "b.example"),
        [fwd("a.example", Outcome.NXDOMAIN), fwd("b.example", A, "203.0.113.1")],
        (Status.MISMATCH, Stage.FORWARD, ""),
    ),
    # A CNAME chain that ends nowhere is no address at all.
    (
        IP4,
        ptr("a.example"),
        [fwd("a.example", A, cnames=("x.other.example",))],
        (Status.NO_FORWARD, Stage.FORWARD, ""),
    ),
    (IP4, Lookup(Outcome.NXDOMAIN), [], (Status.NO_PTR, Stage.REVERSE, "")),
    (IP4, Lookup(Outcome.NODATA), [], (Status.PTR_NODATA, Stage.REVERSE, "")),
    (IP4, Lookup(Outcome.ANSWER), [], (Status.PTR_NODATA, Stage.REVERSE, "")),
    (IP4, Lookup(Outcome.TIMEOUT), [], (Status.TIMEOUT, Stage.REVERSE, "")),
    (IP4, Lookup(Outcome.SERVFAIL), [], (Status.SERVFAIL, Stage.REVERSE, "")),
    (IP4, Lookup(Outcome.REFUSED), [], (Status.REFUSED, Stage.REVERSE, "")),
    (
        IP4,
        Lookup(Outcome.NETWORK_ERROR, detail="Connection refused"),
        [],
        (Status.ERROR, Stage.REVERSE, ""),
    ),
    (IP4, Lookup(Outcome.BAD_RESPONSE), [], (Status.ERROR, Stage.REVERSE, "")),
    (IP4, Lookup(Outcome.OTHER_ERROR), [], (Status.ERROR, Stage.REVERSE, "")),
]


@pytest.mark.parametrize(("ip", "ptr_lookup", "forward", "expected"), CASES)
def test_decide(ip, ptr_lookup, forward, expected):
    result = decide(ip, ptr_lookup, forward)
    assert (result.status, result.stage, result.confirmed_name) == expected
    assert result.ptr_names == (ptr_lookup.records if ptr_lookup.outcome is Outcome.ANSWER else ())


def test_every_status_is_reachable_from_the_table():
    from scanner.core.status import Status as S

    assert {expected[0] for *_, expected in CASES} == set(S)


def test_a_timeout_is_never_reported_as_a_missing_record():
    for outcome in (Outcome.TIMEOUT, Outcome.SERVFAIL, Outcome.REFUSED, Outcome.NETWORK_ERROR):
        result = decide(IP4, Lookup(outcome, detail="why"))
        assert result.status not in (Status.NO_PTR, Status.PTR_NODATA)
        assert "why" in result.error and IP4.reverse_pointer in result.error


def test_a_ptr_name_without_a_forward_lookup_is_a_bug_not_a_mismatch():
    with pytest.raises(ValueError, match="no forward lookup"):
        decide(IP4, ptr("a.example", "b.example"), [fwd("a.example", A, "203.0.113.1")])


def test_forward_error_text_names_each_failing_name():
    result = decide(
        IP6,
        ptr("a.example", "b.example"),
        [fwd("a.example", Outcome.SERVFAIL), fwd("b.example", Outcome.TIMEOUT)],
    )
    assert result.error == "AAAA a.example: servfail; AAAA b.example: timeout"


@pytest.mark.parametrize(
    "text",
    [
        "198.18.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "203.0.113.77",
        "2001:db8::1",
        "::",
        "2001:db8:1::ff",
    ],
)
def test_reverse_name_is_the_standard_reverse_pointer(text):
    ip = ipaddress.ip_address(text)
    assert reverse_name(ip) == ip.reverse_pointer


def test_confirms_compares_addresses_not_spellings():
    ip = ipaddress.ip_address("2001:db8::1")
    spelled = Lookup(Outcome.ANSWER, ("2001:DB8:0:0::1",))
    assert confirms(ip, spelled)
    assert not confirms(ip, Lookup(Outcome.ANSWER, ("2001:db8::2", "not an address")))
