"""Run inside a fresh network namespace (only loopback): Knot serving a hostile zone, and
scans with --check-authoritative under strace.

Used by test_faults_steering.py: `unshare --net python netns_authoritative.py WORKDIR`.
WORKDIR holds the zone files and `scans.json` (a list of extra argument lists, one
per scan); scan N's strace log is WORKDIR/trace-N.txt, its summary
WORKDIR/summary-N.json. Prints Knot's port.
"""

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scanner.lab.realservers import Knot

work = Path(sys.argv[1])
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
zones = sorted(str(path) for path in work.glob("*.zone"))
failed = 0
with Knot(work / "knot", zones) as knot:
    for number, extra in enumerate(json.loads((work / "scans.json").read_text())):
        scan = subprocess.run(
            ["strace", "-f", "-qq", "-e", "trace=connect,sendto,sendmsg,sendmmsg",
             "-o", str(work / f"trace-{number}.txt"), sys.executable, "-m", "scanner", "scan",
             "192.0.2.1-192.0.2.16", "--resolver", f"127.0.0.1:{knot.port}", "--rate", "0",
             "--timeout", "1", "--check-authoritative", "--authoritative-port", str(knot.port),
             "--authoritative-rate", "0", "-q", "-o", str(work / f"r-{number}.csv"),
             "--summary", str(work / f"summary-{number}.json"), *extra],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if scan.returncode not in (0, 1):
            sys.stderr.write(scan.stderr)
            failed += 1
print(knot.port)
sys.exit(failed)
