"""scanner.scan.once: a value made once while concurrent askers wait, failures made again."""

from __future__ import annotations

import anyio
import pytest

from scanner.scan.once import Once


def _asked_at_once(once, key, make, askers, release=None):
    """What `askers` concurrent askers of `key` got. With `release`, it is set
    once every asker is waiting (so all arrive while the first is making)."""
    results = []

    async def ask():
        results.append(await once.get(key, make))

    async def main():
        async with anyio.create_task_group() as group:
            for _ in range(askers):
                group.start_soon(ask)
            if release is not None:
                await anyio.wait_all_tasks_blocked()
                release.set()

    anyio.run(main)
    return results


def _maker(*values, release=None):
    """A make() that hands out `values` in turn, after `release` if given; and its calls."""
    calls = []
    outcomes = iter(values)

    async def make():
        calls.append(1)
        if release is not None:
            await release.wait()
        value = next(outcomes)
        if isinstance(value, Exception):
            raise value
        return value

    return make, calls


def test_concurrent_askers_wait_for_one_make():
    release = anyio.Event()
    make, calls = _maker("zone", release=release)
    once: Once[str, str] = Once()
    assert _asked_at_once(once, "198.18.0.0/24", make, 50, release) == ["zone"] * 50
    assert len(calls) == 1
    assert once.made == {"198.18.0.0/24": "zone"}


def test_askers_waiting_on_a_transient_failure_share_it_instead_of_queueing():
    # A zone whose SOA times out: the addresses waiting for it all get the
    # failure at once; none sends a query of its own after the first.
    release = anyio.Event()
    make, calls = _maker(None, release=release)
    once: Once[str, str | None] = Once(keep=lambda value: value is not None)
    assert _asked_at_once(once, "k", make, 20, release) == [None] * 20
    assert len(calls) == 1
    assert "k" not in once.made


def test_a_value_keep_rejects_is_made_again_by_the_next_asker():
    make, calls = _maker(None, None, "zone")
    once: Once[str, str | None] = Once(keep=lambda value: value is not None)
    assert _asked_at_once(once, "k", make, 1) == [None]
    assert "k" not in once.made
    assert _asked_at_once(once, "k", make, 1) == [None]
    assert _asked_at_once(once, "k", make, 3) == ["zone"] * 3
    assert len(calls) == 3


def test_a_failing_make_lets_the_next_asker_try():
    make, calls = _maker(OSError("no route"), "zone")
    once: Once[str, str] = Once()
    with pytest.raises(ExceptionGroup):
        _asked_at_once(once, "k", make, 1)
    assert _asked_at_once(once, "k", make, 2) == ["zone", "zone"]
    assert len(calls) == 2
