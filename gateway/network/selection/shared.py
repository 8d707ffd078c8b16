"""Lending counters kept in the state store, so that every gateway on it shares them.

``StoreSelectionCounters`` keeps the same numbers as ``CounterBook`` (the reference
arithmetic; a test replays one history into both and compares, on every store), but in
a ``SelectionCounterStore`` (``adapters/state/base.py``): on Redis each event is one
atomic script and ``read`` one round trip for all the members asked for; in memory
they are this gateway's own.  Times are wall-clock seconds, shared by the gateways.
"""

from __future__ import annotations

import math
import statistics
from typing import TYPE_CHECKING

from adapters.state.base import SelectionEvent
from gateway.network.selection.counters import DEFAULT_HALF_LIFE_S
from gateway.network.selection.model import CounterReading, MemberStats

if TYPE_CHECKING:
    from collections.abc import Iterable

    from adapters.state.base import SelectionCounterStore, SelectionTally

__all__ = ["StoreSelectionCounters"]


class StoreSelectionCounters:
    """``SelectionCounters`` in the state store.

    Args:
        store: The gateway's state store (any ``SelectionCounterStore``).
        half_life_s: Seconds after which an event counts half (as ``CounterBook``).
        turnaround_window: Fills kept per member for its turnaround.
        consortium_window: Fills kept for the consortium's median turnaround.
    """

    def __init__(
        self,
        store: SelectionCounterStore,
        *,
        half_life_s: float = DEFAULT_HALF_LIFE_S,
        turnaround_window: int = 20,
        consortium_window: int = 500,
    ) -> None:
        if half_life_s <= 0:
            raise ValueError("half_life_s must be positive")
        self._store = store
        self.tau = half_life_s / math.log(2)
        self._window = turnaround_window
        self._consortium_window = consortium_window

    async def _event(
        self,
        event: SelectionEvent,
        now: float,
        *,
        lender: str | None = None,
        borrower: str | None = None,
        hours: float = 0.0,
    ) -> None:
        await self._store.selection_update(
            event,
            lender=lender,
            borrower=borrower,
            now=now,
            tau=self.tau,
            turnaround_hours=hours,
            window=self._window,
            consortium_window=self._consortium_window,
        )

    async def record_requested(self, borrower: str, *, now: float) -> None:
        """See ``SelectionCounters``."""
        await self._event(SelectionEvent.REQUESTED, now, borrower=borrower)

    async def record_assigned(self, lender: str, *, now: float) -> None:
        """See ``SelectionCounters``."""
        await self._event(SelectionEvent.ASSIGNED, now, lender=lender)

    async def record_declined(self, lender: str, *, now: float) -> None:
        """See ``SelectionCounters``."""
        await self._event(SelectionEvent.DECLINED, now, lender=lender)

    async def record_filled(
        self, lender: str, borrower: str, *, turnaround_hours: float, now: float
    ) -> None:
        """See ``SelectionCounters``."""
        await self._event(
            SelectionEvent.FILLED, now, lender=lender, borrower=borrower, hours=turnaround_hours
        )

    async def record_returned(self, lender: str, borrower: str, *, now: float) -> None:
        """See ``SelectionCounters``."""
        await self._event(SelectionEvent.RETURNED, now, lender=lender, borrower=borrower)

    async def record_unfilled(self, borrower: str, *, now: float) -> None:
        """See ``SelectionCounters``."""
        await self._event(SelectionEvent.UNFILLED, now, borrower=borrower)

    async def record_withdrawn(self, borrower: str, lender: str | None, *, now: float) -> None:
        """See ``SelectionCounters``."""
        await self._event(SelectionEvent.WITHDRAWN, now, lender=lender, borrower=borrower)

    async def read(self, members: Iterable[str], *, now: float) -> CounterReading:
        """See ``SelectionCounters`` (one round trip)."""
        names = list(members)
        found = await self._store.selection_read(names)
        consortium = found.consortium_turnarounds
        return CounterReading(
            stats={m: self._stats(found.members[m], now) for m in names},
            consortium_turnaround_hours=statistics.median(consortium) if consortium else None,
        )

    def _decayed(self, tally: SelectionTally, name: str, now: float) -> float:
        value, stamp = tally.sums.get(name, (0.0, 0.0))
        if value == 0.0:
            return 0.0
        return value * math.exp(-max(0.0, now - stamp) / self.tau)

    def _stats(self, tally: SelectionTally, now: float) -> MemberStats:
        if not tally.sums and not tally.counts and not tally.turnarounds:
            return MemberStats()
        counts = tally.counts
        return MemberStats(
            lends=self._decayed(tally, "lends", now),
            borrows=self._decayed(tally, "borrows", now),
            assigned=self._decayed(tally, "assigned", now),
            filled=self._decayed(tally, "filled", now),
            open_assigned=counts.get("open_assigned", 0),
            active_lends=counts.get("active_lends", 0),
            active_borrows=counts.get("active_borrows", 0),
            lifetime_lends=counts.get("lifetime_lends", 0),
            lifetime_borrows=counts.get("lifetime_borrows", 0),
            # Oldest first, as CounterBook's window keeps them.
            recent_turnaround_hours=tuple(reversed(tally.turnarounds)),
        )
