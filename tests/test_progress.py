"""The progress display: one line that fits, names the phase, and moves every second.

The line is checked as a pure function, and then as a terminal shows it:
`fcrdns scan` runs in a tmux pane, captured again and again through a scan
with a SERVFAIL tail and --check-authoritative.
"""

from __future__ import annotations

import itertools
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scanner.core.progressline import progress_line
from scanner.lab.config import NS_NETWORK
from scanner.lab.process import LabProcess

COUNTS = {"pass": 2800, "mismatch": 537, "no_ptr": 489, "no_forward": 435, "servfail": 41}


@pytest.mark.parametrize("width", [20, 30, 40, 60, 80, 100, 120, 200])
def test_the_line_fits_and_keeps_what_matters_first(width):
    phase = "retrying 34 lookups (SERVFAIL, timeout)"
    line = progress_line(4382, 4416, 11.4, phase, COUNTS, width)
    assert len(line) <= width - 1
    assert line.startswith("4,382/4,416 (99%)")
    if width >= 40:
        assert "0:11 elapsed" in line
    if width >= 100:
        assert phase in line and "IPs/s" in line
    # Verdicts under their own names, whole or not at all.
    for name, count in COUNTS.items():
        if name in line:
            assert f"{name} {count:,}" in line
    assert not re.search(r"\b(mism|noptr|nofwd|sfail)\b", line)


def test_a_long_phase_is_cut_with_an_ellipsis_never_the_counts():
    line = progress_line(5, 10, 3.0, "x" * 300, {}, 60)
    assert line.startswith("5/10 (50%) · 0:03 elapsed · x") and line.endswith("…")
    assert len(line) == 59


def test_a_walk_before_its_rows_are_known_shows_its_own_progress_not_a_count():
    phase = "walking the reverse tree: 21,073 names asked, 300 to ask, 104 found"
    line = progress_line(0, 0, 12.0, phase, {}, 100)
    assert line == f"0:12 elapsed · {phase}"
    assert "0/0" not in line and "100%" not in line and "IPs/s" not in line
    assert len(progress_line(0, 0, 12.0, phase, {}, 30)) == 29


@pytest.mark.lab
def test_under_tmux_elapsed_moves_at_every_capture_and_the_phase_is_named(tmp_path: Path):
    tmux = shutil.which("tmux") or pytest.fail("tmux is missing (Debian's tmux package)")
    done = tmp_path / "done"
    socket = str(tmp_path / "tmux.sock")
    with LabProcess(["--authoritative", "--servfail", "0.3", "--seed", "3"]) as lab:
        scan = [
            sys.executable, "-m", "scanner", "scan", "198.18.0.0/23",
            "--resolver", lab.address, "--check-authoritative",
            "--authoritative-allow", NS_NETWORK, "--authoritative-port", str(lab.port),
            "--authoritative-rate", "150", "--rate", "2000", "-o", str(tmp_path / "r.csv"),
        ]  # fmt: skip
        command = f"{shlex.join(scan)}; echo $? > {done}; sleep 60"
        subprocess.run(
            [tmux, "-S", socket, "new-session", "-d", "-s", "scan", "-x", "110", "-y", "10",
             command], check=True, timeout=30,
        )  # fmt: skip
        captures: list[str] = []
        try:
            deadline = time.monotonic() + 120
            while not done.exists() and time.monotonic() < deadline:
                # The line shows whole seconds and is redrawn just after each one:
                # captures 1.5 s apart must each see a later second, even with a
                # redraw up to half a second late on a loaded machine (1 s apart,
                # one redraw a few milliseconds late could be seen twice).
                time.sleep(1.5)
                screen = subprocess.run(
                    [tmux, "-S", socket, "capture-pane", "-p", "-t", "scan"],
                    capture_output=True, text=True, timeout=10, check=True,
                ).stdout  # fmt: skip
                lines = [line for line in screen.splitlines() if "elapsed" in line]
                if lines and not done.exists():
                    captures.append(lines[-1])
        finally:
            subprocess.run([tmux, "-S", socket, "kill-server"], check=False, timeout=10)
    assert done.exists() and done.read_text().strip() == "0", captures
    assert len(captures) >= 4, captures
    elapsed = [re.search(r"(\d+):(\d\d) elapsed", line) for line in captures]
    seconds = [int(m.group(1)) * 60 + int(m.group(2)) for m in elapsed if m]
    assert len(seconds) == len(captures)
    assert all(b > a for a, b in itertools.pairwise(seconds)), captures
    assert all(len(line.rstrip()) < 110 for line in captures)
    phases = " ".join(captures)
    assert "name servers" in phases, captures  # --check-authoritative's own queries
    assert "retrying" in phases and "(SERVFAIL, timeout)" in phases, captures
    assert not re.search(r"\b(mism|noptr|nofwd|sfail)\b", phases)


@pytest.mark.lab
def test_rows_on_the_terminal_get_no_progress_line_between_them(small_lab, tmp_path: Path):
    tmux = shutil.which("tmux") or pytest.fail("tmux is missing (Debian's tmux package)")
    lab, _ = small_lab
    done, socket = tmp_path / "done", str(tmp_path / "tmux.sock")
    scan = [sys.executable, "-m", "scanner", "scan", "198.18.0.0/28", "--resolver", lab.address]
    command = f"{shlex.join(scan)}; echo $? > {done}; sleep 60"
    # Wide enough that no row wraps: each is one line of the screen.
    subprocess.run([tmux, "-S", socket, "new-session", "-d", "-s", "rows", "-x", "1000",
                    "-y", "60", command], check=True, timeout=30)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.2)  # polling for the end of the command, nothing else
        capture = [tmux, "-S", socket, "capture-pane", "-p", "-t", "rows"]
        screen = subprocess.run(capture, capture_output=True, text=True, timeout=10).stdout
    finally:
        subprocess.run([tmux, "-S", socket, "kill-server"], check=False, timeout=10)
    lines = [line for line in screen.splitlines() if line.strip()]
    rows = [line for line in lines if re.match(r"198\.18\.0\.\d+,", line)]
    assert len(rows) == 16, screen
    assert not re.search(r"\d:\d\d elapsed", screen) and lines[0].startswith("ip,status,"), screen
