"""The reverse-tree walk's decisions (scanner/core/walk.py): names, children, verdicts."""

from __future__ import annotations

import ipaddress

import pytest

from scanner.core.status import Outcome
from scanner.core.verdict import reverse_name
from scanner.core.walk import Step, children, judge, reverse_name_of, start_nodes


def test_the_reverse_name_of_an_address_is_the_ptr_owner_name():
    for text in ("2001:db8::1", "198.18.7.9"):
        ip = ipaddress.ip_address(text)
        network = ipaddress.ip_network(f"{ip}/{ip.max_prefixlen}")
        assert reverse_name_of(network) == reverse_name(ip)


def test_prefix_names_and_their_children():
    v4 = ipaddress.ip_network("198.18.0.0/16")
    assert reverse_name_of(v4) == "18.198.in-addr.arpa"
    below = list(children(v4))
    assert len(below) == 256 and str(below[7]) == "198.18.7.0/24"
    v6 = ipaddress.ip_network("2001:db8:42:ee00::/56")
    assert reverse_name_of(v6) == "e.e.2.4.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
    assert [reverse_name_of(n) for n in children(v6)][15].startswith("f.e.e.2.4.0.0")
    with pytest.raises(ValueError, match="label boundary"):
        reverse_name_of(ipaddress.ip_network("2001:db8::/50"))


def test_an_unaligned_prefix_starts_from_the_aligned_ones_covering_it_exactly():
    starts = list(start_nodes(ipaddress.ip_network("2001:db8::/49")))
    assert len(starts) == 8 and all(n.prefixlen == 52 for n in starts)
    assert list(start_nodes(ipaddress.ip_network("198.18.0.0/15"))) == [
        ipaddress.ip_network(f"198.{n}.0.0/16") for n in (18, 19)
    ]


@pytest.mark.parametrize(
    ("outcome", "interior", "leaf"),
    [
        (Outcome.NXDOMAIN, Step.NOTHING, Step.NOTHING),
        (Outcome.NODATA, Step.DESCEND, Step.FOUND),  # an empty non-terminal; a name without PTR
        (Outcome.ANSWER, Step.DESCEND, Step.FOUND),
        (Outcome.TIMEOUT, Step.UNSEEN, Step.UNSEEN),
        (Outcome.SERVFAIL, Step.UNSEEN, Step.UNSEEN),
        (Outcome.REFUSED, Step.UNSEEN, Step.UNSEEN),
        (Outcome.REFERRAL, Step.UNSEEN, Step.UNSEEN),
        (Outcome.BAD_RESPONSE, Step.UNSEEN, Step.UNSEEN),
    ],
)
def test_only_nxdomain_ends_a_subtree_and_no_failure_is_taken_for_nothing(outcome, interior, leaf):
    assert judge(ipaddress.ip_network("2001:db8::/64"), outcome) is interior
    assert judge(ipaddress.ip_network("2001:db8::1/128"), outcome) is leaf
