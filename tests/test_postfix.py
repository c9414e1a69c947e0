"""The `postfix` column against a real Postfix (issue 22, finding 9).

tests/netns_postfix.py runs, in network and mount namespaces of their own,
the Python lab as the only resolver (rotating records as recursive resolvers
do), a scan through it, and Postfix 3.7's smtpd with
`reject_unknown_client_hostname`, which every lab address connects to, from
itself, once per PTR name and once more. What Postfix answered to RCPT TO
must be what the column says:

- accept: 250 every time; tempfail: 450 every time;
- reject: never 250 (550, or 450 where a name's lookup failed for now);
- intermittent: 250 in some orders of the names, 550 or 450 in others.

Before the fix, an address with one rejected name and one whose forward
lookup fails (the lab's `multi_tempfail`) was `intermittent`: Postfix never
accepts it.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import write_lab_config

MIX = {
    "confirm": 10, "generic": 4, "cname": 4, "multi": 8, "mismatch": 6, "stale_a": 3,
    "multi_mismatch": 6, "multi_tempfail": 8, "no_ptr": 6, "ptr_nodata": 3, "dangling": 4,
    "wrong_family": 3, "generic_noforward": 2, "servfail": 3, "underscore": 3, "numeric": 2,
}  # fmt: skip
NETWORK = "198.18.0.0/25"


def _judged(codes: list[int], column: str) -> bool:
    seen = set(codes)
    if column == "accept":
        return seen == {250}
    if column == "tempfail":
        return seen == {450}
    if column == "reject":
        return bool(seen) and seen <= {550, 450}
    if column == "intermittent":
        return 250 in seen and bool(seen & {550, 450}) and seen <= {250, 550, 450}
    return False


@pytest.mark.lab
def test_the_postfix_column_is_what_a_real_postfix_answers(tmp_path: Path):
    config = write_lab_config(tmp_path / "lab.yaml", [NETWORK], MIX)
    truth = tmp_path / "truth.csv"
    export = subprocess.run(
        [sys.executable, "-m", "scanner", "lab", "--config", str(config), "--truth", str(truth),
         "--export-zones", str(tmp_path / "unused")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    # The truth only: multi_tempfail and servfail cannot go into zone files.
    assert "cannot be written to a zone file" in export.stderr
    cases = {row["ip"]: row["case"] for row in csv.DictReader(truth.open(encoding="utf-8"))}
    driver = Path(__file__).with_name("netns_postfix.py")
    run = subprocess.run(
        ["unshare", "--net", "--mount", sys.executable, str(driver), str(tmp_path), str(config),
         NETWORK],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    log = tmp_path / "maillog"
    assert run.returncode == 0, run.stderr + (log.read_text() if log.exists() else "")
    rows = {
        row["ip"]: row
        for row in map(json.loads, (tmp_path / "scan.jsonl").read_text().splitlines())
    }
    codes: dict[str, list[int]] = json.loads((tmp_path / "postfix.json").read_text())
    assert len(codes) == len(rows) == 128
    disagree = {
        ip: (cases.get(ip), rows[ip]["postfix"], answered)
        for ip, answered in codes.items()
        if not _judged(answered, rows[ip]["postfix"])
    }
    assert not disagree, disagree
    columns = {rows[ip]["postfix"] for ip in rows}
    assert columns == {"accept", "reject", "tempfail", "intermittent"}
    # The case that was wrong: one name rejected (550), one deferred (450), never accepted.
    tempfail_pairs = [ip for ip, case in cases.items() if case == "multi_tempfail"]
    assert tempfail_pairs
    for ip in tempfail_pairs:
        assert rows[ip]["postfix"] == "reject"
        assert set(codes[ip]) == {550, 450}, (ip, codes[ip])
