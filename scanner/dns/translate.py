"""The engines' shared translation: c-ares answers and error codes as `Lookup` values.

c-ares results and error codes become `Lookup` values here, by one table, so the
rest of the scanner never sees a DNS library's types or error codes.
"""

from __future__ import annotations

from collections.abc import Sequence

import pycares

from scanner.core.names import normal_name, present
from scanner.core.status import Outcome
from scanner.core.verdict import Lookup, cname_loop

# c-ares error code -> outcome. Anything not listed is OTHER_ERROR.
ARES_OUTCOMES: dict[int, Outcome] = {
    pycares.errno.ARES_ENOTFOUND: Outcome.NXDOMAIN,
    pycares.errno.ARES_ENODATA: Outcome.NODATA,
    pycares.errno.ARES_ESERVFAIL: Outcome.SERVFAIL,
    pycares.errno.ARES_EREFUSED: Outcome.REFUSED,
    pycares.errno.ARES_ETIMEOUT: Outcome.TIMEOUT,
    pycares.errno.ARES_ECONNREFUSED: Outcome.NETWORK_ERROR,
    pycares.errno.ARES_EBADRESP: Outcome.BAD_RESPONSE,
    pycares.errno.ARES_EFORMERR: Outcome.BAD_RESPONSE,
    pycares.errno.ARES_EOF: Outcome.NETWORK_ERROR,
}

# One answer record as the scanner reads it: (type, owner name, value). The
# value is the target name for PTR, CNAME and NS, the address text for A and
# AAAA, and the owner again for SOA (the zone apex is all a SOA tells us here).
# Records of any other type, or of a class other than IN, are kept too, with
# an empty value and a type that names them (`foreign_kind`): they can never
# answer a question, but an answer made only of them is a wrong answer, not
# an empty one.
AnswerRecord = tuple[str, str, str]

# Types an answer may carry beside the records asked for without saying anything
# about them: a DNAME comes with the CNAME synthesised from it (RFC 6672), an
# RRSIG with the records it signs.
_COMPANIONS = frozenset({"DNAME", "RRSIG"})

# Record type mnemonics for the messages about foreign records; others are TYPEn (RFC 3597).
_TYPE_NAMES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 13: "HINFO", 15: "MX",
               16: "TXT", 28: "AAAA", 33: "SRV", 39: "DNAME", 46: "RRSIG", 47: "NSEC",
               50: "NSEC3", 65: "HTTPS", 255: "ANY"}  # fmt: skip
_CLASS_NAMES = {1: "IN", 3: "CH", 4: "HS", 254: "NONE", 255: "ANY"}


def foreign_kind(rtype: int, rclass: int = 1) -> str:
    """The type shown for a record the scanner does not read: `TXT`, `PTR class CH`."""
    kind = _TYPE_NAMES.get(rtype, f"TYPE{rtype}")
    if rclass != 1:
        kind = f"{kind} class {_CLASS_NAMES.get(rclass, f'CLASS{rclass}')}"
    return kind


def lookup_from_answer(qname: str, rtype: str, answer: Sequence[AnswerRecord]) -> Lookup:
    """Turn the answer section of a NOERROR response into a `Lookup`.

    Follows the CNAME chain inside the answer from `qname` (as RFC 2317 classless
    reverse delegation does for PTR) and keeps every record of the asked type
    owned by its last name: all PTR names, not only the first; addresses; NS
    names; for SOA, the apex. When the chain leaves the answer, `records` is
    empty and `cnames` says where to go on.

    An answer is checked before it is believed: records of the asked type and
    class, owned by the question's name (or the chain's end), are the answer;
    anything else beside them is ignored. An answer section holding records
    but none of those (an A record for a PTR question, a PTR owned by another
    name, records of class CH) does not answer the question: BAD_RESPONSE,
    naming the first record that does not belong, never NODATA (which would
    be a verdict about the zone, from a server that answered something else).
    """
    current = normal_name(qname)
    values: list[str] = []
    for kind, owner, value in answer:  # the usual answer: no CNAME, one record
        if kind == "CNAME":
            return _follow_aliases(current, rtype, answer)
        if kind == rtype and owner == current and value not in values:
            values.append(value)
    if values:
        return Lookup(Outcome.ANSWER, tuple(values))
    return _unanswered(current, rtype, answer, ())


def _follow_aliases(current: str, rtype: str, answer: Sequence[AnswerRecord]) -> Lookup:
    cnames: list[str] = []
    aliases = {owner: value for kind, owner, value in answer if kind == "CNAME"}
    start, seen = current, {current}
    while current in aliases:
        current = aliases[current]
        cnames.append(current)
        if current in seen:
            return cname_loop(start, cnames)
        seen.add(current)
    values = tuple(
        dict.fromkeys(value for kind, owner, value in answer if kind == rtype and owner == current)
    )
    if values:
        return Lookup(Outcome.ANSWER, values, tuple(cnames))
    chain = seen - {current}  # the names whose CNAMEs were followed
    return _unanswered(current, rtype, answer, tuple(cnames), chain)


def _unanswered(
    current: str,
    rtype: str,
    answer: Sequence[AnswerRecord],
    cnames: tuple[str, ...],
    chain: frozenset[str] | set[str] = frozenset(),
) -> Lookup:
    """No record of the asked type at the chain's end: where the chain goes on, or a wrong one."""
    stray = next(
        (
            (kind, owner)
            for kind, owner, _ in answer
            if kind not in _COMPANIONS and not (kind == "CNAME" and owner in chain)
        ),
        None,
    )
    if stray is not None:
        kind, owner = stray
        return Lookup(
            Outcome.BAD_RESPONSE,
            cnames=cnames,
            detail=(
                f"the answer does not match the question {rtype} {present(current)}: "
                f"{kind} record for {present(owner)}"
            ),
        )
    if cnames:
        return Lookup(Outcome.ANSWER, (), cnames)
    if not answer:
        return Lookup(Outcome.BAD_RESPONSE, detail=f"an empty answer to {rtype} {present(current)}")
    return Lookup(Outcome.NODATA)  # companions only (a DNAME without its CNAME)


def no_answer(authority: Sequence[AnswerRecord]) -> Lookup:
    """A NOERROR response without answers: NODATA, or a referral (RFC 2308, 2.2).

    `authority`: the authority section's NS and SOA records. NS records and no
    SOA mean the server handed the question on instead of answering it.
    """
    servers = [value for kind, _, value in authority if kind == "NS"]
    if not servers or any(kind == "SOA" for kind, _, _ in authority):
        return Lookup(Outcome.NODATA)
    zone = present(authority[0][1]) if authority else ""
    shown = ", ".join(present(server) for server in servers[:3])
    more = f" and {len(servers) - 3} more" if len(servers) > 3 else ""
    return Lookup(Outcome.REFERRAL, detail=f"to {zone} at {shown}{more}")


# RFC 6895's rcodes by number, for the message about one a query should never get.
RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
               5: "REFUSED", 6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH",
               10: "NOTZONE", 11: "DSOTYPENI"}  # fmt: skip


def unexpected_rcode(rcode: int | str) -> Lookup:
    """A response code no query of ours should get (YXDOMAIN, NOTAUTH...): a bad response.

    Not NODATA, which c-ares makes of any rcode it does not know when the
    answer is empty: that would be a verdict about the zone from a server
    that said something else.
    """
    text = rcode if isinstance(rcode, str) else RCODE_NAMES.get(rcode, f"RCODE{rcode}")
    return Lookup(Outcome.BAD_RESPONSE, detail=f"unexpected rcode {text}")


def lookup_from_status(code: int) -> Lookup:
    """The `Lookup` for a c-ares failure code."""
    outcome = ARES_OUTCOMES.get(code, Outcome.OTHER_ERROR)
    detail = "" if outcome in (Outcome.NXDOMAIN, Outcome.NODATA) else ares_strerror(code)
    return Lookup(outcome, detail=detail)


def ares_strerror(code: int) -> str:
    """c-ares' message for an error code (pycares may hand it over as bytes)."""
    text = pycares.errno.strerror(code)
    return text if isinstance(text, str) else text.decode("utf-8", "replace")
