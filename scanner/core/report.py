"""What a scan's report shows, gathered from its rows as they stream past. Pure.

Memory grows with the blocks scanned (a counter per /24 or /64), the zones and
a bounded list of mismatch targets, never with the rows: a /8 is 65,536
blocks. `scanner/files/reportpage.py` renders the result as HTML.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from scanner.core.hilbert import point
from scanner.core.names import present
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
MAP_CELLS = 1 << 16  # at most 256 x 256 cells in the IPv4 map
V6_BARS = 256  # at most this many bars for IPv6
TOP = 50  # rows of each ranked table
TARGETS_KEPT = 10_000  # mismatch targets counted at once (the rarest are dropped)


class ReportError(ValueError):
    """A row the report cannot use."""


@dataclass(slots=True)
class Block:
    counts: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    generic: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def failing(self) -> int:
        return self.total - self.counts[0]

    def dominant(self) -> str:
        return CATEGORIES[max(range(4), key=lambda i: (self.counts[i], -i))]


@dataclass(slots=True)
class Zone:
    nameservers: str = ""
    rows: int = 0
    failing: int = 0
    ns_inconsistent: int = 0


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

    def add(self, row: Mapping[str, object], number: int = 0) -> None:
        try:
            ip = ipaddress.ip_address(str(row["ip"]))
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
        if zone_name:
            zone = self.zones.get(zone_name)
            if zone is None:
                zone = self.zones[zone_name] = Zone(_names(row.get("ptr_zone_ns")))
            zone.rows += 1
            zone.failing += category != 0
            zone.ns_inconsistent += consistent == "no"

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


@dataclass(frozen=True, slots=True)
class Cell:
    x: int
    y: int
    label: str  # the block, as CIDR
    category: str
    counts: tuple[int, ...]
    generic: int


@dataclass(frozen=True, slots=True)
class Square:
    """An outlined part of the map (a /16 of /24 cells)."""

    x: int
    y: int
    side: int
    label: str


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    counts: tuple[int, ...]


class Report:
    """The numbers and tables of the report."""

    def __init__(self, built: ReportBuilder) -> None:
        self.built = built
        self.rows = built.rows
        self.cells, self.width, self.height, self.cell_prefix, self.squares = _v4_map(built)
        self.bars, self.bar_prefix = _v6_bars(built)

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


def _block_label(key: tuple[int, int]) -> str:
    version, number = key
    if version == 4:
        return f"{ipaddress.IPv4Address(number << (32 - V4_BLOCK))}/{V4_BLOCK}"
    return f"{ipaddress.IPv6Address(number << (128 - V6_BLOCK))}/{V6_BLOCK}"


def _v4_map(built: ReportBuilder) -> tuple[list[Cell], int, int, int, list[Square]]:
    """The IPv4 cells on a Hilbert curve: one per /24 (per address within a single /24).

    The curve covers the smallest aligned block holding every cell: a square,
    or two squares side by side when that block is an odd number of bits (a
    /15 of /24s is two /16s). Returns the cells, the width and height in
    cells, the cells' prefix length and the /16 outlines.
    """
    if built.addresses:  # everything in one /24: a cell per address
        counts = {}
        for value, category in built.addresses.items():
            cell = [0, 0, 0, 0]
            cell[category] = 1
            counts[value] = Block(cell)
        cell_prefix = 32
    else:
        counts = {
            number: block for (version, number), block in built.blocks.items() if version == 4
        }
        cell_prefix = V4_BLOCK
    if not counts:
        return [], 0, 0, cell_prefix, []
    low, high = min(counts), max(counts)
    bits = (low ^ high).bit_length()  # the cells' common prefix leaves this many bits
    bits = max(bits, 2 if cell_prefix == 32 else 1)
    if bits > 16:  # too many cells to draw: bigger ones, summed
        shift = bits - 16
        merged: dict[int, Block] = {}
        for number, block in counts.items():
            into = merged.setdefault(number >> shift, Block())
            into.counts = [a + b for a, b in zip(into.counts, block.counts, strict=True)]
            into.generic += block.generic
        counts, cell_prefix, bits = merged, cell_prefix - shift, 16
        low = min(counts)
    base = low >> bits << bits
    order = bits // 2  # each square is 2^order cells a side
    side = 1 << order

    def place(index: int) -> tuple[int, int]:
        x, y = point(order, index & ((1 << 2 * order) - 1))
        return x + side * (index >> (2 * order)), y

    cells = []
    for number in sorted(counts):
        block = counts[number]
        x, y = place(number - base)
        address = ipaddress.IPv4Address(number << (32 - cell_prefix))
        cells.append(
            Cell(
                x,
                y,
                f"{address}/{cell_prefix}",
                block.dominant(),
                tuple(block.counts),
                block.generic,
            )
        )
    squares = []
    group_bits = cell_prefix - 16  # cells per /16, as bits
    if 0 < group_bits < bits and group_bits % 2 == 0:
        group_side = 1 << (group_bits // 2)
        for group in sorted({number >> group_bits for number in counts}):
            x, y = place((group << group_bits) - base)
            address = ipaddress.IPv4Address(group << (32 - cell_prefix + group_bits))
            squares.append(Square(x, y, group_side, f"{address}/16"))
    return cells, side << (bits % 2), side, cell_prefix, squares


def _v6_bars(built: ReportBuilder) -> tuple[list[Bar], int]:
    """One bar per /64, or per bigger block when there are more than fit."""
    blocks = {number: block for (version, number), block in built.blocks.items() if version == 6}
    prefix = V6_BLOCK
    while len({number >> (V6_BLOCK - prefix) for number in blocks}) > V6_BARS:
        prefix -= 8
    merged: dict[int, list[int]] = {}
    for number, block in blocks.items():
        into = merged.setdefault(number >> (V6_BLOCK - prefix), [0, 0, 0, 0])
        for index, count in enumerate(block.counts):
            into[index] += count
    bars = [
        Bar(f"{ipaddress.IPv6Address(number << (128 - prefix))}/{prefix}", tuple(counts))
        for number, counts in sorted(merged.items())
    ]
    return bars, prefix


@dataclass(slots=True)
class Changes:
    """What `--previous` shows: the status transitions and the blocks that got worse."""

    total: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    worse: Counter[str] = field(default_factory=Counter)  # block -> addresses that got worse
    better: Counter[str] = field(default_factory=Counter)

    def add(self, ip: str, kinds: Iterable[str], old: str, new: str) -> None:
        """One changed address: `old` and `new` its statuses ('' when it was not scanned)."""
        self.total += 1
        self.kinds.update(kinds)
        if old and new and old != new:
            self.transitions[(old, new)] += 1
            was, now = _CATEGORY_OF.get(old, 3), _CATEGORY_OF.get(new, 3)
            if was != now and 0 in (was, now):  # into or out of pass
                block = _block_label(_block_of(ipaddress.ip_address(ip)))
                (self.worse if was == 0 else self.better)[block] += 1

    def worst_blocks(self) -> list[tuple[str, int, int]]:
        return [(block, n, self.better[block]) for block, n in self.worse.most_common(TOP)]


def _block_of(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[int, int]:
    size = V4_BLOCK if ip.version == 4 else V6_BLOCK
    return ip.version, int(ip) >> (ip.max_prefixlen - size)
