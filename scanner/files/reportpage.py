"""The report as one self-contained HTML page, with Jinja2 (autoescape on).

Everything is inline (styles, the maps and the trend as SVG, a small script
for sorting and the map's details), so the page opens from a mail attachment
or a file share with no network. Its Content-Security-Policy allows no request
at all and only its own script (by hash): even a value that escaped the
escaping could neither run nor load anything. Names are shown as every output
shows them (`scanner.core.names.present()`, applied in scanner/core/report.py),
then HTML-escaped by the template engine.

The first screen is what a manager reads: a headline, tiles (addresses,
passing, to fix, new and fixed since the last run, name-server findings, each
"not checked" when its check did not run), the trend when a history is given,
then the map and what to fix.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jinja2

from scanner.core.report import CATEGORIES, CATEGORY_LABELS, Changes, Report
from scanner.core.reportmap import LEGEND
from scanner.core.status import Status

TREND_WIDTH, TREND_HEIGHT = 640, 150


@dataclass(frozen=True, slots=True)
class Night:
    """One stored night, as the trend shows it."""

    started: datetime.datetime
    addresses: int
    passing: int
    failing: int
    new_failing: int | None
    fixed: int | None


@dataclass(frozen=True, slots=True)
class Tile:
    key: str
    value: str  # "not checked" when its check did not run
    label: str
    tone: str = ""  # "bad", "good" or ""


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
    nights: list[Night] | None = None,
) -> str:
    """The page. `nights`: the history's last nights, oldest first, this one last if stored."""
    script = (resources.files("scanner.files") / "templates" / "report.js").read_text("utf-8")
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    built = report.built
    rows = report.rows

    def share(count: int) -> str:
        return f"{100 * count / rows:.1f}%" if rows else "-"

    resolvers = []
    if summary and summary.get("resolver_pool"):
        resolvers = [entry["resolver"] for entry in summary["resolver_pool"].get("resolvers", [])]
    ordered = [status.value for status in Status]
    since = _since_last(changes, nights, built.first, rows)
    tiles = _tiles(report, summary, since)
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
        headline=_headline(report, since),
        tiles=tiles,
        trend=_trend(nights) if nights and len(nights) > 1 else None,
        trend_nights=nights or [],
        statuses=[(status, built.statuses[status]) for status in ordered],
        stages=sorted(built.stages.items()),
        iprev=sorted(built.iprev.items()),
        postfix=sorted(built.postfix.items()),
        ns_consistent=sorted(built.ns_consistent.items()),
        ns_checked=_ns_checked(report, summary),
        authority=_authority(summary),
        ns_problems=report.nameserver_problems(),
        categories=[(category, CATEGORY_LABELS[category]) for category in CATEGORIES],
        legend=LEGEND,
        share=share,
        fixes=report.fixes(),
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


def _since_last(
    changes: Changes | None, nights: list[Night] | None, first: str, rows: int
) -> tuple[int, int] | None:
    """(new failing, fixed) since the last run: from --previous, or from the history when
    its last night is these results (stored by the scan that wrote them)."""
    if changes is not None:
        return changes.new_failing, changes.fixed
    if not nights or not first:
        return None
    last = nights[-1]
    stamp = datetime.datetime.fromisoformat(first.replace("Z", "+00:00"))
    if last.addresses != rows or abs((last.started - stamp).total_seconds()) > 1:
        return None
    if last.new_failing is None or last.fixed is None:
        return None
    return last.new_failing, last.fixed


def _headline(report: Report, since: tuple[int, int] | None) -> str:
    rows = report.rows
    if not rows:
        return "No addresses in these results."
    words = f"{100 * report.passing / rows:.0f}% of {rows:,} addresses pass; "
    words += f"{report.failing:,} to fix"
    if since is not None:
        new, fixed = since
        words += f" ({new:,} newly failing and {fixed:,} fixed since the last run)"
    if report.transient:
        words += f"; {report.transient:,} could not be checked (rescan them)"
    return words + "."


def _ns_checked(report: Report, summary: dict[str, Any] | None) -> bool:
    """Whether the zones' name servers were asked (--check-authoritative)."""
    if summary is not None and summary.get("authoritative") is not None:
        return True
    return any(key in ("yes", "no") for key in report.built.ns_consistent)


def _authority(summary: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The summary's zones whose servers disagree on the serial or are lame."""
    authority = (summary or {}).get("authoritative") or {}
    zones = authority.get("zones") if isinstance(authority, dict) else None
    if not isinstance(zones, dict):
        return []
    found = []
    for apex, zone in zones.items():
        servers = zone.get("servers", []) if isinstance(zone, dict) else []
        servers = [server for server in servers if isinstance(server, dict)]
        lame = [server for server in servers if server.get("lame")]
        if (isinstance(zone, dict) and zone.get("in_sync") is False) or lame:
            found.append({"zone": str(apex), "in_sync": zone.get("in_sync"), "servers": servers})
    return found


def _tiles(
    report: Report, summary: dict[str, Any] | None, since: tuple[int, int] | None
) -> list[Tile]:
    rows = report.rows
    passing = f"{100 * report.passing / rows:.0f}%" if rows else "-"
    tiles = [
        Tile("addresses", f"{rows:,}", "addresses"),
        Tile("passing", passing, "pass", "good" if rows and report.failing == 0 else ""),
        Tile("to-fix", f"{report.failing:,}", "to fix", "bad" if report.failing else "good"),
    ]
    if since is None:
        tiles.append(Tile("new", "-", "newly failing (no earlier run given)"))
        tiles.append(Tile("fixed", "-", "fixed (no earlier run given)"))
    else:
        tiles.append(Tile("new", f"{since[0]:,}", "newly failing since the last run",
                          "bad" if since[0] else "good"))  # fmt: skip
        tiles.append(Tile("fixed", f"{since[1]:,}", "fixed since the last run"))
    if report.transient:
        tiles.append(Tile("transient", f"{report.transient:,}", "could not be checked"))
    checked = _ns_checked(report, summary)
    out_of_sync, lame = _ns_counts(report, summary)
    for key, count, label in (
        ("out-of-sync", out_of_sync, "zones out of sync"),
        ("lame", lame, "lame name servers"),
        ("disagree", report.built.ns_consistent.get("no", 0), "addresses name servers disagree on"),
    ):
        if checked:
            tiles.append(Tile(key, f"{count:,}", label, "bad" if count else "good"))
        else:
            tiles.append(Tile(key, "not checked", f"{label} (--check-authoritative)"))
    return tiles


def _ns_counts(report: Report, summary: dict[str, Any] | None) -> tuple[int, int]:
    """(zones out of sync, lame servers): from the summary, else from the rows' columns."""
    authority = (summary or {}).get("authoritative")
    if isinstance(authority, dict) and isinstance(authority.get("zones"), dict):
        zones = authority["zones"].values()
        out = sum(isinstance(zone, dict) and zone.get("in_sync") is False for zone in zones)
        lame = {
            str(server.get("server"))
            for zone in zones
            if isinstance(zone, dict)
            for server in zone.get("servers", [])
            if isinstance(server, dict) and server.get("lame")
        }
        return out, len(lame)
    problems = report.nameserver_problems()
    out = sum(len({pair.rpartition("=")[2] for pair in zone.serials.split(";") if pair}) > 1
              for _, zone in problems)  # fmt: skip
    lame_servers = {
        pair.partition("=")[0] for _, zone in problems for pair in zone.lame.split(";") if pair
    }
    return out, len(lame_servers)


def _trend(nights: list[Night]) -> dict[str, Any]:
    """The passing share night by night, as an SVG polyline's points, with its labels."""
    count = len(nights)
    step = (TREND_WIDTH - 60) / max(1, count - 1)
    points = []
    for index, night in enumerate(nights):
        share = night.passing / night.addresses if night.addresses else 0.0
        x = 40 + index * step
        y = 10 + (TREND_HEIGHT - 30) * (1 - share)
        label = f"{night.started:%Y-%m-%d}: {100 * share:.1f}% pass, {night.failing:,} failing"
        points.append((round(x, 1), round(y, 1), label))
    return {
        "width": TREND_WIDTH,
        "height": TREND_HEIGHT,
        "points": points,
        "polyline": " ".join(f"{x},{y}" for x, y, _ in points),
        "first": f"{nights[0].started:%Y-%m-%d}",
        "last": f"{nights[-1].started:%Y-%m-%d}",
    }
