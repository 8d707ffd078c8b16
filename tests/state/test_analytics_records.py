"""The records analytics and the hold lifecycle read: the refusal history
(``RefusalHistory``) and the open title holds (``TitleHolds``).

The contract tests take ``store`` and run on every store (memory, Redis, Cluster,
Sentinel); the bound and the restart are checked on memory and on a real Redis.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import coredis

from adapters.state.base import ClosedHold, RefusalRecord, TitleHold
from adapters.state.memory import MemoryStateStore
from adapters.state.redis import RedisStateStore

if TYPE_CHECKING:
    from adapters.state.base import StateBackend

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
T1 = T0 + timedelta(days=2)


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


# --- title holds (the same contract: every store) -------------------------------------


def title_hold(hold_id: str, minutes: int, item: str = "31002000000005") -> TitleHold:
    """An alpha hold on a beta copy placed ``minutes`` after ``T0``, for 30 days."""
    placed = T0 + timedelta(minutes=minutes)
    return TitleHold(
        hold_id, "alpha", "beta", item, "ILL-alpha", placed, placed + timedelta(days=30)
    )


async def test_open_title_holds_are_listed_oldest_first(store: StateBackend) -> None:
    """Holds kept open come back whole, oldest placed first."""
    assert await store.title_holds_open() == []
    late, early = title_hold("h2", 5), title_hold("h1", 1, "31002000000006")
    await store.title_hold_open(late)
    await store.title_hold_open(early)
    assert await store.title_holds_open() == [early, late]


async def test_a_fill_closes_the_oldest_hold_on_the_copy_once(store: StateBackend) -> None:
    """Two holds on one copy for alpha: each fill closes the oldest left; a third finds
    none; a copy or home library without a hold closes nothing."""
    first, second = title_hold("h1", 1), title_hold("h2", 2)
    for hold in (second, first):
        await store.title_hold_open(hold)
    assert await store.title_hold_fill("beta", first.item, "gamma", at=T1) is None
    assert await store.title_hold_fill("beta", "31002000000099", "alpha", at=T1) is None
    assert await store.title_hold_fill("beta", first.item, "alpha", at=T1) == first
    assert await store.title_hold_fill("beta", first.item, "alpha", at=T1) == second
    assert await store.title_hold_fill("beta", first.item, "alpha", at=T1) is None
    assert await store.title_holds_open() == []
    closed = await store.title_holds_closed_between(T1, T1 + timedelta(seconds=1))
    assert sorted(c.hold.hold_id for c in closed) == ["h1", "h2"]
    assert {(c.outcome, c.ended) for c in closed} == {("filled", T1)}


async def test_ending_a_hold_closes_it_once(store: StateBackend) -> None:
    """The first end gets the hold back; the second (another gateway) gets ``None``, and
    a fill of its copy finds nothing left."""
    hold = title_hold("h1", 1)
    await store.title_hold_open(hold)
    assert await store.title_hold_end("h1", outcome="expired", at=T1) == hold
    assert await store.title_hold_end("h1", outcome="withdrawn", at=T1) is None
    assert await store.title_holds_closed_between(T0, T1) == []
    assert await store.title_holds_closed_between(T1, T1 + timedelta(days=1)) == [
        ClosedHold(hold, "expired", T1)
    ]
    assert await store.title_hold_fill("beta", hold.item, "alpha", at=T1) is None


async def test_open_holds_outlive_a_restart(redis_url: str) -> None:
    """A gateway started again on the same Redis finds the holds open and can close them."""
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    async with coredis.Redis.from_url(redis_url, decode_responses=True) as client:
        await RedisStateStore(client, namespace=namespace).title_hold_open(title_hold("h1", 1))
    async with coredis.Redis.from_url(redis_url, decode_responses=True) as client:
        again = RedisStateStore(client, namespace=namespace)
        assert [h.hold_id for h in await again.title_holds_open()] == ["h1"]
        assert await again.title_hold_fill("beta", "31002000000005", "alpha", at=T1) is not None


async def test_closed_holds_are_bounded_on_redis(redis_url: str) -> None:
    """The closed holds' history keeps the newest ends only, on a real Redis (memory
    shares its bound with the refusals)."""
    async with coredis.Redis.from_url(redis_url, decode_responses=True) as client:
        store = RedisStateStore(client, namespace=f"t-{uuid.uuid4().hex[:10]}", refusal_history=2)
        for n in range(3):
            await store.title_hold_open(title_hold(f"h{n}", n))
            await store.title_hold_end(f"h{n}", outcome="expired", at=T1 + timedelta(hours=n))
        kept = await store.title_holds_closed_between(T0, T1 + timedelta(days=1))
    assert [c.hold.hold_id for c in kept] == ["h1", "h2"]
