"""Reading a period's loans from the registry.

``read_period`` returns the loans checked out in the period (with their returns,
renewals and kinds), oldest first, from the registry's history
(``StateStore.loans_between``).  The history is bounded (``gateway.state.history``
loans; the oldest returned ones are trimmed first): a consortium that reports on a
period keeps a history at least that deep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters.state.base import Loan
from gateway.history.period import Period

if TYPE_CHECKING:
    from adapters.state.base import StateStore

__all__ = ["PeriodLoans", "read_period"]


@dataclass(frozen=True)
class PeriodLoans:
    """A period's loans, oldest first."""

    period: Period
    loans: tuple[Loan, ...]


async def read_period(store: StateStore, period: Period) -> PeriodLoans:
    """The loans checked out in ``period``.

    Raises:
        StateUnavailable: The registry cannot be read.
    """
    return PeriodLoans(period, tuple(await store.loans_between(period.start, period.end)))
