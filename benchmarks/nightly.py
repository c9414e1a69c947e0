"""Memory of big jobs: planning a long address list, resuming, and diffing two results.

Planning: a list file of 2,000,000 separate addresses (every other address of
a /11) is read and turned into the scan's target set, in a child process, by
the scanner (`parse_lines`: spans kept as integers) and, as the baseline, from
a list of `Span` objects (what the scanner did before).

Resume: a /8 is 16,777,216 addresses (the default --max-targets). The journal
of a scan interrupted after 15,000,000 rows is written as the scanner writes it,
with a line per batch of 256 positions (more lines than the scanner's commits,
once a second, make), then loaded in a child process two ways:
by the scanner (`Journal.load`, one bit per position) and, as the baseline,
into a set of ints (what the scanner did before).

Diff: two result files of 1,048,576 rows each (a /12 of IPv4, in scan order,
0.1% of the statuses changed), compared by `fcrdns diff` and, as the
baseline, by the same comparison with both files held in dictionaries (what
`fcrdns diff` did before).

Sort: a result file of 2,000,000 rows in completion order, put in address
order by `fcrdns sort` and, as the baseline, by reading every row into a list
and sorting it in memory.

XLSX: the rows of a full sheet (1,048,575 rows, as the scan stages them in
the output's .partial) finished as the scan finishes its workbook (put in
address order, measured for widths and the zones sheet, written by
xlsxwriter in constant memory) and, as baselines, as CSV with `csv.writer`
(what writing the rows costs at all) and by xlsxwriter in its default mode,
which holds the whole sheet in memory.

Peak memory is sampled from /proc like the throughput benchmark's.
"""

from __future__ import annotations

import ipaddress
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report, table
from benchmarks.throughput import measure
from scanner.core.rows import CSV_COLUMNS
from scanner.files.journal import Journal

SIZE = 2**24  # a /8
DONE = 15_000_000
BATCH = 256
DIFF_ROWS = 2**20
LIST_LINES = 2_000_000
SHEET_ROWS = 2**20 - 1  # a full sheet under its header
SORT_ROWS = 2_000_000

ROOT = str(Path(__file__).resolve().parent.parent)
PLANNERS = {
    "Span objects in a list (before)": (
        f"import sys\nsys.path.insert(0, {ROOT!r})\n"
        "from scanner.core.targets import TargetSet, parse_spec\n"
        "with open(sys.argv[1]) as lines:\n"
        "    spans = [parse_spec(line) for line in lines]\n"
        "print(TargetSet.build(spans).count)\n"
    ),
    "parse_lines (integers in arrays)": (
        f"import sys\nsys.path.insert(0, {ROOT!r})\n"
        "from scanner.core.targets import TargetSet, parse_lines\n"
        "with open(sys.argv[1]) as lines:\n"
        "    spans = parse_lines(lines, 'list')\n"
        "print(TargetSet.build(spans).count)\n"
    ),
}

DIFF_IN_MEMORY = (
    "import sys\n"
    f"sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})\n"
    "from scanner.files.results import read_results\n"
    "old = {r['ip']: (r['status'], r['ptr_names'], r['forward_addresses'])"
    " for r in read_results(sys.argv[1])}\n"
    "new = {r['ip']: (r['status'], r['ptr_names'], r['forward_addresses'])"
    " for r in read_results(sys.argv[2])}\n"
    "changed = [ip for ip in sorted(old.keys() | new.keys()) if old.get(ip) != new.get(ip)]\n"
    "print(len(changed))\n"
)


SORT_IN_MEMORY = (
    "import csv,ipaddress,sys\n"
    "with open(sys.argv[1], newline='') as rows:\n"
    "    reader = csv.reader(rows)\n"
    "    header = next(reader)\n"
    "    data = sorted(reader, key=lambda r: (ipaddress.ip_address(r[0]).version, "
    "ipaddress.ip_address(r[0])))\n"
    "with open(sys.argv[2], 'w', newline='') as out:\n"
    "    writer = csv.writer(out, lineterminator='\\n')\n"
    "    writer.writerow(header)\n"
    "    writer.writerows(data)\n"
)


def write_results(path: Path, changed_every: int, rows: int = DIFF_ROWS) -> None:
    """A result file of `rows` rows, in a scrambled order as a scan writes them."""
    span = 1 << (rows - 1).bit_length()
    with path.open("w", encoding="utf-8") as out:
        out.write(",".join(CSV_COLUMNS) + "\n")
        for n in range(span):
            index = (n * 2654435761) % span  # odd multiplier: a permutation
            if index >= rows:
                continue
            ip = ipaddress.IPv4Address(0xC6100000 + index)  # from 198.16.0.0
            status = "mismatch" if changed_every and index % changed_every == 0 else "pass"
            name = f"srv-{index:x}.hosting.example"
            out.write(
                f"{ip},{status},forward,{name},{name},{name}={ip},,2,1.0,"
                f"2026-11-26T00:00:00.000Z,2,no,,,,,\n"
            )


def write_staging(path: Path) -> None:
    """SHEET_ROWS rows as an XLSX output stages them (rows.xlsx_line)."""
    with path.open("w", encoding="utf-8") as out:
        for index in range(SHEET_ROWS):
            ip = ipaddress.IPv4Address(0xC6100000 + index)
            name = f"srv-{index:x}.hosting.example"
            out.write(
                f'["{ip}","pass","forward","{name}","{name}","{name}={ip}","",2,1.0,'
                f'"2026-11-26T00:00:00.000Z",2,"no","","","","",""]\n'
            )


WORKBOOK_WRITERS = {
    "CSV with csv.writer (baseline: the rows alone)": (
        "import csv,json,sys\n"
        "with open(sys.argv[1]) as rows, open(sys.argv[2], 'w', newline='') as out:\n"
        "    writer = csv.writer(out)\n"
        "    for line in rows: writer.writerow(json.loads(line))\n"
    ),
    "xlsxwriter, default mode (whole sheet in memory)": (
        "import json,sys,xlsxwriter\n"
        "book = xlsxwriter.Workbook(sys.argv[2] + '.xlsx')\n"
        "sheet = book.add_worksheet()\n"
        "with open(sys.argv[1]) as rows:\n"
        "    for n, line in enumerate(rows, 1):\n"
        "        for c, v in enumerate(json.loads(line)):\n"
        "            sheet.write_string(n, c, v) if isinstance(v, str) "
        "else sheet.write_number(n, c, v)\n"
        "book.close()\n"
    ),
    # What finishing a scan's XLSX output does: the staged rows put in address
    # order (sorted runs on disk), measured, then written (scanner/files/publish.py).
    "fcrdns: sorted, measured and written (constant memory)": (
        "import os,sys\n"
        f"sys.path.insert(0, {ROOT!r})\n"
        "from scanner.files.publish import build\n"
        "from scanner.files.sinks import OutputSpec\n"
        "spec = OutputSpec.parse(sys.argv[1].removesuffix('.partial'))\n"
        "build(spec, sort=False)\n"
        "os.replace(spec.packing_path, sys.argv[2] + '.xlsx')\n"
    ),
}


LOADERS = {
    "set of ints (before)": (
        "import json,sys\n"
        "lines = open(sys.argv[1]).read().split('\\n')\n"
        "done = set()\n"
        "for line in lines[1:-1]: done.update(json.loads(line)['p'])\n"
        "assert len(done) == int(sys.argv[2])\n"
    ),
    "Journal.load (bits)": (
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})\n"
        "from scanner.files.journal import Journal\n"
        f"state = Journal(sys.argv[1]).load('bench', {SIZE})\n"
        "assert len(state.done) == int(sys.argv[2])\n"
    ),
}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="fcrdns-resume-") as name:
        path = Path(name) / "out.csv.journal"
        journal = Journal(str(path))
        journal.start("bench", [200], [0])
        for start in range(0, DONE, BATCH):
            batch = range(start, min(DONE, start + BATCH))
            journal.record(batch, ["pass"] * len(batch))
            journal.commit([200 + 150 * start], [0])  # a commit per batch: the most lines
        journal.close()
        size_mb = path.stat().st_size / 1e6
        rows = []
        for label, code in LOADERS.items():
            run = measure([sys.executable, "-c", code, str(path), str(DONE)], Path(name) / "log")
            rows.append([label, f"{run.wall:.1f}", f"{run.peak_mb:.0f}"])
        listing = Path(name) / "list.txt"
        with listing.open("w") as out:
            for n in range(0, 2 * LIST_LINES, 2):
                out.write(f"{ipaddress.IPv4Address(0x0A000000 + n)}\n")
        plan_rows = []
        for label, code in PLANNERS.items():
            run = measure([sys.executable, "-c", code, str(listing)], Path(name) / "log")
            plan_rows.append([label, f"{run.wall:.1f}", f"{run.peak_mb:.0f}"])
        old, new = Path(name) / "old.csv", Path(name) / "new.csv"
        write_results(old, 0)
        write_results(new, 1000)
        diff_rows = []
        for label, command in (
            ("both files in dictionaries (before)", ["-c", DIFF_IN_MEMORY]),
            ("fcrdns diff (sorted runs on disk)", ["-m", "scanner", "diff"]),
        ):
            run = measure(
                [sys.executable, *command, str(old), str(new)], Path(name) / "log", ok=(0, 1)
            )
            diff_rows.append([label, f"{run.wall:.1f}", f"{run.peak_mb:.0f}"])
        unsorted = Path(name) / "unsorted.csv"
        write_results(unsorted, 0, SORT_ROWS)
        sort_rows = []
        for label, command in (
            ("every row in a list, sorted in memory (baseline)", ["-c", SORT_IN_MEMORY]),
            ("fcrdns sort (sorted runs on disk)", ["-m", "scanner", "sort"]),
        ):
            target = Path(name) / "sorted.csv"
            args = (
                [str(unsorted), str(target)]
                if "-c" in command
                else [str(unsorted), "-o", str(target)]
            )
            run = measure([sys.executable, *command, *args], Path(name) / "log")
            sort_rows.append([label, f"{run.wall:.1f}", f"{run.peak_mb:.0f}"])
        staging = Path(name) / "r.xlsx.partial"
        write_staging(staging)
        workbook_rows = []
        for number, (label, code) in enumerate(WORKBOOK_WRITERS.items()):
            out = str(Path(name) / f"book{number}")
            run = measure([sys.executable, "-c", code, str(staging), out], Path(name) / "log")
            written = next(Path(name).glob(f"book{number}*"))
            workbook_rows.append(
                [
                    label,
                    f"{run.wall:.1f}",
                    f"{run.peak_mb:.0f}",
                    f"{written.stat().st_size / 1e6:.0f}",
                ]
            )
    body = (
        f"A list of {LIST_LINES:,} separate addresses, planned in a child process:\n\n"
        + table(["spans kept as", "seconds", "peak memory MB"], plan_rows)
        + "\n\n"
        + f"A journal of a /8 scan ({SIZE:,} positions) interrupted after {DONE:,} rows"
        f" ({size_mb:.0f} MB), loaded in a child process:\n\n"
        + table(["loaded as", "seconds", "peak memory MB"], rows)
        + f"\n\nTwo result files of {DIFF_ROWS:,} rows each, compared:\n\n"
        + table(["compared", "seconds", "peak memory MB"], diff_rows)
        + f"\n\nA result file of {SORT_ROWS:,} rows put in address order:\n\n"
        + table(["sorted by", "seconds", "peak memory MB"], sort_rows)
        + f"\n\nAn XLSX output of {SHEET_ROWS:,} rows (a full sheet), from its staged rows:\n\n"
        + table(["written as", "seconds", "peak memory MB", "file MB"], workbook_rows)
    )
    report(
        "Big jobs: memory to plan a long list, to resume a /8, to diff two results, "
        "to sort 2,000,000 rows, to write a full XLSX sheet",
        body,
        [
            "python benchmarks/nightly.py",
            "fcrdns diff old.csv new.csv   # 1,048,576 rows each",
            "fcrdns sort unsorted.csv -o sorted.csv   # 2,000,000 rows",
            'scanner.files.publish.build(OutputSpec.parse("r.xlsx"), sort=False)'
            "   # 1,048,575 staged rows: sorted, measured, written",
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
