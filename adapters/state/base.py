"""The loan registry's interface: reserve, commit, renew, close, and queries.

A reciprocal checkout touches the registry twice around the owner's ILS::

    reserve(request)   -> Reservation | CapExceeded     # caps checked, slot held
    … the owner's ILS lends the item …
    commit(reservation) -> Loan                          # or release(reservation)

``reserve`` checks the caps (loans per patron at the owner, and in all, counting held
reservations) and holds a slot *in one atomic step*, so two gateways racing for a
patron's last slot cannot both get it.  It is also idempotent: a request whose
idempotency key (terminal, patron, item, and the kiosk's AY/AZ) was already committed
returns that loan instead of a new reservation, so a retry never lends twice.

Patrons are stored only as keyed hashes (``patron_key``): the registry can count and
list a patron's loans without holding the barcode.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = [
    "CapExceeded",
    "Loan",
    "LoanRequest",
    "LoanState",
    "Reservation",
    "StateStore",
    "patron_key",
]


def patron_key(secret: bytes, home: str, barcode: str) -> str:
    """The keyed hash that stands for a patron in the registry and in logs."""
    digest = hmac.new(secret, f"{home}\x1f{barcode}".encode(), hashlib.sha256).hexdigest()
    return digest[:32]


class LoanState(enum.Enum):
    """Where a loan stands."""

    ACTIVE = "active"
    RETURNED = "returned"


@dataclass(frozen=True)
class Loan:
    """A reciprocal loan in the registry (no personal data: the patron is a keyed hash)."""

    loan_id: str
    owner: str
    home: str
    item: str
    patron_key: str
    proxy_patron: str
    terminal: str
    checked_out: datetime
    due: datetime
    renewals: int = 0
    state: LoanState = LoanState.ACTIVE
    returned: datetime | None = None


@dataclass(frozen=True)
class LoanRequest:
    """What a reciprocal checkout asks the registry to hold a slot for."""

    owner: str
    home: str
    item: str
    patron_key: str
    proxy_patron: str
    terminal: str
    idempotency_key: str
    cap_at_owner: int | None
    cap_total: int | None


@dataclass(frozen=True)
class Reservation:
    """A held slot (``existing`` set: the request was already committed as that loan)."""

    token: str
    request: LoanRequest
    existing: Loan | None = None


@dataclass(frozen=True)
class CapExceeded:
    """The reservation was refused: the patron is at a cap."""

    scope: str
    """``"owner"`` (loans from this library) or ``"total"`` (loans in all)."""
    cap: int
    count: int


class StateStore(Protocol):
    """The consortium loan registry."""

    async def reserve(self, request: LoanRequest) -> Reservation | CapExceeded:
        """Check the caps and hold a slot, atomically (see the module documentation)."""
        ...

    async def commit(self, reservation: Reservation, *, due: datetime, now: datetime) -> Loan:
        """Turn a held slot into an active loan; returns the loan."""
        ...

    async def release(self, reservation: Reservation) -> None:
        """Give a held slot back (the owner's ILS refused or failed)."""
        ...

    async def renew(self, owner: str, item: str, *, due: datetime) -> Loan | None:
        """Record a renewal of the active loan of ``item``; ``None`` if there is none."""
        ...

    async def close(self, owner: str, item: str, *, now: datetime) -> Loan | None:
        """Close the active loan of ``item``; ``None`` if there is none."""
        ...

    async def active_loan(self, owner: str, item: str) -> Loan | None:
        """The active loan of ``item``, if any."""
        ...

    async def active_loans(self, patron_key: str) -> list[Loan]:
        """A patron's active loans, oldest first."""
        ...

    async def recent_loans(self, limit: int) -> list[Loan]:
        """The most recent loans (active or returned), newest first."""
        ...
