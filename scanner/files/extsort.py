"""Sorting result rows by address in bounded memory: sorted runs on disk, merged.

A scan writes rows in completion order. `fcrdns diff`, `fcrdns sort`,
`fcrdns merge` and `scan --sorted` need them in address order, for files of
up to a /8 (16.7 million rows; held whole, 1.2 million rows took 800 MB). So
rows are sorted in runs of `RUN`, each spilled to a temporary file in
`scratch` (pickled in chunks), and the runs merged: memory holds one run
while reading and one chunk per run while merging.

The key of a row is its address family's tag and the address in network byte
order, so bytes order is address order (IPv4 first) and two spellings of one
IPv6 address are one address.
"""

from __future__ import annotations

import heapq
import operator
import pickle
import socket
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

RUN = 100_000  # rows sorted in memory at a time
PICKLED = 256  # rows pickled (and read back) together
_FAMILIES = ((b"4", socket.AF_INET), (b"6", socket.AF_INET6))

Keyed = tuple[bytes, Any]  # (address key, anything picklable)
_key = operator.itemgetter(0)


def address_key(ip: str) -> bytes:
    """The sort key of an `ip` column: an address, or a prefix (a walk's row for a subtree
    it could not see), just after its first address; ValueError if it is neither."""
    tag, family = _FAMILIES[":" in ip]
    address, slash, length = ip.partition("/")
    try:
        key = tag + socket.inet_pton(family, address)
    except (OSError, ValueError):  # ValueError: a NUL character
        raise ValueError(f"not an IP address: {ip!r}") from None
    if not slash:
        return key
    if not (length.isascii() and length.isdigit() and int(length) <= 8 * (len(key) - 1)):
        raise ValueError(f"not an IP address or prefix: {ip!r}")
    return key + bytes([int(length)])


def sorted_by_address(items: Iterable[Keyed], scratch: str, run: int = RUN) -> Iterator[Keyed]:
    """`items` in key order; stable (rows with one key keep their order)."""
    runs: list[str] = []
    rows: list[Keyed] = []
    for item in items:
        rows.append(item)
        if len(rows) == run:
            runs.append(_spill(rows, scratch))
            rows = []
    if not runs:
        yield from sorted(rows, key=_key)
        return
    runs.append(_spill(rows, scratch))
    # heapq.merge prefers the earlier run on equal keys: still stable.
    yield from heapq.merge(*map(_read_run, runs), key=_key)


def last_of_each(ordered: Iterable[Keyed]) -> Iterator[Keyed]:
    """Of sorted items, the last one of each key (an address listed twice counts once)."""
    previous: Keyed | None = None
    for item in ordered:
        if previous is not None and previous[0] != item[0]:
            yield previous
        previous = item
    if previous is not None:
        yield previous


def _spill(rows: list[Keyed], scratch: str) -> str:
    rows.sort(key=_key)
    handle = tempfile.NamedTemporaryFile(dir=scratch, suffix=".run", delete=False)  # noqa: SIM115
    with handle:
        for start in range(0, len(rows), PICKLED):
            pickle.dump(rows[start : start + PICKLED], handle, protocol=pickle.HIGHEST_PROTOCOL)
    return handle.name


def _read_run(path: str) -> Iterator[Keyed]:
    with open(path, "rb") as handle:
        while True:
            try:
                chunk = pickle.load(handle)
            except EOFError:
                return
            yield from chunk
