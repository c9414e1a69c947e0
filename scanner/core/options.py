"""What one scan is asked to do: every `fcrdns scan` flag and config key, as one value.

The command line builds a `ScanOptions` from its flags and the `--config`
file; a program builds one directly. `scanner.api.plan_scan()` validates it
into a plan. Nothing here touches a file or the network.

>>> ScanOptions(targets=["198.18.0.0/24"], outputs=["out.csv"]).targets
('198.18.0.0/24',)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scanner.core.config import ScanConfig

# Fields that hold several values: a list (or one string) given for them is kept as a tuple.
_SEQUENCES = (
    "targets",
    "target_files",
    "exclude",
    "exclude_files",
    "rescan_failed",
    "outputs",
    "fail_on",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanOptions:
    """One scan's request. Each field is a flag of `fcrdns scan` (named in its comment).

    The settings a `--config` file can hold (resolvers, rates, timeouts, order...)
    are `settings`, a `ScanConfig`; the flags that set them override the file's.
    Every sequence given is kept as a tuple. Empty `outputs` writes no file:
    `run_plan()` then only counts, and `scan_results()` is the way to see rows.
    """

    targets: Sequence[str] = ()  # TARGET...: IPs, CIDRs, ranges A-B
    target_files: Sequence[str] = ()  # -f FILE ('-': stdin)
    exclude: Sequence[str] = ()  # --exclude (added to settings.exclude)
    exclude_files: Sequence[str] = ()  # --exclude-file
    rescan_failed: Sequence[str] = ()  # --rescan-failed RESULTS
    settings: ScanConfig = field(default_factory=ScanConfig)  # --config and its flags
    config_file: str | None = None  # --config: where settings came from, never written over
    outputs: Sequence[str] = ()  # -o FILE ('-': stdout)
    shard: str | None = None  # --shard K/N
    resume: bool = False  # --resume
    expect_file: str | None = None  # --expect FILE
    helo: str | None = None  # --helo NAME
    zone_owner: bool = False  # --zone-owner
    check_authoritative: bool = False  # --check-authoritative (implies --zone-owner)
    sort_outputs: bool = False  # --sorted
    progress: bool = True  # not --quiet: a progress display when stderr is a terminal
    fail_on: Sequence[str] = ()  # --fail-on NAME,...
    summary_file: str | None = None  # --summary FILE
    metrics_file: str | None = None  # --metrics FILE
    previous: str | None = None  # --previous FILE|DB: the last results, for new and fixed findings
    history: str | None = None  # --history DB: store the night's rows and counts
    dask: str | None = None  # --dask local[:N] | SCHEDULER
    dask_shards: int | None = None  # --dask-shards N
    walk: bool = False  # --walk: find the addresses by walking the reverse tree below the prefixes

    def __post_init__(self) -> None:
        for name in _SEQUENCES:
            value: Any = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
