"""Scan targets: parse IPs, CIDRs and ranges, merge overlaps, subtract exclusions.

Pure: works on lines of text and integers. A target set keeps only the merged
spans, never the addresses, so a /8 costs a few bytes until it is iterated, and
iteration yields one address at a time.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import ipaddress
import socket
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from scanner.core.names import quoted
from scanner.core.verdict import IPAddress

DEFAULT_MAX_TARGETS = 2**24


class TargetError(ValueError):
    """A target or exclusion that cannot be parsed, or a target set that is too large."""


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """An inclusive range of addresses of one IP version, as integers."""

    version: int
    first: int
    last: int

    @property
    def size(self) -> int:
        return self.last - self.first + 1


def _address(text: str) -> IPAddress:
    if "%" in text:
        zone = text.partition("%")[2]
        raise TargetError(
            f"a scope id ({quoted('%' + zone, 20)}) names a local interface and is no part "
            "of an address in DNS; give the address without it"
        )
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise TargetError(f"not an IP address: {quoted(text)}") from None


def parse_spec(text: str) -> Span:
    """One target: an address, a CIDR (`198.18.0.0/24`) or a range (`A-B`)."""
    text = text.strip()
    if not text:
        raise TargetError("empty target")
    if "/" in text:
        if "%" in text:
            _address(text.partition("/")[0])  # refuses the scope id
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            try:
                loose = ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise TargetError(f"not a CIDR block: {quoted(text)} ({exc})") from None
            raise TargetError(
                f"host bits set in {quoted(text)}: did you mean {loose.with_prefixlen}?"
            ) from None
        return Span(
            network.version,
            int(network.network_address),
            int(network.broadcast_address),
        )
    if "-" in text:
        start_text, _, end_text = text.partition("-")
        start, end = _address(start_text.strip()), _address(end_text.strip())
        if start.version != end.version:
            raise TargetError(f"range mixes IPv4 and IPv6: {quoted(text)}")
        if int(end) < int(start):
            raise TargetError(f"range ends before it starts: {quoted(text)}")
        return Span(start.version, int(start), int(end))
    version, number = _address_number(text)
    return Span(version, number, number)


def _address_number(text: str) -> tuple[int, int]:
    """(version, address as an integer). The C parser first: a list file of a
    million addresses spent most of its planning time in `ipaddress`, which
    accepts the same addresses (and, besides, IPv6 scope ids: the fallback)."""
    version, family = (6, socket.AF_INET6) if ":" in text else (4, socket.AF_INET)
    try:
        return version, int.from_bytes(socket.inet_pton(family, text), "big")
    except (OSError, ValueError):
        address = _address(text)
        return address.version, int(address)


class SpanList:
    """Parsed targets, in the order given, kept as integers rather than `Span` objects.

    A list file of a million separate addresses is a million spans: as objects,
    with the sorted copy the merge makes, planning the scan took 256 MB. Here
    an IPv4 span is two 64-bit integers in an array and a byte for its version.
    """

    __slots__ = ("_v4", "_v6", "_versions")

    def __init__(self, spans: Iterable[Span] = ()) -> None:
        self._versions = array("B")
        self._v4 = array("Q")  # first, last of each IPv4 span, in order
        self._v6: list[int] = []  # the same for IPv6 (beyond 64 bits)
        self += spans

    def append(self, span: Span) -> None:
        self._versions.append(span.version)
        (self._v4 if span.version == 4 else self._v6).extend((span.first, span.last))

    def __iadd__(self, spans: Iterable[Span]) -> SpanList:
        if isinstance(spans, SpanList):  # a parsed list file: copy the arrays, not spans
            self._versions.extend(spans._versions)
            self._v4.extend(spans._v4)
            self._v6.extend(spans._v6)
            return self
        for span in spans:
            self.append(span)
        return self

    def __len__(self) -> int:
        return len(self._versions)

    def __iter__(self) -> Iterator[Span]:
        v4, v6 = iter(self._v4), iter(self._v6)
        for version in self._versions:
            pairs = v4 if version == 4 else v6
            yield Span(version, next(pairs), next(pairs))

    def in_order(self) -> Iterator[Span]:
        """The spans sorted (IPv4 first, by first then last address), made lazily.

        IPv4 spans are sorted as one 64-bit key each (first, then last), in
        chunks merged afterwards: only one chunk at a time is a list of Python
        ints, whatever the length of the list file.
        """
        v4, chunks = self._v4, []
        for start in range(0, len(v4), 2 * _SORT_CHUNK):
            pairs = v4[start : start + 2 * _SORT_CHUNK]
            chunks.append(array("Q", sorted(first << 32 | last for first, last in _pairs(pairs))))
        for key in heapq.merge(*chunks):
            yield Span(4, key >> 32, key & 0xFFFFFFFF)
        for first, last in sorted(_pairs(self._v6)):
            yield Span(6, first, last)


_SORT_CHUNK = 1 << 20  # IPv4 spans sorted at a time (a list of this many ints)


def _pairs(values: Iterable[int]) -> Iterator[tuple[int, int]]:
    numbers = iter(values)
    return zip(numbers, numbers, strict=True)


def parse_lines(lines: Iterable[str], source: str) -> SpanList:
    """Targets one per line; `#` starts a comment, blank lines are skipped.

    Errors name the source and the line number.
    """
    spans = SpanList()
    for number, raw in enumerate(lines, start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            spans.append(parse_spec(text))
        except TargetError as exc:
            raise TargetError(f"{source}:{number}: {exc}") from None
    return spans


def parse_arguments(values: Iterable[str], what: str = "target") -> SpanList:
    spans = SpanList()
    for value in values:
        try:
            spans.append(parse_spec(value))
        except TargetError as exc:
            raise TargetError(f"{what} {quoted(value)}: {exc}") from None
    return spans


def merge(spans: Iterable[Span]) -> Iterator[Span]:
    """Sorted spans with overlapping and adjacent ones joined, made lazily."""
    ordered = spans.in_order() if isinstance(spans, SpanList) else iter(sorted(spans))
    current = next(ordered, None)
    if current is None:
        return
    for span in ordered:
        if span.version == current.version and span.first <= current.last + 1:
            if span.last > current.last:
                current = Span(span.version, current.first, span.last)
        else:
            yield current
            current = span
    yield current


def subtract(spans: Iterable[Span], holes: list[Span]) -> Iterator[Span]:
    """`spans` minus `holes`; both must be merged (sorted, disjoint). Made lazily."""
    hole_index = 0
    for span in spans:
        first = span.first
        while hole_index < len(holes) and (holes[hole_index].version, holes[hole_index].last) < (
            span.version,
            first,
        ):
            hole_index += 1
        index = hole_index
        while index < len(holes) and holes[index].version == span.version:
            hole = holes[index]
            if hole.first > span.last:
                break
            if hole.first > first:
                yield Span(span.version, first, hole.first - 1)
            first = max(first, hole.last + 1)
            if first > span.last:
                break
            index += 1
        if first <= span.last:
            yield Span(span.version, first, span.last)


class TargetSet:
    """The addresses to scan: each exactly once, IPv4 first, in address order.

    The spans are kept as arrays of integers rather than `Span` objects: a list
    of a million separate addresses is a million spans, which as objects took
    over 200 MB, and every forked worker touching them copied its own share.
    """

    __slots__ = ("_starts", "_v4_firsts", "_v6_firsts", "count")

    def __init__(self, spans: Iterable[Span]) -> None:
        """`spans`: sorted and disjoint, IPv4 before IPv6 (as `build()` makes them)."""
        starts: array[int] | list[int] = array("Q")  # each span's first index in the set
        self._v4_firsts = array("Q")
        self._v6_firsts: list[int] = []  # IPv6 addresses do not fit 64 bits
        total = 0
        for span in spans:
            if span.version == 4:
                if self._v6_firsts:
                    raise ValueError("IPv4 spans must come before IPv6 spans")
                self._v4_firsts.append(span.first)
            else:
                self._v6_firsts.append(span.first)
            if total >= 2**64 and isinstance(starts, array):
                starts = list(starts)  # IPv6 sets can pass 64 bits
            starts.append(total)
            total += span.size
        self._starts = starts
        self.count = total

    def _first(self, which: int) -> tuple[int, int]:
        """IP version and first address of span number `which`."""
        v4 = len(self._v4_firsts)
        if which < v4:
            return 4, self._v4_firsts[which]
        return 6, self._v6_firsts[which - v4]

    def digest(self) -> str:
        """A fingerprint of exactly these addresses, read from the arrays.

        (Listing the spans for a fingerprint made a million objects again and
        took a 4,000,000-line list from 243 to 862 MB.)
        """
        hasher = hashlib.sha256(
            b"%d/%d/%d/" % (self.count, len(self._starts), len(self._v4_firsts))
        )
        for values in (self._starts, self._v4_firsts, self._v6_firsts):
            if isinstance(values, array):
                hasher.update(values)  # machine byte order: a journal is resumed where it was made
            else:
                for value in values:
                    hasher.update(value.to_bytes(16, "big"))
        return hasher.hexdigest()

    def iter_spans(self) -> Iterator[Span]:
        """The merged spans in order, rebuilt one at a time from the arrays."""
        starts = self._starts
        for which, start in enumerate(starts):
            end = starts[which + 1] if which + 1 < len(starts) else self.count
            version, first = self._first(which)
            yield Span(version, first, first + end - start - 1)

    @classmethod
    def build(
        cls,
        include: Iterable[Span],
        exclude: Iterable[Span] = (),
        *,
        max_targets: int = DEFAULT_MAX_TARGETS,
    ) -> TargetSet:
        targets = cls(subtract(merge(include), list(merge(exclude))))
        if targets.count > max_targets:
            raise TargetError(
                f"{targets.count:,} addresses to scan, more than the limit of {max_targets:,}; "
                "check the ranges (an IPv6 /64 is 2^64 addresses) or raise max_targets"
            )
        return targets

    def __len__(self) -> int:
        return self.count

    def __contains__(self, ip: object) -> bool:
        """Whether `ip` (an address) is one of the set's: two bisections, no span built."""
        if not isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        v4 = len(self._v4_firsts)
        firsts: array[int] | list[int] = self._v4_firsts if ip.version == 4 else self._v6_firsts
        number = int(ip)
        position = bisect.bisect_right(firsts, number) - 1
        if position < 0:
            return False
        which = position + (0 if ip.version == 4 else v4)
        starts = self._starts
        end = starts[which + 1] if which + 1 < len(starts) else self.count
        return number - firsts[position] < end - starts[which]

    def __iter__(self) -> Iterator[IPAddress]:
        for span in self.iter_spans():
            make = ipaddress.IPv4Address if span.version == 4 else ipaddress.IPv6Address
            for number in range(span.first, span.last + 1):
                yield make(number)

    def address_at(self, index: int) -> IPAddress:
        """The `index`-th address of the set, in address order."""
        which = bisect.bisect_right(self._starts, index) - 1
        version, first = self._first(which)
        number = first + index - self._starts[which]
        return ipaddress.IPv4Address(number) if version == 4 else ipaddress.IPv6Address(number)

    def addresses(self, indices: Iterable[int]) -> Iterator[IPAddress]:
        address_at = self.address_at
        for index in indices:
            yield address_at(index)

    def __repr__(self) -> str:
        return f"<TargetSet [{len(self._starts)} spans, {self.count} addresses]>"
