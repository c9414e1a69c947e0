"""What a scan's report shows, gathered from its rows as they stream past. Pure.

Memory grows with the blocks scanned (a counter per /24 or /64), the zones and
a bounded list of mismatch targets, never with the rows: a /8 is 65,536
blocks. `scanner/files/reportpage.py` renders the result as HTML.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from scanner.core.names import present
from scanner.core.reportmap import Block, Panel, Tile, v4_panels, v6_tiles
from scanner.core.status import TRANSIENT, Status

# What a map cell is coloured by: the verdicts grouped as an operator reads them.
CATEGORIES = ("pass", "mismatch", "no_ptr", "transient")
CATEGORY_LABELS = {
    "pass": "pass",
    "mismatch": "does not map back (mismatch, no_forward)",
    "no_ptr": "no PTR (no_ptr, ptr_nodata)",
    "transient": "transient (timeout, servfail, refused, error)",
}
_CATEGORY_OF = {
    Status.PASS.value: 0,
    Status.MISMATCH.value: 1,
    Status.NO_FORWARD.value: 1,
    Status.NO_PTR.value: 2,
    Status.PTR_NODATA.value: 2,
    **{status.value: 3 for status in Status if TRANSIENT[status]},
}
V4_BLOCK, V6_BLOCK = 24, 64  # the blocks counted and ranked
TOP = 50  # rows of each ranked table
TARGETS_KEPT = 10_000  # mismatch targets and fixes counted at once (the rarest are dropped)
ZONES_KEPT = 10_000  # reverse zones whose name servers' serials and lame servers are kept
_RECORD = re.compile(r"`([^`]{1,600})`")  # a zone-file line in a reason


class ReportError(ValueError):
    """A row the report cannot use."""


@dataclass(slots=True)
class Zone:
    nameservers: str = ""
    rows: int = 0
    failing: int = 0
    ns_inconsistent: int = 0
    serials: str = ""  # ns_serials of its rows (--check-authoritative): server=serial;...
    lame: str = ""  # ns_lame: server=why;...


@dataclass(slots=True)
class Fix:
    """One change that mends many addresses: a PTR name that does not map back, or the
    missing PTR records of a reverse zone (or block)."""

    # "forward": one PTR name's A/AAAA records; "domain": the names of one address each in
    # a domain; "reverse": PTR records to add in a reverse zone
    kind: str
    subject: str  # the PTR name, or the reverse zone (the /24 when the zone is not known)
    addresses: int = 0
    example: str = ""  # one address it mends
    records: tuple[str, ...] = ()  # that address's zone-file lines, from its reason


class ReportBuilder:
    def __init__(self) -> None:
        self.rows = 0
        self.statuses: Counter[str] = Counter()
        self.stages: Counter[str] = Counter()
        self.iprev: Counter[str] = Counter()
        self.postfix: Counter[str] = Counter()
        self.ns_consistent: Counter[str] = Counter()
        self.generic = 0
        self.first = ""  # timestamps, ISO 8601 UTC: text order is time order
        self.last = ""
        self.blocks: dict[tuple[int, int], Block] = {}  # (version, block number)
        self.v4_blocks = 0
        # IPv4 addresses one by one, while all of them lie in one /24
        self.addresses: dict[int, int] | None = {}
        self.targets: Counter[str] = Counter()
        self.target_names: dict[str, str] = {}
        self.zones: dict[str, Zone] = {}
        self.fixes: dict[tuple[str, str], Fix] = {}

    def add(self, row: Mapping[str, object], number: int = 0) -> None:
        try:
            text = str(row["ip"])  # a walk's row for a subtree it could not see is a prefix
            ip = ipaddress.ip_network(text, strict=False).network_address if "/" in text else (
                ipaddress.ip_address(text))  # fmt: skip
            category = _CATEGORY_OF[str(row["status"])]
        except (KeyError, ValueError):
            raise ReportError(f"row {number}: not a fcrdns result row") from None
        self.rows += 1
        status = str(row["status"])
        self.statuses[status] += 1
        self.stages[str(row.get("stage") or "")] += 1
        for counter, column in ((self.iprev, "iprev"), (self.postfix, "postfix")):
            verdict = row.get(column)
            if verdict:
                counter[str(verdict)] += 1
        consistent = _yes_no(row.get("ns_consistent"))
        if consistent:
            self.ns_consistent[consistent] += 1
        generic = _yes_no(row.get("generic_ptr")) == "yes"
        self.generic += generic
        stamp = str(row.get("timestamp") or "")
        if stamp and (not self.first or stamp < self.first):
            self.first = stamp
        if stamp > self.last:
            self.last = stamp
        value = int(ip)
        key = _block_of(ip)
        block = self.blocks.get(key)
        if block is None:
            block = self.blocks[key] = Block()
            if ip.version == 4:
                self.v4_blocks += 1
                if self.v4_blocks > 1:
                    self.addresses = None  # more than a /24: the map shows /24s
        block.counts[category] += 1
        block.generic += generic
        if ip.version == 4 and self.addresses is not None:
            self.addresses[value] = category
        if category == 1:
            self._count_targets(row)
        zone_name = str(row.get("ptr_zone") or "")
        if category in (1, 2):
            self._count_fix(row, category, zone_name, key)
        if zone_name:
            zone = self.zones.get(zone_name)
            if zone is None and len(self.zones) < ZONES_KEPT:
                zone = self.zones[zone_name] = Zone(_names(row.get("ptr_zone_ns")))
            if zone is not None:
                zone.rows += 1
                zone.failing += category in (1, 2)
                zone.ns_inconsistent += consistent == "no"
                zone.serials = zone.serials or _pairs(row.get("ns_serials"))
                zone.lame = zone.lame or _pairs(row.get("ns_lame"))

    def _count_fix(
        self, row: Mapping[str, object], category: int, zone: str, block: tuple[int, int]
    ) -> None:
        """Group the row with the others one change mends: its PTR name's forward records
        (does not map back), or the missing PTRs of its reverse zone."""
        if category == 1:
            names = str(row.get("ptr_names") or "").lstrip("'").split(";")
            kind, subject = "forward", present(names[0]) if names[0] else "(no name)"
        else:
            kind, subject = "reverse", present(zone) if zone else _block_label(block)
        keys = [(kind, subject)]
        if kind == "forward":  # and its domain: names of one address each are one job there
            keys.append(("domain", subject.partition(".")[2] or subject))
        for key in keys:
            fix = self.fixes.get(key)
            if fix is None:
                records = tuple(_RECORD.findall(str(row.get("reason") or "")))
                fix = self.fixes[key] = Fix(key[0], key[1], 0, str(row["ip"]), records)
            fix.addresses += 1
        if len(self.fixes) > TARGETS_KEPT:  # the ones mending most, in bounded memory
            ranked = sorted(self.fixes.items(), key=lambda item: -item[1].addresses)
            self.fixes = dict(ranked[: TARGETS_KEPT // 2])

    def _count_targets(self, row: Mapping[str, object]) -> None:
        """The PTR names of a row that does not map back, and where they point instead.

        One name behind many addresses is one renamed or moved server: one fix.
        """
        for name, addresses in _forward(row):
            self.targets[name] += 1
            self.target_names.setdefault(name, " ".join(addresses[:4]) or "(no address)")
        if len(self.targets) > TARGETS_KEPT:  # keep the frequent ones, in bounded memory
            kept = self.targets.most_common(TARGETS_KEPT // 2)
            self.targets = Counter(dict(kept))
            self.target_names = {key: self.target_names[key] for key, _ in kept}

    def finish(self) -> Report:
        return Report(self)


def _yes_no(value: object) -> str:
    if value is True or value == "yes":
        return "yes"
    if value is False or value == "no":
        return "no"
    return ""


def _pairs(value: object) -> str:
    """ns_serials or ns_lame: 'server=value;...' (a CSV cell) or an object (JSONL)."""
    if isinstance(value, dict):
        return ";".join(f"{present(str(k))}={v}" for k, v in value.items())
    return str(value or "").lstrip("'")


def _names(value: object) -> str:
    if isinstance(value, list):
        return "; ".join(present(str(name)) for name in value)
    return "; ".join(present(name) for name in str(value or "").lstrip("'").split(";") if name)


def _forward(row: Mapping[str, object]) -> Iterable[tuple[str, list[str]]]:
    forward = row.get("forward")
    if isinstance(forward, list):  # JSONL
        for check in forward:
            yield present(str(check["name"])), [str(a) for a in check["addresses"]]
        return
    for cell in filter(None, str(row.get("forward_addresses") or "").lstrip("'").split(";")):
        name, _, value = cell.rpartition("=")  # a name may hold '=', the value never
        addresses = [a for a in value.split() if _is_address(a)]
        yield present(name), addresses


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class Report:
    """The numbers and tables of the report."""

    def __init__(self, built: ReportBuilder) -> None:
        self.built = built
        self.rows = built.rows
        self.panels, self.cell_prefix = _v4_panels(built)
        v6 = {number: block for (version, number), block in built.blocks.items() if version == 6}
        self.tiles: list[Tile]
        self.tiles, self.tile_prefix = v6_tiles(v6, V6_BLOCK)

    @property
    def cells(self) -> int:
        return sum(len(panel.cells) for panel in self.panels)

    @property
    def failing(self) -> int:
        """Addresses the DNS is wrong for."""
        return sum(block.failing for block in self.built.blocks.values())

    @property
    def transient(self) -> int:
        return sum(block.counts[3] for block in self.built.blocks.values())

    @property
    def passing(self) -> int:
        return sum(block.counts[0] for block in self.built.blocks.values())

    def fixes(self) -> list[Fix]:
        """The changes that mend the most addresses first.

        A PTR name behind several addresses is one fix of its own; the names of one
        address each are counted together, per domain ("kind" domain).
        """
        found = self.built.fixes
        shared: Counter[str] = Counter()
        listed = []
        for (kind, subject), fix in found.items():
            if kind == "forward" and fix.addresses > 1:
                listed.append(fix)
                shared[subject.partition(".")[2] or subject] += fix.addresses
            elif kind == "reverse":
                listed.append(fix)
        for (kind, subject), fix in found.items():
            if kind == "domain" and fix.addresses > shared[subject]:
                listed.append(replace(fix, addresses=fix.addresses - shared[subject]))
        ranked = sorted(listed, key=lambda fix: (-fix.addresses, fix.kind, fix.subject))
        return ranked[:TOP]

    def nameserver_problems(self) -> list[tuple[str, Zone]]:
        """Zones whose servers' serials differ or that have lame servers (rows' ns_ columns)."""
        found = [
            (present(name), zone)
            for name, zone in self.built.zones.items()
            if zone.lame or len(set(_values(zone.serials))) > 1
        ]
        return sorted(found, key=lambda item: item[0])[:TOP]

    def worst_blocks(self) -> list[tuple[str, Block]]:
        ranked = sorted(
            ((_block_label(key), block) for key, block in self.built.blocks.items()),
            key=lambda item: (-item[1].failing, item[0]),
        )
        return [item for item in ranked if item[1].failing][:TOP]

    def generic_blocks(self) -> list[tuple[str, Block]]:
        ranked = sorted(
            ((_block_label(key), block) for key, block in self.built.blocks.items()),
            key=lambda item: (-item[1].generic, item[0]),
        )
        return [item for item in ranked if item[1].generic][:TOP]

    def mismatch_targets(self) -> list[tuple[str, int, str]]:
        built = self.built
        return [
            (target, count, built.target_names.get(target, ""))
            for target, count in built.targets.most_common(TOP)
        ]

    def zones(self) -> list[tuple[str, Zone]]:
        ranked = sorted(
            ((present(name), zone) for name, zone in self.built.zones.items()),
            key=lambda item: (-item[1].failing, item[0]),
        )
        return ranked[:TOP]


def _values(pairs: str) -> list[str]:
    return [pair.rpartition("=")[2] for pair in pairs.split(";") if pair]


def _block_label(key: tuple[int, int]) -> str:
    version, number = key
    if version == 4:
        return f"{ipaddress.IPv4Address(number << (32 - V4_BLOCK))}/{V4_BLOCK}"
    return f"{ipaddress.IPv6Address(number << (128 - V6_BLOCK))}/{V6_BLOCK}"


def _v4_panels(built: ReportBuilder) -> tuple[list[Panel], int]:
    """The IPv4 panels: a cell per /24 (per address when all lie in one /24)."""
    if built.addresses:
        blocks = {}
        for value, category in built.addresses.items():
            counts = [0, 0, 0, 0]
            counts[category] = 1
            blocks[value] = Block(counts)
        return v4_panels(blocks, 32), 32
    blocks = {number: block for (version, number), block in built.blocks.items() if version == 4}
    panels = v4_panels(blocks, V4_BLOCK) if blocks else []
    return panels, V4_BLOCK if len(panels) <= 256 else 16


@dataclass(slots=True)
class Changes:
    """What `--previous` shows: the status transitions and the blocks that got worse."""

    total: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    worse: Counter[str] = field(default_factory=Counter)  # block -> addresses that got worse
    better: Counter[str] = field(default_factory=Counter)
    new_failing: int = 0  # addresses failing now that passed or were not scanned
    fixed: int = 0  # addresses passing now that failed

    def add(self, ip: str, kinds: Iterable[str], old: str, new: str) -> None:
        """One changed address: `old` and `new` its statuses ('' when it was not scanned)."""
        self.total += 1
        self.kinds.update(kinds)
        was_failing = _CATEGORY_OF.get(old, 3) in (1, 2)
        now_failing = _CATEGORY_OF.get(new, 3) in (1, 2)
        self.new_failing += now_failing and (not old or old == Status.PASS.value)
        self.fixed += was_failing and new == Status.PASS.value
        if old and new and old != new:
            self.transitions[(old, new)] += 1
            was, now = _CATEGORY_OF.get(old, 3), _CATEGORY_OF.get(new, 3)
            if was != now and 0 in (was, now) and "/" not in ip:  # into or out of pass
                block = _block_label(_block_of(ipaddress.ip_address(ip)))
                (self.worse if was == 0 else self.better)[block] += 1

    def worst_blocks(self) -> list[tuple[str, int, int]]:
        return [(block, n, self.better[block]) for block, n in self.worse.most_common(TOP)]


def _block_of(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[int, int]:
    size = V4_BLOCK if ip.version == 4 else V6_BLOCK
    return ip.version, int(ip) >> (ip.max_prefixlen - size)
