"""Mail verdicts: how receiving mail servers judge an address by its reverse DNS.

One scan result, judged the ways receivers judge a connecting client:

- RFC 8601 `iprev` (Authentication-Results): pass when some PTR name's forward
  lookup returns the address; temperror for a transient DNS failure; fail
  when the names do not map back, or their forward lookups give NXDOMAIN or
  no data; permerror when there is no PTR data at all.
- Postfix `reject_unknown_client_hostname` (src/smtpd/smtpd_peer.c): takes
  one name, the first PTR the resolver lists (recursive resolvers rotate
  them), refuses it unless it passes `valid_hostname()` (src/util/
  valid_hostname.c) and is not all-numeric (it would look like an address),
  looks it up in the client's address family only, and accepts when the
  address is among the results; a temporary DNS failure is a 450. With
  several PTR names, some accepted and some not, whether mail is accepted
  depends on which one comes first: `intermittent`. When none is accepted,
  mail never gets through, whatever the order: `reject` (550 for some
  orders, 450 for others), never `intermittent`; the reason names the names.
- The strict view (adns' checked PTR): every PTR name maps back.

Exim's `verify = reverse_host_lookup` keeps the names that map back and fails
only when none does: that is this scanner's status (`pass`) and `iprev`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from scanner.core.names import present
from scanner.core.status import TRANSIENT, Outcome, Status
from scanner.core.verdict import ScanResult, confirms

# src/util/valid_hostname.h (RFC 1035)
HOSTNAME_LENGTH = 255
LABEL_LENGTH = 63
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_VALID = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_NUMERIC = re.compile(r"[0-9.]+")
_LETTERS_DIGITS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class Iprev(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


class Postfix(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    TEMPFAIL = "tempfail"
    INTERMITTENT = "intermittent"  # accepted in some orders of the PTR names, not in others


def hostname_problem(name: str) -> str:
    """Why Postfix's `valid_hostname()` refuses `name` (as DNS presents it); "" if it passes.

    Letters, digits and underscore ("grr..", in Postfix' own words), hyphens
    inside labels, dots between labels; labels of at most 63 characters, 255
    in all; and not every character a digit or a dot, which would look like
    an address (Postfix' "numeric hostname").
    """
    if _VALID.fullmatch(name) and len(name) <= HOSTNAME_LENGTH and not _NUMERIC.fullmatch(name):
        return ""  # the usual name, without walking it character by character
    if not name or name == ".":
        return "empty"
    label_length, numeric = 0, True
    for index, char in enumerate(name):
        following = name[index + 1] if index + 1 < len(name) else ""
        if char in _LETTERS_DIGITS:
            label_length += 1
            if label_length > LABEL_LENGTH:
                return f"a label longer than {LABEL_LENGTH} characters"
            numeric = numeric and char.isdigit()
        elif char == ".":
            if label_length == 0 or not following:
                return "an empty label"
            label_length = 0
        elif char == "-":
            numeric = False
            label_length += 1
            if label_length == 1 or following in ("", "."):
                return "a hyphen at the start or end of a label"
        else:
            return f"the character {present(char)!r}, which host names cannot hold"
    if numeric:
        return "only digits and dots: it looks like an address"
    if len(name) > HOSTNAME_LENGTH:
        return f"longer than {HOSTNAME_LENGTH} characters"
    return ""


@dataclass(frozen=True, slots=True)
class MailVerdict:
    iprev: Iprev
    postfix: Postfix
    all_names_confirm: bool | None  # None: not known (a lookup failed)
    invalid_names: tuple[tuple[str, str], ...] = ()  # (name, why Postfix refuses it)
    names_accepted: int = 0  # PTR names Postfix accepts when the resolver lists them first
    names: int = 0
    # With several PTR names Postfix judges differently: each name and its verdict.
    by_name: tuple[tuple[str, Postfix], ...] = ()

    @property
    def valid_hostname(self) -> bool | None:
        """Every PTR name passes Postfix' syntax check; None without PTR names."""
        return None if not self.names else not self.invalid_names


def iprev_of(status: Status) -> Iprev:
    """The RFC 8601 iprev result a status means: pass as soon as one name maps back."""
    if status is Status.PASS:
        return Iprev.PASS
    if status in (Status.NO_PTR, Status.PTR_NODATA):
        return Iprev.PERMERROR
    return Iprev.TEMPERROR if TRANSIENT[status] else Iprev.FAIL


# A forward lookup that got an answer from DNS (not a failure to get one).
_ANSWERED = (Outcome.ANSWER, Outcome.NXDOMAIN, Outcome.NODATA)


def judge(result: ScanResult) -> MailVerdict:
    """The mail verdicts of one scan result."""
    status = result.status
    if status in (Status.NO_PTR, Status.PTR_NODATA):
        return MailVerdict(Iprev.PERMERROR, Postfix.REJECT, False)
    if not result.ptr_names:  # the PTR lookup itself failed
        return MailVerdict(Iprev.TEMPERROR, Postfix.TEMPFAIL, None)
    iprev = iprev_of(status)
    invalid: list[tuple[str, str]] = []
    kinds: dict[str, Postfix] = {}
    accepted = confirming = failed = 0
    for check in result.forward:
        problem = hostname_problem(check.name)
        if problem:
            invalid.append((check.name, problem))
        if confirms(result.ip, check.lookup):
            confirming += 1
            kind = Postfix.REJECT if problem else Postfix.ACCEPT
        elif check.lookup.outcome in _ANSWERED:
            kind = Postfix.REJECT
        else:
            failed += 1
            kind = Postfix.REJECT if problem else Postfix.TEMPFAIL
        accepted += kind is Postfix.ACCEPT
        kinds[check.name] = kind
    names = len(result.forward)
    verdicts = set(kinds.values())
    by_name: tuple[tuple[str, Postfix], ...] = ()
    if len(verdicts) == 1:
        postfix = verdicts.pop()
    else:
        by_name = tuple(sorted(kinds.items()))  # not the resolver's order, which rotates
        # Intermittent only when some order gets the mail in; 550 or 450 is never 250.
        postfix = Postfix.INTERMITTENT if accepted else Postfix.REJECT
    all_confirm: bool | None = confirming == names
    if not all_confirm and confirming + failed == names:
        all_confirm = None  # only failed lookups stand between the names and confirming
    return MailVerdict(iprev, postfix, all_confirm, tuple(invalid), accepted, names, by_name)


def mail_of(result: ScanResult) -> MailVerdict:
    """The result's mail verdicts, judged once: the row's outputs, its mark and the
    summary all ask (a `replace` would cost as much as judging again)."""
    verdict = result.mail
    if verdict is None:
        verdict = judge(result)
        object.__setattr__(result, "mail", verdict)  # a cache of a frozen value's function
    return verdict


def mail_reason(verdict: MailVerdict) -> str:
    """What matters for mail, in plain words, when Postfix does not simply accept; else ""."""
    words = []
    if verdict.invalid_names:
        shown = ", ".join(f"{present(name)} ({why})" for name, why in verdict.invalid_names[:3])
        words.append(
            f"PTR name not a valid host name for Postfix: {shown}; receivers using "
            "reject_unknown_client_hostname refuse it"
        )
    if verdict.by_name:
        said = {Postfix.ACCEPT: "accepts", Postfix.REJECT: "rejects", Postfix.TEMPFAIL: "defers"}
        per_name = ", ".join(f"{said[kind]} {present(name)}" for name, kind in verdict.by_name[:5])
        more = len(verdict.by_name) - 5
        if more > 0:
            per_name += f" and {more:,} more"
        if verdict.postfix is Postfix.INTERMITTENT:
            refused = verdict.names - verdict.names_accepted
            what = "fail Postfix's check" if verdict.invalid_names else "do not map back"
            words.append(
                f"{refused} of {verdict.names} PTR names {what} (Postfix {per_name}): "
                "Postfix picks one per connection, so mail is rejected intermittently; "
                "remove the stale PTR records"
            )
        else:
            words.append(
                f"no PTR name is accepted (Postfix {per_name}): it rejects (550) or defers "
                "(450) by the name it picks, and never accepts; fix the names' forward records"
            )
    return "; ".join(words)
