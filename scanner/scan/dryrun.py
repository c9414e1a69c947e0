"""What a scan would do, in a few lines, without sending or writing anything (`--dry-run`)."""

from __future__ import annotations

from scanner.files.historydb import shown
from scanner.scan.planning import Plan

# Queries per address of a plain scan: the PTR, then the forward lookup of its
# name (the lab's mix averages 1.94; CNAMEs, several names and retries add more).
QUERIES_PER_ADDRESS = 2


def describe(plan: Plan) -> str:
    """What the scan would do, in a few lines (`fcrdns scan --dry-run`): nothing is sent."""
    config = plan.config
    todo = plan.total - len(plan.done)
    lines = [f"dry run: nothing was sent or written; the scan would check {todo:,} addresses"]
    if plan.walk is not None:
        lines = _walk_lines(plan)
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
    if plan.walk is not None:
        queries = config.max_targets  # the most a walk asks; its addresses' checks are unknown
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
        lines.append(f"  compared with: {shown(plan.previous)} (new and fixed findings)")
    elif plan.previous_missing is not None:
        lines.append(f"  compared with: {plan.previous_missing}, not there yet (the first night)")
    if plan.history is not None:
        lines.append(
            f"  night stored in: {shown(plan.history)} (--history, rows from {plan.history_source})"
        )
    if plan.fail_on:
        lines.append(f"  exit code 1 for: {', '.join(plan.fail_on)} (--fail-on)")
    return "\n".join(lines) + "\n"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:,.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:,.0f} minutes"
    return f"{seconds / 3600:,.1f} hours"


def _walk_lines(plan: Plan) -> list[str]:
    job = plan.walk
    assert job is not None
    shown = ", ".join(str(prefix) for prefix in job.prefixes[:4])
    more = len(job.prefixes) - 4
    if more > 0:
        shown += f" and {more:,} more"
    lines = [
        "dry run: nothing was sent or written; the scan would walk the reverse tree below "
        f"{shown}, asking at most {plan.config.max_targets:,} names (--max-targets), and "
        "check every address it finds"
    ]
    v4 = sum(span.size for span in plan.target_set.iter_spans() if span.version == 4)
    if v4:
        lines.append(
            f"  IPv4: {v4:,} rows, one per address (below a name that does not exist, "
            "without asking)"
        )
    if job.records is not None:
        lines.append(f"  resuming: {job.records.names:,} names answered already")
    return lines
