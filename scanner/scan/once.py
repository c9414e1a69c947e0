"""Each key's value made once, while concurrent askers wait for it instead of making it too.

A /16 scan asks for the same reverse zone, or the same name server, from
hundreds of tasks at once; without this each would send its own queries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import anyio

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(slots=True)
class _Making(Generic[V]):
    done: anyio.Event = field(default_factory=anyio.Event)
    value: V | None = None
    made: bool = False  # False after done: the maker raised (or was cancelled)


class Once(Generic[K, V]):
    """`keep` says which values are remembered for later askers. One it
    rejects (a transient failure, say) still goes to the askers that waited
    for it: hundreds of addresses waiting on a zone whose lookup timed out
    must not each wait for a timeout of their own, one after the other."""

    def __init__(self, keep: Callable[[V], bool] | None = None) -> None:
        self.made: dict[K, V] = {}
        self._keep = keep
        self._making: dict[K, _Making[V]] = {}

    async def get(self, key: K, make: Callable[[], Awaitable[V]]) -> V:
        while (making := self._making.get(key)) is not None:
            await making.done.wait()
            if making.made:
                return making.value  # type: ignore[return-value]  # set with made
        if key in self.made:
            return self.made[key]
        making = self._making[key] = _Making()
        try:
            value = await make()
            making.value, making.made = value, True
            if self._keep is None or self._keep(value):
                self.made[key] = value
            return value
        finally:
            del self._making[key]
            making.done.set()
