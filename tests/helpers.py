"""Test helpers: run the command line, scan through the API, describe a lab."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from scanner.api import ScanConfig, ScanOptions, Summary, plan_scan, run_plan

ALL_CASES_MIX = {
    "confirm": 40,
    "generic": 10,
    "cname": 6,
    "multi": 5,
    "mismatch": 10,
    "multi_mismatch": 3,
    "no_ptr": 12,
    "ptr_nodata": 3,
    "dangling": 5,
    "wrong_family": 3,
    "generic_noforward": 2,
    "servfail": 1,
}


def fcrdns(
    *args: str, stdin: str | None = None, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scanner", *args],
        input=stdin,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def api_scan(
    out: Path, targets: list[str], resolver: str, also: Sequence[Path] = (), **options: Any
) -> tuple[list[dict[str, str]], Summary]:
    """A scan through the library API, in this process: its CSV rows and its summary.

    `also`: more outputs (JSONL, XLSX) written by the same scan.
    """
    settings = ScanConfig(resolvers=(resolver,), rate=0.0, workers=1)
    outputs = [str(out), *map(str, also)]
    request = ScanOptions(
        targets=targets, settings=settings, outputs=outputs, progress=False, **options
    )
    summary = run_plan(plan_scan(request))
    with out.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle)), summary


def write_lab_config(path: Path, networks: list[str], mix: dict[str, int] | None = None) -> Path:
    config = {
        "seed": 7,
        "ttl": 300,
        "domain": "hosting.example",
        "generic_domain": "pool.example",
        "networks": [{"cidr": cidr, "mix": mix or ALL_CASES_MIX} for cidr in networks],
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path
