"""`scan --history DB`: the finished night stored in the history database.

Run once the outputs are complete (a resumed scan stores its night once, when
its last run finishes): the rows are read back from the finished CSV or XLSX
output, so every row of the night is there, those of earlier runs included.
"""

from __future__ import annotations

import json

from scanner.core.exits import CouldNotComplete
from scanner.core.notices import Notice
from scanner.core.summary import Summary
from scanner.files.extsort import address_key
from scanner.files.history import StoredNight, store_night
from scanner.files.historydb import HistoryDB, HistoryError, shown
from scanner.files.results import ResultsError, read_results
from scanner.scan.planning import Plan


def store_in_history(plan: Plan, summary: Summary, notice: Notice) -> StoredNight | None:
    """Store the night; raises CouldNotComplete (the outputs stay complete) if it cannot."""
    if plan.history is None or plan.history_source is None:
        return None
    source = plan.history_source
    try:
        db = HistoryDB(plan.history, create=True)
        try:
            stored = store_night(
                db,
                read_results(source),
                source=source,
                summary=json.loads(summary.as_json()),
                scope=_walked_scope(plan, summary),
            )
        finally:
            db.close()
    except (HistoryError, ResultsError) as exc:
        raise CouldNotComplete(
            f"the outputs are complete, but storing the night in --history {shown(plan.history)} "
            f"failed: {exc}; nothing was stored (fcrdns history DB --add {source} stores it)"
        ) from None
    notice(f"stored the night in {shown(plan.history)} as night {stored.run_id}: "
           f"{stored.described()}")  # fmt: skip
    return stored


def _walked_scope(plan: Plan, summary: Summary) -> list[tuple[str, str]]:
    """The address ranges a walk saw whole: an address stored there and not found tonight
    is gone. None when part of the walk could not be seen (its addresses are unknown)."""
    if plan.walk is None or (summary.walk is not None and summary.walk.not_walked):
        return []
    return [
        (
            address_key(str(prefix.network_address)).hex(),
            address_key(str(prefix.broadcast_address)).hex() + "ff",
        )
        for prefix in plan.walk.prefixes
    ]
