"""Netting: each party's net position settled by as few payments as the greedy rule gives.

Every party that owes pays, every party that is owed receives, and no party does both:
each ends the period with one payable or one receivable (the IFM's monthly netting).
The largest debtor pays the largest creditor as much as it can, then the next, so with
``p`` parties not at zero there are at most ``p - 1`` transfers.  Ties go to the party
code first in alphabetical order, so the same positions always give the same transfers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.settlement.result import Transfer

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["NettingError", "net_transfers"]


class NettingError(ValueError):
    """Positions that do not balance: money would be created or lost."""


def net_transfers(positions: Mapping[str, int]) -> tuple[Transfer, ...]:
    """The payments that bring every position to zero.

    Args:
        positions: Each party's net position in minor units: positive is owed to
            it (a receivable), negative is owed by it (a payable).

    Raises:
        NettingError: The positions do not sum to zero.
    """
    if sum(positions.values()) != 0:
        raise NettingError(
            f"the positions sum to {sum(positions.values())}, not 0: someone must pay or "
            "receive the difference"
        )
    debtors = sorted((p for p, n in positions.items() if n < 0), key=lambda p: (positions[p], p))
    creditors = sorted((p for p, n in positions.items() if n > 0), key=lambda p: (-positions[p], p))
    left = {party: abs(amount) for party, amount in positions.items()}
    transfers: list[Transfer] = []
    d = c = 0
    while d < len(debtors) and c < len(creditors):
        debtor, creditor = debtors[d], creditors[c]
        amount = min(left[debtor], left[creditor])
        transfers.append(Transfer(debtor, creditor, amount))
        left[debtor] -= amount
        left[creditor] -= amount
        if left[debtor] == 0:
            d += 1
        if left[creditor] == 0:
            c += 1
    return tuple(transfers)
