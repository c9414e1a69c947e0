"""From what a scan is asked to do (`ScanOptions`) to what it will do (one frozen `Plan`).

Everything the user gave is validated before the first query is sent: the
inputs (targets, expectations, paths: scanner/scan/inputs.py), then here the
outputs' journal or Dask parts, a resumption, and the lock on the outputs. A
problem is a `UserError` (exit code 2 on the command line) and nothing has
been written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from scanner.core import targets as targeting
from scanner.core.config import ScanConfig
from scanner.core.diagnose import Annotator, GenericNames
from scanner.core.exits import UserError
from scanner.core.lookups import Nameserver, ResolverSpecError
from scanner.core.options import ScanOptions
from scanner.core.order import Shard, ShardError, part_of, positions, share
from scanner.core.verdict import row_ip
from scanner.files.journal import Journal, JournalError, Positions, Resumption, fingerprint, verify
from scanner.files.ownfiles import planted_links
from scanner.files.parts import Parts, PartsError
from scanner.files.publish import built, drop_stale_build
from scanner.files.runlock import RunLock
from scanner.files.sinks import OutputSpec
from scanner.files.walkfile import WalkFileError, WalkRecords
from scanner.scan.inputs import (
    check_dask,
    check_fail_on,
    check_history,
    check_previous_results,
    load_expectations,
    load_targets,
    output_specs,
)
from scanner.scan.pool import Target
from scanner.scan.walkplan import (
    Walked,
    WalkJob,
    known_absent,
    walk_job,
    walked_of,
    walked_targets,
)


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
    # --history: the database the night is stored in, and the output its rows are read from
    history: str | None = None
    history_source: str | None = None
    workers: int = 1  # processes on this machine (without --dask)
    dask: OnDask | None = None
    journal: Journal | None = None
    resumption: Resumption | None = None
    lock: RunLock | None = None  # held from planning until run_plan() ends
    # --walk: the walk still to do (then `target_set` holds the prefixes), or, once
    # walked, what it found (`target_set` then holds the addresses to check)
    walk: WalkJob | None = None
    walked: Walked | None = None

    @property
    def finishing_only(self) -> bool:
        """Every row was staged by an earlier run: only the outputs are left to finish."""
        return self.resumption is not None and self.resumption.complete

    @property
    def parts(self) -> Parts | None:
        return None if self.dask is None else self.dask.parts

    @property
    def total(self) -> int:
        return _total(self._size, self.shard)

    @property
    def _size(self) -> int:
        """Rows of the whole scan: an address each, and a walk's rows for prefixes."""
        extra = len(self.walked.prefix_rows) if self.walked is not None else 0
        return self.target_set.count + extra

    @property
    def done(self) -> Positions:
        return self.resumption.done if self.resumption else Positions(0)

    def sequence(self, stride: int = 1, offset: int = 0) -> Iterator[Target]:
        """(position, address) in scan order; this worker's positions, not yet done."""
        config, done = self.config, self.done
        indices = positions(self._size, order=config.order, seed=config.seed, shard=self.shard)
        address_at = self.target_set.address_at
        walked = self.walked
        if walked is None:
            for position, index in part_of(enumerate(indices), stride, offset):
                if not done or position not in done:
                    yield position, address_at(index)
            return
        addresses, rows, empty = self.target_set.count, walked.prefix_rows, walked.empty
        for position, index in part_of(enumerate(indices), stride, offset):
            if done and position in done:
                continue
            if index >= addresses:
                yield position, rows[index - addresses]
                continue
            ip = address_at(index)
            above = empty.above(ip) if empty else None
            yield position, ip if above is None else known_absent(ip, above)

    def count(self, stride: int = 1, offset: int = 0) -> int:
        return share(self.total, stride, offset) - self.done.count_every(stride, offset)


def _total(size: int, shard: Shard | None) -> int:
    if shard is None:
        return size
    return share(size, shard.count, shard.index - 1)


def _fingerprint(
    target_set: targeting.TargetSet,
    config: ScanConfig,
    shard: Shard | None,
    specs: Sequence[OutputSpec],
    walked: Walked | None = None,
) -> str:
    """What must not change between an interrupted scan and its resumption."""
    settings = {
        "targets": target_set.digest(),
        "order": config.order,
        "seed": config.seed,
        "shard": str(shard) if shard else None,
        "outputs": [(spec.path, spec.format) for spec in specs if not spec.stream],
    }
    if walked is not None:  # the rows of a walk: its file, and the prefixes not walked
        settings["walk"] = walked.fingerprint
        settings["prefix_rows"] = [row_ip(row) for row in walked.prefix_rows]
    return fingerprint(settings)


def plan_fingerprint(plan: Plan) -> str:
    """What must not change between an interrupted scan and its resumption."""
    return _fingerprint(plan.target_set, plan.config, plan.shard, plan.specs, plan.walked)


DaskRequest = tuple[str, int | None]  # --dask's address, --dask-shards


def _resumed_shards(resume: bool, dask: DaskRequest, parts: Parts, fingerprint: str) -> int:
    """The shard count of the interrupted --dask scan that left `parts`."""
    if not resume:
        raise UserError(
            f"an interrupted scan left {parts.path}: add --resume to continue it, "
            "or delete it to start again"
        )
    try:
        shards = parts.load(fingerprint)
    except PartsError as exc:
        raise UserError(str(exc)) from None
    asked = dask[1]
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
    if options.walk and shard is not None:
        raise UserError(
            "--shard cuts a list of addresses; a walk finds its addresses: leave it out"
        )
    generic = GenericNames(config.generic_patterns)
    annotate = Annotator(generic, load_expectations(options, target_set), options.helo or "")
    try:
        nameservers = config.nameservers()
    except ResolverSpecError as exc:  # config.py checked them; a ScanConfig made in code may not be
        raise UserError(str(exc)) from None
    previous, previous_missing = check_previous_results(options, specs, fail_on)
    history, history_source = check_history(options, specs) or (None, None)
    base = Plan(
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
        history=history,
        history_source=history_source,
    )
    files = [spec for spec in specs if not spec.stream]
    if not files:
        if options.resume:
            raise UserError("--resume needs an output file (-o FILE), not only streams")
        if options.dask:
            raise UserError(
                "--dask writes each shard's rows to part files next to the output: give -o FILE"
            )
        if options.walk:
            return replace(base, walk=walk_job(target_set, None, False, None))
        return replace(base, workers=config.worker_count(base.total))
    ours = [
        files[0].path + ".journal",
        files[0].path + ".parts",
        *([files[0].path + ".walk"] if options.walk else []),
        *(path for spec in files for path in spec.side_files()),
    ]
    planted = planted_links(ours)
    if planted:
        raise UserError(
            f"{planted[0]} is a symbolic link: the scan writes that file itself and will not "
            "write through a link (it could overwrite any file); remove the link"
        )
    lock = RunLock([spec.path for spec in files]).acquire()
    try:
        base = replace(base, lock=lock)
        if options.walk:
            return _plan_walk(base, options)
        return arranged(base, resume=options.resume, dask=_dask_of(options))
    except BaseException:
        lock.release()
        raise


def _dask_of(options: ScanOptions) -> DaskRequest | None:
    return None if options.dask is None else (options.dask, options.dask_shards)


def arranged(base: Plan, *, resume: bool, dask: DaskRequest | None) -> Plan:
    """`base` with how it runs: its journal and a resumption, or its Dask parts, and
    the worker processes. The outputs' lock is held already."""
    config, total = base.config, base.total
    files = [spec for spec in base.specs if not spec.stream]
    journal = Journal(files[0].path + ".journal")
    parts = Parts(files[0].path + ".parts")
    identity = plan_fingerprint(base)
    if dask is not None:
        resumed = _resumed_shards(resume, dask, parts, identity) if parts.exists() else None
        return replace(base, workers=1, dask=OnDask(dask[0], dask[1], parts, resumed))
    resumption = None
    if journal.exists():
        resumption = _resumption(journal, files, identity, total, resume=resume)
    remaining = total - (len(resumption.done) if resumption else 0)
    return replace(
        base, workers=config.worker_count(remaining), journal=journal, resumption=resumption
    )


def _plan_walk(base: Plan, options: ScanOptions) -> Plan:
    """--walk with an output file: a walk to do or to continue, or, when the walk file
    is complete (its rows being made when the run was stopped), its rows."""
    files = [spec for spec in base.specs if not spec.stream]
    job = walk_job(base.target_set, files[0].path + ".walk", options.resume, _dask_of(options))
    journal = Journal(files[0].path + ".journal")
    if not job.file.exists():
        if journal.exists():
            raise UserError(
                f"{journal.path} is left by an interrupted scan, but not the walk its rows "
                f"came from ({job.file.path}): delete {journal.path} and the .partial outputs "
                "to walk again"
            )
        return replace(base, walk=job)
    try:
        records = job.file.load(job.fingerprint)
    except (WalkFileError, OSError) as exc:
        raise UserError(str(exc)) from None
    if records.finished:
        # The walk of a run that ended, its rows published (the journal, if still
        # there, was about to go): tonight's walk starts afresh.
        job.file.remove()
        journal.remove()
        parts = Parts(files[0].path + ".parts")
        if parts.exists():
            parts.remove()
        return replace(base, walk=job)
    if records.complete and (journal.exists() or options.resume):
        walked = walked_plan(replace(base, walk=job), records)
        return arranged(walked, resume=options.resume, dask=job.dask)
    if not options.resume:
        raise UserError(
            f"an interrupted walk left {job.file.path}: add --resume to continue it, "
            "or delete it to walk again"
        )
    return replace(base, walk=replace(job, records=records))


def walked_plan(plan: Plan, records: WalkRecords, notes: Sequence[str] = ()) -> Plan:
    """The plan of the rows of `plan`'s walk, once `records` hold every answer."""
    job = plan.walk
    assert job is not None
    target_set = walked_targets(plan.target_set, records, job.prefixes)
    # The rows of the prefixes not walked are dated by the walk file: when its walk ended.
    when = os.stat(job.file.path).st_mtime if job.file.exists() and job.file.path else time.time()
    walked = walked_of(records, job.fingerprint, notes, when)
    return replace(plan, target_set=target_set, walk=None, walked=walked)


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
