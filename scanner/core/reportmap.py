"""The report's maps: IPv4 as labelled panels of Hilbert-curve cells, IPv6 as tiles. Pure.

A cell is coloured by the share of its addresses that fail (of those the scan
could see: transient rows are set apart), on a classed sequential scale: a
/24 with 126 of 256 addresses failing is never the colour of a healthy one.
Each panel is one /16 (of /24 cells), framed to the part of it that was
scanned, so 17 scanned /24s are not lost in a /15 of empty grey.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from scanner.core.hilbert import point

# (share failing below which a cell takes this shade, its CSS class, the legend)
SHADES = (
    (0.05, "f1", "under 5%"),
    (0.10, "f2", "5 to 10%"),
    (0.25, "f3", "10 to 25%"),
    (0.50, "f4", "25 to 50%"),
    (2.00, "f5", "50% or more"),
)
NONE_FAILING = ("f0", "none")
ALL_TRANSIENT = ("ft", "not seen (every address transient)")
LEGEND = (NONE_FAILING, *((css, label) for _, css, label in SHADES), ALL_TRANSIENT)
MAX_PANELS = 256  # /16s drawn one by one; more, and a panel is a /8 of /16 cells
V6_TILES = 256  # at most this many IPv6 tiles (/64s, else /56s, /48s...)
# A panel's longer side in pixels, by how many panels there are: a few big, many small.
PANEL_PIXELS = ((2, 448), (4, 320), (16, 192), (MAX_PANELS, 96))


@dataclass(slots=True)
class Block:
    """The addresses of one block by category (pass, mismatch, no PTR, transient)."""

    counts: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    generic: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def failing(self) -> int:
        """Addresses the DNS is wrong for (transient ones are not known to be)."""
        return self.counts[1] + self.counts[2]

    @property
    def share_failing(self) -> float | None:
        """Of the addresses the scan could see; None when it saw none."""
        seen = self.total - self.counts[3]
        return self.failing / seen if seen else None

    def shade(self) -> str:
        share = self.share_failing
        if share is None:
            return ALL_TRANSIENT[0]
        if share == 0:
            return NONE_FAILING[0]
        return next(css for bound, css, _ in SHADES if share < bound)

    def add(self, other: Block) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.generic += other.generic


@dataclass(frozen=True, slots=True)
class Cell:
    x: int
    y: int
    label: str  # the block, as CIDR
    short: str  # what is written in the cell: its last varying octet
    shade: str
    counts: tuple[int, ...]
    generic: int
    share: str  # share failing, as text ('-' when none was seen)


@dataclass(frozen=True, slots=True)
class Panel:
    """One /16 (or /8) of cells, framed to the aligned block holding its scanned cells."""

    label: str  # the /16
    frame: str  # the block drawn
    width: int  # in cells
    height: int
    cell_px: int
    cells: tuple[Cell, ...]


def share_text(block: Block) -> str:
    share = block.share_failing
    return "-" if share is None else f"{100 * share:.0f}%"


def v4_panels(blocks: Mapping[int, Block], cell_prefix: int) -> list[Panel]:
    """The panels of IPv4 `blocks` (numbered at `cell_prefix`: 24 for /24s, 32 for addresses)."""
    cells = dict(blocks)
    while True:
        panel_prefix = max(0, cell_prefix - 8)
        bits = cell_prefix - panel_prefix
        groups: dict[int, list[int]] = {}
        for number in sorted(cells):
            groups.setdefault(number >> bits, []).append(number)
        if len(groups) <= MAX_PANELS or panel_prefix == 0:
            break
        merged: dict[int, Block] = {}
        for number, block in cells.items():
            merged.setdefault(number >> 8, Block()).add(block)
        cells, cell_prefix = merged, cell_prefix - 8
    budget = next(pixels for most, pixels in PANEL_PIXELS if len(groups) <= most)
    return [
        _panel(group, members, cells, cell_prefix, panel_prefix, budget)
        for group, members in groups.items()
    ]


def _panel(
    group: int,
    members: list[int],
    cells: Mapping[int, Block],
    cell_prefix: int,
    panel_prefix: int,
    budget: int,
) -> Panel:
    bits = cell_prefix - panel_prefix
    mask = (1 << bits) - 1
    low, high = members[0] & mask, members[-1] & mask
    span = (low ^ high).bit_length()  # the framed block: 2^span cells
    base = low >> span << span
    order = span // 2
    side = 1 << order
    width, height = side << (span % 2), side
    cell_px = max(3, min(48, budget // max(width, height)))

    def place(index: int) -> tuple[int, int]:
        x, y = point(order, index & ((1 << 2 * order) - 1))
        return x + side * (index >> (2 * order)), y

    drawn = []
    for number in members:
        block = cells[number]
        x, y = place((number & mask) - base)
        address = ipaddress.IPv4Address(number << (32 - cell_prefix))
        label = f"{address}/{cell_prefix}"
        short = str(number & 0xFF)
        counts = tuple(block.counts)
        drawn.append(
            Cell(x, y, label, short, block.shade(), counts, block.generic, share_text(block))
        )
    first = ipaddress.IPv4Address(group << (32 - panel_prefix))
    framed = ipaddress.IPv4Address(((group << bits) | base) << (32 - cell_prefix))
    return Panel(
        f"{first}/{panel_prefix}",
        f"{framed}/{cell_prefix - span}",
        width,
        height,
        cell_px,
        tuple(drawn),
    )


@dataclass(frozen=True, slots=True)
class Tile:
    label: str
    shade: str
    counts: tuple[int, ...]
    share: str


def v6_tiles(blocks: Mapping[int, Block], block_prefix: int) -> tuple[list[Tile], int]:
    """One tile per IPv6 block (numbered at `block_prefix`), bigger blocks when too many."""
    prefix = block_prefix
    while len({number >> (block_prefix - prefix) for number in blocks}) > V6_TILES:
        prefix -= 8
    merged: dict[int, Block] = {}
    for number, block in blocks.items():
        merged.setdefault(number >> (block_prefix - prefix), Block()).add(block)
    tiles = [
        Tile(
            f"{ipaddress.IPv6Address(number << (128 - prefix))}/{prefix}",
            block.shade(),
            tuple(block.counts),
            share_text(block),
        )
        for number, block in sorted(merged.items())
    ]
    return tiles, prefix
