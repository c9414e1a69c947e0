"""The `fcrdns lab` command: build the lab zones, write the ground truth, serve until stopped."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile

from scanner.core.exits import EXIT_OK, UserError
from scanner.lab.config import NS_ADDRESSES, LabConfig, LabConfigError
from scanner.lab.faults import Faults
from scanner.lab.model import build, secondary_view, truth_rows
from scanner.lab.run import default_lab_config, serve, write_arrivals, write_truth
from scanner.lab.server import LabResolver, LabServer
from scanner.lab.zonefiles import export_zones


def _say(message: str) -> None:
    print(f"fcrdns lab: {message}", file=sys.stderr, flush=True)


def _announce(address: str) -> None:
    print(address, flush=True)


def detach(argv: list[str]) -> int:
    """`fcrdns lab --detach`: the same command in a new session, in the background.

    Returns once it listens (it writes its address to a pipe; the address is
    printed here) or has failed (its error is printed here, exit 2). Its own
    output afterwards goes nowhere: it would otherwise hold the caller's
    pipes open (a shell's `$(...)`, a test's captured output) until it stops.
    """
    read_end, write_end = os.pipe()
    command = [sys.executable, "-m", "scanner", *(a for a in argv if a != "--detach")]
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen(
            [*command, "--ready-fd", str(write_end)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            pass_fds=(write_end,),
            start_new_session=True,  # Ctrl-C in the caller's terminal does not reach it
        )
        os.close(write_end)
        with os.fdopen(read_end, "rb") as ready:
            address = ready.readline().decode().strip()
        if not address:
            child.wait()
            errors.seek(0)
            said = errors.read().decode("utf-8", "replace").strip().splitlines()
            raise UserError(said[-1].partition("error: ")[2] if said else "the lab did not start")
    print(address, flush=True)
    print(f"fcrdns lab: serving in the background (process {child.pid})", file=sys.stderr)
    return EXIT_OK


def run_lab_command(args: argparse.Namespace) -> int:
    if args.detach:
        if args.export_zones:
            raise UserError("--detach serves in the background; --export-zones does not serve")
        return detach(args.argv)
    try:
        config = LabConfig.load(args.config or default_lab_config())
        faults = Faults(
            latency=args.latency / 1000.0,
            drop=args.drop,
            servfail=args.servfail,
            truncate=args.truncate,
            seed=args.seed,
            rfc8020=args.break_rfc8020 or "",
        )
    except (LabConfigError, ValueError) as exc:
        raise UserError(str(exc)) from None
    zones, truth = build(config)

    def save_truth() -> None:
        if args.truth:
            try:
                write_truth(args.truth, list(truth_rows(truth)))
            except OSError as exc:
                raise UserError(f"cannot write truth {args.truth!r}: {exc.strerror}") from None

    print(
        f"fcrdns lab: {len(truth):,} addresses, {len(zones.records):,} names in "
        f"{len(zones.zones)} zones ({', '.join(zones.zones)})",
        file=sys.stderr,
    )
    if args.export_zones:
        save_truth()
        try:
            paths = export_zones(zones, config.ttl, args.export_zones)
            export_zones(
                secondary_view(zones), config.ttl, os.path.join(args.export_zones, "secondary")
            )
        except (LabConfigError, OSError) as exc:
            raise UserError(f"cannot export zones: {exc}") from None
        print("\n".join(paths))
        return EXIT_OK
    resolver = LabResolver(zones, config.ttl, faults, rotate=args.rotate)
    if args.record_arrivals:
        resolver.arrivals = []
    server = LabServer(resolver, args.host, args.port)
    name_servers = []
    if args.authoritative:
        name_servers = [
            LabServer(LabResolver(zones, config.ttl), NS_ADDRESSES["ns1"]),
            LabServer(LabResolver(secondary_view(zones), config.ttl), NS_ADDRESSES["ns2"]),
        ]
    if args.record_arrivals:
        for name_server in name_servers:
            name_server.resolver.arrivals = []
    try:
        asyncio.run(
            serve(
                server,
                args.port_file,
                save_truth,
                name_servers,
                pid_file=args.pid_file,
                ready_fd=args.ready_fd,
                announce=_announce,
                notice=_say,
            )
        )
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    if args.record_arrivals:
        write_arrivals(args.record_arrivals, resolver.arrivals or [])
        for name_server in name_servers:  # FILE.127.0.0.2...
            path = f"{args.record_arrivals}.{name_server.host}"
            write_arrivals(path, name_server.resolver.arrivals or [])
    return EXIT_OK
