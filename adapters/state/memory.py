"""The in-memory loan registry: the embedded default (one process, nothing kept).

Under trio one task runs at a time and no method awaits inside its critical section,
so each method is atomic with respect to every other task, as the protocol requires.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import OrderedDict
from typing import TYPE_CHECKING

from .base import CapExceeded, Loan, LoanRequest, LoanState, Reservation

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["MemoryStateStore"]


class MemoryStateStore:
    """A ``StateStore`` in the process's memory.

    Args:
        history: Returned loans kept for ``recent_loans`` (oldest dropped first).
    """

    def __init__(self, history: int = 10_000) -> None:
        self._loans: OrderedDict[str, Loan] = OrderedDict()
        self._active_by_item: dict[tuple[str, str], str] = {}
        self._held: dict[str, LoanRequest] = {}
        self._by_key: dict[str, str] = {}
        self._key_of: dict[str, str] = {}
        self._history = history

    def _counts(self, patron: str, owner: str) -> tuple[int, int]:
        active = [
            loan
            for loan_id in self._active_by_item.values()
            if (loan := self._loans[loan_id]).patron_key == patron
        ]
        held = [r for r in self._held.values() if r.patron_key == patron]
        at_owner = sum(1 for x in active if x.owner == owner) + sum(
            1 for r in held if r.owner == owner
        )
        return at_owner, len(active) + len(held)

    async def reserve(self, request: LoanRequest) -> Reservation | CapExceeded:
        """Check caps and hold a slot (idempotent by ``request.idempotency_key``)."""
        done = self._by_key.get(request.idempotency_key)
        if done is not None and done in self._loans:
            return Reservation("", request, existing=self._loans[done])
        current = self._active_by_item.get((request.owner, request.item))
        if current is not None and self._loans[current].patron_key == request.patron_key:
            # Checking out an item the patron already has renews it at the ILS.
            return Reservation("", request, existing=self._loans[current])
        at_owner, total = self._counts(request.patron_key, request.owner)
        if request.cap_at_owner is not None and at_owner >= request.cap_at_owner:
            return CapExceeded("owner", request.cap_at_owner, at_owner)
        if request.cap_total is not None and total >= request.cap_total:
            return CapExceeded("total", request.cap_total, total)
        token = uuid.uuid4().hex
        self._held[token] = request
        return Reservation(token, request)

    async def commit(self, reservation: Reservation, *, due: datetime, now: datetime) -> Loan:
        """Make the held slot an active loan (a repeat commit returns the same loan)."""
        if reservation.existing is not None:
            return reservation.existing
        done = self._by_key.get(reservation.request.idempotency_key)
        if done is not None and done in self._loans:
            return self._loans[done]
        request = self._held.pop(reservation.token, reservation.request)
        previous = self._active_by_item.get((request.owner, request.item))
        if previous is not None:
            # The item was still registered to someone else (a missed checkin): close it.
            self._loans[previous] = dataclasses.replace(
                self._loans[previous], state=LoanState.RETURNED, returned=now
            )
        loan = Loan(
            loan_id=uuid.uuid4().hex,
            owner=request.owner,
            home=request.home,
            item=request.item,
            patron_key=request.patron_key,
            proxy_patron=request.proxy_patron,
            terminal=request.terminal,
            checked_out=now,
            due=due,
        )
        self._loans[loan.loan_id] = loan
        self._active_by_item[(loan.owner, loan.item)] = loan.loan_id
        self._by_key[request.idempotency_key] = loan.loan_id
        self._key_of[loan.loan_id] = request.idempotency_key
        self._trim()
        return loan

    async def release(self, reservation: Reservation) -> None:
        """Give the held slot back."""
        self._held.pop(reservation.token, None)

    async def renew(self, owner: str, item: str, *, due: datetime) -> Loan | None:
        """Record a renewal."""
        loan_id = self._active_by_item.get((owner, item))
        if loan_id is None:
            return None
        loan = dataclasses.replace(
            self._loans[loan_id], due=due, renewals=self._loans[loan_id].renewals + 1
        )
        self._loans[loan_id] = loan
        return loan

    async def close(self, owner: str, item: str, *, now: datetime) -> Loan | None:
        """Close the active loan of the item."""
        loan_id = self._active_by_item.pop((owner, item), None)
        if loan_id is None:
            return None
        loan = dataclasses.replace(self._loans[loan_id], state=LoanState.RETURNED, returned=now)
        self._loans[loan_id] = loan
        self._trim()
        return loan

    async def active_loan(self, owner: str, item: str) -> Loan | None:
        """The active loan of the item."""
        loan_id = self._active_by_item.get((owner, item))
        return self._loans[loan_id] if loan_id is not None else None

    async def active_loans(self, patron_key: str) -> list[Loan]:
        """The patron's active loans, oldest first."""
        loans = (self._loans[i] for i in self._active_by_item.values())
        return sorted((x for x in loans if x.patron_key == patron_key), key=lambda x: x.checked_out)

    async def recent_loans(self, limit: int) -> list[Loan]:
        """The newest loans first."""
        return list(reversed(self._loans.values()))[:limit]

    def _trim(self) -> None:
        while len(self._loans) > self._history + len(self._active_by_item):
            oldest = next(
                (i for i, x in self._loans.items() if x.state is LoanState.RETURNED), None
            )
            if oldest is None:
                return
            del self._loans[oldest]
            self._by_key.pop(self._key_of.pop(oldest, ""), None)
