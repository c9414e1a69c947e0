"""Scan order: a seeded pseudo-random permutation of the target indices, made lazily.

Scanning addresses in order sends a burst of queries to one reverse zone (one
provider's name servers) after another; a random order spreads them over every
zone in the target set. The permutation is a Feistel network over the smallest
power of two that holds the targets, with cycle walking (indices outside the
set are skipped): a bijection computed per index, so a /8 costs no memory.
Shards take every N-th position of the ordered sequence, so they partition the
set and each shard is itself spread out.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

ROUNDS = 4


class ShardError(ValueError):
    """A --shard value that is not K/N with 1 <= K <= N."""


@dataclass(frozen=True, slots=True)
class Shard:
    index: int  # 1-based, as users write it
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        head, sep, tail = text.partition("/")
        if not sep or not head.strip().isdigit() or not tail.strip().isdigit():
            raise ShardError(f"bad shard {text!r}: expected K/N, e.g. 1/4")
        index, count = int(head), int(tail)
        if not 1 <= index <= count:
            raise ShardError(f"bad shard {text!r}: K must be between 1 and N")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


class Permutation:
    """A bijection of range(size), keyed by `seed`; iterate it for the order."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        # The domain is the smallest power of two that holds the targets, so
        # cycle walking visits at most twice as many values as there are
        # targets. An odd number of bits splits into halves of different
        # widths, which swap at every round (an unbalanced Feistel network is
        # still a bijection, and after an even number of rounds the widths are
        # back where they started).
        bits = max(2, (size - 1).bit_length())
        high, low = bits // 2, bits - bits // 2
        self._low = low
        self._low_mask = (1 << low) - 1
        self._domain = 1 << bits
        keys = [
            int.from_bytes(hashlib.blake2b(b"%d/%d" % (seed, r), digest_size=8).digest(), "big")
            for r in range(ROUNDS)
        ]
        # Each round replaces the left half, whose width alternates.
        widths = [(1 << (high if r % 2 == 0 else low)) - 1 for r in range(ROUNDS)]
        self._rounds = list(zip(keys, widths, strict=True))

    def _encrypt(self, value: int) -> int:
        left, right = value >> self._low, value & self._low_mask
        for key, mask in self._rounds:
            mixed = (right * 0x9E3779B97F4A7C15 + key) & 0xFFFFFFFFFFFFFFFF
            mixed ^= mixed >> 29
            left, right = right, left ^ (mixed & mask)
        return (left << self._low) | right

    def __iter__(self) -> Iterator[int]:
        size, encrypt = self.size, self._encrypt
        for value in range(self._domain):
            index = encrypt(value)
            if index < size:
                yield index


def part_of(items: Iterable[T], parts: int, part: int) -> Iterator[T]:
    """The items at the positions p with p % parts == part: `part` (0-based) of `parts`.

    The one rule that splits a scan: shards (--shard, --dask) and worker
    processes each take every parts-th position of the scan order, starting
    at their own. `share()` counts what it yields.
    """
    return itertools.islice(items, part, None, parts)


def share(total: int, parts: int, part: int) -> int:
    """How many of the positions 0..total-1 `part_of()` gives to `part` of `parts`."""
    return total // parts + (1 if part < total % parts else 0)


def positions(size: int, *, order: str, seed: int, shard: Shard | None = None) -> Iterator[int]:
    """The target indices to scan, in order, for one shard (or all)."""
    sequence = iter(Permutation(size, seed)) if order == "random" else iter(range(size))
    if shard is None:
        return sequence
    return part_of(sequence, shard.count, shard.index - 1)
