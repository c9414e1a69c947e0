"""The report as one self-contained HTML page, with Jinja2 (autoescape on).

Everything is inline (styles, the map as SVG, a small script for sorting and
the map's details), so the page opens from a mail attachment or a file share
with no network. Its Content-Security-Policy allows no request at all and only
its own script (by hash): even a value that escaped the escaping could neither
run nor load anything. Names are shown as every output shows them
(`scanner.core.names.present()`, applied in scanner/core/report.py), then HTML-escaped
by the template engine.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
from importlib import resources
from typing import Any

import jinja2

from scanner.core.report import CATEGORIES, CATEGORY_LABELS, Bar, Changes, Report
from scanner.core.status import Status

MAP_PIXELS = 768  # the IPv4 map's longer side, about
BAR_WIDTH = 480


def _template() -> jinja2.Template:
    text = (resources.files("scanner.files") / "templates" / "report.html.j2").read_text("utf-8")
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return environment.from_string(text)


def render(
    report: Report,
    *,
    source: str,
    summary: dict[str, Any] | None = None,
    changes: Changes | None = None,
    previous: str = "",
) -> str:
    script = (resources.files("scanner.files") / "templates" / "report.js").read_text("utf-8")
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    built = report.built
    rows = report.rows

    def share(count: int) -> str:
        return f"{100 * count / rows:.1f}%" if rows else "-"

    def bar_parts(bar: Bar) -> list[tuple[str, float, float, str]]:
        total = sum(bar.counts) or 1
        parts, x = [], 0.0
        for category, count in zip(CATEGORIES, bar.counts, strict=True):
            width = BAR_WIDTH * count / total
            if count:
                parts.append((category, round(x, 2), round(width, 2), f"{category}: {count:,}"))
            x += width
        return parts

    resolvers = []
    if summary and summary.get("resolver_pool"):
        resolvers = [entry["resolver"] for entry in summary["resolver_pool"].get("resolvers", [])]
    ordered = [status.value for status in Status]
    return _template().render(
        report=report,
        built=built,
        source=source,
        previous=previous,
        summary=summary or {},
        resolvers=resolvers,
        first=built.first,
        last=built.last,
        made=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        statuses=[(status, built.statuses[status]) for status in ordered],
        stages=sorted(built.stages.items()),
        iprev=sorted(built.iprev.items()),
        postfix=sorted(built.postfix.items()),
        ns_consistent=sorted(built.ns_consistent.items()),
        categories=[(category, CATEGORY_LABELS[category]) for category in CATEGORIES],
        cell_px=max(2, min(64, MAP_PIXELS // max(1, report.width, report.height))),
        bar_width=BAR_WIDTH,
        bar_parts=bar_parts,
        share=share,
        worst_blocks=report.worst_blocks(),
        targets=report.mismatch_targets(),
        generic_blocks=report.generic_blocks(),
        zones=report.zones(),
        changes=changes,
        changes_kinds=sorted(changes.kinds.items()) if changes else [],
        transitions=changes.transitions.most_common() if changes else [],
        changed_blocks=changes.worst_blocks() if changes else [],
        script=script,
        script_hash=f"sha256-{digest}",
    )
