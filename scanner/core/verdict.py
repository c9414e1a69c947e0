"""The FCrDNS decision for one IP, as a pure function of the lookups made for it.

`decide()` takes the PTR lookup and the forward lookups of every PTR name and
returns one `ScanResult`. It does no I/O: the checker makes the lookups, this
module says what they mean.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scanner.core.names import present

if TYPE_CHECKING:  # scanner/core/mail.py judges a ScanResult: it imports this module
    from scanner.core.authority import AuthorityCheck
    from scanner.core.mail import MailVerdict
from scanner.core.status import ANSWERS, FAILURE_STATUS, Outcome, Stage, Status

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# PTR names of one address whose forward lookups are made; the rest are
# reported as not checked. Real reverse records hold one name, seldom a few:
# a zone with hundreds would otherwise cost hours of lookups for one address.
MAX_FORWARD_NAMES = 10


@dataclass(frozen=True, slots=True)
class Lookup:
    """The outcome of one DNS lookup (after following CNAMEs, for forward lookups).

    `records` holds PTR names or addresses as text; `cnames` the CNAME targets
    followed, in order; `detail` the resolver's own words for a failure;
    `attempts` how many times the query was sent.
    """

    outcome: Outcome
    records: tuple[str, ...] = ()
    cnames: tuple[str, ...] = ()
    detail: str = ""
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class ForwardCheck:
    """The A or AAAA lookup of one PTR name."""

    name: str
    lookup: Lookup


@dataclass(frozen=True, slots=True)
class ScanResult:
    ip: IPAddress
    status: Status
    stage: Stage
    ptr_names: tuple[str, ...] = ()
    confirmed_name: str = ""
    forward: tuple[ForwardCheck, ...] = ()
    error: str = ""
    queries: int = 0
    attempts: int = 0  # queries sent, retries included
    elapsed: float = 0.0  # seconds
    timestamp: float = field(default=0.0, compare=False)  # Unix time the verdict was made
    generic_ptr: bool = False  # some PTR name looks like an ISP's automatic name
    expected_name: str = ""  # the name the operator expects (e.g. the mail server's HELO)
    expected_match: bool | None = None  # None: no expectation for this IP
    ptr_zone: str = ""  # the reverse zone serving the PTR (--zone-owner)
    ptr_zone_ns: tuple[str, ...] = ()  # its name servers: whom to ask to fix it
    # What each of those servers says when asked directly (--check-authoritative).
    authority: AuthorityCheck | None = None
    # A row for a whole prefix (`ip` its first address) that a walk could not see
    # (--walk: its reverse name timed out, failed or was referred): None for an address.
    prefixlen: int | None = None
    # How mail receivers judge the address: scanner.core.mail.mail_of() judges it
    # the first time it is asked for and keeps it here (it follows from the
    # fields above; not an init field, so a replace() judges afresh).
    mail: MailVerdict | None = field(default=None, init=False, compare=False, repr=False)
    # The row's `reason` column, kept the same way by scanner.core.diagnose.reason_of().
    reason: str | None = field(default=None, init=False, compare=False, repr=False)


def row_ip(result: ScanResult) -> str:
    """The `ip` column: the address, or the prefix of a row for a subtree not walked."""
    if result.prefixlen is None:
        return str(result.ip)
    return f"{result.ip}/{result.prefixlen}"


def reverse_name(ip: IPAddress) -> str:
    """The PTR owner name of `ip` (`ip.reverse_pointer`, computed without text parsing)."""
    value = int(ip)
    if ip.version == 4:
        return f"{value & 255}.{value >> 8 & 255}.{value >> 16 & 255}.{value >> 24}.in-addr.arpa"
    return ".".join(format(value, "032x")[::-1]) + ".ip6.arpa"


def forward_type(ip: IPAddress) -> str:
    """The record type that confirms a PTR name: A for IPv4, AAAA for IPv6."""
    return "A" if ip.version == 4 else "AAAA"


def confirms(ip: IPAddress, lookup: Lookup) -> bool:
    """Whether a forward lookup returned `ip` (compared as addresses, not text)."""
    if lookup.outcome is not Outcome.ANSWER:
        return False
    canonical = str(ip)
    for text in lookup.records:
        if text == canonical:  # the usual case, without parsing
            return True
        try:
            if ipaddress.ip_address(text) == ip:
                return True
        except ValueError:
            continue
    return False


def _failure_text(what: str, lookup: Lookup) -> str:
    text = f"{what}: {lookup.outcome.value}"
    return f"{text} ({lookup.detail})" if lookup.detail else text


def decide(
    ip: IPAddress,
    ptr: Lookup,
    forward: Sequence[ForwardCheck] = (),
    *,
    queries: int = 0,
    attempts: int = 0,
    elapsed: float = 0.0,
    timestamp: float = 0.0,
) -> ScanResult:
    """The verdict for `ip` given its PTR lookup and the forward lookups of its names.

    A failure to get an answer (timeout, SERVFAIL...) is reported as such and
    never as a missing record; a forward failure only decides the verdict when no
    other name has already confirmed the IP.
    """

    def result(
        status: Status,
        stage: Stage,
        names: tuple[str, ...] = (),
        confirmed: str = "",
        checks: tuple[ForwardCheck, ...] = (),
        error: str = "",
    ) -> ScanResult:
        return ScanResult(
            ip, status, stage, names, confirmed, checks, error,
            queries=queries, attempts=attempts or queries, elapsed=elapsed, timestamp=timestamp,
        )  # fmt: skip

    if ptr.outcome is Outcome.NXDOMAIN:
        # `detail`: a walk's note that a name above was NXDOMAIN (nothing was asked)
        return result(Status.NO_PTR, Stage.REVERSE, error=ptr.detail)
    if ptr.outcome is Outcome.NODATA or (ptr.outcome is Outcome.ANSWER and not ptr.records):
        # `detail`: what the zone got wrong, when the resolver said (a CNAME loop).
        return result(Status.PTR_NODATA, Stage.REVERSE, error=ptr.detail)
    if ptr.outcome is not Outcome.ANSWER:
        failure = _failure_text(f"PTR {reverse_name(ip)}", ptr)
        return result(FAILURE_STATUS[ptr.outcome], Stage.REVERSE, error=failure)

    names = ptr.records
    checks = tuple(forward)
    for check in checks:
        if confirms(ip, check.lookup):
            return result(Status.PASS, Stage.FORWARD, names, check.name, checks)
    # The forward lookups of every name up to MAX_FORWARD_NAMES must be in
    # `forward`; a name we could not look up cannot be counted as a mismatch.
    looked_up = {check.name for check in checks}
    unchecked = [name for name in names[:MAX_FORWARD_NAMES] if name not in looked_up]
    if unchecked:
        raise ValueError(f"no forward lookup for PTR name(s) {unchecked} of {ip}")
    failed = [check for check in checks if check.lookup.outcome not in ANSWERS]
    if failed:
        failure = "; ".join(
            _failure_text(f"{forward_type(ip)} {present(c.name)}", c.lookup) for c in failed
        )
        status = FAILURE_STATUS[failed[0].lookup.outcome]
        if note := not_checked(names):
            failure = f"{failure}; {note}"
        return result(status, Stage.FORWARD, names, "", checks, error=failure)
    note = not_checked(names)
    if any(check.lookup.outcome is Outcome.ANSWER and check.lookup.records for check in checks):
        return result(Status.MISMATCH, Stage.FORWARD, names, "", checks, error=note)
    return result(Status.NO_FORWARD, Stage.FORWARD, names, "", checks, error=note)


def not_checked(names: Sequence[str]) -> str:
    """What a row says of the PTR names past MAX_FORWARD_NAMES; '' when there are none."""
    more = len(names) - MAX_FORWARD_NAMES
    if more <= 0:
        return ""
    return (
        f"{more:,} more PTR {'name' if more == 1 else 'names'} not checked: at most "
        f"{MAX_FORWARD_NAMES} are looked up"
    )


def cname_loop(start: str, chain: Sequence[str]) -> Lookup:
    """CNAMEs from `start` that came back to a name they had passed: no data, for good.

    A zone's mistake, not a failure to get an answer: retrying cannot help.
    """
    detail = "CNAME loop: " + " -> ".join(present(name) for name in (start, *chain))
    return Lookup(Outcome.NODATA, cnames=tuple(chain), detail=detail)
