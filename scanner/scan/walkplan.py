"""What `--walk` plans: the prefixes to walk, and, once walked, the rows the scan makes.

A walk has two parts. First the reverse tree below the prefixes is walked
(scanner/scan/walking.py); its answers go to `<output>.walk`. Then the rows
are made exactly as a scan makes them, from a target set the walk decided:

- every IPv6 address whose reverse name exists (the walk's leaves), checked
  by the normal checker (its PTR asked again, its names forward-confirmed);
- every IPv4 address of the prefixes: an IPv4 walk stops at the /24s, and
  each address of a /24 that exists, or that the walk could not judge, is
  checked; an address below a name that does not exist (NXDOMAIN: a /24, a
  /16) gets its `no_ptr` row without being asked;
- one row per IPv6 subtree the walk could not see (timeout, SERVFAIL, a
  referral it cannot follow), its `ip` the prefix, its status transient.

The rows come in the walk's target set's order, then the prefixes' rows; the
journal resumes them like any scan's (the walk file being complete, the
target set is the same one).
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from scanner.core.status import FAILURE_STATUS, Outcome, Stage
from scanner.core.targets import Span, TargetSet, merge
from scanner.core.verdict import IPAddress, Lookup, ScanResult
from scanner.core.walk import IPV4_LEAF, Network, reverse_name_of
from scanner.files.journal import fingerprint
from scanner.files.walkfile import Unseen, WalkFile, WalkRecords


@dataclass(frozen=True, slots=True)
class WalkJob:
    """--walk: the prefixes (label-aligned or not) and where the walk's answers are kept."""

    prefixes: tuple[Network, ...]  # IPv6 prefixes, and IPv4 prefixes larger than a /24
    file: WalkFile
    fingerprint: str
    resume: bool  # --resume: continue the walk file left by an interrupted run
    dask: tuple[str, int | None] | None  # --dask and --dask-shards: where the rows are made
    records: WalkRecords | None = None  # what that file says (a walk to continue)


@dataclass(frozen=True, slots=True)
class Known:
    """An address whose PTR the walk has already answered: a name above it is NXDOMAIN."""

    ip: IPAddress
    ptr: Lookup


class EmptyNames:
    """IPv4 names the walk found not to exist, to tell an address below one of them."""

    __slots__ = ("_firsts", "_names")

    def __init__(self, names: Iterable[Network]) -> None:
        ordered = sorted(names, key=lambda node: int(node.network_address))
        self._firsts = [int(node.network_address) for node in ordered]
        self._names = ordered

    def __len__(self) -> int:
        return len(self._names)

    def addresses(self) -> int:
        return sum(node.num_addresses for node in self._names)

    def above(self, ip: IPAddress) -> Network | None:
        """The name not existing that `ip` lies below, if any."""
        if ip.version != 4 or not self._firsts:
            return None
        at = bisect.bisect_right(self._firsts, int(ip)) - 1
        return self._names[at] if at >= 0 and ip in self._names[at] else None


def known_absent(ip: IPAddress, above: Network) -> Known:
    name = reverse_name_of(above)
    return Known(
        ip,
        Lookup(
            Outcome.NXDOMAIN,
            detail=f"not asked: the walk found that {name} does not exist, nor any name below it",
        ),
    )


@dataclass(frozen=True, slots=True)
class Walked:
    """The walk's outcome, as the scan of its rows needs it."""

    prefix_rows: tuple[ScanResult, ...]
    empty: EmptyNames
    fingerprint: str  # the walk file's: what the journal of the rows is tied to
    names: int = 0  # names of the reverse tree answered, by this run and the interrupted ones
    leaves: int = 0  # names of IPv6 addresses and IPv4 /24s found to exist
    notes: tuple[str, ...] = field(default=())


def prefix_row(unseen: Unseen, timestamp: float = 0.0) -> ScanResult:
    """The row of a subtree not walked: its prefix, the failure's transient status."""
    status = FAILURE_STATUS.get(unseen.outcome)
    if status is None:  # an answer cannot leave a subtree unseen; kept transient anyway
        status = FAILURE_STATUS[Outcome.OTHER_ERROR]
    name = reverse_name_of(unseen.prefix)
    detail = f"PTR {name}: {unseen.outcome.value}"
    if unseen.detail:
        detail += f" ({unseen.detail})"
    return ScanResult(
        unseen.prefix.network_address,
        status,
        Stage.REVERSE,
        error=detail,
        timestamp=timestamp,
        prefixlen=unseen.prefix.prefixlen,
    )


def walked_targets(
    target_set: TargetSet, records: WalkRecords, prefixes: Sequence[Network]
) -> TargetSet:
    """The addresses whose rows the scan makes: IPv4 ones as given, the IPv6 ones found.

    `prefixes`: the walk's (IPv6 ones, and IPv4 ones larger than a /24);
    IPv6 targets never walked (none: every IPv6 target is) would be kept too.
    """
    walked_v6 = [prefix for prefix in prefixes if prefix.version == 6]
    spans = [span for span in target_set.iter_spans() if span.version == 4]
    spans += [
        span
        for span in target_set.iter_spans()
        if span.version == 6 and not any(_inside(span, prefix) for prefix in walked_v6)
    ]
    for leaf in records.found:
        if leaf.version == 6:
            spans.append(Span(6, int(leaf.network_address), int(leaf.broadcast_address)))
    return TargetSet(merge(spans))


def _inside(span: Span, prefix: Network) -> bool:
    return int(prefix.network_address) <= span.first and span.last <= int(prefix.broadcast_address)


def walk_prefixes(target_set: TargetSet) -> tuple[Network, ...]:
    """The prefixes a walk asks below: the targets as CIDR blocks (a range, what the
    exclusions leave, cut into blocks), the IPv4 ones larger than a /24 only."""
    prefixes: list[Network] = []
    for span in target_set.iter_spans():
        make = ipaddress.IPv4Address if span.version == 4 else ipaddress.IPv6Address
        for block in ipaddress.summarize_address_range(make(span.first), make(span.last)):
            if block.version == 4 and block.prefixlen >= IPV4_LEAF:
                continue  # asked address by address, as in a scan
            prefixes.append(block)
    return tuple(prefixes)


def walked_of(
    records: WalkRecords, fingerprint: str, notes: Sequence[str] = (), timestamp: float = 0.0
) -> Walked:
    """The walk's outcome from its records; `timestamp`: the prefixes' rows' time."""
    rows = tuple(
        prefix_row(unseen, timestamp) for unseen in records.unseen if unseen.prefix.version == 6
    )
    return Walked(
        rows,
        EmptyNames(records.empty),
        fingerprint,
        names=records.names,
        leaves=len(records.found),
        notes=tuple(notes),
    )


def walk_job(
    target_set: TargetSet, path: str | None, resume: bool, dask: tuple[str, int | None] | None
) -> WalkJob:
    """The walk of `target_set`'s prefixes, its answers kept at `path` (None: in memory)."""
    identity = fingerprint({"walk": target_set.digest()})
    return WalkJob(walk_prefixes(target_set), WalkFile(path), identity, resume, dask)
