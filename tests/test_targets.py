import ipaddress

import pytest

from scanner.core.targets import (
    Span,
    SpanList,
    TargetError,
    TargetSet,
    merge,
    parse_lines,
    parse_spec,
    subtract,
)

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("198.18.0.5", Span(4, int(V4("198.18.0.5")), int(V4("198.18.0.5")))),
        ("198.18.0.0/30", Span(4, int(V4("198.18.0.0")), int(V4("198.18.0.3")))),
        (" 198.18.0.1 - 198.18.0.9 ", Span(4, int(V4("198.18.0.1")), int(V4("198.18.0.9")))),
        ("2001:db8::/126", Span(6, int(V6("2001:db8::")), int(V6("2001:db8::3")))),
        ("2001:db8::1-2001:db8::ff", Span(6, int(V6("2001:db8::1")), int(V6("2001:db8::ff")))),
        ("2001:db8::7", Span(6, int(V6("2001:db8::7")), int(V6("2001:db8::7")))),
    ],
)
def test_parse_spec(text, span):
    assert parse_spec(text) == span


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("198.18.0.256", "not an IP address"),
        ("198.18.0.5/24", "did you mean 198.18.0.0/24"),
        ("198.18.0.0/33", "not a CIDR block"),
        ("198.18.0.9-198.18.0.1", "ends before it starts"),
        ("198.18.0.1-2001:db8::1", "mixes IPv4 and IPv6"),
        ("mail.example.com", "not an IP address"),
    ],
)
def test_parse_spec_errors(text, message):
    with pytest.raises(TargetError, match=message):
        parse_spec(text)


def test_lines_skip_comments_and_blanks_and_name_the_bad_line():
    lines = ["# rack 1", "", "198.18.0.0/31  # two", "   ", "198.18.0.9"]
    assert [s.size for s in parse_lines(lines, "t.txt")] == [2, 1]
    with pytest.raises(TargetError, match=r"^t\.txt:3: not an IP address: 'bogus'"):
        parse_lines(["198.18.0.1", "", "bogus"], "t.txt")


def test_overlapping_inputs_are_scanned_once_in_order():
    specs = [parse_spec(t) for t in ("198.18.0.4-198.18.0.9", "198.18.0.0/30", "198.18.0.8/29")]
    targets = TargetSet.build(specs)
    assert [str(ip) for ip in targets] == [f"198.18.0.{n}" for n in range(16)]
    assert len(targets) == 16


def test_exclusions_cut_holes_and_edges():
    include = [parse_spec("198.18.0.0/28"), parse_spec("2001:db8::/126")]
    exclude = [
        parse_spec(t)
        for t in (
            "198.18.0.0",
            "198.18.0.4-198.18.0.5",
            "198.18.0.15",
            "198.18.1.0/24",
            "2001:db8::2",
        )
    ]
    targets = TargetSet.build(include, exclude)
    expected = [f"198.18.0.{n}" for n in (1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14)]
    expected += ["2001:db8::", "2001:db8::1", "2001:db8::3"]
    assert [str(ip) for ip in targets] == expected
    assert len(targets) == len(expected)


def test_subtract_matches_a_set_difference_on_many_shapes():
    import random

    rng = random.Random(5)
    for _ in range(200):
        spans = [Span(4, a, a + rng.randrange(20)) for a in (rng.randrange(100) for _ in range(4))]
        holes = [Span(4, a, a + rng.randrange(10)) for a in (rng.randrange(120) for _ in range(4))]
        want = {n for s in spans for n in range(s.first, s.last + 1)}
        want -= {n for h in holes for n in range(h.first, h.last + 1)}
        merged_holes = list(merge(holes))
        got = [n for s in subtract(merge(spans), merged_holes) for n in range(s.first, s.last + 1)]
        assert got == sorted(want)


def test_a_slash_8_is_counted_without_materialising_it():
    targets = TargetSet.build([parse_spec("10.0.0.0/8")])
    assert len(targets) == 2**24
    first = next(iter(targets))
    assert str(first) == "10.0.0.0"
    assert repr(targets) == "<TargetSet [1 spans, 16777216 addresses]>"


def test_the_guard_refuses_a_huge_set():
    with pytest.raises(TargetError, match=r"18,446,744,073,709,551,616 addresses .* limit"):
        TargetSet.build([parse_spec("2001:db8::/64")])
    with pytest.raises(TargetError, match="more than the limit of 100"):
        TargetSet.build([parse_spec("198.18.0.0/25")], max_targets=100)


def test_scattered_addresses_round_trip_through_the_compact_table():
    """Many separate addresses, both families: spans, iteration and indexing agree."""
    import random

    rng = random.Random(3)
    v4 = {f"198.18.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(3000)}
    v6 = {f"2001:db8:{rng.randrange(4)}::{rng.randrange(65536):x}" for _ in range(1000)}
    lines = [*v4, *v6, "203.0.113.0/28", "2001:db8:ff::/124"]
    rng.shuffle(lines)
    spans = parse_lines(lines, "list")
    targets = TargetSet.build(spans)
    assert list(targets.iter_spans()) == list(merge(spans))
    expected = sorted(targets, key=lambda ip: (ip.version, int(ip)))
    assert list(targets) == expected and len(expected) == targets.count
    assert [targets.address_at(i) for i in range(targets.count)] == expected
    assert {str(ip) for ip in expected} >= {str(ipaddress.ip_address(a)) for a in v4 | v6}


def test_ipv4_spans_must_come_first():
    with pytest.raises(ValueError, match="IPv4 spans must come before"):
        TargetSet([Span(6, 1, 1), Span(4, 1, 1)])


def test_span_lists_keep_the_order_given_and_sort_in_chunks(monkeypatch):
    import random

    from scanner.core import targets as targeting

    monkeypatch.setattr(targeting, "_SORT_CHUNK", 7)  # many chunks to merge
    rng = random.Random(11)
    spans = []
    for _ in range(500):
        version = rng.choice((4, 4, 6))
        top = 2**32 if version == 4 else 2**128
        first = rng.randrange(top - 50) if rng.random() < 0.5 else rng.randrange(300)
        spans.append(Span(version, first, first + rng.choice((0, 0, 3, 40))))
    listed = SpanList(spans)
    assert list(listed) == spans and len(listed) == len(spans)
    assert list(listed.in_order()) == sorted(spans)
    assert list(merge(listed)) == list(merge(spans))  # the sorted() way
    assert list(merge(SpanList())) == []
    joined = SpanList(spans[:100])
    joined += SpanList(spans[100:])  # arrays copied whole
    assert list(joined) == spans


@pytest.mark.parametrize(
    "text",
    ["1.2.3.4", "0.0.0.0", "::", "::1", "::ffff:1.2.3.4", "::1.2.3.4", "2001:DB8::1",
     "01.2.3.4", "1.2.3", "256.1.1.1", "0x1.2.3.4", "2001:db8:::1",
     "1::2::3", "::ffff:1.2.3.04", "١.2.3.4"],
)  # fmt: skip
def test_single_addresses_parse_as_ipaddress_does(text):
    # The fast C parser must accept and refuse exactly what ipaddress does.
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        with pytest.raises(TargetError, match="not an IP address"):
            parse_spec(text)
    else:
        assert parse_spec(text) == Span(address.version, int(address), int(address))


@pytest.mark.parametrize("text", ["fe80::1%eth0", "2001:db8:bad::5%eth0", "fe80::%1/64"])
def test_a_scope_id_is_refused_with_the_reason_not_merged_with_the_address(text):
    with pytest.raises(TargetError, match=r"a scope id \('%(eth0|1)'\) names a local interface"):
        parse_spec(text)


def test_a_bad_line_is_quoted_cut_and_escaped_in_the_message():
    long_line = "x" * 50_000_000
    with pytest.raises(TargetError) as caught:
        parse_lines(["198.18.0.1", long_line], "list.txt")
    message = str(caught.value)
    assert message.startswith("list.txt:2: not an IP address: 'xxx")
    assert len(message) < 200 and "(50,000,000 characters)" in message
    with pytest.raises(TargetError) as caught:
        parse_lines(["198.18.0.1\x1b[31m\x07"], "list.txt")
    assert "\x1b" not in str(caught.value) and "\\x1b[31m\\x07" in str(caught.value)


def test_digest_names_exactly_the_addresses():
    def digest(*texts):
        return TargetSet.build([parse_spec(t) for t in texts], max_targets=2**70).digest()

    same = digest("198.18.0.0/24", "2001:db8::/120")
    assert same == digest("198.18.0.0/25", "198.18.0.128/25", "2001:db8::/121", "2001:db8::80/121")
    others = [
        digest("198.18.0.0/24"),
        digest("198.18.1.0/24", "2001:db8::/120"),  # same count, other addresses
        digest("198.18.0.0/24", "2001:db8::100/120"),
        digest("198.18.0.0-198.18.0.127", "198.18.0.129-198.18.1.0", "2001:db8::/120"),
        digest("198.18.0.0/24", "2001:db8::/64"),  # beyond 64 bits of addresses
    ]
    assert len({same, *others}) == len(others) + 1
