"""Address order for spreadsheets and follow-up runs: fcrdns sort, fcrdns merge, scan --sorted."""

from __future__ import annotations

import csv
import gzip
import ipaddress
import json
import random

import pytest
from helpers import fcrdns

from scanner.core.rows import CSV_COLUMNS
from scanner.files.extsort import address_key, sorted_by_address


def read_csv(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def in_address_order(ips):
    return ips == sorted(
        ips, key=lambda ip: (ipaddress.ip_address(ip).version, ipaddress.ip_address(ip))
    )


@pytest.mark.parametrize("run", [3, 1000])
def test_the_external_sort_is_stable_and_in_address_order_whatever_the_run(tmp_path, run):
    rng = random.Random(run)
    ips = [f"198.18.{rng.randrange(3)}.{rng.randrange(256)}" for _ in range(200)]
    ips += [f"2001:db8::{rng.randrange(0x10000):x}" for _ in range(50)]
    items = [(address_key(ip), (ip, index)) for index, ip in enumerate(ips)]
    got = [value for _, value in sorted_by_address(items, str(tmp_path), run)]

    def order(value):
        address = ipaddress.ip_address(value[0])
        return address.version, address, value[1]

    want = sorted(((ip, index) for index, ip in enumerate(ips)), key=order)
    assert got == want


def test_a_scan_sorted_sort_and_merge_on_the_lab(small_lab, tmp_path):
    lab, _ = small_lab
    targets = ["198.18.0.0/24", "2001:db8:5::/124"]
    out_csv, out_jsonl = tmp_path / "r.csv", tmp_path / "r.jsonl.gz"
    scan = fcrdns("scan", *targets, "--resolver", lab.address, "--rate", "0", "-q",
                  "-o", str(out_csv), "-o", str(out_jsonl))  # fmt: skip
    assert scan.returncode == 0, scan.stderr
    rows = read_csv(out_csv)
    assert not in_address_order([row["ip"] for row in rows])  # completion order

    # fcrdns sort: the same rows, byte for byte, in address order (10 after 9, not after 1).
    sort = fcrdns("sort", str(out_csv), "-o", str(tmp_path / "sorted.csv"))
    assert sort.returncode == 0, sort.stderr
    ordered = read_csv(tmp_path / "sorted.csv")
    assert in_address_order([row["ip"] for row in ordered])
    assert sorted(map(tuple, (r.values() for r in ordered))) == sorted(
        map(tuple, (r.values() for r in rows))
    )
    assert list(ordered[0]) == list(CSV_COLUMNS)
    sort = fcrdns("sort", str(out_jsonl), "-o", str(tmp_path / "sorted.jsonl"))
    assert sort.returncode == 0, sort.stderr
    lines = (tmp_path / "sorted.jsonl").read_text().splitlines()
    assert [json.loads(line)["ip"] for line in lines] == [row["ip"] for row in ordered]

    # scan --sorted: the finished outputs come out sorted, .gz and all.
    sorted_out = tmp_path / "s.csv.gz"
    scan = fcrdns("scan", *targets, "--resolver", lab.address, "--rate", "0", "-q", "--sorted",
                  "-o", str(sorted_out))  # fmt: skip
    assert scan.returncode == 0, scan.stderr
    assert [row["ip"] for row in read_csv(sorted_out)] == [row["ip"] for row in ordered]

    # fcrdns merge: a rescan's rows replace the base's for the same addresses.
    updates = tmp_path / "updates.csv"
    changed = {ordered[5]["ip"], ordered[-1]["ip"]}
    with updates.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, CSV_COLUMNS)
        writer.writeheader()
        for row in rows:
            if row["ip"] in changed:
                writer.writerow({**row, "status": "timeout", "reason": "rescanned"})
    merged = tmp_path / "merged.csv"
    merge = fcrdns("merge", str(out_csv), str(updates), "-o", str(merged))
    assert merge.returncode == 0, merge.stderr
    result = read_csv(merged)
    assert [row["ip"] for row in result] == [row["ip"] for row in ordered]
    for row, before in zip(result, ordered, strict=True):
        if row["ip"] in changed:
            assert (row["status"], row["reason"]) == ("timeout", "rescanned")
        else:
            assert row == before


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["sort", "r.csv", "-o", "r.csv"], "would overwrite an input"),
        (["sort", "r.csv", "-o", "out.jsonl"], "the input is csv"),
        (["merge", "r.csv", "u.jsonl", "-o", "m.csv"], "all of one format"),
        (["sort", "bad.csv", "-o", "out.csv"], "bad.csv:3: not an IP address: 'nope'"),
    ],
)
def test_sort_and_merge_refuse_what_they_cannot_do(tmp_path, arguments, message):
    (tmp_path / "r.csv").write_text("ip,status\n198.18.0.1,pass\n")
    (tmp_path / "u.jsonl").write_text('{"ip":"198.18.0.1","status":"pass"}\n')
    (tmp_path / "bad.csv").write_text("ip,status\n198.18.0.1,pass\nnope,pass\n")
    before = sorted(path.name for path in tmp_path.iterdir())
    result = fcrdns(*(str(tmp_path / a) if "." in a and not a.startswith("-") else a
                      for a in arguments))  # fmt: skip
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == before
