"""Periods and reading a period's loans."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from adapters.state.base import LoanKind, LoanRequest, Reservation
from adapters.state.memory import MemoryStateStore
from gateway.history.period import Period, PeriodError
from gateway.history.reader import read_period


def test_a_month_is_its_calendar_days() -> None:
    """November has 30 days, February 2028 has 29; the end is the next month's start."""
    november = Period.parse("2026-11")
    assert (november.first, november.last, november.days) == (
        date(2026, 11, 1),
        date(2026, 11, 30),
        30,
    )
    assert november.end == datetime(2026, 12, 1, tzinfo=UTC)
    assert Period.parse("2028-02").days == 29
    assert Period.parse("2026-12").end == datetime(2027, 1, 1, tzinfo=UTC)


def test_a_span_includes_both_days() -> None:
    """``first..last`` holds both days, and nothing after the last."""
    span = Period.parse("2026-11-03..2026-11-04")
    assert span.days == 2
    assert datetime(2026, 11, 4, 23, 59, tzinfo=UTC) in span
    assert datetime(2026, 11, 5, tzinfo=UTC) not in span
    assert span.label == "2026-11-03..2026-11-04"


@pytest.mark.parametrize(
    "text", ["2026", "2026-13", "2026-11-31..2026-12-01", "x", "2026-11-05..2026-11-04"]
)
def test_what_is_not_a_period_is_refused_with_the_forms(text: str) -> None:
    """Not a month, not a span, not a real day, or a span backwards: refused."""
    with pytest.raises(PeriodError):
        Period.parse(text)


async def test_a_periods_loans_are_those_checked_out_in_it() -> None:
    """Loans on the period's first instant count; on the next period's do not."""
    store = MemoryStateStore()
    period = Period.parse("2026-11")

    async def lend(item: str, at: datetime, kind: LoanKind = LoanKind.WALK_IN) -> str:
        asked = LoanRequest("alpha", "beta", item, "p" * 32, "ILL-beta", "t", item, None, None)
        held = await store.reserve(replace(asked, kind=kind), now=at)
        assert isinstance(held, Reservation)
        loan = await store.commit(held, due=at + timedelta(days=21), now=at)
        return loan.loan_id

    inside = await lend("I1", period.start)
    library = await lend("I2", period.end - timedelta(seconds=1), LoanKind.LIBRARY_LOAN)
    await lend("I3", period.end)
    await lend("I4", period.start - timedelta(seconds=1))
    found = await read_period(store, period)
    assert [x.loan_id for x in found.loans] == [inside, library]
    assert found.loans[1].kind is LoanKind.LIBRARY_LOAN
