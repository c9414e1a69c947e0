"""Choosing the resolver for an attempt, and waiting when every resolver is benched."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import anyio

from scanner.core.exits import CouldNotComplete
from scanner.dns.upstream import Upstream


class ResolversSilent(CouldNotComplete):
    """Every resolver has been silent for longer than the pool waits."""


class ResolverChoice:
    """Which resolver an attempt goes to: round robin over the usable ones, and
    when every one is benched, a wait (not spent attempts) until one may be
    tried, or, after `give_up_after` seconds without any answer, the end."""

    def __init__(
        self,
        upstreams: Sequence[Upstream],
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        notice: Callable[[str], None],
        give_up_after: float,
    ) -> None:
        self.all = list(upstreams)
        self._clock = clock
        self._sleep = sleep
        self._notice = notice
        self.give_up_after = give_up_after
        self._turn = 0
        self._changed = anyio.Event()
        self._all_benched_since: float | None = None
        self._last_answer = clock()  # when any resolver last answered anything
        self.bench_waits = 0  # times every resolver was benched at once
        self.bench_wait_seconds = 0.0

    def answered(self, now: float) -> None:
        """A resolver answered something (an answer, not a fault)."""
        self._last_answer = now

    def health_changed(self, upstream: Upstream, before: str, now: float) -> None:
        if upstream.health.state == before:
            return
        self._changed.set()
        self._changed = anyio.Event()
        if upstream.health.state == "benched":
            self._notice(
                f"resolver {upstream.name} benched for "
                f"{upstream.health.bench_until - now:.1f} s: it answered nothing, "
                "not even a question it had answered before"
            )

    def pick(self, avoid: Upstream | None) -> Upstream | None:
        """The next usable resolver, round robin, preferring one other than `avoid`
        and one with room in its window (a slow or dying resolver's fills up, and
        waiting for it while another has room would waste the attempt's time);
        None when every resolver is benched."""
        now = self._clock()
        if len(self.all) == 1:  # the common case, without building lists
            upstream = self.all[0]
            if not upstream.health.usable(now):
                return None
        else:
            usable = [u for u in self.all if u.health.usable(now)]
            if not usable:
                return None
            candidates = [u for u in usable if u is not avoid] or usable
            candidates = [u for u in candidates if u.has_room()] or candidates
            self._turn += 1
            upstream = candidates[self._turn % len(candidates)]
        if self._all_benched_since is not None:
            self.bench_wait_seconds += now - self._all_benched_since
            self._all_benched_since = None
            self._notice("a resolver is usable again; resuming")
        upstream.health.started()
        return upstream

    async def wait_for_usable(self, avoid: Upstream | None) -> Upstream:
        """Every resolver is benched: wait, without spending attempts, until one may be tried."""
        while (upstream := self.pick(avoid)) is None:
            now = self._clock()
            if now - self._last_answer >= self.give_up_after:
                raise ResolversSilent(
                    f"no resolver has answered anything for {now - self._last_answer:.0f} s "
                    f"(the limit is {self.give_up_after:.0f} s): "
                    + ", ".join(u.name for u in self.all)
                )
            benched = [u.health.bench_until for u in self.all if u.health.state == "benched"]
            wake = min(benched) if benched else now + 1.0
            probing = any(u.health.state == "probing" for u in self.all)
            if self._all_benched_since is None:
                self._all_benched_since = now
                self.bench_waits += 1
                self._notice(
                    f"all resolvers benched; waiting {max(0.0, wake - now):.1f} s "
                    "before probing (no attempts are spent while waiting)"
                )
            if probing:
                # A probe is in flight: its outcome may make a resolver usable early.
                with anyio.move_on_after(max(0.0, wake - now)):
                    await self._changed.wait()
            else:
                await self._sleep(max(0.0, wake - now))  # nothing can change before then
        return upstream
