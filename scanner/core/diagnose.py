"""What an operator needs to fix a row: a reason in plain words, and generic-name detection.

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

from scanner.core.authority import AuthorityCheck
from scanner.core.mail import MailVerdict, mail_of, mail_reason
from scanner.core.names import normal_name, present, quoted
from scanner.core.status import Outcome, Status
from scanner.core.verdict import (
    IPAddress,
    Lookup,
    ScanResult,
    confirms,
    forward_type,
    reverse_name,
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
        problem = _name_problem(fields[1])
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


def _name_problem(name: str) -> str:
    """Why `name` cannot be a host name at all; '' if it can."""
    if not name.isprintable():  # a space may be in a DNS label; a NUL or a CR not in a file's
        return "it holds a control character"
    name = normal_name(name)
    if len(name) > 253:
        return "longer than 253 characters"
    # A dot escaped inside a label (`a\.b`) only makes the pieces shorter.
    if any(len(label) > 63 for label in name.split(".")):
        return "a label longer than 63 characters"
    if name == "." or name.startswith(".") or ".." in name:
        return "an empty label"
    return ""


def _forward_words(name: str, lookup: Lookup, family: str) -> str:
    check_name, outcome = present(name), lookup.outcome
    if outcome is Outcome.NXDOMAIN:
        return f"PTR {check_name} does not exist (NXDOMAIN)"
    if outcome is Outcome.NODATA:
        why = f" ({lookup.detail})" if lookup.detail else ""
        return f"PTR {check_name} has no {family} record{why}"
    return f"PTR {check_name}: {family} lookup {outcome.value}"


# Addresses a reason lists for one name: the forward column holds them all.
REASON_ADDRESSES = 4


def _some(addresses: tuple[str, ...]) -> str:
    shown = ", ".join(addresses[:REASON_ADDRESSES])
    more = len(addresses) - REASON_ADDRESSES
    return f"{shown} and {more} more" if more > 0 else shown


def reason_of(result: ScanResult) -> str:
    """The result's reason, worded once and kept on it (as `mail_of` keeps the mail verdicts)."""
    words = result.reason
    if words is None:
        words = reason(result, mail_of(result))
        object.__setattr__(result, "reason", words)  # a cache of a frozen value's function
    return words


def reason(result: ScanResult, mail: MailVerdict | None = None, *, zone_facts: bool = True) -> str:
    """What is wrong, in plain words: the verdict's cause, then what it means for mail
    (`mail`: the row's mail verdicts, if already judged); empty when nothing is.

    `zone_facts=False` leaves out what is true of the whole reverse zone (serials
    out of sync, lame servers), for the workbook, whose zones sheet says it once.
    """
    words = _verdict_reason(result)
    for_mail = mail_reason(mail if mail is not None else mail_of(result))
    if for_mail:
        words = f"{words}; {for_mail}" if words else for_mail
    if result.expected_match is False:
        expectation = (
            f"expected name {present(result.expected_name)} (e.g. the mail server's HELO) is not a "
            "PTR name that resolves back to the address"
        )
        words = f"{words}; {expectation}" if words else expectation
    if result.authority is not None:
        for_servers = _authority_reason(result.authority, zone_facts)
        if for_servers:
            words = f"{words}; {for_servers}" if words else for_servers
    return words


def _authority_reason(check: AuthorityCheck, zone_facts: bool = True) -> str:
    """The reverse zone's own servers, when they disagree or some do not serve it."""
    parts = []
    zone = check.zone
    if not zone_facts:
        if check.consistent is False:
            odd = ", ".join(f"{label} says {text}" for label, text in check.differing())
            parts.append(f"the name servers of {zone.apex} disagree ({odd}; see ns_answers)")
        if not zone.in_sync or zone.lame or (zone.unchecked and not zone.serving):
            parts.append(f"{zone.apex}'s name servers: see the zones sheet")
        return "; ".join(parts)
    if check.consistent is False:
        odd = ", ".join(f"{label} says {text}" for label, text in check.differing())
        parts.append(
            f"the name servers of {zone.apex} disagree ({odd}; see ns_answers): resolvers get "
            "one answer or the other, so mail is accepted or rejected depending on which"
        )
        if not zone.in_sync:
            parts.append(
                f"their SOA serials differ ({zone.serials_text()}): a secondary missed zone "
                "updates; check the transfers (NOTIFY, IXFR/AXFR) from the primary"
            )
    if zone.lame:
        lame = ", ".join(f"{server.label} ({server.lame})" for server in zone.lame)
        parts.append(
            f"lame name server of {zone.apex}: {lame}; resolvers that ask it get no answer "
            "and retry elsewhere or fail; fix the server or remove its NS record"
        )
    if zone.unchecked and not zone.serving:
        by_reason: dict[str, list[str]] = {}
        for server in zone.unchecked:
            by_reason.setdefault(server.unchecked, []).append(server.address or server.label)
        why = "; ".join(
            f"{', '.join(servers)}: {reason.removeprefix('not asked: ')}"
            for reason, servers in by_reason.items()
        )
        parts.append(f"no name server of {zone.apex} could be asked: {why}")
    return "; ".join(parts)


def _verdict_reason(result: ScanResult) -> str:
    ip, status = result.ip, result.status
    family = forward_type(ip)
    if status is Status.PASS:
        return ""
    if status is Status.NO_PTR:
        return (
            f"no PTR record: {reverse_name(ip)} does not exist; "
            "the owner of the IP block (ISP, hosting provider) must set one"
        )
    if status is Status.PTR_NODATA:
        why = f" ({result.error})" if result.error else ""
        return f"{reverse_name(ip)} exists but has no PTR record{why}"
    if status in (Status.MISMATCH, Status.NO_FORWARD):
        parts = []
        for check in result.forward:
            lookup = check.lookup
            if lookup.outcome is Outcome.ANSWER and lookup.records:
                addresses = _some(lookup.records)
                parts.append(f"PTR {present(check.name)} resolves to {addresses}, not {ip}")
            elif lookup.outcome is Outcome.ANSWER:
                parts.append(
                    f"PTR {present(check.name)} is a CNAME chain without an {family} record"
                )
            else:
                parts.append(_forward_words(check.name, lookup, family))
        if result.error:  # the PTR names not checked
            parts.append(result.error)
        return "; ".join(parts)
    stage = "PTR" if result.stage.value == "reverse" else family
    if f": {Outcome.REFERRAL.value} (" in result.error:
        return (
            f"{stage} lookup got a referral, not an answer: the resolver does not recurse and "
            "is not authoritative for the name (an authoritative-only server, or a lame "
            f"delegation); scan through a recursive resolver ({result.error})"
        )
    return f"{stage} lookup failed, try again later: {result.error}"
