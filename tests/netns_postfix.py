"""Run inside fresh network and mount namespaces: a real Postfix judges the lab's addresses.

Used by test_postfix.py: `unshare --net --mount python netns_postfix.py WORKDIR CONFIG NETWORK`.

In the namespaces, loopback holds NETWORK (so a client can connect from any
lab address) and /etc/resolv.conf is a bind mount naming 127.0.0.1 only,
where the Python lab serves CONFIG with `--rotate` (each asking of a
question sees its records turned by one, as recursive resolvers rotate
them). The scanner scans NETWORK through it; then a Postfix with
`reject_unknown_client_hostname` (and `unknown_client_reject_code = 550`)
listens on 127.0.0.1:25, and each address connects, from itself, once per
PTR name and once more (so each name comes first at least once), and sends
EHLO, MAIL and RCPT. Writes WORKDIR/scan.jsonl and WORKDIR/postfix.json:
{ip: [the RCPT TO reply codes]}. Nothing here can reach the host's resolver:
the network namespace has no interface but loopback.
"""

import json
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scanner.lab.process import LabProcess

work, config, network = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
subprocess.run(["ip", "addr", "add", network, "dev", "lo"], check=True)  # the whole prefix: local
resolv = work / "resolv.conf"
resolv.write_text("nameserver 127.0.0.1\noptions timeout:2 attempts:2\n", encoding="ascii")
subprocess.run(["mount", "--bind", str(resolv), "/etc/resolv.conf"], check=True)

MAIN_CF = """compatibility_level = 3.6
queue_directory = {spool}
data_directory = {spool}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.lab.example
mydomain = lab.example
mydestination = lab.example
local_recipient_maps =
relay_domains =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_client_restrictions = reject_unknown_client_hostname
unknown_client_reject_code = 550
smtpd_relay_restrictions = reject_unauth_destination
smtpd_reject_unlisted_recipient = no
alias_maps =
alias_database =
maillog_file = {spool}/maillog
maillog_file_prefixes = {spool}
biff = no
"""


def wait_for_smtp(deadline: float) -> None:
    while True:
        try:
            socket.create_connection(("127.0.0.1", 25), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # polling for the listener: master forks smtpd on demand


def rcpt_code(source: str) -> int:
    with smtplib.SMTP("127.0.0.1", 25, source_address=(source, 0), timeout=30) as client:
        client.ehlo("client.lab.example")
        client.mail("sender@lab.example")
        code, _ = client.rcpt("postmaster@lab.example")
        return code


# Postfix's daemons run as `postfix`: its spool must be reachable by that user,
# which the test's private temporary directory is not.
spool = Path(tempfile.mkdtemp(prefix="fcrdns-postfix-"))
spool.chmod(0o755)
postfix_config = work / "postfix"
postfix_config.mkdir(mode=0o755)
(postfix_config / "main.cf").write_text(MAIN_CF.format(spool=spool), encoding="ascii")
shutil.copy("/etc/postfix/master.cf", postfix_config / "master.cf")
postconf = ["postconf", "-c", str(postfix_config)]
try:
    with LabProcess(["--config", config, "--port", "53", "--rotate"]):
        scan = subprocess.run(
            [sys.executable, "-m", "scanner", "scan", network, "--resolver", "127.0.0.1:53",
             "--retries", "1", "-q", "-o", str(work / "scan.jsonl")],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if scan.returncode not in (0, 1):
            sys.exit(f"scan failed ({scan.returncode}): {scan.stderr}")
        rows = [json.loads(line) for line in (work / "scan.jsonl").read_text().splitlines()]
        subprocess.run([*postconf, "-F", "*/*/chroot = n"], check=True)
        started = subprocess.run(["postfix", "-c", str(postfix_config), "start"],
                                 capture_output=True, text=True, check=False)  # fmt: skip
        if started.returncode != 0:
            sys.exit(f"postfix did not start: {started.stdout}{started.stderr}")
        try:
            wait_for_smtp(time.monotonic() + 30)
            codes = {
                row["ip"]: [rcpt_code(row["ip"]) for _ in range(len(row["ptr_names"]) + 1)]
                for row in rows
            }
        finally:
            subprocess.run(["postfix", "-c", str(postfix_config), "stop"], capture_output=True,
                           check=False)  # fmt: skip
    (work / "postfix.json").write_text(json.dumps(codes), encoding="utf-8")
finally:
    if (spool / "maillog").exists():  # for a failed test to show
        shutil.copy(spool / "maillog", work / "maillog")
    shutil.rmtree(spool, ignore_errors=True)
