"""`make demo`: scan the built-in lab provider end to end and check every verdict.

Starts the lab DNS server on a free loopback port, runs `fcrdns scan` over all
of its networks into results.csv, results.jsonl and results.xlsx (for a
spreadsheet), stops the server, and compares the results with the lab's
ground truth.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from scanner.lab.config import NS_NETWORK, LabConfig
from scanner.lab.process import LabProcess
from scanner.lab.run import default_lab_config
from scanner.lab.truth import compare


def main() -> int:
    lab_config = LabConfig.load(default_lab_config())
    networks = [str(network.network) for network in lab_config.networks]
    with tempfile.TemporaryDirectory(prefix="fcrdns-demo-") as work:
        truth = str(Path(work) / "truth.csv")
        with LabProcess(["--truth", truth, "--authoritative"]) as lab:
            print(f"lab DNS server on {lab.address}, serving {', '.join(networks)}")
            command = [
                "fcrdns",
                "scan",
                *networks,
                "--resolver",
                lab.address,
                # The default --rate auto, with a higher ceiling: the lab is ours, on
                # loopback, and takes far more than a shared resolver's 2,000 q/s.
                "--max-rate",
                "40000",
                # Each zone's two name servers, asked directly, on the lab's port;
                # the lab's servers take more than the default 20 queries a second.
                "--check-authoritative",
                "--authoritative-allow",
                NS_NETWORK,
                "--authoritative-port",
                str(lab.port),
                "--authoritative-rate",
                "10000",
                "-o",
                "results.csv",
                "-o",
                "results.jsonl",
                "-o",
                "results.xlsx",
                "--summary",
                "results-summary.json",
            ]
            print(f"$ {shlex.join(command)}", flush=True)
            scan = subprocess.run([sys.executable, "-m", "scanner", *command[1:]], check=False)
        if scan.returncode != 0:
            print(f"scan failed with exit code {scan.returncode}", file=sys.stderr)
            return scan.returncode
        for path in ("results.csv", "results.jsonl"):
            comparison = compare(path, truth, authoritative=True)
            print(f"{path}: {comparison.as_text()}")
            if not comparison.ok:
                return 1
    command = ["fcrdns", "report", "results.csv", "--summary", "results-summary.json",
               "-o", "report.html"]  # fmt: skip
    print(f"$ {shlex.join(command)}", flush=True)
    report = subprocess.run([sys.executable, "-m", "scanner", *command[1:]], check=False)
    if report.returncode != 0:
        return report.returncode
    print("wrote results.csv, results.jsonl, results.xlsx and results-summary.json")
    print(f"the report: {Path('report.html').resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
