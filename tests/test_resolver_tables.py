"""The c-ares translation tables, without a network: pycares records in, Lookups out."""

import aiodns
import pycares
import pytest

from scanner.resolver import (
    ARES_OUTCOMES,
    Nameserver,
    ResolverSpecError,
    lookup_from_answer,
    lookup_from_error,
)
from scanner.status import Outcome


def record(name, rtype, data):
    return pycares.DNSRecord(name=name, type=rtype, record_class=1, ttl=60, data=data)


def ptr(owner, target):
    return record(owner, pycares.QUERY_TYPE_PTR, pycares.PTRRecordData(dname=target))


def a(owner, addr):
    return record(owner, pycares.QUERY_TYPE_A, pycares.ARecordData(addr=addr))


def cname(owner, target):
    return record(owner, pycares.QUERY_TYPE_CNAME, pycares.CNAMERecordData(cname=target))


def test_every_ptr_record_is_read_not_only_the_first():
    answer = [
        ptr("5.0.18.198.in-addr.arpa", "B.example."),
        ptr("5.0.18.198.in-addr.arpa", "a.example"),
    ]
    lookup = lookup_from_answer("5.0.18.198.in-addr.arpa", "PTR", answer)
    assert lookup == pycares_free(Outcome.ANSWER, ("b.example", "a.example"))


def pycares_free(outcome, records=(), cnames=()):
    from scanner.verdict import Lookup

    return Lookup(outcome, tuple(records), tuple(cnames))


def test_cname_chain_inside_the_answer_is_followed():
    answer = [
        cname("www.example", "real.example"),
        a("real.example", "198.18.0.5"),
        a("unrelated.example", "203.0.113.1"),
    ]
    assert lookup_from_answer("WWW.example.", "A", answer) == pycares_free(
        Outcome.ANSWER, ["198.18.0.5"], ["real.example"]
    )


def test_chain_that_leaves_the_answer_says_where_to_continue():
    answer = [cname("www.example", "far.other.example")]
    assert lookup_from_answer("www.example", "A", answer) == pycares_free(
        Outcome.ANSWER, [], ["far.other.example"]
    )


def test_empty_answers_are_nodata():
    assert lookup_from_answer("x.example", "A", []).outcome is Outcome.NODATA
    assert lookup_from_answer("5.0.18.198.in-addr.arpa", "PTR", []).outcome is Outcome.NODATA


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
    lookup = lookup_from_error(aiodns.error.DNSError(code, pycares.errno.strerror(code)))
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
