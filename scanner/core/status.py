"""The closed set of outcomes: what one DNS lookup returned, and the verdict for one IP.

Both are plain data. Which verdicts are transient (worth scanning again later) is
decided by one table, `TRANSIENT`, which a test checks covers every status.
"""

from enum import StrEnum


class Outcome(StrEnum):
    """What a single DNS lookup produced, independent of any DNS library."""

    ANSWER = "answer"  # NOERROR with records of the asked type (or a CNAME chain)
    NXDOMAIN = "nxdomain"  # the name does not exist
    NODATA = "nodata"  # the name exists, but has no record of the asked type
    SERVFAIL = "servfail"
    REFUSED = "refused"
    # NOERROR without an answer, NS records in the authority section and no
    # SOA (RFC 2308, 2.2): the server we asked does not recurse and is not
    # authoritative for the name. Not NODATA: it says nothing about the record.
    REFERRAL = "referral"
    TIMEOUT = "timeout"  # no answer within the timeout, after every try
    NETWORK_ERROR = "network_error"  # connection refused, unreachable, closed
    BAD_RESPONSE = "bad_response"  # malformed or unexpected answer (FORMERR, garbage)
    OTHER_ERROR = "other_error"  # any other resolver error (NOTIMP, bad name...)


class Status(StrEnum):
    """The verdict for one IP address. One result row carries exactly one."""

    PASS = "pass"  # some PTR name resolves back to the IP
    MISMATCH = "mismatch"  # PTR names resolve, none of them to the IP
    NO_PTR = "no_ptr"  # the reverse name does not exist (NXDOMAIN)
    PTR_NODATA = "ptr_nodata"  # the reverse name exists but has no PTR record
    NO_FORWARD = "no_forward"  # no PTR name has an address of the IP's family
    TIMEOUT = "timeout"
    SERVFAIL = "servfail"
    REFUSED = "refused"
    ERROR = "error"  # network error, malformed answer, or another resolver error


class Stage(StrEnum):
    """Which lookup decided the verdict."""

    REVERSE = "reverse"  # the PTR lookup
    FORWARD = "forward"  # the A/AAAA lookups of the PTR names


# True: the verdict says nothing about the DNS data, only that we could not get
# an answer; scanning the IP again later may give a different verdict.
TRANSIENT: dict[Status, bool] = {
    Status.PASS: False,
    Status.MISMATCH: False,
    Status.NO_PTR: False,
    Status.PTR_NODATA: False,
    Status.NO_FORWARD: False,
    Status.TIMEOUT: True,
    Status.SERVFAIL: True,
    Status.REFUSED: True,
    Status.ERROR: True,
}

# How a failed lookup turns into a verdict. ANSWER, NXDOMAIN and NODATA are
# answers and are interpreted by the verdict logic itself.
FAILURE_STATUS: dict[Outcome, Status] = {
    Outcome.SERVFAIL: Status.SERVFAIL,
    Outcome.REFUSED: Status.REFUSED,
    # The server declined to answer this name, as with REFUSED; the reason says it was a referral.
    Outcome.REFERRAL: Status.REFUSED,
    Outcome.TIMEOUT: Status.TIMEOUT,
    Outcome.NETWORK_ERROR: Status.ERROR,
    Outcome.BAD_RESPONSE: Status.ERROR,
    Outcome.OTHER_ERROR: Status.ERROR,
}

ANSWERS = frozenset({Outcome.ANSWER, Outcome.NXDOMAIN, Outcome.NODATA})

# Whether a lookup with this outcome is sent again (within the attempt budget).
# Answers are final: NXDOMAIN and NODATA are facts about the zone, not failures.
# OTHER_ERROR is a local problem (a malformed name...) that a retry cannot fix.
RETRY: dict[Outcome, bool] = {
    Outcome.ANSWER: False,
    Outcome.NXDOMAIN: False,
    Outcome.NODATA: False,
    Outcome.SERVFAIL: True,
    Outcome.REFUSED: True,
    # The same server gives the same referral: asking it again only costs queries.
    Outcome.REFERRAL: False,
    Outcome.TIMEOUT: True,
    Outcome.NETWORK_ERROR: True,
    Outcome.BAD_RESPONSE: True,
    Outcome.OTHER_ERROR: False,
}

# Outcomes that say the resolver did not answer at all: they count towards
# benching it. Any answer proves it alive: SERVFAIL usually means one zone is
# broken, and REFUSED is how an authoritative server (a legitimate resolver for
# its own zones) answers names outside them.
RESOLVER_FAULTS = frozenset({Outcome.TIMEOUT, Outcome.NETWORK_ERROR})
