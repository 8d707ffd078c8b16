"""The wrong-PIN guard: bounded guessing across gateways, no store read when all is well."""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.state.memory import MemoryStateStore
from gateway.runtime import pinguard
from gateway.runtime.pinguard import PinGuard

if TYPE_CHECKING:
    import pytest


class CountingStore(MemoryStateStore):
    """The in-memory store, counting reads of throttle buckets."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def count(self, bucket: str) -> int:
        self.reads += 1
        return await super().count(bucket)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_patron_without_failures_costs_no_store_read() -> None:
    store, guard = CountingStore(), PinGuard()
    assert not await guard.locked(store, "p", attempts=3)
    assert store.reads == 0


async def test_the_limit_locks_and_the_window_unlocks() -> None:
    store, clock = CountingStore(), Clock()
    guard = PinGuard(clock)
    for expected in (1, 2, 3):
        assert await guard.failed(store, "p", window_s=60) == expected
    assert await guard.locked(store, "p", attempts=3)
    assert not await guard.locked(store, "q", attempts=3)
    clock.now += 61
    assert not await guard.locked(store, "p", attempts=3)


async def test_failures_seen_by_another_gateway_lock_here_after_one_try() -> None:
    """Two gateways, one store: the second allows at most one more try, then locks."""
    store = CountingStore()
    first, second = PinGuard(), PinGuard()
    for _ in range(3):
        await first.failed(store, "p", window_s=60)
    assert not await second.locked(store, "p", attempts=3)  # not seen here yet
    assert await second.failed(store, "p", window_s=60) == 4
    assert await second.locked(store, "p", attempts=3)


async def test_remembered_patrons_are_bounded() -> None:
    store, clock = CountingStore(), Clock()
    guard = PinGuard(clock)
    for n in range(100_000):
        guard._seen[f"old-{n}"] = clock.now + 1
    clock.now += 2
    await guard.failed(store, "new", window_s=60)
    assert set(guard._seen) == {"new"}


async def test_remembered_patrons_stay_bounded_when_every_window_is_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """More patrons failing within one window than remembered: the bound holds, the
    latest are kept, and a locked patron forgotten gets one more try, then is locked."""
    monkeypatch.setattr(pinguard, "REMEMBERED", 100)
    store, clock = CountingStore(), Clock()
    guard = PinGuard(clock)
    sizes = set()
    for _ in range(3):
        await guard.failed(store, "locked-first", window_s=600)
    for n in range(1_000):
        await guard.failed(store, f"p{n}", window_s=600)
        sizes.add(guard.remembered)
    assert max(sizes) == 100
    assert await guard.locked(store, "p999", attempts=1)
    assert not await guard.locked(store, "locked-first", attempts=3)  # forgotten here
    assert await guard.failed(store, "locked-first", window_s=600) == 4
    assert await guard.locked(store, "locked-first", attempts=3)
