"""Lending counters shared by every gateway through the Redis state store.

``StoreSelectionCounters`` keeps the same numbers as ``CounterBook`` (the reference
arithmetic; a test replays one history into both and compares), but in Redis: each
event is one atomic script, and ``read`` is one round trip for all the members asked
for.  Times are wall-clock seconds, shared by the gateways.
"""

from __future__ import annotations

import math
import statistics
from typing import TYPE_CHECKING

from gateway.network.selection.counters import DEFAULT_HALF_LIFE_S
from gateway.network.selection.model import CounterReading, MemberStats

if TYPE_CHECKING:
    from collections.abc import Iterable

    from adapters.state.redis import RedisStateStore

__all__ = ["StoreSelectionCounters"]


class StoreSelectionCounters:
    """``SelectionCounters`` in the Redis state store.

    Args:
        store: The gateway's Redis state store.
        half_life_s: Seconds after which an event counts half (as ``CounterBook``).
        turnaround_window: Fills kept per member for its turnaround.
        consortium_window: Fills kept for the consortium's median turnaround.
    """

    def __init__(
        self,
        store: RedisStateStore,
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
        op: str,
        now: float,
        *,
        lender: str | None = None,
        borrower: str | None = None,
        hours: float = 0.0,
    ) -> None:
        await self._store.selection_update(
            op,
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
        await self._event("requested", now, borrower=borrower)

    async def record_assigned(self, lender: str, *, now: float) -> None:
        """See ``SelectionCounters``."""
        await self._event("assigned", now, lender=lender)

    async def record_declined(self, lender: str, *, now: float) -> None:
        """See ``SelectionCounters``."""
        await self._event("declined", now, lender=lender)

    async def record_filled(
        self, lender: str, borrower: str, *, turnaround_hours: float, now: float
    ) -> None:
        """See ``SelectionCounters``."""
        await self._event("filled", now, lender=lender, borrower=borrower, hours=turnaround_hours)

    async def record_returned(self, lender: str, borrower: str, *, now: float) -> None:
        """See ``SelectionCounters``."""
        await self._event("returned", now, lender=lender, borrower=borrower)

    async def record_unfilled(self, borrower: str, *, now: float) -> None:
        """See ``SelectionCounters``."""
        await self._event("unfilled", now, borrower=borrower)

    async def record_withdrawn(self, borrower: str, lender: str | None, *, now: float) -> None:
        """See ``SelectionCounters``."""
        await self._event("withdrawn", now, lender=lender, borrower=borrower)

    async def read(self, members: Iterable[str], *, now: float) -> CounterReading:
        """See ``SelectionCounters`` (one round trip)."""
        names = list(members)
        tallies, turnarounds, consortium = await self._store.selection_read(names)
        return CounterReading(
            stats={m: self._stats(tallies[m], turnarounds[m], now) for m in names},
            consortium_turnaround_hours=(
                statistics.median(float(h) for h in consortium) if consortium else None
            ),
        )

    def _decayed(self, tally: dict[str, str], name: str, now: float) -> float:
        value = float(tally.get(f"{name}:v", 0.0))
        if value == 0.0:
            return 0.0
        stamp = float(tally.get(f"{name}:s", 0.0))
        return value * math.exp(-max(0.0, now - stamp) / self.tau)

    def _stats(self, tally: dict[str, str], turnaround: list[str], now: float) -> MemberStats:
        if not tally and not turnaround:
            return MemberStats()
        return MemberStats(
            lends=self._decayed(tally, "lends", now),
            borrows=self._decayed(tally, "borrows", now),
            assigned=self._decayed(tally, "assigned", now),
            filled=self._decayed(tally, "filled", now),
            open_assigned=int(tally.get("open_assigned", 0)),
            active_lends=int(tally.get("active_lends", 0)),
            active_borrows=int(tally.get("active_borrows", 0)),
            lifetime_lends=int(tally.get("lifetime_lends", 0)),
            lifetime_borrows=int(tally.get("lifetime_borrows", 0)),
            # Oldest first, as CounterBook's window keeps them.
            recent_turnaround_hours=tuple(float(h) for h in reversed(turnaround)),
        )
