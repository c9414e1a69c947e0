"""The scan summary in the Prometheus text format, for node_exporter's textfile collector.

Every value describes the last run, so all are gauges. prometheus_client
formats the text (full precision, label escaping); the file is written here,
to a temporary file made with mkstemp (O_EXCL, never through a planted link,
unlike `write_to_textfile`'s predictable name) and renamed, so the collector
never reads half a file.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from scanner.core.paths import written_in_place
from scanner.core.status import TRANSIENT
from scanner.core.summary import Summary
from scanner.files.ownfiles import umask


def render(summary: Summary, finished: float | None = None) -> str:
    """The metrics text, made by prometheus_client (its formatting, full precision, escaping)."""
    registry = CollectorRegistry(auto_describe=True)

    def gauge(name: str, help_text: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(f"fcrdns_{name}", help_text, labels, registry=registry)

    ips = gauge(
        "ips",
        "Addresses in the outputs of the last scan, by verdict (after --resume, the rows "
        "before the interruption too; transient: timeout, servfail, refused, error).",
        ("status", "transient"),
    )
    for status, count in summary.all_counts.items():
        ips.labels(status.value, str(TRANSIENT[status]).lower()).set(count)

    def counted(name: str, help_text: str, label: str, counts: Mapping[str, int]) -> None:
        per_value = gauge(name, help_text, (label,))
        for value, count in counts.items():
            per_value.labels(value).set(count)

    counted(
        "findings",
        "Rows of the last scan's outputs with a finding beyond their status: expected_mismatch "
        "(the expected name does not confirm), generic_ptr (an ISP-style PTR name), "
        "ns_inconsistent (the reverse zone's name servers disagree).",
        "kind",
        summary.all_findings,
    )
    counted(
        "iprev",
        "Addresses in the last scan's outputs by RFC 8601 iprev result (what receivers write "
        "in Authentication-Results).",
        "result",
        summary.all_iprev,
    )
    counted(
        "postfix",
        "Addresses in the last scan's outputs by how Postfix' reject_unknown_client_hostname "
        "judges them: accept, reject, tempfail, intermittent (some PTR names pass, some not).",
        "verdict",
        {verdict.value: n for verdict, n in summary.all_postfix.items()},
    )
    gauge("targets", "Addresses the last scan was given.").set(summary.targets)
    gauge("queries", "DNS queries the last scan's run made for its rows.").set(summary.queries)
    gauge("attempts", "Attempts sent for the last scan's rows, retries and hedges included.").set(
        summary.attempts
    )
    gauge(
        "sent_again",
        "Attempts beyond one per query for the last scan's rows (retries and hedges).",
    ).set(summary.attempts - summary.queries)
    gauge("probe_queries", "Queries asked of the resolvers before the first target.").set(
        summary.probe_queries
    )
    if summary.resolvers is not None:
        pool = summary.resolvers
        gauge("retries", "Tries after the first, by the retry layer (timeouts, SERVFAIL...).").set(
            pool.retries
        )
        gauge("hedges", "Copies sent early of queries that seemed lost.").set(pool.hedges)
        gauge("health_checks", "Queries that checked a silent resolver.").set(pool.health_checks)
    gauge("duration_seconds", "How long the last scan's run took.").set(summary.duration)
    gauge("interrupted", "1 if the last scan was interrupted.").set(int(summary.interrupted))
    gauge("last_run_timestamp_seconds", "When the last scan ended (Unix time).").set(
        finished if finished is not None else time.time()
    )
    if summary.authority is not None:
        report = summary.authority.as_dict()  # the numbers --summary's JSON has
        gauge(
            "zones_out_of_sync",
            "Reverse zones whose name servers have different SOA serials (--check-authoritative).",
        ).set(report["zones_out_of_sync"])
        gauge(
            "zones_with_lame_servers",
            "Reverse zones with a name server that does not serve them: timeout, refused, "
            "no authority (--check-authoritative).",
        ).set(report["zones_with_lame_servers"])
        gauge(
            "name_server_addresses_unchecked",
            "Name servers not asked (--check-authoritative): no route from this host, an "
            "address --authoritative-allow does not admit, or over the limit per zone.",
        ).set(report["server_addresses_unchecked"])
    if summary.changes is not None:
        counted(
            "new_findings",
            "Findings of the last scan's rows that the --previous results did not have, by kind "
            "(transient: rows transient now and not before).",
            "kind",
            summary.changes.new,
        )
        counted(
            "fixed_findings",
            "Findings of the --previous results that the last scan's rows no longer have, by kind.",
            "kind",
            summary.changes.fixed,
        )
    if summary.walk is not None:
        walked = summary.walk.as_dict()  # the numbers --summary's JSON has
        for key, help_text in (
            ("names", "Names of the reverse tree the walk (--walk) answered, in all its runs."),
            ("names_asked", "Names of the reverse tree the last run of the walk asked."),
            ("attempts", "Queries the last run of the walk sent for them, every try included."),
            ("leaves_found", "Names the walk found at the bottom: IPv6 addresses, IPv4 /24s."),
            (
                "prefixes_not_walked",
                "Prefixes the walk could not see (timeout, SERVFAIL, a referral): a row each.",
            ),
            (
                "addresses_not_asked",
                "IPv4 addresses below a name that does not exist: no_ptr rows, not asked.",
            ),
            (
                "names_with_nothing_below",
                "Names without PTR, all of whose children are NXDOMAIN (the last run): an empty "
                "zone, or a server answering NXDOMAIN for empty non-terminals.",
            ),
        ):
            gauge(f"walk_{key}", help_text).set(walked[key])
        gauge("walk_duration_seconds", "How long the last run of the walk took.").set(
            summary.walk.duration
        )
    resolvers = summary.resolvers.resolvers if summary.resolvers is not None else []
    for key, help_text in (
        ("attempts", "Queries sent to each resolver."),
        ("faults", "Queries each resolver left unanswered (timeouts, network errors)."),
        ("times_benched", "Times each resolver was benched."),
    ):
        if resolvers:
            per_resolver = gauge(f"resolver_{key}", help_text, ("resolver",))
            for entry in resolvers:
                per_resolver.labels(entry.resolver).set(getattr(entry, key))
    return generate_latest(registry).decode("utf-8")


def write(path: str, summary: Summary) -> None:
    """Write the metrics file atomically (a reader never sees half of it).

    A device or pipe (/dev/stdout, a FIFO) is written in place: renaming a
    temporary file onto it would replace it.
    """
    target = Path(path)
    if written_in_place(path):
        target.write_text(render(summary), encoding="utf-8")
        return
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    try:
        # mkstemp makes the file 0600; the metrics are for node_exporter, which
        # runs as its own user: the mode any file gets, 0666 less the umask.
        os.fchmod(fd, 0o666 & ~umask())
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(render(summary))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
