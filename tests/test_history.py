"""scan --history and `fcrdns history`: three nights against the lab, into SQLite and into
a real PostgreSQL server (tests/pgserver.py); a SIGKILL while a night is written."""

from __future__ import annotations

import csv
import datetime
import ipaddress
import itertools
import json
import re
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
import yaml
from helpers import fcrdns

from scanner.core.rows import CSV_COLUMNS
from scanner.lab.postgres import new_database, postgres_server
from scanner.lab.process import LabProcess

pytestmark = pytest.mark.lab

BROKEN = {"confirm": 40, "mismatch": 20, "no_ptr": 20, "dangling": 10}
GOOD = {"confirm": 1}
# Night by night: 198.18.0.0/24 is fixed on the second night, 198.18.1.0/24 broken on the third.
NIGHTS = [(BROKEN, GOOD), (GOOD, GOOD), (GOOD, BROKEN)]
FAILING = {"mismatch", "no_ptr", "ptr_nodata", "no_forward"}
PER_SCAN = {"queries", "elapsed_ms", "timestamp", "attempts"}
BASE = int(ipaddress.IPv6Address("2001:db8::"))
NOW = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
DASHBOARD = Path(__file__).resolve().parent.parent / "configs" / "grafana" / "fcrdns-history.json"


@pytest.fixture(scope="module")
def postgres():
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path, postgres) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "history.db")
    return new_database(postgres, f"t{uuid.uuid4().hex[:12]}")


def stored_rows(database: str) -> int:
    query = "SELECT count(*) FROM fcrdns_results"
    if database.startswith("postgresql://"):
        with psycopg.connect(database) as connection:
            return int(connection.execute(query).fetchone()[0])
    with sqlite3.connect(database) as connection:
        return int(connection.execute(query).fetchone()[0])


def rows_by_ip(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["ip"]: row for row in csv.DictReader(handle)}


def differs(old: dict[str, str], new: dict[str, str]) -> bool:
    return any(old[column] != new[column] for column in CSV_COLUMNS if column not in PER_SCAN)


def jsonl(run: subprocess.CompletedProcess) -> list[dict]:
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in run.stdout.splitlines()]


def scan_night(tmp_path: Path, number: int, database: str) -> subprocess.CompletedProcess:
    first, second = NIGHTS[number - 1]
    config = tmp_path / f"lab{number}.yaml"
    networks = [{"cidr": "198.18.0.0/24", "mix": first}, {"cidr": "198.18.1.0/24", "mix": second}]
    config.write_text(yaml.safe_dump({"seed": 5, "networks": networks}))
    with LabProcess(["--config", str(config)]) as lab:
        return fcrdns(
            "scan", "198.18.0.0/23", "--resolver", lab.address, "--rate", "0", "-q",
            "-o", str(tmp_path / f"night{number}.csv"),
            "--summary", str(tmp_path / f"s{number}.json"),
            "--history", database, "--previous", database,
        )  # fmt: skip


def test_three_nights_each_change_on_its_night_and_only_changed_rows_stored(tmp_path, database):
    nights, grown = [], []
    for number in (1, 2, 3):
        run = scan_night(tmp_path, number, database)
        assert run.returncode == 0, run.stderr
        assert f"as night {number}:" in run.stderr
        nights.append(rows_by_ip(tmp_path / f"night{number}.csv"))
        grown.append(stored_rows(database))
    # The database grows by the addresses whose result changed, nothing else.
    changed = [
        {ip for ip, row in new.items() if differs(old[ip], row)}
        for old, new in itertools.pairwise(nights)
    ]
    assert grown == [512, 512 + len(changed[0]), 512 + len(changed[0]) + len(changed[1])]
    assert changed[0] and all(ip.startswith("198.18.0.") for ip in changed[0])
    assert changed[1] and all(ip.startswith("198.18.1.") for ip in changed[1])

    # Counts per night: the fix on night 2, the breakage on night 3.
    counted = jsonl(fcrdns("history", database, "--nights", "--format", "jsonl"))
    assert [night["run"] for night in counted] == [1, 2, 3]
    failing = [sum(row["status"] in FAILING for row in night.values()) for night in nights]
    assert [night["failing"] for night in counted] == failing
    assert counted[0]["new_failing"] is None  # the first night: nothing to compare with
    assert counted[1]["fixed"] == failing[0] and counted[1]["new_failing"] == 0
    assert counted[2]["new_failing"] == failing[2] and counted[2]["fixed"] == 0
    # --previous DB compared night 3 with night 2, as stored.
    since = json.loads((tmp_path / "s3.json").read_text())["since_previous"]
    assert since["new_addresses"] == failing[2]

    # One address of each zone, night by night.
    fixed_ip = next(ip for ip, row in nights[0].items() if row["status"] in FAILING)
    broken_ip = next(ip for ip, row in nights[2].items() if row["status"] in FAILING)
    fixed = jsonl(fcrdns("history", database, fixed_ip, "--format", "jsonl"))
    assert [(v["from_run"], v["to_run"], v["status"]) for v in fixed] == [
        (1, 2, nights[0][fixed_ip]["status"]), (2, None, "pass")]  # fmt: skip
    assert fixed[1]["failing_since"] == ""
    broken = jsonl(fcrdns("history", database, broken_ip, "--format", "jsonl"))
    assert [(v["from_run"], v["to_run"], v["status"]) for v in broken] == [
        (1, 3, "pass"), (3, None, nights[2][broken_ip]["status"])]  # fmt: skip
    assert broken[1]["failing_since"] == broken[1]["from"]
    assert broken[1]["reason"] == nights[2][broken_ip]["reason"].lstrip("'")
    prefix = jsonl(fcrdns("history", database, "198.18.1.0/24", "--format", "jsonl"))
    assert {v["ip"] for v in prefix} == {ip for ip in nights[0] if ip.startswith("198.18.1.")}

    # Every change, on the night it happened.
    listed = jsonl(fcrdns("history", database, "--changes", "--since", "7d", "--format", "jsonl"))
    by_night = {n: {c["ip"] for c in listed if c["run"] == n} for n in (1, 2, 3)}
    assert by_night == {1: set(nights[0]), 2: changed[0], 3: changed[1]}
    text = fcrdns("history", database, "--changes")
    assert text.returncode == 0 and broken_ip in text.stdout


def synthetic_results(path: Path, count: int, status: str = "pass") -> Path:
    """A result file of `count` rows (2001:db8::N), as a scan writes it."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for number in range(count):
            row = dict.fromkeys(CSV_COLUMNS, "")
            row.update(ip=str(ipaddress.IPv6Address(BASE + number)), status=status,
                       stage="forward", queries="2", timestamp=NOW,
                       ptr_names=f"h{number}.example")  # fmt: skip
            writer.writerow(row.values())
    return path


def test_a_sigkill_while_a_night_is_written_leaves_the_earlier_nights_and_no_part_of_it(
    tmp_path, database
):
    for status in ("pass", "mismatch"):
        small = synthetic_results(tmp_path / f"{status}.csv", 1_000, status)
        assert fcrdns("history", database, "--add", str(small)).returncode == 0
    before = stored_rows(database)
    big = synthetic_results(tmp_path / "big.csv", 100_000, "no_ptr")
    writing = subprocess.Popen(
        [sys.executable, "-m", "scanner", "history", database, "--add", str(big)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert writing.stderr is not None
    line = writing.stderr.readline()  # the first 10,000 rows are in the night's transaction
    assert "rows read" in line, line
    writing.send_signal(signal.SIGKILL)
    writing.wait(timeout=60)
    nights = jsonl(fcrdns("history", database, "--format", "jsonl"))
    assert [(night["run"], night["addresses"]) for night in nights] == [(1, 1_000), (2, 1_000)]
    assert stored_rows(database) == before == 2_000
    # Nothing is left locked or half-written: the same night stores whole.
    again = fcrdns("history", database, "--add", str(big), timeout=300)
    assert again.returncode == 0, again.stderr
    assert "100,000 addresses, 100,000 rows new or changed" in again.stderr
    assert stored_rows(database) == 102_000


def test_bad_history_databases_are_refused_before_anything_is_scanned(tmp_path):
    out = tmp_path / "r.csv"
    scan = ["scan", "192.0.2.0/30", "--resolver", "127.0.0.1:9", "-q"]
    not_db = tmp_path / "notes.db"
    not_db.write_text("not a database\n")
    refused = fcrdns(*scan, "-o", str(out), "--history", str(not_db))
    assert refused.returncode == 2 and "notes.db: not a history database" in refused.stderr
    only_jsonl = fcrdns(*scan, "-o", str(tmp_path / "r.jsonl"), "--history", str(tmp_path / "h.db"))
    assert only_jsonl.returncode == 2 and "CSV or XLSX output" in only_jsonl.stderr
    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as connection:
        connection.execute("CREATE TABLE fcrdns_schema (version INTEGER NOT NULL)")
        connection.execute("INSERT INTO fcrdns_schema VALUES (99)")
    too_new = fcrdns(*scan, "-o", str(out), "--history", str(newer))
    assert too_new.returncode == 2 and "version 99 is newer" in too_new.stderr
    missing = fcrdns("history", str(tmp_path / "missing.db"))
    assert missing.returncode == 2 and "no history database there" in missing.stderr
    dry = fcrdns(*scan, "-o", str(out), "--history", str(tmp_path / "new.db"), "--dry-run")
    assert dry.returncode == 0 and "night stored in:" in dry.stdout
    assert not out.exists() and not (tmp_path / "new.db").exists()  # a dry run writes nothing
    assert "Traceback" not in refused.stderr + only_jsonl.stderr + too_new.stderr


def test_the_grafana_dashboards_queries_run_on_the_postgresql_schema(postgres, tmp_path):
    database = new_database(postgres, f"t{uuid.uuid4().hex[:12]}")
    for night, status in enumerate(("pass", "mismatch", "pass"), start=1):
        results = synthetic_results(tmp_path / f"n{night}.csv", 50, status)
        assert fcrdns("history", database, "--add", str(results)).returncode == 0
    dashboard = json.loads(DASHBOARD.read_text())
    answers = {}
    with psycopg.connect(database) as connection:
        for panel in dashboard["panels"]:
            [target] = panel["targets"]
            assert target["datasource"]["uid"] == "${DS_FCRDNS}"
            # Grafana's macro, as its PostgreSQL data source expands it.
            sql = re.sub(r"\$__timeFilter\((\w+(?:\.\w+)?)\)",
                         r"\1 BETWEEN now() - interval '30 days' AND now() + interval '1 day'",
                         target["rawSql"])  # fmt: skip
            cursor = connection.execute(sql)
            answers[panel["title"]] = ([c.name for c in cursor.description], cursor.fetchall())
    columns, rows = answers["Share passing, night by night"]
    assert columns == ["time", "passing %"] and [row[1] for row in rows] == [100, 0, 100]
    columns, rows = answers["Newly failing and fixed"]
    assert [row[1:] for row in rows] == [(50, 0), (0, 50)]
    columns, rows = answers["What changed"]
    assert len(rows) == 100 and {row[2:4] for row in rows} == {("pass", "mismatch"),
                                                              ("mismatch", "pass")}  # fmt: skip
    columns, rows = answers["Last night"]
    assert rows == [(50, 0, 0, None, None)]  # no --check-authoritative: no counts, not 0
