"""The inputs of a scan, checked before anything is sent: the targets and the files
they come from, the expectations, --fail-on, and every path the scan will read or write.

A problem is a `UserError` that names the file, line or flag (exit code 2 on
the command line).
"""

from __future__ import annotations

import codecs
import importlib.util
import os
import sys
from collections.abc import Container, Iterator, Sequence

from scanner.core import targets as targeting
from scanner.core.config import ScanConfig
from scanner.core.diagnose import ExpectError, read_expectations
from scanner.core.exits import NothingToDo, UserError
from scanner.core.findings import FLAGS, KINDS, NEW_PREFIX, new_kinds
from scanner.core.names import quoted
from scanner.core.options import ScanOptions
from scanner.core.status import Status
from scanner.core.verdict import IPAddress
from scanner.files.historydb import HistoryError, check_history_target, is_database_url
from scanner.files.previous import check_previous
from scanner.files.results import ResultsError, transient_ips
from scanner.files.sinks import OutputError, OutputSpec


def _source(path: str) -> str:
    """How messages name a list file: '-' is stdin."""
    return "stdin" if path == "-" else path


def _read_lines(path: str) -> Iterator[str]:
    """The lines of a file, or of stdin for '-', read as they are used.

    A list of a million addresses is never held whole. Lists saved by
    spreadsheet programs and Windows editors start with a byte-order mark,
    which is not part of the first address.
    """
    try:
        handle = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise UserError(f"cannot read {path!r}: {exc.strerror}") from None
    try:
        for number, raw in enumerate(handle, start=1):
            if number == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            try:
                yield raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise UserError(
                    f"{_source(path)}:{number}: not UTF-8 text ({exc.reason})"
                ) from None
    except OSError as exc:
        raise UserError(f"cannot read {path!r}: {exc.strerror}") from None
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()


def load_targets(options: ScanOptions, config: ScanConfig) -> targeting.TargetSet:
    try:
        include = targeting.parse_arguments(options.targets)
        for path in options.rescan_failed:
            try:
                failed = _failed(path, walk=options.walk)
                include += targeting.parse_arguments(failed, f"{path}: ip")
            except ResultsError as exc:
                raise UserError(str(exc)) from None
        for path in options.target_files:
            include += targeting.parse_lines(_read_lines(path), _source(path))
        exclude = targeting.parse_arguments(config.exclude, "exclusion")
        for path in options.exclude_files:
            exclude += targeting.parse_lines(_read_lines(path), _source(path))
        if not include and options.rescan_failed:
            sources = ", ".join(options.rescan_failed)
            raise NothingToDo(
                f"nothing to rescan: no transient failures in {sources}; no output written"
            )
        if not include:
            raise UserError("no targets: give IPs, CIDRs or ranges, or -f FILE")
        if options.walk:
            return _walk_targets(include, exclude, config.max_targets)
        target_set = targeting.TargetSet.build(include, exclude, max_targets=config.max_targets)
        if not target_set.count:
            raise UserError("no targets left: the exclusions cover every address given")
        return target_set
    except targeting.TargetError as exc:
        raise UserError(str(exc)) from None


def _failed(path: str, *, walk: bool) -> Iterator[str]:
    """The transient rows' `ip`s of `path`, read as they are used; a prefix (a subtree a
    walk could not see) only when walking again."""
    for ip in transient_ips(path):
        if "/" in ip and not walk:
            raise ResultsError(
                f"{path} has rows for prefixes a walk could not see ({quoted(ip, 50)}): "
                "add --walk to walk them again"
            )
        yield ip


def _walk_targets(
    include: targeting.SpanList, exclude: targeting.SpanList, max_targets: int
) -> targeting.TargetSet:
    """The prefixes to walk. IPv6 space of any size; IPv4 space gets a row per address,
    so --max-targets bounds its addresses (and, in the walk, the names asked)."""
    target_set = targeting.TargetSet.build(include, exclude, max_targets=2**129)
    if not target_set.count:
        raise UserError("no targets left: the exclusions cover every address given")
    v4 = sum(span.size for span in target_set.iter_spans() if span.version == 4)
    if v4 > max_targets:
        raise UserError(
            f"{v4:,} IPv4 addresses to walk, more than the limit of {max_targets:,}: a walk "
            "writes a row for every IPv4 address (one whose reverse name does not exist without "
            "asking it); check the ranges or raise --max-targets"
        )
    return target_set


def load_expectations(
    options: ScanOptions, targets: Container[IPAddress] | None = None
) -> dict[IPAddress, str]:
    if not options.expect_file:
        return {}
    try:
        return read_expectations(_read_lines(options.expect_file), options.expect_file, targets)
    except ExpectError as exc:
        raise UserError(str(exc)) from None


# --fail-on names besides the statuses: every transient status, and the findings.
FAIL_ON_GROUPS = ("transient", *FLAGS)


def check_fail_on(names: Sequence[str]) -> tuple[str, ...]:
    """The statuses and findings (`transient`, `expected_mismatch`, `generic_ptr`) named,
    and `new` or `new:KIND` (findings the --previous results did not have)."""
    known = [status.value for status in Status] + list(FAIL_ON_GROUPS)
    for name in names:
        if name == NEW_PREFIX:
            continue
        kind = name.removeprefix(NEW_PREFIX + ":")
        if kind != name and kind not in KINDS:
            raise UserError(
                f"--fail-on: unknown {name!r} (new:KIND, KIND one of {', '.join(KINDS)})"
            )
        if kind == name and name not in known:
            raise UserError(
                f"--fail-on: unknown {name!r} (known: {', '.join(known)}; new, or new:KIND for "
                "findings the --previous results did not have)"
            )
    return tuple(names)


def check_previous_results(
    options: ScanOptions, specs: Sequence[OutputSpec], fail_on: Sequence[str]
) -> tuple[str | None, str | None]:
    """--previous: (the result file to compare tonight's with, the one missing), checked
    before anything is scanned.

    A file that does not exist is the first night: a notice, not an error.
    Tonight's findings are counted from tonight's first file output, so one is needed.
    """
    path = options.previous
    if path is None:
        if new_kinds(fail_on):
            raise UserError(
                "--fail-on new needs --previous FILE (the last results to compare with)"
            )
        return None, None
    if not any(not spec.stream for spec in specs):
        raise UserError(
            "--previous needs an output file (-o FILE): tonight's findings are read from it"
        )
    if not is_database_url(path) and not os.path.exists(path):
        return None, path
    try:
        if not check_previous(path):
            return None, path  # a history with no night stored yet
    except (ResultsError, HistoryError) as exc:
        raise UserError(f"--previous: {exc}") from None
    return path, None


def check_history(options: ScanOptions, specs: Sequence[OutputSpec]) -> tuple[str, str] | None:
    """--history DB: (the database, the output its rows are read from), both checked (the
    database opened, made if it is a new SQLite file) before anything is scanned."""
    if options.history is None:
        return None
    source = next(
        (spec.path for spec in specs if not spec.stream and spec.format in ("csv", "xlsx")), None
    )
    if source is None:
        raise UserError(
            "--history reads the night's rows from a CSV or XLSX output: add -o FILE.csv"
        )
    try:
        check_history_target(options.history)
    except HistoryError as exc:
        raise UserError(f"--history: {exc}") from None
    return options.history, source


def output_specs(options: ScanOptions, config: ScanConfig) -> list[OutputSpec]:
    check_paths(options)
    try:
        specs = [OutputSpec.parse(path, config.format) for path in options.outputs]
    except OutputError as exc:
        raise UserError(str(exc)) from None
    for spec in specs:  # opened after the resolvers are probed: usage errors come first
        if spec.stream:
            continue
        directory = os.path.dirname(spec.path) or "."
        if not os.path.isdir(directory):
            raise UserError(f"cannot open output {spec.path!r}: no directory {directory}")
        if not os.access(directory, os.W_OK):
            raise UserError(f"cannot open output {spec.path!r}: cannot create files in {directory}")
    return specs


def _check_writable(flag: str, path: str) -> None:
    """Written after the scan: find out now, not after hours of scanning."""
    if os.path.exists(path):
        if os.path.isdir(path):
            raise UserError(f"{flag} {path}: is a directory")
        if not os.access(path, os.W_OK):
            raise UserError(f"{flag} {path}: not writable")
        return
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise UserError(f"{flag} {path}: no directory {directory}")
    if not os.access(directory, os.W_OK):
        raise UserError(f"{flag} {path}: cannot create files in {directory}")


def check_paths(options: ScanOptions) -> None:
    """Every file the scan writes is written once, and never over a file it reads.

    Two outputs with one name would race for one `.partial` file; an output over
    an input (`-f hosts.csv -o hosts.csv`, `--rescan-failed r.csv -o r.csv`)
    would replace the list or the results the scan was started from.
    """
    written: dict[str, str] = {}
    outputs = [("-o", path) for path in options.outputs]
    for flag, path in (("--summary", options.summary_file), ("--metrics", options.metrics_file)):
        if path:
            outputs.append((flag, path))
    for flag, path in outputs:
        key = path if path == "-" else os.path.realpath(path)
        if key in written:
            raise UserError(f"{flag} {path}: the same file is already an output ({written[key]})")
        written[key] = f"{flag} {path}"
        if path != "-" and flag != "-o":  # -o files are opened before the scan starts
            _check_writable(flag, path)
    inputs = [("-f", path) for path in options.target_files]
    inputs += [("--exclude-file", path) for path in options.exclude_files]
    inputs += [("--rescan-failed", path) for path in options.rescan_failed]
    for flag, path in (
        ("--config", options.config_file),
        ("--expect", options.expect_file),
        ("--previous", options.previous),
        ("--history", options.history),
    ):
        if path:
            inputs.append((flag, path))
    for flag, path in inputs:
        if path != "-" and (key := os.path.realpath(path)) in written:
            raise UserError(
                f"{written[key]} would overwrite the input {flag} {path}: write the results "
                "to another file"
            )


def check_dask(options: ScanOptions) -> None:
    """--dask's address, shard count and company; the extra it needs installed."""
    if options.dask is None:
        if options.dask_shards is not None:
            raise UserError("--dask-shards needs --dask")
        return
    address = options.dask
    if address.startswith("local"):
        _, colon, count = address.partition(":")
        if address != "local" and not (colon and count.isdigit() and int(count) > 0):
            raise UserError(f"--dask {address}: expected local, local:N (N workers) or an address")
    if options.dask_shards is not None and options.dask_shards < 1:
        raise UserError(f"--dask-shards: expected a positive number, got {options.dask_shards}")
    if options.shard:
        raise UserError("--dask cuts the scan into shards itself: leave out --shard")
    if importlib.util.find_spec("distributed") is None:
        raise UserError(
            "--dask needs Dask's distributed package, which is not installed: "
            "pip install 'fcrdns-scanner[dask]'"
        )
