"""Knot DNS (authoritative), Unbound (recursive) and dnsdist (a slow, lossy network) on loopback.

For tests and benchmarks that need real DNS servers: configurations are written
into a private directory, the servers run in the foreground as child processes
and are stopped with SIGTERM. Everything listens on and talks to loopback
addresses only (127.0.0.1 unless given another, such as a zone's second name
server on 127.0.0.3): Unbound's every zone, the root included, is a stub
pointing at Knot, and its outgoing queries leave from 127.0.0.1, so it can
never query the internet.
dnsdist stands in for the network between a scanner and its resolver (this
kernel has no netem): it delays every UDP answer and drops a share of queries,
and its security polling is switched off, so it never queries anything itself.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import dns.exception
import dns.message
import dns.query
import dns.rcode


def _program(name: str) -> str:
    """Debian installs the servers in /usr/sbin, which a user's PATH may lack."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin") or name


KNOTD = _program("knotd")
UNBOUND = _program("unbound")
DNSDIST = _program("dnsdist")


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise OSError("no free port")


def wait_until_answering(
    port: int,
    name: str,
    process: subprocess.Popen[bytes],
    limit: float = 30.0,
    host: str = "127.0.0.1",
) -> None:
    """Block until `host`:`port` answers a query for `name` (or fail after `limit`)."""
    deadline = time.monotonic() + limit
    query = dns.message.make_query(name, "SOA")
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            dns.query.udp(query, host, port=port, timeout=0.2)
            return
        except (dns.exception.Timeout, ConnectionRefusedError, OSError):
            continue
    raise RuntimeError(f"server on port {port} did not answer within {limit} s")


class _Server:
    command: list[str]
    probe_name: str

    def __init__(self, directory: Path, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.directory / "server.log"

    def start(self) -> Self:
        self._write_config()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, cwd=self.directory
            )
        try:
            wait_until_answering(self.port, self.probe_name, self.process, host=self.host)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{exc}; log: {self.log.read_text()[-2000:]}") from None
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def _write_config(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class Knot(_Server):
    """knotd serving zone files (`<apex>.zone`) from a directory."""

    def __init__(
        self,
        directory: Path,
        zone_files: Sequence[str],
        port: int | None = None,
        workers: int = 1,
        host: str = "127.0.0.1",
        signed: Sequence[str] = (),
    ):
        super().__init__(directory, port, host)
        self.workers = workers
        self.zone_files = [Path(path).resolve() for path in zone_files]
        # Zone files (of zone_files) that Knot signs as it loads them (DNSSEC, NSEC).
        self.signed = {Path(path).resolve() for path in signed}
        self.zones = [path.name.removesuffix(".zone") for path in self.zone_files]
        self.probe_name = self.zones[0]
        self.config = self.directory / "knot.conf"
        self.command = [KNOTD, "-c", str(self.config)]

    def _write_config(self) -> None:
        zones = "\n".join(
            f'  - domain: "{apex}"\n    file: "{path}"'
            + ("\n    dnssec-signing: on" if path in self.signed else "")
            for apex, path in zip(self.zones, self.zone_files, strict=True)
        )
        (self.directory / "db").mkdir(exist_ok=True)  # where a signed zone's keys are kept
        self.config.write_text(
            f"""server:
    rundir: "{self.directory}"
    listen: {self.host}@{self.port}
    udp-workers: {self.workers}
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: "{self.directory}/db"
template:
  - id: default
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
{zones}
"""
        )


class Unbound(_Server):
    """unbound resolving the lab zones through stub zones pointing at Knot."""

    def __init__(
        self,
        directory: Path,
        knot: Knot,
        port: int | None = None,
        options: Mapping[str, str | int] | None = None,
        host: str = "127.0.0.1",
        stubs: Mapping[str, str] | None = None,
        anchors: Sequence[str] = (),
    ):
        super().__init__(directory, port, host)
        self.knot = knot
        # Trust anchors (DNSKEY records as text): with any, Unbound validates.
        self.anchors = list(anchors)
        self.options = dict(options or {})
        # More stub zones: apex -> "address@port" of its only server (a lame one, say).
        self.stubs = dict(stubs or {})
        self.probe_name = knot.zones[0]
        self.config = self.directory / "unbound.conf"
        self.command = [UNBOUND, "-d", "-c", str(self.config)]

    def _write_config(self) -> None:
        extra = "\n".join(f"    {key}: {value}" for key, value in self.options.items())
        stubs = "\n".join(
            f'stub-zone:\n    name: "{apex}"\n    stub-addr: {self.knot.host}@{self.knot.port}\n'
            for apex in [".", *self.knot.zones]
        ) + "".join(
            f'stub-zone:\n    name: "{apex}"\n    stub-addr: {address}\n'
            for apex, address in self.stubs.items()
        )
        # Unbound answers the documentation prefixes' reverse zones itself
        # (RFC 6303), NXDOMAIN for every name: a stub there must win.
        extra += "".join(f'\n    local-zone: "{apex}." nodefault' for apex in self.stubs)
        extra += "".join(f'\n    trust-anchor: "{anchor}"' for anchor in self.anchors)
        modules = "validator iterator" if self.anchors else "iterator"
        self.config.write_text(
            f"""server:
    interface: {self.host}
    port: {self.port}
    outgoing-interface: 127.0.0.1
    do-ip6: no
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    username: ""
    chroot: ""
    directory: "{self.directory}"
    pidfile: "{self.directory}/unbound.pid"
    use-syslog: no
    verbosity: 0
    module-config: "{modules}"
    num-threads: 1
    qname-minimisation: no
    infra-keep-probing: yes
    # Unbound answers the documentation prefix 2001:db8::/32 itself (RFC 6303
    # default zones); the lab lives there, so send it to Knot like the rest.
    local-zone: "8.b.d.0.1.0.0.2.ip6.arpa." nodefault
{extra}
{stubs}
remote-control:
    control-enable: no
"""
        )


class Dnsdist(_Server):
    """dnsdist on 127.0.0.1 forwarding to `backend_port`: a WAN path with latency and loss.

    `delay_ms` delays every UDP answer (dnsdist's DelayAction, which holds the
    answer without holding the thread); `loss` drops that share of queries
    before they reach the backend, so the client sees a timeout;
    `drop_suffixes` drops every query for a name under those zones.
    """

    def __init__(
        self,
        directory: Path,
        backend_port: int,
        probe_name: str,
        *,
        delay_ms: int = 0,
        loss: float = 0.0,
        drop_suffixes: Sequence[str] = (),
        port: int | None = None,
        host: str = "127.0.0.1",
        backend_host: str = "127.0.0.1",
    ):
        super().__init__(directory, port, host)
        self.backend_port = backend_port
        self.backend_host = backend_host
        self.delay_ms = delay_ms
        self.loss = loss
        self.drop_suffixes = list(drop_suffixes)
        self.probe_name = probe_name
        self.config = self.directory / "dnsdist.conf"
        self.command = [DNSDIST, "--supervised", "--disable-syslog", "-C", str(self.config)]

    def _write_config(self) -> None:
        rules = []
        if self.drop_suffixes:
            rules.append("local silent = newSuffixMatchNode()")
            rules += [f'silent:add("{suffix.rstrip(".")}.")' for suffix in self.drop_suffixes]
            rules.append("addAction(SuffixMatchNodeRule(silent), DropAction())")
        if self.loss:
            rules.append(f"addAction(ProbaRule({self.loss}), DropAction())")
        if self.delay_ms:
            rules.append(f"addAction(AllRule(), DelayAction({int(self.delay_ms)}))")
        newline = "\n"
        self.config.write_text(
            f"""-- Never poll anything outside this machine (dnsdist's version check).
setSecurityPollSuffix("")
setLocal("{self.host}:{self.port}")
newServer({{address="{self.backend_host}:{self.backend_port}", healthCheckMode="up"}})
setMaxUDPOutstanding(65535)
{newline.join(rules)}
"""
        )
