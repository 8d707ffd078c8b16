"""The refusal history (``RefusalHistory``): what analytics count refusals from.

The contract tests take ``store`` and run on every store (memory, Redis, Cluster,
Sentinel); the bound and the restart are checked on memory and on a real Redis.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import coredis

from adapters.state.base import RefusalRecord
from adapters.state.memory import MemoryStateStore
from adapters.state.redis import RedisStateStore

if TYPE_CHECKING:
    from adapters.state.base import StateBackend

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def refusal(minutes: float, code: str = "no-lender", owner: str | None = "beta") -> RefusalRecord:
    """A refused title hold of an alpha patron, ``minutes`` after ``T0``."""
    return RefusalRecord(T0 + timedelta(minutes=minutes), "hold", code, "alpha", owner)


async def test_a_fresh_store_has_no_refusals(store: StateBackend) -> None:
    """Nothing recorded: nothing listed."""
    assert await store.refusals_between(T0 - timedelta(days=1), T0 + timedelta(days=1)) == []


async def test_refusals_are_listed_by_time_within_the_half_open_span(store: StateBackend) -> None:
    """Records come back oldest first whatever the order they were kept in; the span's
    start is included, its end excluded; every field survives the round trip."""
    late, early, edge = refusal(10, "fines"), refusal(0, owner=None), refusal(20, "cap-total")
    for record in (late, early, edge):
        await store.refusal_record(record)
    found = await store.refusals_between(T0, T0 + timedelta(minutes=20))
    assert found == [early, late]
    assert await store.refusals_between(T0 + timedelta(minutes=1), T0 + timedelta(hours=1)) == [
        late,
        edge,
    ]


async def test_identical_refusals_are_each_kept(store: StateBackend) -> None:
    """Two patrons refused for the same reason in the same millisecond count twice."""
    await store.refusal_record(refusal(5))
    await store.refusal_record(refusal(5))
    assert len(await store.refusals_between(T0, T0 + timedelta(hours=1))) == 2


def test_a_record_reads_back_from_its_json() -> None:
    """``from_json`` inverts ``to_json`` (with and without an owner)."""
    for record in (refusal(1), refusal(2, owner=None)):
        assert RefusalRecord.from_json(record.to_json()) == record


async def test_the_history_keeps_the_newest_records_only() -> None:
    """Past the bound the oldest refusals go, in memory."""
    store = MemoryStateStore(refusal_history=3)
    for minute in (4, 0, 3, 1, 2):
        await store.refusal_record(refusal(minute))
    kept = await store.refusals_between(T0, T0 + timedelta(hours=1))
    assert [r.at for r in kept] == [T0 + timedelta(minutes=m) for m in (2, 3, 4)]


async def test_redis_keeps_the_newest_records_and_they_outlive_the_store(redis_url: str) -> None:
    """On a real Redis the bound drops the oldest, and a store opened again on the same
    namespace (a restarted gateway, a new client) reads the records already there and
    adds to them."""
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    async with coredis.Redis.from_url(redis_url, decode_responses=True) as client:
        first = RedisStateStore(client, namespace=namespace, refusal_history=3)
        for minute in (4, 0, 3, 1, 2):
            await first.refusal_record(refusal(minute))
    async with coredis.Redis.from_url(redis_url, decode_responses=True) as client:
        again = RedisStateStore(client, namespace=namespace, refusal_history=3)
        kept = await again.refusals_between(T0, T0 + timedelta(hours=1))
        assert [r.at for r in kept] == [T0 + timedelta(minutes=m) for m in (2, 3, 4)]
        await again.refusal_record(refusal(5, "fines"))
        kept = await again.refusals_between(T0, T0 + timedelta(hours=1))
        assert [(r.at, r.code) for r in kept] == [
            (T0 + timedelta(minutes=3), "no-lender"),
            (T0 + timedelta(minutes=4), "no-lender"),
            (T0 + timedelta(minutes=5), "fines"),
        ]
