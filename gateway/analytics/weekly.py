"""Turnaround per ISO week: how long the loans checked out each week stayed away from
their owners (the usage report's turnaround, split by the week of checkout).

The loans counted are the usage report's (between libraries, checked out in the
period) that are already returned; every week with a day in the period has an entry,
empty weeks included, in order, so a chart of them has no holes in its axis.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from gateway.analytics.stats import Summary, summarize
from gateway.analytics.usage import iso_week

if TYPE_CHECKING:
    from gateway.history.reader import PeriodLoans

__all__ = ["turnaround_by_week"]


def turnaround_by_week(history: PeriodLoans) -> dict[str, Summary]:
    """Checkout-to-return hours of the period's returned loans, by ISO week of checkout."""
    period = history.period
    hours: dict[str, list[float]] = {}
    for day in range(period.days):
        hours.setdefault(iso_week(period.first + timedelta(days=day)), [])
    for loan in history.loans:
        if loan.owner == loan.home or loan.returned is None or loan.checked_out not in period:
            continue
        away = (loan.returned - loan.checked_out) / timedelta(hours=1)
        hours[iso_week(loan.checked_out.date())].append(away)
    return {week: summarize(values) for week, values in hours.items()}
