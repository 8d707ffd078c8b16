"""The lending counters of the in-memory store: ``lua/selection.lua`` in Python.

``SelectionCounters`` applies ``SelectionCounterStore``'s events (the rules are in that
Protocol's documentation, ``base.py``) to tallies held in this process, step for step as
the Redis script does, so that the contract suite finds the same numbers on both
stores.  A missing lender or borrower is counted under ``-``, as the script does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, assert_never

from .base import SelectionEvent, SelectionTallies, SelectionTally

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["SelectionCounters"]


@dataclass
class _Tally:
    sums: dict[str, tuple[float, float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    turnarounds: list[float] = field(default_factory=list)

    def add(self, name: str, amount: float, now: float, tau: float) -> None:
        value, stamp = self.sums.get(name, (0.0, 0.0))
        if value != 0:
            value *= math.exp(-max(0.0, now - stamp) / tau)
        self.sums[name] = (max(0.0, value + amount), max(stamp, now))

    def up(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def down(self, name: str) -> None:
        self.counts[name] = max(0, self.counts.get(name, 0) - 1)

    def declined(self) -> None:
        self.down("open_assigned")
        self.down("active_lends")

    def frozen(self) -> SelectionTally:
        return SelectionTally(dict(self.sums), dict(self.counts), tuple(self.turnarounds))


def _push(newest_first: list[float], hours: float, window: int) -> None:
    newest_first.insert(0, hours)
    del newest_first[window:]


class SelectionCounters:
    """Lending counters in memory, for ``MemoryStateStore``."""

    def __init__(self) -> None:
        self._tallies: dict[str, _Tally] = {}
        self._consortium: list[float] = []

    def _tally(self, member: str | None) -> _Tally:
        name = member or "-"
        tally = self._tallies.get(name)
        if tally is None:
            tally = self._tallies[name] = _Tally()
        return tally

    def update(
        self,
        event: SelectionEvent,
        *,
        lender: str | None,
        borrower: str | None,
        now: float,
        tau: float,
        turnaround_hours: float,
        window: int,
        consortium_window: int,
    ) -> None:
        """Apply one event (see ``SelectionCounterStore.selection_update``)."""
        match event:
            case SelectionEvent.REQUESTED:
                self._tally(borrower).up("active_borrows")
            case SelectionEvent.ASSIGNED:
                supplier = self._tally(lender)
                supplier.add("assigned", 1, now, tau)
                supplier.up("open_assigned")
                supplier.up("active_lends")
            case SelectionEvent.DECLINED:
                self._tally(lender).declined()
            case SelectionEvent.FILLED:
                supplier = self._tally(lender)
                supplier.down("open_assigned")
                supplier.add("lends", 1, now, tau)
                supplier.add("filled", 1, now, tau)
                supplier.up("lifetime_lends")
                _push(supplier.turnarounds, turnaround_hours, window)
                _push(self._consortium, turnaround_hours, consortium_window)
                receiver = self._tally(borrower)
                receiver.add("borrows", 1, now, tau)
                receiver.up("lifetime_borrows")
            case SelectionEvent.RETURNED:
                self._tally(lender).down("active_lends")
                self._tally(borrower).down("active_borrows")
            case SelectionEvent.UNFILLED:
                self._tally(borrower).down("active_borrows")
            case SelectionEvent.WITHDRAWN:
                self._tally(borrower).down("active_borrows")
                if lender:
                    supplier = self._tally(lender)
                    supplier.declined()
                    supplier.add("assigned", -1, now, tau)
            case _:
                assert_never(event)

    def read(self, members: Sequence[str]) -> SelectionTallies:
        """The counters of ``members`` (see ``SelectionCounterStore.selection_read``)."""
        empty = SelectionTally()
        return SelectionTallies(
            members={
                m: self._tallies[m].frozen() if m in self._tallies else empty for m in members
            },
            consortium_turnarounds=tuple(self._consortium),
        )
