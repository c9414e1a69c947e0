"""The scan summary in the Prometheus text format, for node_exporter's textfile collector.

Every value describes the last run, so all are gauges. The file is written to a
temporary name and renamed, so the collector never reads half a file.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from scanner.paths import written_in_place
from scanner.status import TRANSIENT
from scanner.summary import Summary


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(summary: Summary, finished: float | None = None) -> str:
    data = summary.as_dict()
    lines: list[str] = []

    def gauge(name: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP fcrdns_{name} {help_text}")
        lines.append(f"# TYPE fcrdns_{name} gauge")
        lines.extend(f"fcrdns_{name}{labels} {value:g}" for labels, value in samples)

    gauge(
        "ips",
        "Addresses of the last scan, by verdict (transient: timeout, servfail, refused, error).",
        [
            (f'{{status="{status.value}",transient="{str(TRANSIENT[status]).lower()}"}}', count)
            for status, count in summary.counts.items()
        ],
    )
    gauge("targets", "Addresses the last scan was given.", [("", summary.targets)])
    gauge("queries", "DNS lookups made by the last scan.", [("", summary.queries)])
    gauge(
        "attempts", "DNS queries sent by the last scan, retries included.", [("", summary.attempts)]
    )
    gauge(
        "retries", "Queries the last scan sent again.", [("", summary.attempts - summary.queries)]
    )
    gauge("duration_seconds", "How long the last scan took.", [("", summary.duration)])
    gauge("interrupted", "1 if the last scan was interrupted.", [("", int(summary.interrupted))])
    gauge(
        "last_run_timestamp_seconds",
        "When the last scan ended (Unix time).",
        [("", finished if finished is not None else time.time())],
    )
    resolvers = data.get("resolvers") or []
    if resolvers:
        for key, help_text in (
            ("attempts", "Queries sent to each resolver."),
            ("faults", "Queries each resolver left unanswered (timeouts, network errors)."),
            ("times_benched", "Times each resolver was benched."),
        ):
            gauge(
                f"resolver_{key}",
                help_text,
                [(f'{{resolver="{_label(r["resolver"])}"}}', r[key]) for r in resolvers],
            )
    return "\n".join(lines) + "\n"


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
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(render(summary))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
