"""The members' lending counters: what happened, faded by age, shared by every gateway.

``SelectionCounters`` is the interface the gateway writes events to and reads a
``CounterReading`` from; ``MemorySelectionCounters`` keeps them in this process (the
embedded default and the tests), and a state-store implementation lets several gateway
instances agree.  The arithmetic lives in ``CounterBook``, synchronous, so the
benchmark can replay months of requests without an event loop, and so another backend
has one reference to match.

Rules:

* **Decay.** ``lends``, ``borrows``, ``assigned`` and ``filled`` are sums of events
  each weighted ``e^(-age/tau)`` with ``tau = half_life / ln 2``: a loan counts 1 today,
  1/2 after one half-life.  A sum is kept as ``(value, stamp)`` and brought forward
  only when touched (``value * e^(-(now - stamp)/tau)``), so an update costs the same
  whatever the history.
* **Open and active** counts are plain integers of things in progress; they never go
  below zero (an event replayed after a restart must not leave a negative queue).
* **Lifetime** counts never decay (CrossLink's peer counters, for its baseline).
* **Turnaround** keeps a member's last ``turnaround_window`` fills (hours from
  assignment to shipping) and the consortium's last ``consortium_window``.
* Events name the lender and the borrower, and each is recorded once, when the
  request changes state (assigned, declined, filled, returned, closed unfilled,
  withdrawn).  The gateway records loans between members (requested, assigned,
  filled), their returns, and holds by title a lender took (requested, assigned;
  ``gateway/network/lenders.py``); the benchmark replays every kind.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from typing import TYPE_CHECKING, Protocol

from gateway.network.selection.model import CounterReading, MemberStats

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "DEFAULT_HALF_LIFE_S",
    "CounterBook",
    "DecayedSum",
    "MemorySelectionCounters",
    "SelectionCounters",
]

DEFAULT_HALF_LIFE_S = 30 * 86400.0
"""Thirty days: history counts, but a quarter ago counts only an eighth."""


class SelectionCounters(Protocol):
    """**Protocol:** where lending events are counted and read back.

    Times are seconds on one clock shared by every writer (wall-clock time when
    several gateways share the counters).  Each method is one round trip to the
    backend; ``read`` returns every member asked for at once.
    """

    async def record_requested(self, borrower: str, *, now: float) -> None:
        """A patron of ``borrower`` placed a request."""

    async def record_assigned(self, lender: str, *, now: float) -> None:
        """A request was sent to ``lender``."""

    async def record_declined(self, lender: str, *, now: float) -> None:
        """``lender`` declined (or let time out) a request sent to it."""

    async def record_filled(
        self, lender: str, borrower: str, *, turnaround_hours: float, now: float
    ) -> None:
        """``lender`` shipped a request of ``borrower``'s, ``turnaround_hours`` after
        it was assigned."""

    async def record_returned(self, lender: str, borrower: str, *, now: float) -> None:
        """A loan from ``lender`` to ``borrower`` came back: it is no longer active."""

    async def record_unfilled(self, borrower: str, *, now: float) -> None:
        """A request of ``borrower``'s was closed without a lender."""

    async def record_withdrawn(self, borrower: str, lender: str | None, *, now: float) -> None:
        """A request was cancelled before it was filled (``lender``: who held it)."""

    async def read(self, members: Iterable[str], *, now: float) -> CounterReading:
        """The counters of ``members`` at ``now``."""


class DecayedSum:
    """A sum of events that fades exponentially with their age.

    Args:
        tau: The decay's time constant, in seconds (``half_life / ln 2``).
    """

    __slots__ = ("_stamp", "_tau", "_value")

    def __init__(self, tau: float) -> None:
        self._tau = tau
        self._value = 0.0
        self._stamp = 0.0

    def at(self, now: float) -> float:
        """The sum as it stands at ``now``."""
        if self._value == 0.0:
            return 0.0
        return self._value * math.exp(-max(0.0, now - self._stamp) / self._tau)

    def add(self, amount: float, now: float) -> None:
        """Add ``amount`` at ``now`` (never below zero)."""
        self._value = max(0.0, self.at(now) + amount)
        self._stamp = max(self._stamp, now)


class _Tally:
    __slots__ = (
        "active_borrows",
        "active_lends",
        "assigned",
        "borrows",
        "filled",
        "lends",
        "lifetime_borrows",
        "lifetime_lends",
        "open_assigned",
        "turnaround",
    )

    def __init__(self, tau: float, window: int) -> None:
        self.lends = DecayedSum(tau)
        self.borrows = DecayedSum(tau)
        self.assigned = DecayedSum(tau)
        self.filled = DecayedSum(tau)
        self.open_assigned = 0
        self.active_lends = 0
        self.active_borrows = 0
        self.lifetime_lends = 0
        self.lifetime_borrows = 0
        self.turnaround: deque[float] = deque(maxlen=window)

    def stats(self, now: float) -> MemberStats:
        return MemberStats(
            lends=self.lends.at(now),
            borrows=self.borrows.at(now),
            assigned=self.assigned.at(now),
            filled=self.filled.at(now),
            open_assigned=self.open_assigned,
            active_lends=self.active_lends,
            active_borrows=self.active_borrows,
            lifetime_lends=self.lifetime_lends,
            lifetime_borrows=self.lifetime_borrows,
            recent_turnaround_hours=tuple(self.turnaround),
        )


class CounterBook:
    """The counters' arithmetic, synchronous (see the module documentation).

    Args:
        half_life_s: Seconds after which an event counts half.
        turnaround_window: Fills kept per member for its turnaround.
        consortium_window: Fills kept for the consortium's median turnaround.
    """

    def __init__(
        self,
        *,
        half_life_s: float = DEFAULT_HALF_LIFE_S,
        turnaround_window: int = 20,
        consortium_window: int = 500,
    ) -> None:
        if half_life_s <= 0:
            raise ValueError("half_life_s must be positive")
        self.tau = half_life_s / math.log(2)
        self._window = turnaround_window
        self._members: dict[str, _Tally] = {}
        self._consortium: deque[float] = deque(maxlen=consortium_window)

    def _tally(self, member: str) -> _Tally:
        tally = self._members.get(member)
        if tally is None:
            tally = self._members[member] = _Tally(self.tau, self._window)
        return tally

    def requested(self, borrower: str, now: float) -> None:
        """See ``SelectionCounters.record_requested``."""
        self._tally(borrower).active_borrows += 1

    def assigned(self, lender: str, now: float) -> None:
        """See ``SelectionCounters.record_assigned``."""
        tally = self._tally(lender)
        tally.assigned.add(1.0, now)
        tally.open_assigned += 1
        tally.active_lends += 1

    def declined(self, lender: str, now: float) -> None:
        """See ``SelectionCounters.record_declined``."""
        tally = self._tally(lender)
        tally.open_assigned = max(0, tally.open_assigned - 1)
        tally.active_lends = max(0, tally.active_lends - 1)

    def filled(self, lender: str, borrower: str, turnaround_hours: float, now: float) -> None:
        """See ``SelectionCounters.record_filled``."""
        supplier = self._tally(lender)
        supplier.open_assigned = max(0, supplier.open_assigned - 1)
        supplier.lends.add(1.0, now)
        supplier.filled.add(1.0, now)
        supplier.lifetime_lends += 1
        supplier.turnaround.append(turnaround_hours)
        self._consortium.append(turnaround_hours)
        receiver = self._tally(borrower)
        receiver.borrows.add(1.0, now)
        receiver.lifetime_borrows += 1

    def returned(self, lender: str, borrower: str, now: float) -> None:
        """See ``SelectionCounters.record_returned``."""
        supplier = self._tally(lender)
        supplier.active_lends = max(0, supplier.active_lends - 1)
        receiver = self._tally(borrower)
        receiver.active_borrows = max(0, receiver.active_borrows - 1)

    def unfilled(self, borrower: str, now: float) -> None:
        """See ``SelectionCounters.record_unfilled``."""
        receiver = self._tally(borrower)
        receiver.active_borrows = max(0, receiver.active_borrows - 1)

    def withdrawn(self, borrower: str, lender: str | None, now: float) -> None:
        """See ``SelectionCounters.record_withdrawn``.

        The lender's assignment is taken back too: a patron's cancellation says nothing
        about how reliably it lends.
        """
        self.unfilled(borrower, now)
        if lender is not None:
            tally = self._tally(lender)
            self.declined(lender, now)
            tally.assigned.add(-1.0, now)

    def stats(self, member: str, now: float) -> MemberStats:
        """``member``'s counters at ``now``."""
        tally = self._members.get(member)
        return tally.stats(now) if tally is not None else MemberStats()

    def consortium_turnaround_hours(self) -> float | None:
        """The median turnaround of the consortium's recent fills."""
        return statistics.median(self._consortium) if self._consortium else None

    def read(self, members: Iterable[str], now: float) -> CounterReading:
        """The counters of ``members`` at ``now``."""
        return CounterReading(
            stats={member: self.stats(member, now) for member in members},
            consortium_turnaround_hours=self.consortium_turnaround_hours(),
        )


class MemorySelectionCounters:
    """``SelectionCounters`` kept in this process (one gateway, or tests).

    Args:
        book: The arithmetic; a fresh ``CounterBook`` by default.
    """

    def __init__(self, book: CounterBook | None = None) -> None:
        self.book = book if book is not None else CounterBook()

    async def record_requested(self, borrower: str, *, now: float) -> None:
        """See ``SelectionCounters``."""
        self.book.requested(borrower, now)

    async def record_assigned(self, lender: str, *, now: float) -> None:
        """See ``SelectionCounters``."""
        self.book.assigned(lender, now)

    async def record_declined(self, lender: str, *, now: float) -> None:
        """See ``SelectionCounters``."""
        self.book.declined(lender, now)

    async def record_filled(
        self, lender: str, borrower: str, *, turnaround_hours: float, now: float
    ) -> None:
        """See ``SelectionCounters``."""
        self.book.filled(lender, borrower, turnaround_hours, now)

    async def record_returned(self, lender: str, borrower: str, *, now: float) -> None:
        """See ``SelectionCounters``."""
        self.book.returned(lender, borrower, now)

    async def record_unfilled(self, borrower: str, *, now: float) -> None:
        """See ``SelectionCounters``."""
        self.book.unfilled(borrower, now)

    async def record_withdrawn(self, borrower: str, lender: str | None, *, now: float) -> None:
        """See ``SelectionCounters``."""
        self.book.withdrawn(borrower, lender, now)

    async def read(self, members: Iterable[str], *, now: float) -> CounterReading:
        """See ``SelectionCounters``."""
        return self.book.read(members, now)
