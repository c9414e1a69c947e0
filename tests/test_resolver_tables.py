"""The c-ares translation tables, without a network: answer records in, Lookups out."""

import asyncio

import pycares
import pytest

from scanner.core.lookups import Nameserver, ResolverSpecError
from scanner.core.status import Outcome
from scanner.core.verdict import Lookup
from scanner.dns.exactquery import exact_lookup
from scanner.dns.translate import (
    ARES_OUTCOMES,
    lookup_from_answer,
    lookup_from_status,
    no_answer,
    normal_name,
    unexpected_rcode,
)


def test_every_ptr_record_is_read_not_only_the_first():
    answer = [
        ("PTR", "5.0.18.198.in-addr.arpa", "b.example"),
        ("PTR", "5.0.18.198.in-addr.arpa", "a.example"),
    ]
    lookup = lookup_from_answer("5.0.18.198.in-addr.arpa", "PTR", answer)
    assert lookup == Lookup(Outcome.ANSWER, ("b.example", "a.example"))


def test_duplicate_records_are_kept_once():
    answer = [("A", "www.example", "198.18.0.5"), ("A", "www.example", "198.18.0.5")]
    assert lookup_from_answer("www.example", "A", answer).records == ("198.18.0.5",)


def test_cname_chain_inside_the_answer_is_followed():
    answer = [
        ("CNAME", "www.example", "real.example"),
        ("A", "real.example", "198.18.0.5"),
        ("A", "unrelated.example", "203.0.113.1"),
    ]
    assert lookup_from_answer("WWW.example.", "A", answer) == Lookup(
        Outcome.ANSWER, ("198.18.0.5",), ("real.example",)
    )


def test_chain_that_leaves_the_answer_says_where_to_continue():
    answer = [("CNAME", "www.example", "far.other.example")]
    assert lookup_from_answer("www.example", "A", answer) == Lookup(
        Outcome.ANSWER, (), ("far.other.example",)
    )


def test_a_cname_loop_inside_the_answer_is_no_data_and_says_so():
    # A zone's mistake, not a failure to get an answer: never retried, never transient.
    answer = [("CNAME", "a.example", "b.example"), ("CNAME", "b.example", "a.example")]
    lookup = lookup_from_answer("a.example", "A", answer)
    assert lookup.outcome is Outcome.NODATA and not lookup.records
    assert lookup.cnames == ("b.example", "a.example")
    assert lookup.detail == "CNAME loop: a.example -> b.example -> a.example"


def test_an_answer_of_another_type_is_a_bad_response_not_nodata():
    # Issue 22, finding 6: an A record for a PTR question was ptr_nodata, a
    # permanent verdict (Postfix rejects) from a server that answered something else.
    answer = [("A", "5.0.18.198.in-addr.arpa", "198.18.0.5")]
    lookup = lookup_from_answer("5.0.18.198.in-addr.arpa", "PTR", answer)
    assert lookup.outcome is Outcome.BAD_RESPONSE
    assert lookup.detail == (
        "the answer does not match the question PTR 5.0.18.198.in-addr.arpa: "
        "A record for 5.0.18.198.in-addr.arpa"
    )
    forward = [("PTR", "www.example", "x.example")]
    assert lookup_from_answer("www.example", "A", forward).outcome is Outcome.BAD_RESPONSE


def test_records_owned_by_another_name_are_ignored_beside_the_answer_and_wrong_alone():
    answer = [("A", "other.example", "203.0.113.1"), ("A", "www.example", "198.18.0.5")]
    assert lookup_from_answer("www.example", "A", answer).records == ("198.18.0.5",)
    stray = [("A", "other.example", "203.0.113.1")]
    lookup = lookup_from_answer("www.example", "A", stray)
    assert lookup.outcome is Outcome.BAD_RESPONSE
    assert lookup.detail.endswith("A record for other.example")


def test_records_of_another_class_never_answer():
    answer = [("PTR class CH", "5.0.18.198.in-addr.arpa", "")]
    lookup = lookup_from_answer("5.0.18.198.in-addr.arpa", "PTR", answer)
    assert lookup.outcome is Outcome.BAD_RESPONSE
    assert "PTR class CH record" in lookup.detail


def test_a_chain_whose_end_is_answered_for_another_name_is_a_bad_response():
    answer = [("CNAME", "www.example", "real.example"), ("A", "decoy.example", "203.0.113.1")]
    lookup = lookup_from_answer("www.example", "A", answer)
    assert lookup.outcome is Outcome.BAD_RESPONSE
    assert lookup.detail == (
        "the answer does not match the question A real.example: A record for decoy.example"
    )


def test_a_dname_beside_its_chain_is_no_stray():
    # RFC 6672: the DNAME comes with the CNAME synthesised from it.
    answer = [
        ("DNAME", "0.18.198.in-addr.arpa", ""),
        ("CNAME", "5.0.18.198.in-addr.arpa", "5.rev.example"),
    ]
    lookup = lookup_from_answer("5.0.18.198.in-addr.arpa", "PTR", answer)
    assert lookup == Lookup(Outcome.ANSWER, (), ("5.rev.example",))


def test_a_cname_after_the_records_is_still_followed():
    answer = [("A", "real.example", "198.18.0.5"), ("CNAME", "www.example", "real.example")]
    assert lookup_from_answer("www.example", "A", answer) == Lookup(
        Outcome.ANSWER, ("198.18.0.5",), ("real.example",)
    )


def test_an_empty_answer_to_a_success_is_a_bad_response():
    # Only an rcode c-ares does not know reaches here without records.
    assert lookup_from_answer("x.example", "A", []).outcome is Outcome.BAD_RESPONSE


def test_unexpected_rcodes_are_bad_responses_named():
    assert unexpected_rcode(6) == Lookup(Outcome.BAD_RESPONSE, detail="unexpected rcode YXDOMAIN")
    assert unexpected_rcode(23).detail == "unexpected rcode RCODE23"


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (pycares.errno.ARES_ENOTFOUND, Outcome.NXDOMAIN),
        (pycares.errno.ARES_ENODATA, Outcome.NODATA),
        (pycares.errno.ARES_ESERVFAIL, Outcome.SERVFAIL),
        (pycares.errno.ARES_EREFUSED, Outcome.REFUSED),
        (pycares.errno.ARES_ETIMEOUT, Outcome.TIMEOUT),
        (pycares.errno.ARES_ECONNREFUSED, Outcome.NETWORK_ERROR),
        (pycares.errno.ARES_EBADRESP, Outcome.BAD_RESPONSE),
        (pycares.errno.ARES_ENOTIMP, Outcome.OTHER_ERROR),
        (pycares.errno.ARES_EBADNAME, Outcome.OTHER_ERROR),
    ],
)
def test_error_codes(code, outcome):
    lookup = lookup_from_status(code)
    assert lookup.outcome is outcome
    if outcome not in (Outcome.NXDOMAIN, Outcome.NODATA):
        assert lookup.detail == pycares.errno.strerror(code)


def test_the_error_table_only_names_real_codes():
    assert set(ARES_OUTCOMES) <= set(pycares.errno.errorcode)


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("127.0.0.1", "127.0.0.1:53"),
        ("127.0.0.1:5353", "127.0.0.1:5353"),
        ("::1", "[::1]:53"),
        ("[::1]:5353", "[::1]:5353"),
        ("2001:db8::53", "[2001:db8::53]:53"),
        ("[::1:5353]", "[::1:5353]:53"),  # brackets: the address, on port 53
    ],
)
def test_nameserver_parse(text, rendered):
    assert str(Nameserver.parse(text)) == rendered


@pytest.mark.parametrize(
    "text", ["localhost", "127.0.0.1:0", "127.0.0.1:99999", "[::1]x", "1.2.3.4:ab"]
)
def test_nameserver_parse_errors(text):
    with pytest.raises(ResolverSpecError, match="bad resolver"):
        Nameserver.parse(text)


@pytest.mark.parametrize(
    ("name", "normal"),
    [
        ("Mail.Example.", "mail.example"),
        ("mail.example", "mail.example"),
        ("host.test\\.", "host.test\\."),  # an escaped final dot is the name's own
        ("host.test\\\\.", "host.test\\\\"),  # an escaped backslash, then the root's dot
        (".", "."),  # the root stays a name
        ("", "."),  # as c-ares writes the root
    ],
)
def test_normal_name_drops_only_the_roots_final_dot(name, normal):
    assert normal_name(name) == normal


def test_a_response_without_answers_is_nodata_unless_it_is_a_referral():
    soa = ("SOA", "example", "example")
    ns = [("NS", "sub.example", "ns1.other.example"), ("NS", "sub.example", "ns2.other.example")]
    assert no_answer([]).outcome is Outcome.NODATA
    assert no_answer([soa]).outcome is Outcome.NODATA
    assert no_answer([*ns, soa]).outcome is Outcome.NODATA  # RFC 2308 NODATA, type 2
    referral = no_answer(ns)
    assert referral.outcome is Outcome.REFERRAL
    assert referral.detail == "to sub.example at ns1.other.example, ns2.other.example"
    hostile = no_answer([("NS", "=1.example", "a;b.example")])
    assert hostile.detail == "to \\=1.example at a\\059b.example"


def test_a_name_dns_cannot_hold_is_never_sent_and_gets_a_permanent_outcome():
    # A 64-byte label: no server could hold it, so nothing is sent (port 9 is not listened on).
    lookup = asyncio.run(
        exact_lookup(Nameserver.parse("127.0.0.1:9"), "x" * 64 + ".example", "A", 0.5)
    )
    assert lookup.outcome is Outcome.NODATA
    assert lookup.detail.startswith("not a name DNS can hold: ")


def test_an_ipv6_address_that_looks_like_a_port_is_ambiguous_and_refused():
    with pytest.raises(ResolverSpecError, match=r"write \[::1:5353\] .* or \[::1\]:5353"):
        Nameserver.parse("::1:5353")
