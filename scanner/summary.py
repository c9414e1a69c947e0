"""Scan summary: counts per status, queries, duration and rate, as text or JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from scanner.status import TRANSIENT, Status
from scanner.verdict import ScanResult


@dataclass(slots=True)
class Summary:
    targets: int = 0  # addresses in the target set
    counts: dict[Status, int] = field(default_factory=lambda: dict.fromkeys(Status, 0))
    queries: int = 0
    attempts: int = 0
    duration: float = 0.0
    interrupted: bool = False
    resumed: int = 0  # rows an interrupted run had already written (--resume)
    resolvers: dict[str, Any] = field(default_factory=dict)  # the retry layer's statistics

    def add(self, result: ScanResult) -> None:
        self.counts[result.status] += 1
        self.queries += result.queries
        self.attempts += result.attempts

    @property
    def scanned(self) -> int:
        return sum(self.counts.values())

    @property
    def rate(self) -> float:
        return self.scanned / self.duration if self.duration > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "targets": self.targets,
            "scanned": self.scanned,
            "interrupted": self.interrupted,
            "resumed": self.resumed,
            "counts": {status.value: count for status, count in self.counts.items()},
            "transient_failures": sum(
                count for status, count in self.counts.items() if TRANSIENT[status]
            ),
            "queries": self.queries,
            "attempts": self.attempts,
            "retries": self.attempts - self.queries,
            **self.resolvers,
            "duration_s": round(self.duration, 3),
            "ips_per_s": round(self.rate, 1),
        }

    def absorb(self, worker: dict[str, Any]) -> None:
        """Add one worker process's summary (its `as_dict()`) to this one."""
        for status, count in worker["counts"].items():
            self.counts[Status(status)] += count
        self.queries += worker["queries"]
        self.attempts += worker["attempts"]
        self.interrupted |= worker["interrupted"]
        pool = self.resolvers
        if not pool:
            self.resolvers = {
                "attempts": 0,
                "retries": 0,
                "rate": 0.0 if worker["rate"] != "unlimited" else "unlimited",
                "adaptive": dict.fromkeys(("increases", "decreases"), 0)
                if worker["adaptive"]
                else None,
                "health_checks": 0,
                "hedges": 0,
                "all_benched_waits": 0,
                "all_benched_seconds": 0.0,
                "resolvers": [],
            }
            pool = self.resolvers
        for key in (
            "attempts",
            "retries",
            "health_checks",
            "hedges",
            "all_benched_waits",
            "all_benched_seconds",
        ):
            pool[key] += worker[key]
        if pool["rate"] != "unlimited":
            pool["rate"] = round(pool["rate"] + worker["rate"], 1)  # the workers' rates add up
        if pool["adaptive"]:
            for key in ("increases", "decreases"):
                pool["adaptive"][key] += worker["adaptive"][key]
        known = {entry["resolver"]: entry for entry in pool["resolvers"]}
        for entry in worker["resolvers"]:
            mine = known.get(entry["resolver"])
            if mine is None:
                pool["resolvers"].append({**entry, "window": dict(entry["window"])})
                continue
            for key in ("attempts", "faults", "times_benched"):
                mine[key] += entry[key]
            # Each worker process has its own window: in flight, they add up.
            for key, value in entry["window"].items():
                mine["window"][key] += value
            if entry["state"] != "healthy":
                mine["state"] = entry["state"]

    def as_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2) + "\n"

    def as_text(self) -> str:
        data = self.as_dict()
        state = "interrupted" if self.interrupted else "complete"
        lines = [
            f"scan {state}: {self.scanned:,} of {self.targets:,} addresses in "
            f"{self.duration:.2f} s ({self.rate:,.0f} IPs/s, {self.queries:,} queries)"
        ]
        if self.resumed:
            lines[0] += f"; {self.resumed:,} more were done before --resume"
        width = max(len(status.value) for status in Status)
        for status, count in self.counts.items():
            share = 100 * count / self.scanned if self.scanned else 0.0
            note = "  (transient: rescan later)" if TRANSIENT[status] and count else ""
            lines.append(f"  {status.value:<{width}}  {count:>10,}  {share:5.1f}%{note}")
        lines.append(f"  {'total':<{width}}  {data['scanned']:>10,}")
        lines.append(
            f"retries: {data['retries']:,} ({self.attempts:,} queries sent for "
            f"{self.queries:,} lookups)"
        )
        if data.get("hedges"):
            lines[-1] += (
                f"; hedges: {data['hedges']:,} (copies sent early of queries that seemed lost)"
            )
        if self.resolvers:
            pool = self.resolvers
            rate = pool["rate"] if pool["rate"] == "unlimited" else f"{pool['rate']:,} q/s"
            adaptive = pool["adaptive"]
            if adaptive:
                rate += (
                    f" at the end (adaptive: {adaptive['increases']} increases, "
                    f"{adaptive['decreases']} decreases)"
                )
            lines.append(f"rate: {rate}")
            if pool["all_benched_waits"]:
                lines.append(
                    f"all resolvers benched {pool['all_benched_waits']} time(s), "
                    f"{pool['all_benched_seconds']:.1f} s spent waiting"
                )
            for upstream in pool["resolvers"]:
                lines.append(
                    f"  resolver {upstream['resolver']}: {upstream['attempts']:,} queries, "
                    f"{upstream['faults']:,} unanswered, benched "
                    f"{upstream['times_benched']} time(s), now {upstream['state']}; "
                    f"at most {upstream['window']['largest_in_flight']:,} in flight"
                )
        return "\n".join(lines) + "\n"
