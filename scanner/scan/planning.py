"""From what a scan is asked to do (`ScanOptions`) to what it will do (one frozen `Plan`).

Everything the user gave is validated before the first query is sent: the
inputs (targets, expectations, paths: scanner/scan/inputs.py), then here the
outputs' journal or Dask parts, a resumption, and the lock on the outputs. A
problem is a `UserError` (exit code 2 on the command line) and nothing has
been written.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from scanner.core import targets as targeting
from scanner.core.config import ScanConfig
from scanner.core.diagnose import Annotator, GenericNames
from scanner.core.exits import UserError
from scanner.core.lookups import Nameserver, ResolverSpecError
from scanner.core.options import ScanOptions
from scanner.core.order import Shard, ShardError, part_of, positions, share
from scanner.files.journal import Journal, JournalError, Positions, Resumption, fingerprint, verify
from scanner.files.ownfiles import planted_links
from scanner.files.parts import Parts, PartsError
from scanner.files.publish import built, drop_stale_build
from scanner.files.runlock import RunLock
from scanner.files.sinks import OutputSpec
from scanner.scan.inputs import (
    check_fail_on,
    check_previous_results,
    load_expectations,
    load_targets,
    output_specs,
)
from scanner.scan.pool import Target


@dataclass(frozen=True, slots=True)
class OnDask:
    """--dask: the cluster's address, the shards asked for, their part files, and
    (--resume) how many shards the interrupted scan had."""

    address: str
    shards: int | None
    parts: Parts
    resumed_shards: int | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """One scan, validated: what to scan, in which order, where the rows go, how it runs.

    Built once by `plan_scan()` and never changed: every value the run reads
    is here, checked and typed (no raw options).
    """

    config: ScanConfig
    nameservers: tuple[Nameserver, ...]  # parsed once; empty: the system's, at run time
    target_set: targeting.TargetSet
    shard: Shard | None
    specs: list[OutputSpec]
    annotate: Annotator
    fail_on: tuple[str, ...] = ()
    zone_owner: bool = False  # --zone-owner, or implied by --check-authoritative
    check_authoritative: bool = False
    progress: bool = False
    sort_outputs: bool = False
    summary_file: str | None = None
    metrics_file: str | None = None
    # --previous: the last results to count new and fixed findings against;
    # None when not given or (the first night) when the file does not exist yet
    previous: str | None = None
    previous_missing: str | None = None  # --previous named a file that does not exist
    workers: int = 1  # processes on this machine (without --dask)
    dask: OnDask | None = None
    journal: Journal | None = None
    resumption: Resumption | None = None
    lock: RunLock | None = None  # held from planning until run_plan() ends

    @property
    def finishing_only(self) -> bool:
        """Every row was staged by an earlier run: only the outputs are left to finish."""
        return self.resumption is not None and self.resumption.complete

    @property
    def parts(self) -> Parts | None:
        return None if self.dask is None else self.dask.parts

    @property
    def total(self) -> int:
        return _total(self.target_set, self.shard)

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


def _total(target_set: targeting.TargetSet, shard: Shard | None) -> int:
    if shard is None:
        return target_set.count
    return share(target_set.count, shard.count, shard.index - 1)


def _fingerprint(
    target_set: targeting.TargetSet,
    config: ScanConfig,
    shard: Shard | None,
    specs: Sequence[OutputSpec],
) -> str:
    """What must not change between an interrupted scan and its resumption."""
    return fingerprint(
        {
            "targets": target_set.digest(),
            "order": config.order,
            "seed": config.seed,
            "shard": str(shard) if shard else None,
            "outputs": [(spec.path, spec.format) for spec in specs if not spec.stream],
        }
    )


def plan_fingerprint(plan: Plan) -> str:
    """What must not change between an interrupted scan and its resumption."""
    return _fingerprint(plan.target_set, plan.config, plan.shard, plan.specs)


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


def _resumed_shards(options: ScanOptions, parts: Parts, fingerprint: str) -> int:
    """The shard count of the interrupted --dask scan that left `parts`."""
    if not options.resume:
        raise UserError(
            f"an interrupted scan left {parts.path}: add --resume to continue it, "
            "or delete it to start again"
        )
    try:
        shards = parts.load(fingerprint)
    except PartsError as exc:
        raise UserError(str(exc)) from None
    asked = options.dask_shards
    if asked is not None and asked != shards:
        raise UserError(
            f"--dask-shards {asked}: the interrupted scan in {parts.path} has "
            f"{shards} shards; leave --dask-shards out to resume it"
        )
    return shards


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
    try:
        nameservers = config.nameservers()
    except ResolverSpecError as exc:  # config.py checked them; a ScanConfig made in code may not be
        raise UserError(str(exc)) from None
    previous, previous_missing = check_previous_results(options, specs, fail_on)
    plan = functools.partial(
        Plan,
        config,
        nameservers,
        target_set,
        shard,
        specs,
        annotate,
        fail_on=fail_on,
        zone_owner=options.zone_owner or options.check_authoritative,
        check_authoritative=options.check_authoritative,
        progress=options.progress,
        sort_outputs=options.sort_outputs,
        summary_file=options.summary_file,
        metrics_file=options.metrics_file,
        previous=previous,
        previous_missing=previous_missing,
    )
    total = _total(target_set, shard)
    files = [spec for spec in specs if not spec.stream]
    if not files:
        if options.resume:
            raise UserError("--resume needs an output file (-o FILE), not only streams")
        if options.dask:
            raise UserError(
                "--dask writes each shard's rows to part files next to the output: give -o FILE"
            )
        return plan(workers=config.worker_count(total))
    journal = Journal(files[0].path + ".journal")
    parts = Parts(files[0].path + ".parts")
    ours = [journal.path, str(parts.path), *(path for spec in files for path in spec.side_files())]
    planted = planted_links(ours)
    if planted:
        raise UserError(
            f"{planted[0]} is a symbolic link: the scan writes that file itself and will not "
            "write through a link (it could overwrite any file); remove the link"
        )
    identity = _fingerprint(target_set, config, shard, specs)
    lock = RunLock([spec.path for spec in files]).acquire()
    try:
        if options.dask:
            resumed = _resumed_shards(options, parts, identity) if parts.exists() else None
            dask = OnDask(options.dask, options.dask_shards, parts, resumed)
            return plan(workers=1, dask=dask, lock=lock)
        resumption = None
        if journal.exists():
            resumption = _resumption(journal, files, identity, total, resume=options.resume)
        remaining = total - (len(resumption.done) if resumption else 0)
        return plan(
            workers=config.worker_count(remaining),
            journal=journal,
            resumption=resumption,
            lock=lock,
        )
    except BaseException:
        lock.release()
        raise


def _resumption(
    journal: Journal, files: Sequence[OutputSpec], identity: str, total: int, *, resume: bool
) -> Resumption:
    """What the journal of an earlier run of this command says is done, checked against
    the staged outputs. A run that staged every row is finished, `--resume` or not."""
    refusal = UserError(
        f"an interrupted scan left {journal.path}: add --resume to continue it, "
        "or delete it and the .partial outputs to start again"
    )
    try:
        state = journal.load(identity, total)
    except JournalError as exc:
        raise (UserError(str(exc)) if resume else refusal) from None
    if not state.complete and not resume:
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


# Queries per address of a plain scan: the PTR, then the forward lookup of its
# name (the lab's mix averages 1.94; CNAMEs, several names and retries add more).
QUERIES_PER_ADDRESS = 2


def describe(plan: Plan) -> str:
    """What the scan would do, in a few lines (`fcrdns scan --dry-run`): nothing is sent."""
    config = plan.config
    todo = plan.total - len(plan.done)
    lines = [f"dry run: nothing was sent or written; the scan would check {todo:,} addresses"]
    if plan.done:
        lines[0] += f" ({len(plan.done):,} of {plan.total:,} are done: resuming)"
    servers = ", ".join(str(server) for server in plan.nameservers) or "the system's resolvers"
    lines.append(f"  resolvers: {servers}")
    if plan.dask is not None:
        shards = plan.dask.resumed_shards or plan.dask.shards
        lines.append(f"  runs on: Dask at {plan.dask.address}, {shards or 'a shard per worker'}")
    else:
        lines.append(f"  runs on: {plan.workers} process{'es' if plan.workers > 1 else ''}")
    queries = todo * QUERIES_PER_ADDRESS
    lines.append(
        f"  queries: about {queries:,} ({QUERIES_PER_ADDRESS} per address; CNAMEs, several "
        "PTR names and retries add more)"
    )
    if config.rate == "auto":
        rate, how = config.max_rate, f"auto, adapting up to {config.max_rate:,.0f} queries/s"
    else:
        rate, how = config.rate, f"{config.rate:,.0f} queries/s" if config.rate else "unlimited"
    lines.append(f"  rate: {how}")
    if rate:
        seconds = queries / rate
        lines.append(f"  time: at least {_duration(seconds)} at {rate:,.0f} queries/s")
    else:
        lines.append("  time: as fast as the resolvers answer")
    if plan.check_authoritative:
        lines.append(
            f"  name servers: each zone's asked directly, at most "
            f"{config.authoritative_rate:,.0f} queries/s each (--check-authoritative)"
        )
    outputs = ", ".join("stdout" if spec.path == "-" else spec.path for spec in plan.specs)
    lines.append(f"  outputs: {outputs}")
    if plan.previous is not None:
        lines.append(f"  compared with: {plan.previous} (new and fixed findings)")
    elif plan.previous_missing is not None:
        lines.append(f"  compared with: {plan.previous_missing}, not there yet (the first night)")
    if plan.fail_on:
        lines.append(f"  exit code 1 for: {', '.join(plan.fail_on)} (--fail-on)")
    return "\n".join(lines) + "\n"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:,.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:,.0f} minutes"
    return f"{seconds / 3600:,.1f} hours"
