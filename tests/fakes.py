"""Fakes shared by the tests: a clock that only sleeps move, and a scriptable resolver.

The retry layer, the rate limiter and the pool take their clock, their sleep
and their resolver as arguments; these are what the tests give them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import anyio
import anyio.lowlevel

from scanner.core.status import Outcome
from scanner.core.verdict import Lookup


class Clock:
    """Time that passes only when someone sleeps: `clock()` is the time, `clock.sleep`
    the sleep to hand over; `slept` lists every sleep asked for."""

    def __init__(self, start: float = 0.0, *, checkpoint: bool = True) -> None:
        self.now = start
        self.slept: list[float] = []
        self._checkpoint = checkpoint  # let other tasks run at each sleep

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        if self._checkpoint:
            await anyio.lowlevel.checkpoint()


class RealTime(Clock):
    """Real time, for tests of what happens while a wait is running: the
    controlled clock runs every task one checkpoint at a time, so a copy sent
    after a delay would go out before an earlier answer came back."""

    def __call__(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await anyio.sleep(seconds)


class ScriptedResolver:
    """A resolver whose answers are written down: `answers` maps (name, type) to a
    `Lookup` (NXDOMAIN for any other question), or `outcomes` are answered in
    turn, to every question (the last one forever).

    Counts the questions (`asked`, `queries`) and the lookups in flight at once
    (`max_in_flight`); each lookup takes `steps` checkpoints, so that other
    tasks run while it waits, as they would while a real query is out.
    """

    def __init__(
        self,
        answers: Mapping[tuple[str, str], Lookup] | None = None,
        *outcomes: Outcome,
        steps: int = 1,
        on_query: Callable[[ScriptedResolver], None] | None = None,
    ) -> None:
        self.answers = answers
        self.outcomes = list(outcomes)
        self.steps = steps
        self.on_query = on_query
        self.asked = 0
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def queries(self) -> int:
        return self.asked

    async def lookup(self, name: str, rtype: str) -> Lookup:
        self.asked += 1
        if self.on_query:
            self.on_query(self)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for _ in range(self.steps):
                await anyio.lowlevel.checkpoint()
            if self.answers is not None:
                return self.answers.get((name, rtype), Lookup(Outcome.NXDOMAIN))
            outcome = self.outcomes[min(self.asked, len(self.outcomes)) - 1]
            return Lookup(outcome, ("h.example",) if outcome is Outcome.ANSWER else ())
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        pass
