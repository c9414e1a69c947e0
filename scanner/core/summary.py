"""Scan summary: counts per status, queries, duration and rate, as text or JSON."""

from __future__ import annotations

import functools
import json
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from scanner.core.authority import AuthorityReport
from scanner.core.findings import FLAGS, Changes, new_kinds
from scanner.core.mail import Postfix, iprev_of, mail_of
from scanner.core.poolstats import PoolStats
from scanner.core.status import TRANSIENT, Status
from scanner.core.verdict import ScanResult

_STATUSES = list(Status)
_STATUS_CODES = {status: code for code, status in enumerate(_STATUSES)}
_POSTFIX = list(Postfix)
_POSTFIX_CODES = {verdict: code << 4 for code, verdict in enumerate(_POSTFIX)}
_FLAG_BITS = {"expected_mismatch": 0x40, "generic_ptr": 0x80, "ns_inconsistent": 0x100}
_YES_NO = {True: "yes", False: "no"}
# Rows' marks, as the pipeline hands them on: array("H"), 16 bits each.
if TYPE_CHECKING:
    Marks: TypeAlias = array[int]
else:  # array is generic only to type checkers before Python 3.12
    Marks = array
# The journal's label for a row's Postfix verdict: `postfix:accept`...
POSTFIX_LABEL = "postfix:"


def mark(result: ScanResult) -> int:
    """What a row counts towards, in 16 bits: its status (4 bits), its Postfix
    verdict (2 bits) and its findings (a bit each).

    Worker processes send one per row with the batch; the journal keeps their
    counts, so a resumed scan's summary counts the rows before the interruption.
    """
    byte = _STATUS_CODES[result.status] | _POSTFIX_CODES[mail_of(result).postfix]
    if result.expected_match is False:
        byte |= _FLAG_BITS["expected_mismatch"]
    if result.generic_ptr:
        byte |= _FLAG_BITS["generic_ptr"]
    if result.authority is not None and result.authority.consistent is False:
        byte |= _FLAG_BITS["ns_inconsistent"]
    return byte


def status_of(byte: int) -> Status:
    return _STATUSES[byte & 0x0F]


@functools.lru_cache(maxsize=512)
def labels(byte: int) -> tuple[str, ...]:
    """The status, Postfix verdict and findings a mark stands for, as the journal counts them.

    Asked once per row written; a mark has at most 512 values, so each is built once.
    """
    postfix = POSTFIX_LABEL + _POSTFIX[(byte >> 4) & 0x03].value
    return (status_of(byte).value, postfix, *(f for f, bit in _FLAG_BITS.items() if byte & bit))


def split_labels(
    counted: dict[str, int],
) -> tuple[dict[Status, int], dict[str, int], dict[Postfix, int]]:
    """Counts by journal label: per status, per finding, per Postfix verdict."""
    statuses, findings, postfix = {}, {}, {}
    for label, count in counted.items():
        if label in FLAGS:
            findings[label] = count
        elif label.startswith(POSTFIX_LABEL):
            postfix[Postfix(label.removeprefix(POSTFIX_LABEL))] = count
        else:
            statuses[Status(label)] = count
    return statuses, findings, postfix


@dataclass(slots=True)
class WalkCounts:
    """What a walk (--walk) did, beside the rows made from it."""

    names: int = 0  # names of the reverse tree answered, by this run and interrupted ones
    asked: int = 0  # names this run asked
    attempts: int = 0  # sent for them by this run, every try and hedge
    leaves: int = 0  # names found to exist at the bottom: IPv6 addresses, IPv4 /24s
    not_walked: int = 0  # rows for prefixes the walk could not see (transient)
    not_asked: int = 0  # IPv4 addresses below a name that does not exist: no_ptr, no query
    duration: float = 0.0  # seconds this run walked
    # Names this run found to exist, holding no PTR, all of whose children are NXDOMAIN:
    # an empty zone, or a server hiding empty non-terminals (RFC 8020 broken).
    childless: int = 0

    def as_dict(self) -> dict[str, float]:
        return {
            "names": self.names,
            "names_asked": self.asked,
            "attempts": self.attempts,
            "leaves_found": self.leaves,
            "prefixes_not_walked": self.not_walked,
            "addresses_not_asked": self.not_asked,
            "names_with_nothing_below": self.childless,
            "duration_s": round(self.duration, 3),
        }

    def text_lines(self) -> list[str]:
        lines = [
            f"walk: {self.names:,} names of the reverse tree answered ({self.asked:,} by this "
            f"run, in {self.attempts:,} attempts and {round(self.duration, 3):.2f} s); "
            f"{self.leaves:,} found at the bottom (IPv6 addresses, IPv4 /24s)"
        ]
        if self.not_walked:
            prefixes = "1 prefix" if self.not_walked == 1 else f"{self.not_walked:,} prefixes"
            lines.append(
                f"not walked: {prefixes} (a row each, transient): no answer to judge by, so "
                "what lies below is unknown; --rescan-failed RESULTS --walk walks them again"
            )
        if self.not_asked:
            lines.append(
                f"{self.not_asked:,} IPv4 addresses lie below names that do not exist: "
                "no_ptr rows, not asked"
            )
        return lines


@dataclass(slots=True)
class Summary:
    """What a scan did, for the summary on stderr, `--summary` JSON and `--metrics`.

    The counts per status cover every row in the outputs: after `--resume`,
    the rows written before the interruption (`before`, from the journal) and
    this run's. Queries and timing are this run's. The retry layer's own
    statistics (`resolvers`, every query it sent, health checks and hedges
    included) are kept apart, under their own key, so that no number of one
    overwrites a number of the other.
    """

    targets: int = 0  # addresses in the target set
    counts: dict[Status, int] = field(default_factory=lambda: dict.fromkeys(Status, 0))
    queries: int = 0  # DNS questions asked for this run's rows (their `queries` column)
    attempts: int = 0  # sent for them, every try and hedge (the rows' `attempts` column)
    duration: float = 0.0
    interrupted: bool = False
    before: dict[Status, int] = field(default_factory=dict)  # rows of the interrupted run
    findings: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FLAGS, 0))
    findings_before: dict[str, int] = field(default_factory=dict)
    postfix: dict[Postfix, int] = field(default_factory=lambda: dict.fromkeys(Postfix, 0))
    postfix_before: dict[Postfix, int] = field(default_factory=dict)
    probe_queries: int = 0  # asked of the resolvers before the first target (scanner/scan/probe.py)
    resolvers: PoolStats | None = None  # the retry layer's statistics
    # --check-authoritative: the zones' servers as found, and this run's rows
    # by ns_consistent (yes, no, unknown)
    authority: AuthorityReport | None = None
    ns_consistent: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("yes", "no", "unknown"), 0)
    )
    # --previous: the findings new and fixed since the last results (None: not compared)
    changes: Changes | None = None
    walk: WalkCounts | None = None  # --walk

    def add(self, result: ScanResult) -> None:
        self.counts[result.status] += 1
        self.postfix[mail_of(result).postfix] += 1
        if result.expected_match is False:
            self.findings["expected_mismatch"] += 1
        if result.generic_ptr:
            self.findings["generic_ptr"] += 1
        if result.authority is not None:
            consistent = result.authority.consistent
            self.ns_consistent["unknown" if consistent is None else _YES_NO[consistent]] += 1
            if consistent is False:
                self.findings["ns_inconsistent"] += 1
        self.queries += result.queries
        self.attempts += result.attempts

    @property
    def scanned(self) -> int:
        """Rows this run wrote."""
        return sum(self.counts.values())

    @property
    def resumed(self) -> int:
        """Rows an interrupted run had written before --resume."""
        return sum(self.before.values())

    @property
    def rows(self) -> int:
        """Rows in the outputs: the interrupted run's and this run's."""
        return self.scanned + self.resumed

    @property
    def all_counts(self) -> dict[Status, int]:
        """Rows per status in the outputs, the interrupted run's included."""
        return {status: count + self.before.get(status, 0) for status, count in self.counts.items()}

    @property
    def all_findings(self) -> dict[str, int]:
        """Rows per finding in the outputs, the interrupted run's included."""
        return {flag: n + self.findings_before.get(flag, 0) for flag, n in self.findings.items()}

    @property
    def all_postfix(self) -> dict[Postfix, int]:
        """Rows per Postfix verdict in the outputs, the interrupted run's included."""
        return {v: n + self.postfix_before.get(v, 0) for v, n in self.postfix.items()}

    @property
    def all_iprev(self) -> dict[str, int]:
        """Rows per RFC 8601 iprev result in the outputs: it follows from the status."""
        counted: dict[str, int] = {}
        for status, count in self.all_counts.items():
            name = iprev_of(status).value
            counted[name] = counted.get(name, 0) + count
        return counted

    @property
    def rate(self) -> float:
        return self.scanned / self.duration if self.duration > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        counts = self.all_counts
        return {
            "targets": self.targets,
            "rows": self.rows,
            "scanned": self.scanned,
            "resumed": self.resumed,
            "interrupted": self.interrupted,
            "counts": {status.value: count for status, count in counts.items()},
            "transient_failures": sum(
                count for status, count in counts.items() if TRANSIENT[status]
            ),
            "findings": self.all_findings,
            "mail": {
                "iprev": self.all_iprev,
                "postfix": {verdict.value: n for verdict, n in self.all_postfix.items()},
            },
            "queries": self.queries,
            "attempts": self.attempts,
            "sent_again": self.attempts - self.queries,
            "probe_queries": self.probe_queries,
            "duration_s": round(self.duration, 3),
            "ips_per_s": round(self.rate, 1),
            "resolver_pool": None if self.resolvers is None else self.resolvers.as_dict(),
            "authoritative": None
            if self.authority is None
            else {"ns_consistent": self.ns_consistent, **self.authority.as_dict()},
            "since_previous": None if self.changes is None else self.changes.as_dict(),
            "walk": None if self.walk is None else self.walk.as_dict(),
        }

    def absorb(self, worker: dict[str, Any]) -> None:
        """Add one worker process's summary (its `as_dict()`) to this one."""
        for status, count in worker["counts"].items():
            self.counts[Status(status)] += count
        for flag, count in worker["findings"].items():
            self.findings[flag] += count
        for verdict, count in worker["mail"]["postfix"].items():
            self.postfix[Postfix(verdict)] += count
        self.queries += worker["queries"]
        self.attempts += worker["attempts"]
        self.interrupted |= worker["interrupted"]
        if worker.get("authoritative") is not None:
            theirs_authority = AuthorityReport.from_dict(worker["authoritative"])
            if self.authority is None:
                self.authority = AuthorityReport()
            self.authority.add(theirs_authority)
            for key, count in worker["authoritative"]["ns_consistent"].items():
                self.ns_consistent[key] += count
        if worker["resolver_pool"] is None:
            return
        theirs = PoolStats.from_dict(worker["resolver_pool"])
        if self.resolvers is None:
            self.resolvers = theirs
        else:
            self.resolvers.add(theirs)

    def matching(self, names: Sequence[str]) -> dict[str, int]:
        """Rows of the outputs each --fail-on name matches: a status, `transient`, a finding."""
        counts = {status.value: n for status, n in self.all_counts.items()}
        counts["transient"] = sum(n for status, n in self.all_counts.items() if TRANSIENT[status])
        counts |= self.all_findings
        for name in names:
            if name not in counts:  # new, new:KIND: 0 when nothing was compared
                kinds = new_kinds([name])
                counts[name] = self.changes.new_of(kinds) if self.changes is not None else 0
        return {name: counts[name] for name in names}

    def as_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2) + "\n"

    def as_text(self) -> str:
        pool = self.resolvers
        state = "interrupted" if self.interrupted else "complete"
        lines = [
            f"scan {state}: {self.scanned:,} of {self.targets:,} addresses in "
            # The JSON's own rounding, so that both say the same
            f"{round(self.duration, 3):.2f} s ({round(self.rate, 1):,.0f} IPs/s, "
            f"{self.queries:,} queries)"
        ]
        if self.resumed:
            lines[0] += (
                f"; {self.resumed:,} more were done before --resume, and the counts below "
                f"cover all {self.rows:,} rows"
            )
        width = max(len(status.value) for status in Status)
        for status, count in self.all_counts.items():
            share = 100 * count / self.rows if self.rows else 0.0
            note = "  (transient: rescan later)" if TRANSIENT[status] and count else ""
            lines.append(f"  {status.value:<{width}}  {count:>10,}  {share:5.1f}%{note}")
        lines.append(f"  {'total':<{width}}  {self.rows:>10,}")
        findings = self.all_findings
        flagged = [
            f"{findings[flag]:,} {words}"
            for flag, words in (
                (
                    "expected_mismatch",
                    "rows whose expected name does not confirm (expected_match no)",
                ),
                ("generic_ptr", "rows with generic PTR names (generic_ptr)"),
            )
            if findings[flag]
        ]
        if flagged:
            lines.append("findings: " + ", ".join(flagged))
        if findings["ns_inconsistent"]:
            lines.append(
                f"name servers disagree on {findings['ns_inconsistent']:,} addresses "
                "(ns_consistent no): resolvers get one answer or the other"
            )
        if self.authority is not None:
            lines += self.authority.text_lines()
        if self.changes is not None:
            lines.append(_changes_line(self.changes))
        if self.walk is not None:
            lines += self.walk.text_lines()
        iprev, postfix = self.all_iprev, self.all_postfix
        if self.rows:  # (a walk stopped before its rows has none)
            lines.append(
                "mail: iprev " + ", ".join(f"{name} {n:,}" for name, n in iprev.items() if n)
                + "; postfix " + ", ".join(f"{v.value} {n:,}" for v, n in postfix.items() if n)
            )  # fmt: skip
        lines.append(
            f"queries for these rows: {self.queries:,}, in {self.attempts:,} attempts "
            f"({self.attempts - self.queries:,} sent again)"
        )
        if pool is not None:
            lines.append(
                f"retries: {pool.retries:,}; hedges: {pool.hedges:,} (copies sent early of "
                f"queries that seemed lost); health checks: {pool.health_checks:,}; "
                f"probe: {self.probe_queries:,} queries before the first target"
            )
            if pool.patient_tries or pool.asked_alone:
                lines.append(
                    f"tries that waited the whole timeout: {pool.patient_tries:,} "
                    f"({pool.slow_zones:,} slow zones); asked again alone after a malformed "
                    f"answer: {pool.asked_alone:,} ({pool.malformed_zones:,} malformed zones)"
                )
            if pool.retried_less:
                lines.append(
                    f"retried once, not --retries times: {pool.retried_less:,} queries (others"
                    " had got SERVFAIL, or in their zone timed out, on 3 tries in a row;"
                    " retrying cured none)"
                )
            rate = "unlimited" if pool.rate is None else f"{pool.rate:,} q/s"
            if pool.adaptive is not None:
                rate += (
                    f" at the end (adaptive: {pool.adaptive[0]} increases, "
                    f"{pool.adaptive[1]} decreases)"
                )
            lines.append(f"rate: {rate}")
            if pool.all_benched_waits:
                lines.append(
                    f"all resolvers benched {pool.all_benched_waits} time(s), "
                    f"{pool.all_benched_seconds:.1f} s spent waiting"
                )
            for upstream in pool.resolvers:
                lines.append(
                    f"  resolver {upstream.resolver}: {upstream.attempts:,} attempts, "
                    f"{upstream.faults:,} timed out or failed on the network, benched "
                    f"{upstream.times_benched} time(s), now {upstream.state}; "
                    f"at most {upstream.window.largest_in_flight:,} in flight"
                )
        return "\n".join(lines) + "\n"


def _changes_line(changes: Changes) -> str:
    def listed(counts: dict[str, int]) -> str:
        shown = ", ".join(f"{kind} {n:,}" for kind, n in counts.items() if n)
        return f" ({shown})" if shown else ""

    new = sum(n for kind, n in changes.new.items() if kind != "transient")
    fixed = sum(n for kind, n in changes.fixed.items() if kind != "transient")
    return (
        f"since {changes.previous}: {new:,} new findings on {changes.new_addresses:,} addresses"
        f"{listed(changes.new)}, {fixed:,} fixed on {changes.fixed_addresses:,} addresses"
        f"{listed(changes.fixed)}; {changes.first_seen:,} addresses not in it, "
        f"{changes.not_compared:,} not compared (transient in one of the two)"
    )
