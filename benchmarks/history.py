"""`--history` on a million rows: storing a night in SQLite and PostgreSQL against writing
the CSV, and the second night, when 1% of the addresses changed.

The results file is benchmarks/report.py's (1,000,000 rows, every status). The
baseline in the same run is what every night pays already: reading those rows
and writing them as CSV (Python's csv module, nothing else). Each night is
stored with `fcrdns history DB --add RESULTS` (what `scan --history` runs once
the outputs are complete), into a new SQLite file and into a PostgreSQL server
started here (scanner/lab/postgres.py, Debian's postgresql on a Unix socket;
its own memory is not in the peak, which is the fcrdns process tree's).
"""

from __future__ import annotations

import csv
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report, table
from benchmarks.report import ROWS, write_results
from benchmarks.throughput import Measured, measure
from scanner.lab.postgres import new_database, postgres_server

ROUNDS = 2
CHANGED_EVERY = 100  # the second night: one address in 100 has another result
COPY_CSV = (
    "import csv, sys\ncsv.field_size_limit(2**31 - 1)\n"
    "with open(sys.argv[1], newline='') as i, open(sys.argv[2], 'w', newline='') as o:\n"
    "    w = csv.writer(o, lineterminator='\\r\\n')\n"
    "    for row in csv.reader(i): w.writerow(row)"
)


def second_night(first: Path, second: Path) -> int:
    """`first` with every CHANGED_EVERY-th row's status and reason changed; how many."""
    changed = 0
    with first.open(newline="") as source, second.open("w", newline="") as target:
        reader = csv.DictReader(source)
        writer = csv.DictWriter(target, reader.fieldnames or [], lineterminator="\r\n")
        writer.writeheader()
        for number, row in enumerate(reader):
            if number % CHANGED_EVERY == 0:
                row["status"] = "no_ptr" if row["status"] == "pass" else "pass"
                row["reason"] = "changed tonight"
                changed += 1
            writer.writerow(row)
    return changed


def store(database: str, results: Path, log: Path) -> Measured:
    return measure([sys.executable, "-m", "scanner", "history", database, "--add",
                    str(results)], log)  # fmt: skip


def main() -> int:
    runs: dict[str, list[Measured]] = {}
    sizes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fcrdns-history-") as name, postgres_server() as pg:
        work = Path(name)
        first, second = work / "night1.csv", work / "night2.csv"
        write_results(first)
        changed = second_night(first, second)
        for round_number in range(ROUNDS):
            copy = [sys.executable, "-c", COPY_CSV, str(first), str(work / "copy.csv")]
            runs.setdefault("write the CSV (csv module): baseline", []).append(
                measure(copy, work / "log")
            )
            sqlite = str(work / f"history{round_number}.db")
            postgres = new_database(pg, f"bench{round_number}")
            for label, database in (("SQLite", sqlite), ("PostgreSQL", postgres)):
                runs.setdefault(f"{label}: first night (all rows new)", []).append(
                    store(database, first, work / "log")
                )
                if label == "SQLite":
                    after_first = Path(sqlite).stat().st_size
                runs.setdefault(f"{label}: second night ({changed:,} changed)", []).append(
                    store(database, second, work / "log")
                )
            sizes.append(
                f"SQLite file {after_first / 1e6:,.0f} MB after the first night, "
                f"{Path(sqlite).stat().st_size / 1e6:,.0f} MB after the second"
            )
    rows = []
    baseline = runs["write the CSV (csv module): baseline"]
    for label, measured in runs.items():
        walls = ", ".join(f"{run.wall:.1f}" for run in measured)
        ratios = ", ".join(
            f"{run.wall / base.wall:.2f}x" for run, base in zip(measured, baseline, strict=True)
        )
        peak = max(run.peak_mb for run in measured)
        rows.append([label, walls, f"{ROWS / min(r.wall for r in measured):,.0f}", ratios,
                     f"{peak:.0f}"])  # fmt: skip
    body = table(["run", "wall s (each round)", "rows/s (best)", "x the CSV", "peak MB (PSS)"],
                 rows)  # fmt: skip
    body += (
        f"\n\n{ROWS:,} rows a night; the second night changes {changed:,} of them "
        f"({100 / CHANGED_EVERY:.0f}%). {sizes[-1]}: the history grows by the changed rows."
    )
    commands = [
        "python benchmarks/history.py   # writes the 1,000,000-row night and its second night",
        "fcrdns history $WORK/history.db --add $WORK/night1.csv",
        "fcrdns history $WORK/history.db --add $WORK/night2.csv",
        "fcrdns history 'postgresql://fcrdns@/bench0?host=$SOCKETS' --add $WORK/night1.csv",
    ]
    report("--history: 1,000,000 rows into SQLite and PostgreSQL", body, commands)
    return 0


if __name__ == "__main__":
    sys.exit(main())
