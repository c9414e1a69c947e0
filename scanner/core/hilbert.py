"""The Hilbert curve: address blocks in order to cells of a square, neighbours kept near.

Numerically close addresses land close together, and every aligned block of
4^k cells (a /16 of /24s) fills a square of its own, as in the IPv4 heat maps
of ipv4-heatmap and the xkcd "Map of the Internet".
"""

from __future__ import annotations


def point(order: int, index: int) -> tuple[int, int]:
    """The (x, y) cell of position `index` on the curve filling a 2^order square."""
    x = y = 0
    step = 1
    while step < 1 << order:
        rx = 1 & (index >> 1)
        ry = 1 & (index ^ rx)
        if ry == 0:  # rotate the quadrant
            if rx == 1:
                x, y = step - 1 - x, step - 1 - y
            x, y = y, x
        x += step * rx
        y += step * ry
        index >>= 2
        step <<= 1
    return x, y
