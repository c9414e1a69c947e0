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
_PREFIX = "fcrdns-resolv-"  # then "<pid namespace>-<pid>-" of the process it belongs to


def private_resolvconf(nameservers: Iterable[Nameserver]) -> str:
    """This process's resolv.conf for c-ares, naming only the scan's nameservers.

    c-ares reads a resolv.conf when a channel is made (and the fallback's
    event thread again when the file changes); pointed at this one, even a
    reload can never send a query to a server nobody gave. One file per
    process (a forked worker makes its own), removed when the process exits;
    the files of processes that could not remove theirs (SIGKILL) are removed
    by the next one.
    """
    pid = os.getpid()
    path, named = _resolvconf.get(pid, ("", set()))
    wanted = named | {str(server.address) for server in nameservers}
    if path and wanted == named:
        return path
    if not path:
        remove_orphaned_resolvconfs()
        fd, path = tempfile.mkstemp(prefix=f"{_owner_prefix()}{pid}-", suffix=".conf")
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


def remove_orphaned_resolvconfs() -> None:
    """Remove the resolv.conf files whose process no longer runs.

    A process killed outright cannot remove its file. The pid in the name
    tells whose it is: a file whose pid runs (or is another user's, which
    the sticky temporary directory keeps anyway) is left alone, and so is one
    made in another pid namespace (a container sharing the directory), whose
    pids mean other processes.
    """
    ours = _owner_prefix()
    with contextlib.suppress(OSError), os.scandir(tempfile.gettempdir()) as entries:
        for entry in entries:
            if not (entry.name.startswith(ours) and entry.name.endswith(".conf")):
                continue
            pid_text = entry.name.removeprefix(ours).partition("-")[0]
            if not pid_text.isdigit() or _runs(int(pid_text)):
                continue
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def _owner_prefix() -> str:
    """The name prefix of this pid namespace's files."""
    try:  # "pid:[4026531836]" on Linux
        namespace = os.readlink("/proc/self/ns/pid").partition("[")[2].rstrip("]")
    except OSError:
        namespace = ""
    return f"{_PREFIX}{namespace or 0}-"


def _runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
