"""From what a scan is asked to do (`ScanOptions`) to what it will do (`Plan`).

Everything the user gave is validated here, before the first query is sent:
the targets and the files they come from, the outputs and every file the scan
will write, the journal of an interrupted scan. A problem is a `UserError`
(exit code 2 on the command line) and nothing has been written.
"""

from __future__ import annotations

import codecs
import importlib.util
import os
import sys
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass, field, replace

from scanner.core import targets as targeting
from scanner.core.config import ScanConfig
from scanner.core.diagnose import Annotator, ExpectError, GenericNames, read_expectations
from scanner.core.exits import NothingToDo, UserError
from scanner.core.options import ScanOptions
from scanner.core.order import Shard, ShardError, part_of, positions, share
from scanner.core.status import Status
from scanner.core.summary import FLAGS
from scanner.core.verdict import IPAddress
from scanner.files.journal import Journal, JournalError, Positions, Resumption, fingerprint, verify
from scanner.files.ownfiles import planted_links
from scanner.files.parts import Parts, PartsError
from scanner.files.publish import built, drop_stale_build
from scanner.files.results import ResultsError, transient_ips
from scanner.files.runlock import RunLock
from scanner.files.sinks import OutputError, OutputSpec
from scanner.scan.pool import Target


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
                include += targeting.parse_arguments(transient_ips(path), f"{path}: ip")
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
        target_set = targeting.TargetSet.build(include, exclude, max_targets=config.max_targets)
        if not target_set.count:
            raise UserError("no targets left: the exclusions cover every address given")
        return target_set
    except targeting.TargetError as exc:
        raise UserError(str(exc)) from None


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
    """The statuses and findings (`transient`, `expected_mismatch`, `generic_ptr`) named."""
    known = [status.value for status in Status] + list(FAIL_ON_GROUPS)
    for name in names:
        if name not in known:
            raise UserError(f"--fail-on: unknown {name!r} (known: {', '.join(known)})")
    return tuple(names)


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
    for flag, path in (("--config", options.config_file), ("--expect", options.expect_file)):
        if path:
            inputs.append((flag, path))
    for flag, path in inputs:
        if path != "-" and (key := os.path.realpath(path)) in written:
            raise UserError(
                f"{written[key]} would overwrite the input {flag} {path}: write the results "
                "to another file"
            )


@dataclass(slots=True)
class Plan:
    """One scan, validated: what to scan, in which order, where the rows go."""

    config: ScanConfig
    target_set: targeting.TargetSet
    shard: Shard | None
    specs: list[OutputSpec]
    annotate: Annotator
    journal: Journal | None = None
    resumption: Resumption | None = None
    options: ScanOptions = field(default_factory=ScanOptions)
    fail_on: tuple[str, ...] = ()
    parts: Parts | None = None  # --dask: the shards' part files
    dask_shards: int | None = None  # --dask --resume: the interrupted scan's shard count
    probe_queries: int = 0
    lock: RunLock | None = None  # held from planning until run_plan() ends

    @property
    def finishing_only(self) -> bool:
        """Every row was staged by an earlier run: only the outputs are left to finish."""
        return self.resumption is not None and self.resumption.complete

    @property
    def zone_owner(self) -> bool:
        return self.options.zone_owner or self.options.check_authoritative

    @property
    def check_authoritative(self) -> bool:
        return self.options.check_authoritative

    @property
    def total(self) -> int:
        if self.shard is None:
            return self.target_set.count
        return share(self.target_set.count, self.shard.count, self.shard.index - 1)

    @property
    def done(self) -> Positions:
        return self.resumption.done if self.resumption else Positions(0)

    def sequence(self, stride: int = 1, offset: int = 0) -> Iterator[Target]:
        """(position, address) in scan order; this worker's positions, not yet done."""
        config, done = self.config, self.done
        indices = positions(
            self.target_set.count, order=config.order, seed=config.seed, shard=self.shard
        )
        address_at = self.target_set.address_at
        for position, index in part_of(enumerate(indices), stride, offset):
            if not done or position not in done:
                yield position, address_at(index)

    def count(self, stride: int = 1, offset: int = 0) -> int:
        return share(self.total, stride, offset) - self.done.count_every(stride, offset)


def plan_fingerprint(plan: Plan) -> str:
    """What must not change between an interrupted scan and its resumption."""
    return fingerprint(
        {
            "targets": plan.target_set.digest(),
            "order": plan.config.order,
            "seed": plan.config.seed,
            "shard": str(plan.shard) if plan.shard else None,
            "outputs": [(spec.path, spec.format) for spec in plan.specs if not spec.stream],
        }
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


def _resume_parts(plan: Plan, parts: Parts) -> None:
    if not plan.options.resume:
        raise UserError(
            f"an interrupted scan left {parts.path}: add --resume to continue it, "
            "or delete it to start again"
        )
    try:
        plan.dask_shards = parts.load(plan_fingerprint(plan))
    except PartsError as exc:
        raise UserError(str(exc)) from None
    asked = plan.options.dask_shards
    if asked is not None and asked != plan.dask_shards:
        raise UserError(
            f"--dask-shards {asked}: the interrupted scan in {parts.path} has "
            f"{plan.dask_shards} shards; leave --dask-shards out to resume it"
        )


def plan_scan(options: ScanOptions) -> Plan:
    """Validate everything a scan is asked to do; raises `UserError` naming what is wrong.

    Reads the target, exclusion and expectation files and checks the outputs,
    the journal and a resumption; sends no query and writes nothing.
    """
    config = options.settings
    if options.exclude:
        config = replace(config, exclude=(*config.exclude, *options.exclude))
    fail_on = check_fail_on(options.fail_on)
    check_dask(options)
    target_set = load_targets(options, config)
    specs = output_specs(options, config)
    try:
        shard = Shard.parse(options.shard) if options.shard else None
    except ShardError as exc:
        raise UserError(str(exc)) from None
    generic = GenericNames(config.generic_patterns)
    annotate = Annotator(generic, load_expectations(options, target_set), options.helo or "")
    plan = Plan(
        config,
        target_set,
        shard,
        specs,
        annotate,
        options=options,
        fail_on=fail_on,
    )
    files = [spec for spec in specs if not spec.stream]
    if not files:
        if options.resume:
            raise UserError("--resume needs an output file (-o FILE), not only streams")
        if options.dask:
            raise UserError(
                "--dask writes each shard's rows to part files next to the output: give -o FILE"
            )
        return plan
    journal = Journal(files[0].path + ".journal")
    parts = Parts(files[0].path + ".parts")
    ours = [journal.path, str(parts.path), *(path for spec in files for path in spec.side_files())]
    planted = planted_links(ours)
    if planted:
        raise UserError(
            f"{planted[0]} is a symbolic link: the scan writes that file itself and will not "
            "write through a link (it could overwrite any file); remove the link"
        )
    plan.lock = RunLock([spec.path for spec in files]).acquire()
    try:
        if options.dask:
            plan.parts = parts
            if parts.exists():
                _resume_parts(plan, parts)
        else:
            plan.journal = journal
            if journal.exists():
                plan.resumption = _resumption(plan, journal, files)
    except BaseException:
        plan.lock.release()
        raise
    return plan


def _resumption(plan: Plan, journal: Journal, files: Sequence[OutputSpec]) -> Resumption:
    """What the journal of an earlier run of this command says is done, checked against
    the staged outputs. A run that staged every row is finished, `--resume` or not."""
    refusal = UserError(
        f"an interrupted scan left {journal.path}: add --resume to continue it, "
        "or delete it and the .partial outputs to start again"
    )
    try:
        state = journal.load(plan_fingerprint(plan), plan.total)
    except JournalError as exc:
        raise (UserError(str(exc)) if plan.options.resume else refusal) from None
    if not state.complete and not plan.options.resume:
        raise refusal
    # An output built by the run that was stopped needs its .partial no more.
    unbuilt = [
        (index, spec.partial_path)
        for index, spec in enumerate(files)
        if not built(spec, state.ready.get(index))
    ]
    for index, _ in unbuilt:
        drop_stale_build(files[index])
    try:
        verify(state, dict(unbuilt))
    except JournalError as exc:
        raise UserError(str(exc)) from None
    return state
