"""The direct-query path's own wire reader agrees with dnspython wherever it reads at all.

scanner/dns/wire.py reads plain answers by hand and returns None for anything
else, which dnspython then reads. So the property: on every packet, generated
by dnspython or mutated from one, either the hand reader declines or
dnspython parses the packet and reads it the same way.
"""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.dns.wire import build_query, read_reply, reply_from_message

LABEL = st.text("abcXYZ019-_", min_size=1, max_size=12)
NAME = st.lists(LABEL, min_size=1, max_size=5).map(lambda labels: ".".join(labels) + ".")
KIND = st.sampled_from(["A", "AAAA", "PTR", "CNAME", "NS", "SOA", "TXT", "MX"])


def _value(kind: str, draw) -> str:
    if kind == "A":
        return ".".join(str(draw(st.integers(0, 255))) for _ in range(4))
    if kind == "AAAA":
        return draw(st.sampled_from(["2001:db8::1", "::ffff:192.0.2.1", "2001:db8:0:1::", "::"]))
    if kind in ("PTR", "CNAME", "NS"):
        return draw(NAME)
    if kind == "SOA":
        return f"{draw(NAME)} {draw(NAME)} {draw(st.integers(0, 2**32 - 1))} 1 2 3 4"
    if kind == "MX":
        return f"10 {draw(NAME)}"
    return '"text"'


@st.composite
def messages(draw) -> bytes:
    qname = draw(NAME)
    qtype = draw(st.sampled_from(["PTR", "A", "AAAA", "SOA", "NS"]))
    query = dns.message.make_query(
        qname, qtype, use_edns=draw(st.sampled_from([0, False])), id=draw(st.integers(0, 65535))
    )
    response = dns.message.make_response(query)
    response.flags |= draw(st.sampled_from([0, dns.flags.AA, dns.flags.TC]))
    response.set_rcode(draw(st.sampled_from([0, 2, 3, 5, 16 if query.edns >= 0 else 1])))
    owners = [qname, *draw(st.lists(NAME, max_size=2))]
    for section in (response.answer, response.authority):
        for _ in range(draw(st.integers(0, 4))):
            kind = draw(KIND)
            rdclass = "IN" if kind != "TXT" else draw(st.sampled_from(["IN", "CH"]))
            values = [_value(kind, draw) for _ in range(draw(st.integers(1, 3)))]
            owner = draw(st.sampled_from(owners))
            section.append(dns.rrset.from_text_list(owner, 300, rdclass, kind, values))
    if draw(st.booleans()):
        response.question = []
    return response.to_wire(max_size=65535, want_shuffle=False)


@st.composite
def mutated(draw) -> bytes:
    packet = bytearray(draw(messages()))
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["flip", "cut", "append", "pointer"]))
        if action == "flip" and packet:
            at = draw(st.integers(0, len(packet) - 1))
            packet[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut" and packet:
            del packet[draw(st.integers(0, len(packet) - 1)) :]
        elif action == "append":
            packet += draw(st.binary(min_size=1, max_size=4))
        elif action == "pointer" and len(packet) > 14:
            at = draw(st.integers(12, len(packet) - 2))
            packet[at : at + 2] = (0xC000 | draw(st.integers(0, len(packet)))).to_bytes(2, "big")
    return bytes(packet)


def _agree(packet: bytes) -> bool:
    """True if the hand reader read the packet (and then agreed with dnspython)."""
    fast = read_reply(packet)
    if fast is None:
        return False
    message = dns.message.from_wire(packet)  # must not raise where the hand reader read
    assert fast == reply_from_message(message)
    return True


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_generated_answers_read_the_same_by_hand_and_by_dnspython(packet):
    _agree(packet)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_answers_are_read_the_same_or_left_to_dnspython(packet):
    _agree(packet)


def test_a_plain_answer_is_read_by_hand():
    # The fast path is taken for what name servers send, or it saves nothing.
    query = dns.message.make_query("5.1.18.198.in-addr.arpa", "PTR", use_edns=0)
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    response.answer.append(
        dns.rrset.from_text("5.1.18.198.in-addr.arpa.", 300, "IN", "PTR", "Srv-X.Example.")
    )
    reply = read_reply(response.to_wire())
    assert reply is not None and _agree(response.to_wire())
    assert reply.answer[0].value == "Srv-X.Example." and reply.flags & dns.flags.AA
    labels = dns.name.from_text("5.1.18.198.in-addr.arpa").labels[:-1]
    assert reply.answers(query.id, labels, dns.rdatatype.PTR)
    assert not reply.answers(query.id ^ 1, labels, dns.rdatatype.PTR)
    assert not reply.answers(query.id, labels, dns.rdatatype.A)


def test_odd_packets_are_left_to_dnspython():
    query = dns.message.make_query("x.example", "A")
    response = dns.message.make_response(query)
    response.answer.append(dns.rrset.from_text("x.example.", 300, "IN", "A", "192.0.2.1"))
    wire = response.to_wire()
    loop = wire[:12] + b"\xc0\x0c" + wire[-4 - 10 - 4 - 4 :]  # a name pointing at itself
    odd_label = dns.message.make_response(dns.message.make_query("a\\032b.example", "A"))
    for packet in (wire + b"\x00", loop, odd_label.to_wire(), wire[:-1]):
        assert read_reply(packet) is None


def test_a_query_written_by_hand_is_the_one_dnspython_writes():
    name = dns.name.from_text("5.1.18.198.in-addr.arpa")
    for rd in (True, False):
        query = dns.message.make_query(name, "PTR", use_edns=0, payload=1232)
        if not rd:
            query.flags &= ~dns.flags.RD
        wire = build_query(query.id, name.labels[:-1], dns.rdatatype.PTR, rd=rd, payload=1232)
        assert wire == query.to_wire()
