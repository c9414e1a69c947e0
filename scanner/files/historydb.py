"""The history database: SQLite (one file, no server) or PostgreSQL, one schema for both.

SQLite is the default: a path. It runs in WAL mode, so a report or a
`fcrdns history` query reads while a night is written; one writer at a time
(a second waits, then is refused by name). PostgreSQL is for a team and for
Grafana: a `postgresql://` (or `postgres://`) URL, through psycopg 3; writers
take one advisory lock, so two nights never interleave.

The tables (docs/history.md lists every column):
- fcrdns_runs: one row per stored night, its times in UTC and its counts per
  status and finding, as Grafana charts them directly;
- fcrdns_results: one row per address per *change*: valid from the run that saw
  it (from_run) until the run that saw something else (to_run; NULL while it
  is the address's current row);
- fcrdns_schema: the schema's version, so that a newer fcrdns migrates an older
  database and an older one refuses a newer database instead of misreading it.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

SCHEMA_VERSION = 1
_LOCK_KEY = 0x46435244  # "FCRD": the advisory lock of PostgreSQL writers
BUSY_SECONDS = 60  # a second SQLite writer waits this long for the first
MMAP_BYTES = 1 << 34  # SQLite reads the database through a map of up to 16 GiB
CACHE_KIB = 64 * 1024  # and keeps at most 64 MiB of pages (the stage's) in its own cache


class HistoryError(Exception):
    """A history database that cannot be opened, read or written: the message says why."""


class NoHistoryYet(HistoryError):
    """A database (or SQLite file) with no night stored in it yet."""


def is_database_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def looks_like_history(target: str) -> bool:
    """`--previous` names a history database (a URL, or an SQLite file) rather than results."""
    if is_database_url(target):
        return True
    try:
        with open(target, "rb") as handle:
            return handle.read(16) == b"SQLite format 3\x00"
    except OSError:
        return target.lower().endswith((".db", ".sqlite", ".sqlite3"))


def shown(target: str) -> str:
    """The database as messages name it: a URL without its password."""
    if not is_database_url(target):
        return target
    scheme, _, rest = target.partition("://")
    credentials, at, place = rest.rpartition("@")
    if not at:
        return target
    user = credentials.partition(":")[0]
    return f"{scheme}://{user}@{place}" if user else f"{scheme}://{place}"


def _ddl(postgres: bool) -> list[str]:
    run_id = (
        "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY" if postgres else "INTEGER PRIMARY KEY"
    )
    time = "TIMESTAMPTZ" if postgres else "TEXT"
    key = 'TEXT COLLATE "C"' if postgres else "TEXT"
    big = "BIGINT" if postgres else "INTEGER"
    counts = ", ".join(
        f"{name} {big} NOT NULL"
        for name in ("addresses", "passing", "failing", "transient", "pass", "mismatch",
                     "no_forward", "no_ptr", "ptr_nodata", "timeout", "servfail", "refused",
                     "error", "generic_ptr", "expected_mismatch", "ns_inconsistent", "changed",
                     "gone")
    )  # fmt: skip
    return [
        "CREATE TABLE fcrdns_schema (version INTEGER NOT NULL)",
        f"CREATE TABLE fcrdns_runs (run_id {run_id}, started_at {time} NOT NULL, "
        f"finished_at {time} NOT NULL, stored_at {time} NOT NULL, source TEXT NOT NULL, "
        f"{counts}, new_failing {big}, fixed {big}, zones_out_of_sync {big}, "
        f"zones_with_lame_servers {big}, summary TEXT)",
        f"CREATE TABLE fcrdns_results (ip_key {key} NOT NULL, ip TEXT NOT NULL, "
        f"from_run {big} NOT NULL REFERENCES fcrdns_runs (run_id), "
        f"to_run {big} REFERENCES fcrdns_runs (run_id), status TEXT NOT NULL, "
        "verdict TEXT NOT NULL, fingerprint TEXT NOT NULL, "
        # The row's CSV columns' values as a JSON array, in the documented column order
        # (version 1: the 25 columns of docs/columns.md).
        "row_data TEXT NOT NULL, "
        "PRIMARY KEY (ip_key, from_run))",
        # Each address's current row, with what tells a change: a night's comparison reads
        # this index alone.
        "CREATE INDEX fcrdns_results_current ON fcrdns_results (ip_key, fingerprint) "
        "WHERE to_run IS NULL",
        "CREATE INDEX fcrdns_results_from_run ON fcrdns_results (from_run)",
        "CREATE INDEX fcrdns_results_to_run ON fcrdns_results (to_run)",
        "CREATE INDEX fcrdns_runs_started_at ON fcrdns_runs (started_at)",
        f"INSERT INTO fcrdns_schema (version) VALUES ({SCHEMA_VERSION})",
    ]


STAGE_COLUMNS = ("ip_key", "ip", "status", "verdict", "fingerprint", "row_data")


class HistoryDB:
    """One connection to a history database, with its dialect's differences inside."""

    def __init__(self, target: str, *, create: bool) -> None:
        """`create`: make the database (an SQLite file) and its tables if missing; without
        it, a database with no fcrdns tables is an error."""
        self.target = target
        self.postgres = is_database_url(target)
        self._connection: Any = self._connect(create)
        try:
            self._migrate(create)
        except BaseException:
            self.close()
            raise

    def _connect(self, create: bool) -> Any:
        if self.postgres:
            try:
                import psycopg
            except ImportError:
                raise HistoryError(
                    f"{shown(self.target)}: a PostgreSQL history needs psycopg: "
                    "pip install 'fcrdns-scanner[postgresql]'"
                ) from None
            try:
                return psycopg.connect(self.target, autocommit=True, connect_timeout=30)
            except psycopg.Error as exc:
                raise HistoryError(
                    f"cannot connect to {shown(self.target)}: {_first_line(exc)}"
                ) from None
        if os.path.islink(self.target):
            raise HistoryError(f"{self.target} is a symbolic link: give the database itself")
        if not create and not os.path.exists(self.target):
            raise NoHistoryYet(
                f"{self.target}: no history database there (scan --history makes it)"
            )
        try:
            connection = sqlite3.connect(self.target, timeout=BUSY_SECONDS, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA foreign_keys=ON")
            # A night looks up each address's current row: read the file through a map
            # (no read call per page) and keep the stage's pages in memory, bounded.
            connection.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
            connection.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            connection.execute("PRAGMA temp_store=FILE")
        except sqlite3.Error as exc:
            raise HistoryError(f"{self.target}: not a history database ({exc})") from None
        return connection

    def _migrate(self, create: bool) -> None:
        """Create the schema in an empty database; refuse a foreign or newer one."""
        tables = set(self.tables())
        if not tables and not create:
            raise NoHistoryYet(f"{shown(self.target)}: no fcrdns history there yet")
        if not tables:
            with self.transaction():
                for statement in _ddl(self.postgres):
                    self.execute(statement)
            return
        if "fcrdns_schema" not in tables:
            raise HistoryError(
                f"{shown(self.target)}: holds other tables and no fcrdns history; give an empty "
                "database or one scan --history made"
            )
        version = self.execute("SELECT max(version) FROM fcrdns_schema").fetchone()[0]
        if version is None or version > SCHEMA_VERSION:
            raise HistoryError(
                f"{shown(self.target)}: history schema version {version} is newer than this "
                f"fcrdns knows ({SCHEMA_VERSION}); upgrade fcrdns"
            )
        # Version 1 is the first: migrations from older versions go here.

    def tables(self) -> list[str]:
        if self.postgres:
            query = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        else:
            query = "SELECT name FROM sqlite_master WHERE type = 'table'"
        return [row[0] for row in self.execute(query).fetchall()]

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> Any:
        """Run `sql` (written with ? placeholders, as in SQLite)."""
        try:
            if self.postgres:
                return self._connection.execute(sql.replace("?", "%s"), parameters)
            return self._connection.execute(sql, parameters)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                raise HistoryError(
                    f"{self.target}: another run has been writing it for over {BUSY_SECONDS} s"
                ) from None
            raise HistoryError(f"{self.target}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise HistoryError(f"{self.target}: not a history database ({exc})") from None
        except Exception as exc:
            if self.postgres and _is_psycopg_error(exc):
                raise HistoryError(f"{shown(self.target)}: {_first_line(exc)}") from None
            raise

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing; one writer at a time."""
        if self.postgres:
            with self._connection.transaction():
                self.execute("SELECT pg_advisory_xact_lock(?)", (_LOCK_KEY,))
                yield
            return
        self.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._connection.rollback()
            raise
        self.execute("COMMIT")

    def make_stage(self) -> None:
        columns = ", ".join(
            f"{name} TEXT{' PRIMARY KEY' if name == 'ip_key' else ''}" for name in STAGE_COLUMNS
        )
        if self.postgres:
            keyed = columns.replace("TEXT", 'TEXT COLLATE "C"', 1)
            self.execute(f"CREATE TEMP TABLE fcrdns_stage ({keyed}) ON COMMIT DROP")
        else:
            self.execute("DROP TABLE IF EXISTS temp.fcrdns_stage")
            self.execute(f"CREATE TEMP TABLE fcrdns_stage ({columns})")
        self.execute("CREATE TEMP TABLE fcrdns_scope (lo TEXT NOT NULL, hi TEXT NOT NULL)"
                     + (" ON COMMIT DROP" if self.postgres else ""))  # fmt: skip

    def drop_stage(self) -> None:
        if not self.postgres:
            self.execute("DROP TABLE IF EXISTS temp.fcrdns_stage")
            self.execute("DROP TABLE IF EXISTS temp.fcrdns_scope")

    def stage(self, rows: Iterable[tuple[str, ...]]) -> None:
        """Load a batch of rows into the stage: COPY on PostgreSQL, one statement on SQLite."""
        names = ", ".join(STAGE_COLUMNS)
        if not self.postgres:
            marks = ", ".join("?" * len(STAGE_COLUMNS))
            try:
                self._connection.executemany(
                    f"INSERT INTO fcrdns_stage ({names}) VALUES ({marks})", rows
                )
            except sqlite3.IntegrityError:
                raise HistoryError("the results hold an address twice") from None
            return
        try:
            with (
                self._connection.cursor() as cursor,
                cursor.copy(f"COPY fcrdns_stage ({names}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        except Exception as exc:
            if _is_psycopg_error(exc):
                if "duplicate key" in str(exc):
                    raise HistoryError("the results hold an address twice") from None
                raise HistoryError(f"{shown(self.target)}: {_first_line(exc)}") from None
            raise

    def time_value(self, moment: datetime.datetime) -> object:
        """A UTC time as the database keeps it (PostgreSQL: timestamptz; SQLite: ISO 8601 text)."""
        if self.postgres:
            return moment
        return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._connection.close()


def read_time(value: object) -> datetime.datetime:
    """A time read back from either database, as an aware UTC datetime."""
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC)
    return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def check_history_target(target: str) -> None:
    """Raise HistoryError unless a night can be stored in `target`; creates nothing.

    A new SQLite file needs a directory it can be made in; an existing file or a
    PostgreSQL database must be empty or hold a history this fcrdns can read.
    """
    if not is_database_url(target) and not os.path.lexists(target):
        directory = os.path.dirname(os.path.abspath(target))
        if not os.access(directory, os.W_OK | os.X_OK):
            raise HistoryError(f"{target}: cannot create files in {directory}")
        return
    with contextlib.suppress(NoHistoryYet):
        HistoryDB(target, create=False).close()


def _is_psycopg_error(exc: BaseException) -> bool:
    return any(cls.__module__.startswith("psycopg") for cls in type(exc).__mro__)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
