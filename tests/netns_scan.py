"""Run inside a fresh network namespace (only loopback): a lab server and a scan under strace.

Used by test_isolation.py: `unshare --net python netns_scan.py WORKDIR`. Prints the
lab server's address; the strace log of the scan is WORKDIR/trace.txt.
"""

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scanner.lab.process import LabProcess

work = Path(sys.argv[1])
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
with LabProcess(["--config", str(work / "lab.yaml"), "--truth", str(work / "truth.csv")]) as lab:
    scan = subprocess.run(
        [
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=connect,sendto,sendmsg,sendmmsg",
            "-o",
            str(work / "trace.txt"),
            sys.executable,
            "-m",
            "scanner",
            "scan",
            "198.18.0.0/24",
            "2001:db8:5::/124",
            *f"--resolver {lab.address} --rate 0 -o {work / 'r.csv'}".split(),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
print(lab.address)
sys.stderr.write(scan.stderr)
sys.exit(scan.returncode)
