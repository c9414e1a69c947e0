"""Generic-name detection and expected names (--expect, --helo); the reasons are in reasons.py.

Pure functions over results and names. A PTR name is `generic` when it looks
like an access provider's automatic name rather than a server's: it embeds the
address (in any common spelling), or matches one of the configured patterns
(`pool`, `dynamic`, `dhcp`, `dsl`, `static`...). Mail receivers treat such
names as home connections, so a mail server behind one is marked as spam even
when FCrDNS holds.
"""

from __future__ import annotations

import csv
import ipaddress
import re
from collections.abc import Container, Iterable, Mapping
from dataclasses import replace

from scanner.core.names import name_problem, normal_name, quoted
from scanner.core.verdict import (
    IPAddress,
    ScanResult,
    confirms,
)

# Matched, case-insensitively, against the whole PTR name.
DEFAULT_GENERIC_PATTERNS = (
    # Access-network words as a label or part of one: dsl-12, pool.isp, dyn123
    r"(^|[.\-_])(pool|dyn|dynamic|dhcp|dsl|adsl|vdsl|xdsl|cable|cablemodem|dial|dialup|"
    r"ppp|pppoe|broadband|static|client|customer|cust|cpe|ftth|fttx|residential|dip|"
    r"unassigned|nat)([.\-_]|\d|$)",
    # host-123, ip-10-0-0-1, node42: a word followed by a number
    r"(^|[.\-_])(host|ip|node|user|hst)[\-_]?\d",
)


def _spellings(ip: IPAddress) -> set[str]:
    """The ways an address appears inside generic names, lower case."""
    if ip.version == 4:
        value = int(ip)  # from the integer: str(ip) is slow, and this runs per PTR name
        octets = [
            str(value >> 24),
            str(value >> 16 & 0xFF),
            str(value >> 8 & 0xFF),
            str(value & 0xFF),
        ]
        padded = [part.zfill(3) for part in octets]
        # Run together, only padded octets are a spelling: 1981805 is ambiguous.
        forms = {f"{value:08x}", "".join(padded), "".join(padded[::-1])}
        for parts in (octets, padded, octets[::-1], padded[::-1]):
            forms.update(("-".join(parts), ".".join(parts), "_".join(parts)))
        return forms
    exploded = ip.exploded.replace(":", "")
    return {
        exploded,
        str(ip).replace(":", "-"),
        ip.exploded.replace(":", "-"),
        ".".join(reversed(exploded)),
        "-".join(reversed(exploded)),
    }


def embeds_address(name: str, ip: IPAddress) -> bool:
    """Whether `name` contains the address, e.g. host-198-18-0-5, 5.0.18.198.pool, c6120005.

    A spelling counts only as a whole: not followed or preceded by more digits
    (or hex digits), so 198-51-100-230 does not embed 198.51.100.2.
    """
    lowered = name.lower()
    if not _may_embed(lowered, ip):
        return False
    for form in _spellings(ip):
        start = lowered.find(form)
        while start != -1:
            before = lowered[start - 1] if start else ""
            end = start + len(form)
            after = lowered[end] if end < len(lowered) else ""
            if not (_continues(before) or _continues(after)):
                return True
            start = lowered.find(form, start + 1)
    return False


def _may_embed(lowered: str, ip: IPAddress) -> bool:
    """Whether `lowered` could hold a spelling of `ip` at all.

    Most server names fail this test, which is far cheaper than making the
    spellings. IPv4: every decimal spelling holds each octet's digits (padding
    only adds zeros in front); the other spelling is the 8-digit hex form.
    IPv6: the forward spellings end with the last group (its hex digits
    without padding), the nibble spellings start with its last two nibbles.
    """
    value = int(ip)
    if ip.version == 4:
        return (
            str(value & 0xFF) in lowered
            and str(value >> 24) in lowered
            and str(value >> 8 & 0xFF) in lowered
            and str(value >> 16 & 0xFF) in lowered
        ) or f"{value:08x}" in lowered
    last = value & 0xFFFF
    if not last:
        return True  # compressed, the address may end in '::'
    low, next_low = f"{value & 0xF:x}", f"{value >> 4 & 0xF:x}"
    return (
        f"{last:x}" in lowered or f"{low}.{next_low}" in lowered or f"{low}-{next_low}" in lowered
    )


def _continues(char: str) -> bool:
    return char != "" and char in "0123456789abcdef"


class GenericNames:
    """Decides whether PTR names look generic; patterns from the configuration."""

    def __init__(self, patterns: Iterable[str] = DEFAULT_GENERIC_PATTERNS) -> None:
        # Patterns match case-insensitively. They are matched against the name
        # in lower case, so one with no capital letter (the defaults) needs no
        # IGNORECASE, which makes the search about a third slower.
        self.patterns = [
            re.compile(pattern, 0 if pattern.isascii() and pattern.lower() == pattern else re.I)
            for pattern in patterns
        ]

    def is_generic(self, name: str, ip: IPAddress) -> bool:
        lowered = name.lower()
        return embeds_address(lowered, ip) or any(p.search(lowered) for p in self.patterns)

    def any_generic(self, result: ScanResult) -> bool:
        return any(self.is_generic(name, result.ip) for name in result.ptr_names)


def expected_match(result: ScanResult, name: str) -> bool:
    """Whether `name` is among the PTR names and its forward lookup returns the IP."""
    wanted = normal_name(name)
    return any(
        check.name == wanted and confirms(result.ip, check.lookup) for check in result.forward
    )


class Annotator:
    """Adds what the operator needs beyond the verdict: generic names, expected names."""

    def __init__(
        self, generic: GenericNames, expected: Mapping[IPAddress, str], default_name: str = ""
    ) -> None:
        self.generic = generic
        self.expected = expected
        self.default_name = normal_name(default_name) if default_name else ""

    def __call__(self, result: ScanResult) -> ScanResult:
        generic = bool(result.ptr_names) and self.generic.any_generic(result)
        name = self.expected.get(result.ip, self.default_name)
        if name:
            match = expected_match(result, name)
            return replace(result, generic_ptr=generic, expected_name=name, expected_match=match)
        return replace(result, generic_ptr=True) if generic else result


class ExpectError(ValueError):
    """An --expect file that cannot be used."""


def read_expectations(
    lines: Iterable[str], source: str, within: Container[IPAddress] | None = None
) -> dict[IPAddress, str]:
    """`ip,hostname` per line (a header line and `#` comments allowed).

    Each line is parsed on its own: a quote that does not close ends in an
    error naming its line, never swallows the lines after it. An address given
    twice, a scope id, or a name no host can have (a control character, a
    label over 63 characters, over 253 in all) is refused with its line.

    `within`: the addresses scanned. Every line is checked, but only the
    expectations for those addresses are kept, so a provider-wide file used
    for a scan of one block costs that block's memory, not the file's.
    """
    expected: dict[IPAddress, str] = {}
    first_line: dict[IPAddress, int] = {}
    for number, line in enumerate(lines, start=1):
        where = f"{source}:{number}"
        if '"' not in line:  # the usual line: no quoting, so no CSV parser
            fields = [field.strip() for field in line.rstrip("\r\n").split(",")]
        else:
            try:
                fields = [field.strip() for field in next(csv.reader([line], strict=True), [])]
            except csv.Error as exc:
                raise ExpectError(f"{where}: not a CSV line ({exc}): {quoted(line)}") from None
        if not fields or not fields[0] or fields[0].startswith("#"):
            continue
        if number == 1 and fields[0].lower() == "ip":
            continue
        if len(fields) != 2 or not fields[1]:
            raise ExpectError(f"{where}: expected 'ip,hostname', got {quoted(line)}")
        if "%" in fields[0]:
            raise ExpectError(f"{where}: a scope id is no part of an address in DNS: "
                              f"{quoted(fields[0])}")  # fmt: skip
        try:
            ip = ipaddress.ip_address(fields[0])
        except ValueError:
            raise ExpectError(f"{where}: not an IP address: {quoted(fields[0])}") from None
        problem = name_problem(fields[1])
        if problem:
            raise ExpectError(f"{where}: {quoted(fields[1])} cannot be a host name: {problem}")
        if within is not None and ip not in within:
            continue
        if ip in first_line:
            raise ExpectError(
                f"{where}: {ip} is given twice (first on line {first_line[ip]}): keep one"
            )
        first_line[ip] = number
        expected[ip] = normal_name(fields[1])
    return expected
