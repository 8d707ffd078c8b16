"""The in-memory ledger queue: the embedded default until a chain backend is configured.

Events are kept in a bounded queue; when it is full the oldest event is dropped and
counted (``statistics().dropped``), so memory stays bounded and nothing waits.
"""

from __future__ import annotations

from collections import deque

from .base import LedgerStatistics, LoanEvent

__all__ = ["MemoryLedger"]


class MemoryLedger:
    """A ``Ledger`` that keeps the last ``capacity`` events in memory."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._events: deque[LoanEvent] = deque(maxlen=capacity)
        self._recorded = 0
        self._dropped = 0

    def record_nowait(self, event: LoanEvent) -> None:
        """Queue the event, dropping the oldest when full."""
        if len(self._events) == self._events.maxlen:
            self._dropped += 1
        self._events.append(event)
        self._recorded += 1

    def statistics(self) -> LedgerStatistics:
        """Queue depth and counts."""
        return LedgerStatistics(len(self._events), self._recorded, self._dropped)

    def events(self) -> list[LoanEvent]:
        """The queued events, oldest first."""
        return list(self._events)
