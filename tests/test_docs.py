"""What the README and docs/ tell a user to run, run: every `sh` block of each page,
as written and in order, the API example, and the Kubernetes Indexed Job."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from scanner.lab.process import LabProcess
from scanner.lab.truth import compare

ROOT = Path(__file__).resolve().parent.parent


PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Each page's lab (started by its first block) listens on this port.
DOC_PORTS = ("127.0.0.1:5300", "127.0.0.1:5301", "127.0.0.1:5302")


def _api_example() -> str:
    guide = (ROOT / "docs" / "guide.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- api-example[^>]*-->\n```python\n(.*?)```", guide, re.S)
    assert found, "the guide's API example is marked <!-- api-example -->"
    return found.group(1)


def shell_commands(page: str) -> list[str]:
    """The commands of a page's `sh` blocks, in order: one per line (a trailing
    backslash continues it), comments and blank lines left out. `make` lines are
    the set-up itself (CI runs `make lint` and `make test`) and are left out too."""
    commands = []
    for block in re.findall(r"^```sh\n(.*?)^```", page, re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            command = line.strip()
            if command and not command.startswith("#") and not command.startswith("make "):
                commands.append(command)
    return commands


def test_the_command_reader_reads_blocks_in_order():
    page = (
        "x\n```sh\nmake demo\n# a comment\necho a \\\n  b\n```\n"
        "```text\nnot run\n```\n```sh\necho c\n```\n"
    )
    assert shell_commands(page) == ["echo a    b", "echo c"]


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.name)
def test_every_command_of_the_page_runs_as_written(page, tmp_path):
    """Each page is a session: its commands run in order in one scratch directory,
    with `.venv` and `configs/` linked in, as a reader in the repository runs them.
    Each must exit 0 or 1 (1: findings, as `--fail-on` and `diff` mean it), and
    nothing may print a traceback."""
    commands = shell_commands(page.read_text(encoding="utf-8"))
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    # The pages' labs listen on fixed ports (DOC_PORTS), as a reader's would: one
    # page at a time on this machine, whatever runs beside this test.
    with open(Path(tempfile.gettempdir()) / "fcrdns-doc-ports.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _run_page(page, commands, tmp_path)
    if page.name == "README.md":  # the first scan's verdicts are the lab's truth
        within = ["198.18.0.0/22", "2001:db8:1::/120"]
        comparison = compare(
            str(tmp_path / "first.csv"), str(tmp_path / "truth.csv"), within=within
        )
        assert comparison.ok and comparison.rows == 1024 + 256, comparison.as_text()
    if any("fcrdns lab" in command for command in commands):
        labs = [c for c in commands if "fcrdns lab" in c]
        assert all("--detach" in lab for lab in labs), "a page's lab must not block its reader"
        stops = [c for c in commands if c.startswith("kill ")]
        assert len(stops) == len(labs), f"{page.name}: every lab it starts is stopped"


def _run_page(page: Path, commands: list[str], tmp_path: Path) -> None:
    try:
        for command in commands:
            run = subprocess.run(
                ["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True,
                timeout=300, check=False,
            )  # fmt: skip
            said = run.stdout[-2000:] + run.stderr[-2000:]
            assert run.returncode in (0, 1), f"{page.name}: {command}\n{said}"
            assert "Traceback" not in said, f"{page.name}: {command}\n{said}"
    finally:
        pid_file = tmp_path / "lab.pid"
        if pid_file.exists():  # gone once its port is free for the next page's lab
            _stopped(int(pid_file.read_text()))


def _stopped(pid: int) -> None:
    """Stop the lab (a page that failed before its `kill`), and wait until it has
    exited: not our child (it detached), so its /proc entry tells."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not Path(f"/proc/{pid}").exists(), f"the lab (process {pid}) did not stop"


def test_the_pages_scan_only_their_own_lab():
    """No command of a page sends DNS anywhere but the lab it started."""
    for page in PAGES:
        for command in shell_commands(page.read_text(encoding="utf-8")):
            if " scan " in f" {command} ":
                assert any(f"--resolver {port}" in command for port in DOC_PORTS), command


def test_the_guides_api_example_runs_against_the_lab(tmp_path):
    truth = tmp_path / "truth.csv"
    with LabProcess(["--truth", str(truth)]) as lab:  # the built-in lab, as in the README
        example = _api_example().replace("127.0.0.1:5300", lab.address)
        run = subprocess.run(
            [sys.executable, "-c", example],
            cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert run.returncode == 0, run.stderr
    with truth.open(encoding="utf-8", newline="") as handle:
        expected = {row["ip"]: row["expected_status"] for row in csv.DictReader(handle)}
    lines = run.stdout.splitlines()
    streamed = dict(line.split(" ")[:2] for line in lines[:16])
    assert streamed == {ip: expected[ip] for ip in streamed} and len(streamed) == 16
    comparison = compare(str(tmp_path / "out.csv"), str(truth), within=["198.18.0.0/24"])
    assert comparison.ok, comparison.as_text()
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as handle:
        mismatches = sum(1 for row in csv.DictReader(handle) if row["status"] == "mismatch")
    assert lines[-1] == f"256 rows; {{'mismatch': {mismatches}}}"


def _pod(command: list[str], script: str, index: int) -> subprocess.Popen[str]:
    environment = dict(os.environ, JOB_COMPLETION_INDEX=str(index))
    return subprocess.Popen([*command, script], env=environment, stderr=subprocess.PIPE, text=True)


def test_the_indexed_job_scans_every_address_once_across_its_pods(tmp_path):
    """The Kubernetes manifest's command, run as each of its pods would run it."""
    job = yaml.safe_load((ROOT / "configs" / "k8s-indexed-job.yaml").read_text())
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    pods = spec["completions"]
    container = spec["template"]["spec"]["containers"][0]
    script = container["args"][0]
    (tmp_path / "config").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "config" / "ranges.txt").write_text("198.18.0.0/24\n2001:db8:1::/120\n")
    truth = tmp_path / "truth.csv"
    with LabProcess(["--truth", str(truth)]) as lab:
        local = (
            script.replace("fcrdns scan", f"{sys.executable} -m scanner scan")
            .replace("192.0.2.53", lab.address)
            .replace("/config/", f"{tmp_path}/config/")
            .replace("/results/", f"{tmp_path}/results/")
        )
        pods_running = [_pod(container["command"], local, index) for index in range(pods)]
        for pod in pods_running:
            _, error = pod.communicate(timeout=300)
            assert pod.returncode == 0, error
    outputs = sorted((tmp_path / "results").glob("shard-*.csv"))
    assert len(outputs) == pods
    joined = tmp_path / "all.csv"
    with joined.open("w", encoding="utf-8") as out:
        for number, path in enumerate(outputs):
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            out.writelines(lines if number == 0 else lines[1:])
    comparison = compare(str(joined), str(truth), within=["198.18.0.0/24", "2001:db8:1::/120"])
    assert comparison.ok, comparison.as_text()


def test_every_link_between_the_pages_leads_somewhere():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name}: {target}"
