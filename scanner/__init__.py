"""fcrdns-scanner: audit forward-confirmed reverse DNS over large IP ranges.

The library API is `scanner.api`; its names can be imported from here too.
"""

from typing import Any

__version__ = "0.1.0"

API_NAMES = frozenset(
    {
        "CouldNotComplete",
        "NothingToDo",
        "Plan",
        "ScanConfig",
        "ScanIncomplete",
        "ScanOptions",
        "ScanResult",
        "Summary",
        "UserError",
        "check_address",
        "plan_scan",
        "run_plan",
        "scan_results",
    }
)


def __getattr__(name: str) -> Any:
    # The API is loaded on first use, so that `import scanner.core.config` (the
    # pure core) loads no DNS library. Any other name falls through to the
    # import system (`from scanner import core` imports the sub-package).
    if name not in API_NAMES:
        raise AttributeError(f"module 'scanner' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module("scanner.api"), name)
