"""No query ever reaches a server other than the given resolver.

The scan runs in a network namespace that has only loopback (so nothing could
leave the machine even on a bug) and under strace, which records the destination
of every socket the scanner connects or sends to.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import write_lab_config

from scanner.lab.truth import compare

# Every test here runs strace and unshare (see the `lab` marker).
pytestmark = pytest.mark.lab

INET = re.compile(r'sin_port=htons\((\d+)\), sin_addr=inet_addr\("([0-9.]+)"\)')
INET6 = re.compile(r'sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, "([0-9a-f:.]+)"')


def test_queries_go_only_to_the_given_resolver(tmp_path):
    write_lab_config(tmp_path / "lab.yaml", ["198.18.0.0/24", "2001:db8:5::/124"])
    driver = Path(__file__).with_name("netns_scan.py")
    run = subprocess.run(
        ["unshare", "--net", sys.executable, str(driver), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    host, port = run.stdout.strip().rsplit(":", 1)
    destinations = set()
    calls = 0
    for line in (tmp_path / "trace.txt").read_text().splitlines():
        for pattern in (INET, INET6):
            for found_port, address in pattern.findall(line):
                destinations.add((address, int(found_port)))
                calls += 1
    assert calls > 0, "strace recorded no IP destination: the check would prove nothing"
    assert destinations == {(host, int(port))}
    comparison = compare(str(tmp_path / "r.csv"), str(tmp_path / "truth.csv"))
    assert comparison.ok, comparison.as_text()


def _traced_scan(tmp_path, *extra):
    trace = tmp_path / "dry-trace.txt"
    run = subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=connect,sendto,sendmsg,sendmmsg", "-o", str(trace),
         sys.executable, "-m", "scanner", "scan", "198.18.0.0/18", "--resolver", "127.0.0.1:9",
         "--timeout", "0.5", "-q", "-o", str(tmp_path / "out.csv"), *extra],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    destinations = {
        (address, int(port))
        for line in trace.read_text().splitlines()
        for pattern in (INET, INET6)
        for port, address in pattern.findall(line)
    }
    return run, destinations


def test_a_dry_run_sends_nothing_and_writes_nothing(tmp_path):
    run, destinations = _traced_scan(tmp_path, "--dry-run")
    assert run.returncode == 0, run.stderr
    assert "would check 16,384 addresses" in run.stdout
    assert "resolvers: 127.0.0.1:9" in run.stdout and "about 32,768" in run.stdout
    assert destinations == set()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dry-trace.txt"]
    # The same command without --dry-run: the trace sees its probe go out.
    run, destinations = _traced_scan(tmp_path)
    assert run.returncode == 3, run.stderr
    assert destinations == {("127.0.0.1", 9)}
