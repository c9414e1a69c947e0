"""The `reason` column: what is wrong with a row, in plain words, and what to change.

Addressed to whoever reads the row and has to fix it: which name, which
zone, and a zone-file line to paste (`PTR` for a missing reverse record,
`A`/`AAAA` for a name that does not map back, the stale PTR to delete when
Postfix accepts one name and rejects another). Pure functions of the result.
"""

from __future__ import annotations

from collections.abc import Sequence

from scanner.core.authority import AuthorityCheck
from scanner.core.mail import MailVerdict, Postfix, mail_of, mail_reason
from scanner.core.names import name_problem, present
from scanner.core.status import Outcome, Status
from scanner.core.verdict import Lookup, ScanResult, forward_type, reverse_name


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
    if result.prefixlen is not None:
        return _not_walked(result)
    words = _verdict_reason(result)
    verdict = mail if mail is not None else mail_of(result)
    for_mail = mail_reason(verdict)
    if verdict.postfix is Postfix.INTERMITTENT:
        stale = [name for name, kind in verdict.by_name if kind is not Postfix.ACCEPT]
        for_mail = f"{for_mail}; {stale_ptrs(result, stale)}"
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


# A zone-file line's value when the scan cannot know it: the host's own name.
HOST_NAME = "<the host's name>."


def _in_zone(result: ScanResult) -> str:
    """Where a PTR record goes: the reverse zone found by --zone-owner, if it was looked for."""
    return f"the reverse zone {present(result.ptr_zone)}" if result.ptr_zone else "the reverse zone"


def _record(owner: str, rtype: str, value: str) -> str:
    """A line to paste into a zone file (names absolute, written as every output writes them)."""
    return f"`{owner}. IN {rtype} {value}`"


def _ptr_to_add(result: ScanResult) -> str:
    name = f"{present(result.expected_name)}." if result.expected_name else HOST_NAME
    return _record(reverse_name(result.ip), "PTR", name)


def _forward_fix(result: ScanResult, name: str) -> str:
    """The two ways to make a PTR name confirm: its address record, or another PTR."""
    family = forward_type(result.ip)
    return (
        f"fix: add {_record(present(name), family, str(result.ip))} in {present(name)}'s zone, "
        f"or change {_record(reverse_name(result.ip), 'PTR', present(name) + '.')} in "
        f"{_in_zone(result)} to a name whose {family} record is {result.ip}"
    )


def stale_ptrs(result: ScanResult, names: Sequence[str]) -> str:
    """The PTR records to delete: the names that keep mail from being accepted every time."""
    lines = ", ".join(_record(reverse_name(result.ip), "PTR", f"{present(n)}.") for n in names[:3])
    more = f" and {len(names) - 3:,} more" if len(names) > 3 else ""
    return f"stale: delete {lines}{more} from {_in_zone(result)}"


def _not_walked(result: ScanResult) -> str:
    prefix = f"{result.ip}/{result.prefixlen}"
    return (
        f"not walked: {result.error}; nothing below {prefix} was seen, so none of its addresses "
        "has a row; scan again with --rescan-failed RESULTS --walk to walk it"
    )


def _verdict_reason(result: ScanResult) -> str:
    ip, status = result.ip, result.status
    family = forward_type(ip)
    if status is Status.PASS:
        return ""
    if status is Status.NO_PTR:
        how = f" ({result.error})" if result.error else ""
        return (
            f"no PTR record: {reverse_name(ip)} does not exist{how}; add to {_in_zone(result)}: "
            f"{_ptr_to_add(result)}"
        )
    if status is Status.PTR_NODATA:
        why = f" ({result.error})" if result.error else ""
        return (
            f"{reverse_name(ip)} exists but has no PTR record{why}; add to {_in_zone(result)}: "
            f"{_ptr_to_add(result)}"
        )
    if status in (Status.MISMATCH, Status.NO_FORWARD):
        parts = []
        fixable = ""  # the first name an address record would make confirm
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
            if not fixable and lookup.outcome in (Outcome.ANSWER, Outcome.NXDOMAIN, Outcome.NODATA):
                fixable = check.name if not name_problem(check.name) else ""
        if result.error:  # the PTR names not checked
            parts.append(result.error)
        if fixable:
            parts.append(_forward_fix(result, fixable))
        return "; ".join(parts)
    stage = "PTR" if result.stage.value == "reverse" else family
    if f": {Outcome.REFERRAL.value} (" in result.error:
        return (
            f"{stage} lookup got a referral, not an answer: the resolver does not recurse and "
            "is not authoritative for the name (an authoritative-only server, or a lame "
            f"delegation); scan through a recursive resolver ({result.error})"
        )
    return f"{stage} lookup failed, try again later: {result.error}"
