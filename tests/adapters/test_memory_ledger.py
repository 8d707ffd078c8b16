"""The in-memory ledger queue: events kept in order, bounded, drops counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.ledger.base import Ledger, LedgerStatistics, LoanEvent, LoanEventKind
from adapters.ledger.memory import MemoryLedger

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def event(n: int, kind: LoanEventKind = LoanEventKind.CHECKOUT) -> LoanEvent:
    """The ``n``-th event of a run (distinct loan ids and times)."""
    return LoanEvent(
        kind=kind,
        loan_id=f"loan-{n}",
        owner="alpha",
        home="beta",
        item=f"31001{n:09d}",
        patron_key="0" * 32,
        at=T0 + timedelta(minutes=n),
        due=T0 + timedelta(days=21) if kind is not LoanEventKind.CHECKIN else None,
    )


def test_a_new_ledger_is_empty() -> None:
    """Nothing queued, recorded or dropped."""
    ledger = MemoryLedger()
    assert ledger.statistics() == LedgerStatistics(queued=0, recorded=0, dropped=0)
    assert ledger.events() == []


def test_it_is_a_ledger() -> None:
    """The memory ledger satisfies the ``Ledger`` protocol (as the runtime types it)."""
    ledger: Ledger = MemoryLedger()
    ledger.record_nowait(event(0))
    assert ledger.statistics().recorded == 1


def test_record_keeps_events_in_order() -> None:
    """Events are queued oldest first, each kind as given."""
    ledger = MemoryLedger()
    kinds = [LoanEventKind.CHECKOUT, LoanEventKind.RENEW, LoanEventKind.CHECKIN]
    sent = [event(n, kind) for n, kind in enumerate(kinds)]
    for e in sent:
        ledger.record_nowait(e)
    assert ledger.events() == sent
    assert ledger.statistics() == LedgerStatistics(queued=3, recorded=3, dropped=0)


def test_events_returns_a_copy() -> None:
    """Changing the returned list does not change the queue."""
    ledger = MemoryLedger()
    ledger.record_nowait(event(0))
    ledger.events().clear()
    assert ledger.events() == [event(0)]


def test_filling_to_capacity_drops_nothing() -> None:
    """Exactly ``capacity`` events fit."""
    ledger = MemoryLedger(capacity=3)
    for n in range(3):
        ledger.record_nowait(event(n))
    assert ledger.statistics() == LedgerStatistics(queued=3, recorded=3, dropped=0)


def test_when_full_the_oldest_is_dropped_and_counted() -> None:
    """Past capacity, each new event pushes out the oldest and counts one drop."""
    ledger = MemoryLedger(capacity=3)
    for n in range(7):
        ledger.record_nowait(event(n))
    assert ledger.statistics() == LedgerStatistics(queued=3, recorded=7, dropped=4)
    assert [e.loan_id for e in ledger.events()] == ["loan-4", "loan-5", "loan-6"]


@pytest.mark.parametrize("capacity", [1, 2, 5])
def test_counts_add_up(capacity: int) -> None:
    """recorded = queued + dropped, whatever the capacity."""
    ledger = MemoryLedger(capacity=capacity)
    for n in range(11):
        ledger.record_nowait(event(n))
        stats = ledger.statistics()
        assert stats.recorded == n + 1
        assert stats.queued == min(n + 1, capacity)
        assert stats.recorded == stats.queued + stats.dropped
    assert ledger.events()[-1] == event(10)


def test_capacity_one_keeps_only_the_last_event() -> None:
    """The smallest useful queue keeps the newest event."""
    ledger = MemoryLedger(capacity=1)
    ledger.record_nowait(event(0))
    ledger.record_nowait(event(1))
    assert ledger.events() == [event(1)]
    assert ledger.statistics().dropped == 1
