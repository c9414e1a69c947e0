"""One private resolv.conf per process, naming only the scan's nameservers.

c-ares reads a resolv.conf whenever a channel is made; the scanner points it
at this file, so that no configuration (the system's, or a reload of it)
could ever send a query to a server nobody gave.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile
from collections.abc import Iterable

import pycares

from scanner.core.lookups import Nameserver


def system_nameservers() -> tuple[Nameserver, ...]:
    """The nameservers of the system resolver configuration, as c-ares reads it."""
    channel = pycares.Channel()
    try:
        return tuple(Nameserver.parse(server) for server in channel.servers)
    finally:
        channel.close()


_resolvconf: dict[int, tuple[str, set[str]]] = {}  # pid -> (path, addresses named)


def private_resolvconf(nameservers: Iterable[Nameserver]) -> str:
    """This process's resolv.conf for c-ares, naming only the scan's nameservers.

    c-ares reads a resolv.conf when a channel is made (and the fallback's
    event thread again when the file changes); pointed at this one, even a
    reload can never send a query to a server nobody gave. One file per
    process (a forked worker makes its own), removed when the process exits.
    """
    pid = os.getpid()
    path, named = _resolvconf.get(pid, ("", set()))
    wanted = named | {str(server.address) for server in nameservers}
    if path and wanted == named:
        return path
    if not path:
        fd, path = tempfile.mkstemp(prefix="fcrdns-resolv-", suffix=".conf")
        os.close(fd)
        if not _resolvconf:
            atexit.register(remove_private_resolvconf)
    text = "".join(f"nameserver {address}\n" for address in sorted(wanted))
    with open(path, "w", encoding="ascii") as handle:
        handle.write(text)
    _resolvconf[pid] = (path, wanted)
    return path


def remove_private_resolvconf() -> None:
    """Remove this process's resolv.conf, if it made one (never its parent's)."""
    path, _ = _resolvconf.pop(os.getpid(), ("", set()))
    if path:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
