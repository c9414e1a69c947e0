"""A real PostgreSQL server for tests and benchmarks: Debian's postgresql, its own data
directory, listening on a Unix socket only (no TCP port, nothing another run could reach)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator


def _bin(program: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{program}"))
    path = found[-1] if found else shutil.which(program)
    if not path:
        raise FileNotFoundError(f"{program} not found: make test installs Debian's postgresql")
    return path


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A started server, removed afterwards; yields the URL of its `postgres` database
    (`new_database()` makes another)."""
    # Not under pytest's tmp_path: the server's user must reach its directory.
    home = tempfile.mkdtemp(prefix="fcrdns-pg-")
    os.chmod(home, 0o755)
    data, sockets = os.path.join(home, "data"), os.path.join(home, "run")
    os.mkdir(sockets)
    if os.geteuid() == 0:
        shutil.chown(home, "postgres")
        shutil.chown(sockets, "postgres")
    try:
        subprocess.run(
            _as_server_user([_bin("initdb"), "-D", data, "-U", "fcrdns", "-A", "trust",
                             "--no-sync", "-E", "UTF8", "--locale", "C"]),
            check=True, capture_output=True,
        )  # fmt: skip
        options = f"-c listen_addresses='' -c unix_socket_directories={sockets} -c fsync=off"
        subprocess.run(
            _as_server_user([_bin("pg_ctl"), "-D", data, "-w", "-t", "60", "-o", options,
                             "-l", os.path.join(home, "log"), "start"]),
            check=True, capture_output=True,
        )  # fmt: skip
        try:
            yield f"postgresql://fcrdns@/postgres?host={sockets}"
        finally:
            subprocess.run(
                _as_server_user([_bin("pg_ctl"), "-D", data, "-m", "immediate", "stop"]),
                capture_output=True,
            )  # fmt: skip
    finally:
        shutil.rmtree(home, ignore_errors=True)


def new_database(server: str, name: str) -> str:
    """A new empty database on the server of URL `server`; its URL."""
    import psycopg  # the [postgresql] extra

    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return server.replace("/postgres?", f"/{name}?")
