"""scanner.once: a value made once while concurrent askers wait, failures made again."""

from __future__ import annotations

import anyio
import pytest

from scanner.once import Once


def _gathered(once, key, make, askers):
    results = []

    async def ask():
        results.append(await once.get(key, make))

    async def main():
        async with anyio.create_task_group() as group:
            for _ in range(askers):
                group.start_soon(ask)

    anyio.run(main)
    return results


def test_concurrent_askers_wait_for_one_make():
    made = []
    release = anyio.Event()

    async def make():
        made.append(1)
        await release.wait()  # every other asker arrives while this one is pending
        return "zone"

    once: Once[str, str] = Once()

    async def main():
        results = []

        async def ask():
            results.append(await once.get("198.18.0.0/24", make))

        async with anyio.create_task_group() as group:
            for _ in range(50):
                group.start_soon(ask)
            await anyio.wait_all_tasks_blocked()
            release.set()
        return results

    assert anyio.run(main) == ["zone"] * 50
    assert made == [1]
    assert once.made == {"198.18.0.0/24": "zone"}


def test_a_value_keep_rejects_is_handed_out_and_made_again_next_time():
    outcomes = iter([None, None, "zone"])
    made = []

    async def make():
        made.append(1)
        return next(outcomes)

    once: Once[str, str | None] = Once(keep=lambda value: value is not None)
    assert _gathered(once, "k", make, 1) == [None]
    assert "k" not in once.made
    assert _gathered(once, "k", make, 1) == [None]
    assert _gathered(once, "k", make, 3) == ["zone"] * 3
    assert len(made) == 3


def test_a_failing_make_lets_the_next_asker_try():
    calls = []

    async def make():
        calls.append(1)
        if len(calls) == 1:
            raise OSError("no route")
        return "zone"

    once: Once[str, str] = Once()
    with pytest.raises(ExceptionGroup):
        _gathered(once, "k", make, 1)
    assert _gathered(once, "k", make, 2) == ["zone", "zone"]
    assert len(calls) == 2


def test_askers_waiting_on_a_transient_failure_share_it_instead_of_queueing():
    # A zone whose SOA times out: the addresses waiting for it all get the
    # failure at once; none sends a query of its own after the first.
    made = []
    release = anyio.Event()

    async def make():
        made.append(1)
        await release.wait()
        return None

    once: Once[str, str | None] = Once(keep=lambda value: value is not None)

    async def main():
        results = []

        async def ask():
            results.append(await once.get("k", make))

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(ask)
            await anyio.wait_all_tasks_blocked()
            release.set()
        return results

    assert anyio.run(main) == [None] * 20
    assert made == [1]
    assert "k" not in once.made
