"""What the README tells a user to run, run: the API example, the Kubernetes Indexed Job."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from scanner.lab.process import LabProcess
from scanner.lab.truth import compare

ROOT = Path(__file__).resolve().parent.parent


def _api_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- api-example[^>]*-->\n```python\n(.*?)```", readme, re.S)
    assert found, "the README's API example is marked <!-- api-example -->"
    return found.group(1)


def test_the_readme_api_example_runs_against_the_lab(tmp_path):
    truth = tmp_path / "truth.csv"
    with LabProcess(["--truth", str(truth)]) as lab:  # the built-in lab, as in the README
        example = _api_example().replace("127.0.0.1:5353", lab.address)
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
