"""Files that stay yours: a link planted where the scan writes is refused, its target untouched."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from helpers import fcrdns

from scanner.files.ownfiles import PlantedLinkError, create_new, open_existing

VICTIM_TEXT = "the operator's own file\n"
WRITE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC  # the flags open(path, "w") passes its opener


def victim(tmp_path):
    path = tmp_path / "victim.txt"
    path.write_text(VICTIM_TEXT)
    return path


def test_create_new_refuses_a_link_and_replaces_a_stale_file(tmp_path):
    target = victim(tmp_path)
    link = tmp_path / "out.csv.partial"
    link.symlink_to(target)
    with pytest.raises(PlantedLinkError, match="symbolic link"):
        create_new(str(link), WRITE)
    assert target.read_text() == VICTIM_TEXT
    dangling = tmp_path / "out.journal"
    dangling.symlink_to(tmp_path / "created-by-the-scan")
    with pytest.raises(PlantedLinkError):
        create_new(str(dangling), WRITE)
    assert not (tmp_path / "created-by-the-scan").exists()
    # A hard link to the victim is a stale name: removed, never written through.
    hard = tmp_path / "out.csv.gz.tmp"
    os.link(target, hard)
    with open(hard, "w", opener=create_new) as handle:
        handle.write("new\n")
    assert target.read_text() == VICTIM_TEXT and hard.read_text() == "new\n"


def test_open_existing_takes_only_a_regular_file_of_its_own(tmp_path):
    target = victim(tmp_path)
    link = tmp_path / "out.csv.partial"
    link.symlink_to(target)
    with pytest.raises(PlantedLinkError):
        open_existing(str(link), os.O_RDWR)
    hard = tmp_path / "out.journal"
    os.link(target, hard)
    with pytest.raises(PlantedLinkError, match="regular file of its own"):
        open_existing(str(hard), os.O_WRONLY | os.O_APPEND)
    assert target.read_text() == VICTIM_TEXT
    own = tmp_path / "own.partial"
    own.write_text("rows\n")
    with open(own, "a", opener=open_existing) as handle:
        handle.write("more\n")
    assert own.read_text() == "rows\nmore\n"


@pytest.mark.parametrize(
    ("output", "planted"),
    [
        ("r.csv", "r.csv.partial"),
        ("r.csv.gz", "r.csv.gz.tmp"),
        ("r.csv", "r.csv.journal"),
        ("r.xlsx", "r.xlsx.partial"),
        ("r.xlsx", "r.xlsx.tmp"),
    ],
)
@pytest.mark.parametrize("dangling", [False, True])
def test_a_scan_refuses_a_planted_link_before_it_starts(
    small_lab, tmp_path, output, planted, dangling
):
    lab, _ = small_lab
    target = tmp_path / "elsewhere.txt" if dangling else victim(tmp_path)
    (tmp_path / planted).symlink_to(target)
    result = fcrdns("scan", "198.18.0.0/28", "--resolver", lab.address, "--rate", "0",
                    "-o", str(tmp_path / output))  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"{planted} is a symbolic link" in result.stderr
    assert "Traceback" not in result.stderr
    assert (not target.exists()) if dangling else target.read_text() == VICTIM_TEXT
    assert not (tmp_path / output).exists()


def test_resume_refuses_a_partial_output_replaced_by_a_link(small_lab, tmp_path):
    lab, _ = small_lab
    out = tmp_path / "r.csv"
    scan = ["scan", "198.18.0.0/28", "--resolver", lab.address, "--rate", "0", "-o", str(out)]
    assert fcrdns(*scan).returncode == 0
    # What an interrupted scan leaves: its journal and .partial output. Then a
    # link takes the .partial output's place.
    (tmp_path / "r.csv.journal").write_text("{}\n")
    target = victim(tmp_path)
    (tmp_path / "r.csv.partial").symlink_to(target)
    result = fcrdns(*scan, "--resume")
    assert result.returncode == 2 and "r.csv.partial is a symbolic link" in result.stderr
    assert target.read_text() == VICTIM_TEXT


@pytest.mark.parametrize(("mask", "mode"), [("022", 0o644), ("077", 0o600)])
def test_every_output_gets_the_mode_the_umask_gives(small_lab, tmp_path, mask, mode):
    """node_exporter reads --metrics as its own user: under umask 022 the file is
    0644, as the CSV and the summary are; under 077 all of them are private."""
    lab, _ = small_lab
    out, summary, metrics = tmp_path / "out.csv", tmp_path / "s.json", tmp_path / "m.prom"
    command = (
        f"umask {mask}; exec {sys.executable} -m scanner scan 198.18.0.0/28 "
        f"--resolver {lab.address} -q -o {out} --summary {summary} --metrics {metrics}"
    )
    run = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    for path in (out, summary, metrics):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path.name
    assert "fcrdns_ips" in metrics.read_text()
