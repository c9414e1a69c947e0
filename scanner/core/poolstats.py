"""The retry layer's statistics as typed data: what it sent, to whom, and how each resolver fared.

`ResolverPool.stats()` makes one; a worker process sends its own as JSON and
the parent adds them up (`absorb`); the summary's text, its JSON
(`resolver_pool`) and the metrics read the same fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(slots=True)
class WindowStats:
    final: int = 0  # the window's size at the end
    largest_in_flight: int = 0
    increases: int = 0
    decreases: int = 0

    def add(self, other: WindowStats) -> None:
        # Each worker process has its own window: in flight, they add up.
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))


@dataclass(slots=True)
class ResolverStats:
    resolver: str
    engine: str = ""
    attempts: int = 0  # queries sent to it, hedges included
    faults: int = 0  # queries it left unanswered (timeouts, network errors)
    times_benched: int = 0
    state: str = "healthy"
    window: WindowStats = field(default_factory=WindowStats)

    def add(self, other: ResolverStats) -> None:
        self.attempts += other.attempts
        self.faults += other.faults
        self.times_benched += other.times_benched
        self.window.add(other.window)
        if other.state != "healthy":
            self.state = other.state

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResolverStats:
        return cls(**{**data, "window": WindowStats(**data["window"])})


@dataclass(slots=True)
class PoolStats:
    attempts: int = 0  # queries sent, retries and hedges included (not health checks)
    retries: int = 0
    rate: float | None = None  # queries per second at the end; None: unlimited
    adaptive: tuple[int, int] | None = None  # (increases, decreases) of --rate auto
    health_checks: int = 0
    hedges: int = 0
    all_benched_waits: int = 0
    all_benched_seconds: float = 0.0
    # Tries that waited the whole --timeout (after a timeout, or for a slow zone),
    # and the zones found slower than c-ares' adapted timeout.
    patient_tries: int = 0
    slow_zones: int = 0
    # Queries c-ares failed with another's malformed answer, asked again alone,
    # and the zones whose answers were malformed (their queries go alone).
    asked_alone: int = 0
    malformed_zones: int = 0
    # Lookups retried less (scanner/core/stubborn.py): others had got SERVFAIL (or,
    # in the same zone, timed out) on three tries in a row, and retrying cured none.
    retried_less: int = 0
    resolvers: list[ResolverStats] = field(default_factory=list)

    def add(self, other: PoolStats) -> None:
        """Add a worker process's statistics: its queries, and its share of the rate."""
        self.attempts += other.attempts
        self.retries += other.retries
        self.health_checks += other.health_checks
        self.hedges += other.hedges
        self.all_benched_waits += other.all_benched_waits
        self.all_benched_seconds += other.all_benched_seconds
        self.patient_tries += other.patient_tries
        self.slow_zones += other.slow_zones  # each process finds its own: at most the sum
        self.asked_alone += other.asked_alone
        self.malformed_zones += other.malformed_zones
        self.retried_less += other.retried_less
        if other.rate is not None:
            self.rate = round((self.rate or 0.0) + other.rate, 1)
        if other.adaptive is not None:
            up, down = self.adaptive or (0, 0)
            self.adaptive = (up + other.adaptive[0], down + other.adaptive[1])
        mine = {entry.resolver: entry for entry in self.resolvers}
        for entry in other.resolvers:
            if entry.resolver in mine:
                mine[entry.resolver].add(entry)
            else:
                copy = ResolverStats.from_dict(entry.as_dict())
                self.resolvers.append(copy)
                mine[copy.resolver] = copy

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rate"] = "unlimited" if self.rate is None else self.rate
        data["adaptive"] = (
            None
            if self.adaptive is None
            else {"increases": self.adaptive[0], "decreases": self.adaptive[1]}
        )
        data["all_benched_seconds"] = round(self.all_benched_seconds, 2)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PoolStats:
        adaptive = data["adaptive"]
        return cls(
            attempts=data["attempts"],
            retries=data["retries"],
            rate=None if data["rate"] == "unlimited" else float(data["rate"]),
            adaptive=None if adaptive is None else (adaptive["increases"], adaptive["decreases"]),
            health_checks=data["health_checks"],
            hedges=data["hedges"],
            all_benched_waits=data["all_benched_waits"],
            all_benched_seconds=data["all_benched_seconds"],
            patient_tries=data.get("patient_tries", 0),
            slow_zones=data.get("slow_zones", 0),
            asked_alone=data.get("asked_alone", 0),
            malformed_zones=data.get("malformed_zones", 0),
            retried_less=data.get("retried_less", 0),
            resolvers=[ResolverStats.from_dict(entry) for entry in data["resolvers"]],
        )
