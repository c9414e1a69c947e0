"""Nights into the history database, and the questions people ask of it.

`store_night()` keeps a night whole or not at all: its rows are staged in a
temporary table (COPY on PostgreSQL), then, in one transaction, the current
rows of addresses whose result changed are closed, the changed and new rows
inserted, and the run's counts written. A crash before the commit leaves the
database as it was; the database grows by the changed rows and one run row.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from scanner.core.history import (
    STATUSES,
    HistoryRowError,
    NightCounts,
    fingerprint,
    kept_row,
    stamp_time,
    verdict_of,
)
from scanner.core.rows import CSV_COLUMNS
from scanner.files.extsort import address_key
from scanner.files.historydb import HistoryDB, HistoryError, read_time

BATCH = 10_000  # rows staged at once


def packed(row: dict[str, str]) -> str:
    """A kept row as stored: its values as a JSON array, in CSV_COLUMNS order."""
    return json.dumps([row[column] for column in CSV_COLUMNS], ensure_ascii=False)


def unpacked(data: str) -> dict[str, str]:
    return dict(zip(CSV_COLUMNS, json.loads(data), strict=True))


@dataclass(frozen=True, slots=True)
class StoredNight:
    run_id: int
    addresses: int
    changed: int  # rows stored: addresses whose result is new or changed
    gone: int  # addresses of the walked space no longer found
    new_failing: int | None  # None: the first night, nothing to compare with
    fixed: int | None

    def described(self) -> str:
        said = f"{self.addresses:,} addresses, {self.changed:,} rows new or changed"
        if self.gone:
            said += f", {self.gone:,} no longer found"
        if self.new_failing is not None:
            said += f"; {self.new_failing:,} newly failing, {self.fixed:,} fixed"
        return said


def store_night(
    db: HistoryDB,
    rows: Iterable[dict[str, str]],
    *,
    source: str,
    summary: dict[str, Any] | None = None,
    scope: Sequence[tuple[str, str]] = (),
    staged: Callable[[int], None] | None = None,
) -> StoredNight:
    """Store a night's rows (a finished result file, read row by row).

    `scope`: ranges of address keys (hex) the night covered completely (a
    walk's prefixes): a current row there with no row tonight is closed, as
    gone. Raises HistoryError (nothing stored) for a row that is not a result
    row, an address twice, or a database error.
    """
    counts = NightCounts()
    now = datetime.datetime.now(datetime.UTC)
    with db.transaction():
        db.make_stage()
        number = 0
        batch: list[tuple[str, ...]] = []
        for number, row in enumerate(rows, start=1):
            try:
                kept = kept_row(row)
                key = address_key(kept["ip"]).hex()
                counts.add(kept)
            except (HistoryRowError, ValueError) as exc:
                raise HistoryError(f"{source}: row {number}: {exc}") from None
            batch.append((key, kept["ip"], kept["status"], verdict_of(kept["status"]),
                          fingerprint(kept), packed(kept)))  # fmt: skip
            if len(batch) == BATCH:
                db.stage(batch)
                batch = []
                if staged:
                    staged(number)
        if batch:
            db.stage(batch)
        if staged:
            staged(number)
        if scope:
            for lo, hi in scope:
                db.execute("INSERT INTO fcrdns_scope (lo, hi) VALUES (?, ?)", (lo, hi))
        first = stamp_time(counts.first) or now
        last = stamp_time(counts.last) or now
        authority = (summary or {}).get("authoritative") or {}
        run_id = _insert_run(db, source, first, last, now, summary, authority)
        earlier = db.execute("SELECT count(*) FROM fcrdns_runs WHERE run_id < ?", (run_id,))
        first_night = earlier.fetchone()[0] == 0
        # The current rows that tonight's differ from, and (in a walked scope) the gone ones.
        db.execute(
            # From the stage: each of tonight's rows looks up its address's current row
            # in the covering index (ip_key, fingerprint); only the changed are touched.
            "UPDATE fcrdns_results SET to_run = ? WHERE to_run IS NULL AND ip_key IN (SELECT "
            "s.ip_key FROM fcrdns_stage s JOIN fcrdns_results r ON r.ip_key = s.ip_key AND "
            "r.to_run IS NULL WHERE s.fingerprint <> r.fingerprint)",
            (run_id,),
        )
        gone = 0
        if scope:
            gone = db.execute(
                "UPDATE fcrdns_results SET to_run = ? WHERE to_run IS NULL AND NOT EXISTS "
                "(SELECT 1 FROM fcrdns_stage s WHERE s.ip_key = fcrdns_results.ip_key) AND "
                "EXISTS (SELECT 1 FROM fcrdns_scope c WHERE fcrdns_results.ip_key BETWEEN c.lo "
                "AND c.hi)",
                (run_id,),
            ).rowcount
        changed = db.execute(
            "INSERT INTO fcrdns_results (ip_key, ip, from_run, to_run, status, verdict, "
            "fingerprint, row_data) SELECT s.ip_key, s.ip, ?, NULL, s.status, s.verdict, "
            "s.fingerprint, s.row_data FROM fcrdns_stage s WHERE NOT EXISTS (SELECT 1 FROM "
            "fcrdns_results r WHERE r.ip_key = s.ip_key AND r.to_run IS NULL)",
            (run_id,),
        ).rowcount
        new_failing = fixed = None
        if not first_night:
            new_failing, fixed = _new_and_fixed(db, run_id)
        _set_counts(db, run_id, counts, changed, gone, new_failing, fixed)
        db.drop_stage()
    return StoredNight(run_id, counts.addresses, changed, gone, new_failing, fixed)


def _insert_run(
    db: HistoryDB,
    source: str,
    first: datetime.datetime,
    last: datetime.datetime,
    now: datetime.datetime,
    summary: dict[str, Any] | None,
    authority: dict[str, Any],
) -> int:
    zeros = ", ".join(["0"] * 18)
    cursor = db.execute(
        "INSERT INTO fcrdns_runs (started_at, finished_at, stored_at, source, addresses, passing, "
        "failing, transient, pass, mismatch, no_forward, no_ptr, ptr_nodata, timeout, servfail, "
        "refused, error, generic_ptr, expected_mismatch, ns_inconsistent, changed, gone, "
        f"zones_out_of_sync, zones_with_lame_servers, summary) VALUES (?, ?, ?, ?, {zeros}, ?, ?, "
        "?) RETURNING run_id",
        (
            db.time_value(first),
            db.time_value(last),
            db.time_value(now),
            source,
            authority.get("zones_out_of_sync"),
            authority.get("zones_with_lame_servers"),
            json.dumps(summary) if summary is not None else None,
        ),
    )
    return int(cursor.fetchone()[0])


def _new_and_fixed(db: HistoryDB, run_id: int) -> tuple[int, int]:
    """Addresses failing tonight that passed or were not there; passing that failed.

    A transient row on either side says nothing about the DNS: not counted.
    """
    row = db.execute(
        "SELECT sum(CASE WHEN n.verdict = 'failing' AND (o.verdict IS NULL OR o.verdict = "
        "'pass') THEN 1 ELSE 0 END), sum(CASE WHEN n.verdict = 'pass' AND o.verdict = 'failing' "
        "THEN 1 ELSE 0 END) FROM fcrdns_results n LEFT JOIN fcrdns_results o ON o.ip_key = "
        "n.ip_key AND +o.to_run = n.from_run WHERE n.from_run = ?",
        (run_id,),
    ).fetchone()
    return int(row[0] or 0), int(row[1] or 0)


def _set_counts(
    db: HistoryDB,
    run_id: int,
    counts: NightCounts,
    changed: int,
    gone: int,
    new_failing: int | None,
    fixed: int | None,
) -> None:
    statuses = [counts.statuses[status] for status in STATUSES]
    db.execute(
        "UPDATE fcrdns_runs SET addresses = ?, passing = ?, failing = ?, transient = ?, "
        + "".join(f"{status} = ?, " for status in STATUSES)
        + "generic_ptr = ?, expected_mismatch = ?, ns_inconsistent = ?, changed = ?, gone = ?, "
        "new_failing = ?, fixed = ? WHERE run_id = ?",
        (
            counts.addresses,
            counts.statuses["pass"],
            counts.failing,
            counts.transient,
            *statuses,
            counts.flags["generic_ptr"],
            counts.flags["expected_mismatch"],
            counts.flags["ns_inconsistent"],
            changed,
            gone,
            new_failing,
            fixed,
            run_id,
        ),
    )


# The questions.


@dataclass(frozen=True, slots=True)
class Night:
    run_id: int
    started_at: datetime.datetime
    counts: dict[str, int | None]  # the run's count columns


NIGHT_COLUMNS = ("addresses", "passing", "failing", "transient", *STATUSES, "generic_ptr",
                 "expected_mismatch", "ns_inconsistent", "changed", "gone", "new_failing",
                 "fixed", "zones_out_of_sync", "zones_with_lame_servers")  # fmt: skip


def nights(db: HistoryDB, since: datetime.datetime | None = None, last: int = 0) -> list[Night]:
    """The stored runs in time order (since a time, or the `last` N)."""
    columns = ", ".join(NIGHT_COLUMNS)
    query = f"SELECT run_id, started_at, {columns} FROM fcrdns_runs"
    parameters: tuple[object, ...] = ()
    if since is not None:
        query += " WHERE started_at >= ?"
        parameters = (db.time_value(since),)
    query += " ORDER BY run_id DESC"
    if last:
        query += f" LIMIT {int(last)}"
    found = [
        Night(row[0], read_time(row[1]), dict(zip(NIGHT_COLUMNS, row[2:], strict=True)))
        for row in db.execute(query, parameters).fetchall()
    ]
    return found[::-1]


@dataclass(frozen=True, slots=True)
class Version:
    """One stored row of an address: what it was from one run until another."""

    ip: str
    from_run: int
    to_run: int | None  # None: still its current row
    row: dict[str, str]


def versions(db: HistoryDB, lo: str, hi: str) -> Iterator[Version]:
    """Every stored row of the addresses whose key lies in [lo, hi], by address, then time."""
    cursor = db.execute(
        "SELECT ip, from_run, to_run, row_data FROM fcrdns_results WHERE ip_key BETWEEN ? AND ? "
        "ORDER BY ip_key, from_run",
        (lo, hi),
    )
    for ip, from_run, to_run, data in cursor:
        yield Version(ip, int(from_run), None if to_run is None else int(to_run), unpacked(data))


@dataclass(frozen=True, slots=True)
class Change:
    """An address whose result one night changed: `before` None when it is new, `now`
    None when a walk no longer found it."""

    run_id: int
    ip: str
    before: dict[str, str] | None
    now: dict[str, str] | None


def changes(db: HistoryDB, since: datetime.datetime) -> Iterator[Change]:
    """What the runs since `since` changed, night by night, in address order."""
    cursor = db.execute(
        "SELECT r.run_id, n.ip, n.ip_key, o.row_data, n.row_data FROM fcrdns_results n JOIN "
        "fcrdns_runs r ON r.run_id = n.from_run LEFT JOIN fcrdns_results o ON o.ip_key = "
        "n.ip_key AND +o.to_run = n.from_run WHERE r.started_at >= ? UNION ALL SELECT r.run_id, "
        "o.ip, o.ip_key, o.row_data, NULL FROM fcrdns_results o JOIN fcrdns_runs r ON r.run_id = "
        "o.to_run WHERE r.started_at >= ? AND NOT EXISTS (SELECT 1 FROM fcrdns_results n WHERE "
        "n.ip_key = o.ip_key AND n.from_run = o.to_run) ORDER BY 1, 3",
        (db.time_value(since), db.time_value(since)),
    )
    for run_id, ip, _, before, now in cursor:
        yield Change(
            int(run_id),
            ip,
            None if before is None else unpacked(before),
            None if now is None else unpacked(now),
        )


def rows_at_last_run(db: HistoryDB) -> Iterator[dict[str, str]]:
    """The current row of every address as the last stored night left it (for --previous)."""
    cursor = db.execute("SELECT row_data FROM fcrdns_results WHERE to_run IS NULL ORDER BY ip_key")
    for (data,) in cursor:
        yield unpacked(data)


def run_times(db: HistoryDB) -> dict[int, datetime.datetime]:
    return {
        int(run_id): read_time(started)
        for run_id, started in db.execute("SELECT run_id, started_at FROM fcrdns_runs").fetchall()
    }
