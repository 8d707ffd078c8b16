"""The ledger's interface: loan events are handed over without waiting.

The circulation path never waits for the chain: ``record_nowait`` queues an event and
returns at once.  What happens when the queue is full is the backend's documented
choice (the in-memory backend drops the oldest and counts it; durable backends keep an
outbox).  ``statistics()`` reports queue depth and counts, as trio names such methods.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["Ledger", "LedgerStatistics", "LoanEvent", "LoanEventKind"]


class LoanEventKind(enum.Enum):
    """What happened to a loan."""

    CHECKOUT = "checkout"
    RENEW = "renew"
    CHECKIN = "checkin"


@dataclass(frozen=True)
class LoanEvent:
    """One event for the ledger; no personal data (the patron is a keyed hash)."""

    kind: LoanEventKind
    loan_id: str
    owner: str
    home: str
    item: str
    patron_key: str
    at: datetime
    due: datetime | None = None


@dataclass(frozen=True)
class LedgerStatistics:
    """Queue depth and counts."""

    queued: int
    recorded: int
    dropped: int


class Ledger(Protocol):
    """Where loan events are recorded."""

    def record_nowait(self, event: LoanEvent) -> None:
        """Queue an event; never waits."""
        ...

    def statistics(self) -> LedgerStatistics:
        """Queue depth and counts."""
        ...
