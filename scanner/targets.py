"""Scan targets: parse IPs, CIDRs and ranges, merge overlaps, subtract exclusions.

Pure: works on lines of text and integers. A target set keeps only the merged
spans, never the addresses, so a /8 costs a few bytes until it is iterated, and
iteration yields one address at a time.
"""

from __future__ import annotations

import bisect
import ipaddress
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from scanner.verdict import IPAddress

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
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise TargetError(f"not an IP address: {text!r}") from None


def parse_spec(text: str) -> Span:
    """One target: an address, a CIDR (`198.18.0.0/24`) or a range (`A-B`)."""
    text = text.strip()
    if not text:
        raise TargetError("empty target")
    if "/" in text:
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            try:
                loose = ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise TargetError(f"not a CIDR block: {text!r} ({exc})") from None
            raise TargetError(
                f"host bits set in {text!r}: did you mean {loose.with_prefixlen}?"
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
            raise TargetError(f"range mixes IPv4 and IPv6: {text!r}")
        if int(end) < int(start):
            raise TargetError(f"range ends before it starts: {text!r}")
        return Span(start.version, int(start), int(end))
    address = _address(text)
    return Span(address.version, int(address), int(address))


def parse_lines(lines: Iterable[str], source: str) -> list[Span]:
    """Targets one per line; `#` starts a comment, blank lines are skipped.

    Errors name the source and the line number.
    """
    spans = []
    for number, raw in enumerate(lines, start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            spans.append(parse_spec(text))
        except TargetError as exc:
            raise TargetError(f"{source}:{number}: {exc}") from None
    return spans


def parse_arguments(values: Iterable[str], what: str = "target") -> list[Span]:
    spans = []
    for value in values:
        try:
            spans.append(parse_spec(value))
        except TargetError as exc:
            raise TargetError(f"{what} {value!r}: {exc}") from None
    return spans


def merge(spans: Iterable[Span]) -> list[Span]:
    """Sorted spans with overlapping and adjacent ones joined."""
    merged: list[Span] = []
    for span in sorted(spans):
        if merged and merged[-1].version == span.version and span.first <= merged[-1].last + 1:
            if span.last > merged[-1].last:
                merged[-1] = Span(span.version, merged[-1].first, span.last)
        else:
            merged.append(span)
    return merged


def subtract(spans: list[Span], holes: list[Span]) -> list[Span]:
    """`spans` minus `holes`; both must be merged (sorted, disjoint)."""
    result = []
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
                result.append(Span(span.version, first, hole.first - 1))
            first = max(first, hole.last + 1)
            if first > span.last:
                break
            index += 1
        if first <= span.last:
            result.append(Span(span.version, first, span.last))
    return result


class TargetSet:
    """The addresses to scan: each exactly once, IPv4 first, in address order.

    The spans are kept as arrays of integers rather than `Span` objects: a list
    of a million separate addresses is a million spans, which as objects took
    over 200 MB, and every forked worker touching them copied its own share.
    """

    __slots__ = ("_starts", "_v4_firsts", "_v6_firsts", "count")

    def __init__(self, spans: Iterable[Span]) -> None:
        """`spans`: sorted and disjoint, IPv4 before IPv6 (as `build()` makes them)."""
        starts: list[int] = []  # index in the set of each span's first address
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
            starts.append(total)
            total += span.size
        self._starts: array[int] | list[int] = array("Q", starts) if total < 2**64 else starts
        self.count = total

    def _first(self, which: int) -> tuple[int, int]:
        """IP version and first address of span number `which`."""
        v4 = len(self._v4_firsts)
        if which < v4:
            return 4, self._v4_firsts[which]
        return 6, self._v6_firsts[which - v4]

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
        targets = cls(subtract(merge(include), merge(exclude)))
        if targets.count > max_targets:
            raise TargetError(
                f"{targets.count:,} addresses to scan, more than the limit of {max_targets:,}; "
                "check the ranges (an IPv6 /64 is 2^64 addresses) or raise max_targets"
            )
        return targets

    def __len__(self) -> int:
        return self.count

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
