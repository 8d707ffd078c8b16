"""The outbox pump: loan events reach the ledger at least once, whatever fails."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import trio
from structlog.testing import capture_logs

from adapters.ledger.base import LoanEventKind
from adapters.ledger.memory import MemoryLedger
from adapters.state.base import LoanRequest, OutboxEntry, Reservation, StateUnavailable
from adapters.state.memory import MemoryStateStore
from gateway.ledger.outbox import consumer_name, pump_outbox
from tests.helpers.polling import eventually

if TYPE_CHECKING:
    import trio.testing

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


async def lend(store: MemoryStateStore, item: str) -> None:
    request = LoanRequest("beta", "alpha", item, "p" * 32, "ILL-alpha", "k", item, None, None)
    reservation = await store.reserve(request, now=T0)
    assert isinstance(reservation, Reservation)
    await store.commit(reservation, due=T0 + timedelta(days=21), now=T0)


async def drained(store: MemoryStateStore) -> None:
    """Wait until the pump has acknowledged every event."""

    async def empty() -> bool:
        return not await store.outbox_pending()

    await eventually(empty, what="the outbox to be drained")


class FlakyStore(MemoryStateStore):
    """A store whose outbox fails a few times first (Redis going away and back)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def outbox_read(self, consumer: str, count: int, *, wait_s: float) -> list[OutboxEntry]:
        if self.failures:
            self.failures -= 1
            raise StateUnavailable("Redis failed (xreadgroup): connection refused")
        return await super().outbox_read(consumer, count, wait_s=wait_s)


async def test_events_reach_the_ledger_and_leave_the_outbox(nursery: trio.Nursery) -> None:
    """A loan and its return reach the ledger in order and leave the outbox."""
    store, ledger = MemoryStateStore(), MemoryLedger()
    nursery.start_soon(lambda: pump_outbox(lambda: store, lambda: ledger, wait_s=0.05))
    await lend(store, "I1")
    await store.close("beta", "I1", now=T0 + timedelta(days=1))
    await drained(store)
    assert [e.kind for e in ledger.events()] == [LoanEventKind.CHECKOUT, LoanEventKind.CHECKIN]


async def test_the_pump_waits_out_an_unreachable_store(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """Reads that fail are retried after a back-off that doubles (trio time, the
    test's), logged each time; the event is delivered once the store answers."""
    store, ledger = FlakyStore(failures=3), MemoryLedger()
    await lend(store, "I1")
    with capture_logs() as logs:
        nursery.start_soon(lambda: pump_outbox(lambda: store, lambda: ledger, wait_s=0.05))
        await drained(store)
    assert [e.item for e in ledger.events()] == ["I1"]
    retries = [e for e in logs if e["event"] == "outbox unreachable; retrying"]
    assert len(retries) == 3
    assert [e["retry_s"] for e in retries] == [0.1, 0.2, 0.4]


async def test_the_pump_backs_off_afresh_after_a_success(nursery: trio.Nursery) -> None:
    """A read that works resets the back-off: the next outage starts at 0.1 s again."""
    store, ledger = FlakyStore(failures=2), MemoryLedger()
    await lend(store, "I1")
    with capture_logs() as logs:
        nursery.start_soon(lambda: pump_outbox(lambda: store, lambda: ledger, wait_s=0.05))
        await drained(store)
        store.failures = 1
        await lend(store, "I2")
        await eventually(lambda: not store.failures, what="the second outage to be read")
        await drained(store)
    assert [e.item for e in ledger.events()] == ["I1", "I2"]
    retries = [e["retry_s"] for e in logs if e["event"] == "outbox unreachable; retrying"]
    assert retries == [0.1, 0.2, 0.1]


async def test_events_of_a_dead_consumer_are_reclaimed(nursery: trio.Nursery) -> None:
    """An event another consumer read and never acknowledged is taken over once idle
    for ``reclaim_after_s`` (real time: the store's own clock) and delivered."""
    store, ledger = MemoryStateStore(), MemoryLedger()
    await lend(store, "I1")
    assert len(await store.outbox_read("dead-gateway", 10, wait_s=0)) == 1
    with capture_logs() as logs:
        nursery.start_soon(
            lambda: pump_outbox(lambda: store, lambda: ledger, wait_s=0.02, reclaim_after_s=0.1)
        )
        await drained(store)
    assert [e.item for e in ledger.events()] == ["I1"]
    assert any(e["event"] == "reclaimed unacknowledged loan events" for e in logs)


def test_consumer_names_tell_processes_apart() -> None:
    """A consumer's name ends with its process id."""
    name = consumer_name()
    assert name.endswith(f"-{os.getpid()}")
