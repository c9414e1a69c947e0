"""The nightly job as shipped: configs/cron and configs/systemd, run as written, two nights.

The cron line's command and the systemd service's command (its Environment=
and ExecStart=, as systemd would set them) run as plain processes against the
lab; between the nights one address breaks and one is fixed. The first night
has nothing to compare with (a notice, exit 0); the second alerts (exit 1) for
the one new finding only, though the lab has hundreds of old ones, and the
files rotate.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from helpers import write_lab_config

from scanner.lab.process import LabProcess

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs"
FCRDNS = str(Path(sys.executable).parent / "fcrdns")


def _cron_command() -> tuple[dict[str, str], list[str]]:
    """The environment and command of configs/cron/fcrdns.cron's job line."""
    lines = (CONFIGS / "cron" / "fcrdns.cron").read_text().splitlines()
    (entry,) = [line for line in lines if line and line[0].isdigit()]
    words = shlex.split(entry)[6:]  # minute hour day month weekday user
    env = {}
    while "=" in words[0]:
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    return env, words


def _systemd_command() -> tuple[dict[str, str], list[str]]:
    """The environment and ExecStart of the service, with systemd's specifiers expanded."""
    env: dict[str, str] = {}
    command: list[str] = []
    expand = {"%S": "/var/lib", "%E": "/etc", "%%": "%"}
    for line in (CONFIGS / "systemd" / "fcrdns-nightly.service").read_text().splitlines():
        key, _, value = line.partition("=")
        value = re.sub("%[SE%]", lambda m: expand[m.group()], value)
        if key == "Environment":
            name, _, setting = value.partition("=")
            env[name] = setting
        elif key == "ExecStart":
            command = shlex.split(value)
        elif key == "StateDirectory":
            env["STATE_DIRECTORY"] = f"/var/lib/{value}"  # as systemd sets it
    return env, command


def _night(
    env: dict[str, str], command: list[str], state: Path, job: Path, metrics: Path
) -> subprocess.CompletedProcess[str]:
    """Run a scheduler's command with its environment, pointed at this test's directories."""
    script = REPO / "configs" / "cron" / "fcrdns-nightly"
    assert command[0] == "/opt/fcrdns/lib/fcrdns-nightly"  # where the install steps put it
    env = env | {
        "STATE_DIRECTORY": str(state),
        "FCRDNS_JOB": str(job),
        "FCRDNS_METRICS": str(metrics),
        "FCRDNS": FCRDNS,
    }
    return subprocess.run(
        [str(script), *command[1:]],
        env={"PATH": os.environ["PATH"], "HOME": str(state), **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        return {row["ip"]: row for row in csv.DictReader(handle)}


def test_scheduler_files_name_the_installed_script() -> None:
    cron_env, cron = _cron_command()
    unit_env, unit = _systemd_command()
    assert cron[0] == unit[0] == "/opt/fcrdns/lib/fcrdns-nightly"
    assert cron_env["FCRDNS_JOB"] == unit_env["FCRDNS_JOB"] == "/etc/fcrdns/job.yaml"
    assert cron_env["STATE_DIRECTORY"] == unit_env["STATE_DIRECTORY"] == "/var/lib/fcrdns"


@pytest.mark.lab
def test_systemd_units_verify(tmp_path: Path) -> None:
    """systemd-analyze accepts the units (with ExecStart at the repository's script)."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing (Debian's systemd package)"
    for name in ("fcrdns-nightly.service", "fcrdns-nightly.timer"):
        text = (CONFIGS / "systemd" / name).read_text()
        text = text.replace(
            "/opt/fcrdns/lib/fcrdns-nightly", str(CONFIGS / "cron" / "fcrdns-nightly")
        )
        (tmp_path / name).write_text(text)
    checked = subprocess.run(
        [analyze, "verify", "--man=no", *(str(tmp_path / n) for n in
                                          ("fcrdns-nightly.service", "fcrdns-nightly.timer"))],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    problems = [
        line for line in checked.stderr.splitlines()
        # a container without a running systemd cannot look up the OnFailure= or user names
        if "fcrdns-nightly" in line and "Failed to" not in line
    ]  # fmt: skip
    assert checked.returncode == 0 and not problems, checked.stderr


def test_two_nights_alert_on_the_new_finding_only(tmp_path: Path) -> None:
    lab_dir, state, etc = tmp_path / "lab", tmp_path / "state", tmp_path / "etc"
    for directory in (lab_dir, state, etc):
        directory.mkdir()
    lab_config = write_lab_config(lab_dir / "lab.yaml", ["198.18.0.0/24"])
    truth = lab_dir / "truth.csv"
    job = etc / "job.yaml"
    metrics = tmp_path / "textfile" / "fcrdns.prom"
    metrics.parent.mkdir()

    def write_job(address: str) -> None:
        settings = yaml.safe_load((CONFIGS / "job.yaml").read_text())
        settings.update(resolvers=[address], targets=["198.18.0.0/24"])
        job.write_text(yaml.safe_dump(settings))

    # Night 1, as cron runs it.
    with LabProcess(["--config", str(lab_config), "--truth", str(truth)]) as lab:
        write_job(lab.address)
        first = _night(*_cron_command(), state, job, metrics)
    assert first.returncode == 0, first.stderr
    assert "last-night.csv.gz does not exist yet (the first night?)" in first.stderr
    night1 = _rows(state / "last-night.csv.gz")
    assert len(night1) == 256
    summary1 = json.loads((state / "summary.json").read_text())
    assert summary1["since_previous"] is None
    day = time.strftime("%Y-%m-%d", time.gmtime())
    assert (state / "history" / f"{day}.csv.gz").exists()
    assert (state / "results.xlsx").exists() and (state / "report.html").exists()
    assert not list(state.glob("tonight*"))
    assert stat.S_IMODE(metrics.stat().st_mode) == 0o644  # node_exporter reads it

    # Between the nights: a passing address breaks, a mismatching one is fixed.
    with truth.open(encoding="utf-8") as handle:
        cases = {row["ip"]: row["case"] for row in csv.DictReader(handle)}
    broken = next(ip for ip, case in cases.items() if case == "confirm")
    fixed = next(ip for ip, case in cases.items() if case == "mismatch")
    old_findings = sum(row["status"] != "pass" for row in night1.values())
    assert old_findings > 50  # the lab is full of findings that are not new
    config = yaml.safe_load(lab_config.read_text())
    config["overrides"] = {broken: "mismatch", fixed: "confirm"}
    lab_config.write_text(yaml.safe_dump(config))

    # Night 2, as systemd runs it.
    with LabProcess(["--config", str(lab_config)]) as lab:
        write_job(lab.address)
        second = _night(*_systemd_command(), state, job, metrics)
    assert second.returncode == 1, second.stderr
    assert "findings: 1 new (--fail-on)" in second.stderr, second.stderr
    night2 = _rows(state / "last-night.csv.gz")
    assert (night2[broken]["status"], night2[fixed]["status"]) == ("mismatch", "pass")
    since = json.loads((state / "summary.json").read_text())["since_previous"]
    assert since["new"]["mismatch"] == 1 and since["fixed"]["mismatch"] == 1
    assert since["new_addresses"] == 1 and since["fixed_addresses"] == 1
    assert sum(since["new"].values()) == 1
    prom = metrics.read_text()
    assert 'fcrdns_new_findings{kind="mismatch"} 1.0' in prom
    assert 'fcrdns_fixed_findings{kind="mismatch"} 1.0' in prom
    with (state / "changes.csv").open(encoding="utf-8", newline="") as handle:
        changed = {row["ip"] for row in csv.DictReader(handle)}
    assert changed == {broken, fixed}
    assert not list(state.glob("tonight*"))

    # A third start while nothing changed: nothing new, exit 0.
    with LabProcess(["--config", str(lab_config)]) as lab:
        write_job(lab.address)
        third = _night(*_cron_command(), state, job, metrics)
    assert third.returncode == 0, third.stderr
    assert json.loads((state / "summary.json").read_text())["since_previous"]["new_addresses"] == 0


@pytest.mark.parametrize("name", ["new", "new:mismatch", "new:transient"])
def test_fail_on_new_needs_previous(tmp_path: Path, name: str) -> None:
    from helpers import fcrdns

    done = fcrdns("scan", "198.18.0.1", "--resolver", "127.0.0.1:9", "--fail-on", name,
                  "-o", str(tmp_path / "out.csv"))  # fmt: skip
    assert done.returncode == 2
    assert "--fail-on new needs --previous FILE" in done.stderr
