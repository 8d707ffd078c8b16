"""The lending counters in the state store keep CounterBook's numbers (one history, every
store: memory, Redis, Cluster, Sentinel), and gateways on one Redis share them."""

from __future__ import annotations

import random
import time
import uuid
from typing import TYPE_CHECKING

import coredis
import pytest

from adapters.state.memory import MemoryStateStore
from adapters.state.redis import RedisStateStore
from gateway.app.daemon import lending_counters_for
from gateway.network.selection import CounterBook, MemorySelectionCounters
from gateway.network.selection.shared import StoreSelectionCounters

if TYPE_CHECKING:
    from adapters.state.base import StateBackend

MEMBERS = ["alpha", "beta", "gamma", "delta"]


@pytest.fixture
def shared(store: StateBackend) -> StoreSelectionCounters:
    """Counters with a one-hour half-life in a fresh store of each kind."""
    return StoreSelectionCounters(store, half_life_s=3600.0, turnaround_window=5)


async def test_a_random_history_reads_the_same_in_the_store_and_in_memory(
    shared: StoreSelectionCounters,
) -> None:
    """300 random events read back as ``CounterBook`` counts them, half an hour later."""
    memory = MemorySelectionCounters(CounterBook(half_life_s=3600.0, turnaround_window=5))
    draw = random.Random(11)
    now = 1_800_000_000.0
    for _ in range(300):
        now += draw.uniform(0, 600)
        lender, borrower = draw.sample(MEMBERS, 2)
        op = draw.choice(
            ["requested", "assigned", "declined", "filled", "returned", "unfilled", "withdrawn"]
        )
        hours = round(draw.uniform(1, 72), 3)
        for counters in (memory, shared):
            match op:
                case "requested":
                    await counters.record_requested(borrower, now=now)
                case "assigned":
                    await counters.record_assigned(lender, now=now)
                case "declined":
                    await counters.record_declined(lender, now=now)
                case "filled":
                    await counters.record_filled(lender, borrower, turnaround_hours=hours, now=now)
                case "returned":
                    await counters.record_returned(lender, borrower, now=now)
                case "unfilled":
                    await counters.record_unfilled(borrower, now=now)
                case _:
                    await counters.record_withdrawn(borrower, lender, now=now)
    later = now + 1800
    expected = await memory.read([*MEMBERS, "never"], now=later)
    found = await shared.read([*MEMBERS, "never"], now=later)
    assert found.consortium_turnaround_hours == pytest.approx(expected.consortium_turnaround_hours)
    for member in [*MEMBERS, "never"]:
        want, got = expected.stats[member], found.stats[member]
        for name in ("lends", "borrows", "assigned", "filled"):
            assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-9), (
                member,
                name,
            )
        for name in (
            "open_assigned",
            "active_lends",
            "active_borrows",
            "lifetime_lends",
            "lifetime_borrows",
        ):
            assert getattr(got, name) == getattr(want, name), (member, name)
        assert got.recent_turnaround_hours == pytest.approx(want.recent_turnaround_hours)


async def test_half_life(shared: StoreSelectionCounters) -> None:
    """A loan counts half after one half-life; lifetime counts do not fade."""
    await shared.record_assigned("beta", now=1000.0)
    await shared.record_filled("beta", "alpha", turnaround_hours=5.0, now=1000.0)
    reading = await shared.read(["beta", "alpha"], now=1000.0 + 3600.0)
    assert reading.stats["beta"].lends == pytest.approx(0.5)
    assert reading.stats["alpha"].borrows == pytest.approx(0.5)
    assert reading.stats["beta"].lifetime_lends == 1


async def test_gateways_on_redis_share_their_counters(redis_url: str) -> None:
    """Two gateways' counters over one Redis namespace see each other's loans."""
    namespace = f"sel-{uuid.uuid4().hex[:8]}"
    client = coredis.Redis.from_url(redis_url, decode_responses=True)
    async with client:
        one = lending_counters_for(RedisStateStore(client, namespace=namespace))
        two = lending_counters_for(RedisStateStore(client, namespace=namespace))
        await one.record_loan("beta", "alpha")
        reading = await two.counters.read(["beta", "alpha"], now=time.time())
    assert reading.stats["beta"].lifetime_lends == 1
    assert reading.stats["alpha"].lifetime_borrows == 1


async def test_a_gateway_in_memory_counts_its_own_loans() -> None:
    """In memory the counters are the gateway's own store's: another store sees none."""
    one = lending_counters_for(MemoryStateStore())
    two = lending_counters_for(MemoryStateStore())
    await one.record_loan("beta", "alpha")
    mine = await one.counters.read(["beta"], now=time.time())
    theirs = await two.counters.read(["beta"], now=time.time())
    assert mine.stats["beta"].lifetime_lends == 1
    assert theirs.stats["beta"].lifetime_lends == 0
