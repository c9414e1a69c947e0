"""The retry layer's statistics: typed, through JSON (worker processes) and back, added up."""

from __future__ import annotations

import json

from scanner.core.poolstats import PoolStats, ResolverStats, WindowStats
from scanner.core.summary import Summary


def _worker(attempts: int, rate: float | None, state: str = "healthy") -> PoolStats:
    return PoolStats(
        attempts=attempts, retries=2, rate=rate, adaptive=(3, 1), health_checks=1, hedges=4,
        all_benched_waits=1, all_benched_seconds=0.5,
        resolvers=[ResolverStats("127.0.0.1:53", "c-ares", attempts, 1, 0, state,
                                 WindowStats(128, 200, 5, 1))],
    )  # fmt: skip


def test_a_workers_statistics_survive_json_and_add_up_in_the_parent():
    parent = Summary(targets=10)
    for stats in (_worker(100, 50.0), _worker(60, 50.0, "benched")):
        worker = Summary(targets=5, resolvers=stats)
        parent.absorb(json.loads(worker.as_json()))
    pool = parent.resolvers
    assert pool is not None
    assert (pool.attempts, pool.retries, pool.hedges, pool.health_checks) == (160, 4, 8, 2)
    assert pool.rate == 100.0 and pool.adaptive == (6, 2)  # the workers' shares add up
    (resolver,) = pool.resolvers
    assert (resolver.attempts, resolver.faults, resolver.state) == (160, 2, "benched")
    assert resolver.window == WindowStats(256, 400, 10, 2)
    data = parent.as_dict()["resolver_pool"]
    assert data["rate"] == 100.0 and data["adaptive"] == {"increases": 6, "decreases": 2}
    assert PoolStats.from_dict(data) == pool
    # The summary's own counts are never overwritten by the pool's.
    assert parent.as_dict()["attempts"] == 0


def test_an_unlimited_rate_stays_unlimited():
    stats = PoolStats(rate=None)
    assert stats.as_dict()["rate"] == "unlimited"
    assert PoolStats.from_dict(stats.as_dict()).rate is None
