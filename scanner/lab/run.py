"""Serving the lab: its servers started on one port, the ground truth written once they listen,
served until a signal (the `fcrdns lab` command is scanner/commands/lab.py)."""

from __future__ import annotations

import asyncio
import csv
import os
import signal
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from scanner.lab.model import TRUTH_COLUMNS
from scanner.lab.server import LabServer


def default_lab_config() -> str:
    return str(resources.files("scanner.lab") / "default-lab.yaml")


def write_truth(path: str, rows: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(TRUTH_COLUMNS)
        writer.writerows(rows)


def write_arrivals(path: str, arrivals: list[float]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(f"{moment:.6f}\n" for moment in arrivals)


async def start(server: LabServer, name_servers: list[LabServer]) -> None:
    """The lab's server, then its zones' name servers on the same port (another, if taken)."""
    for _ in range(20):
        await server.start()
        try:
            for name_server in name_servers:
                name_server.requested_port = server.port
                await name_server.start()
            return
        except OSError:
            for started in (server, *name_servers):
                await started.close()
            if server.requested_port:
                raise
    raise OSError("no port free on every lab address")


async def serve(
    server: LabServer,
    port_file: str | None,
    ready: Callable[[], None],
    name_servers: list[LabServer],
    *,
    pid_file: str | None = None,
    ready_fd: int | None = None,
    announce: Callable[[str], None] = print,
    notice: Callable[[str], None] = lambda message: None,
) -> None:
    await start(server, name_servers)
    try:
        ready()  # only once the port is ours: a busy port leaves no truth file behind
    except BaseException:
        for started in (server, *name_servers):
            await started.close()
        raise
    address = f"{server.host}:{server.port}"
    if port_file:
        Path(port_file).write_text(address + "\n", encoding="utf-8")
    if pid_file:
        Path(pid_file).write_text(f"{os.getpid()}\n", encoding="utf-8")
    if ready_fd is not None:  # --detach: the waiting parent learns the address, and returns
        os.write(ready_fd, (address + "\n").encode())
        os.close(ready_fd)
    else:
        announce(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for started in (server, *name_servers):
            await started.close()
            notice(f"stopped: {started!r}")
