"""What a period's settlement produces: allocations, statements and the netting.

The engine writes a :class:`Settlement`; reports, invoices, the webhook and the on-chain
settlement round only read it.  Amounts are integer minor units of ``currency``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from gateway.settlement.statement import Statement

__all__ = ["Allocation", "Settlement", "Transfer"]


@dataclass(frozen=True)
class Allocation:
    """One cost (or credit pool) split among the libraries by one formula.

    Attributes:
        cost: The cost's or pool's name in the configuration.
        formula: The formula's name (``equal``, ``proportional``, ``shapley``…).
        total: The amount split, in minor units.
        shares: Each library's share, in minor units; the shares sum to ``total``.
        side: ``charge`` (the libraries pay their shares) or ``credit`` (they are
            credited them: a pool, or what lenders earn from per-transaction charges).
    """

    cost: str
    formula: str
    total: int
    shares: Mapping[str, int]
    side: Literal["charge", "credit"] = "charge"

    def __post_init__(self) -> None:
        if sum(self.shares.values()) != self.total:
            raise ValueError(
                f"the shares of {self.cost!r} sum to {sum(self.shares.values())}, "
                f"not to its total {self.total}"
            )


@dataclass(frozen=True)
class Transfer:
    """One payment after netting: ``payer`` pays ``payee`` ``amount`` minor units."""

    payer: str
    payee: str
    amount: int

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError("a transfer moves a positive amount")
        if self.payer == self.payee:
            raise ValueError("a library does not pay itself")


@dataclass(frozen=True)
class Settlement:
    """A period's settlement for the whole consortium.

    Attributes:
        period: The period's label (``2026-11``).
        currency: ISO 4217 code of every amount.
        allocations: Every cost and pool as it was split, in configuration order.
        statements: One statement per member library, by library code.
        transfers: The payments that settle the statements' net positions.
    """

    period: str
    currency: str
    allocations: tuple[Allocation, ...]
    statements: tuple[Statement, ...]
    transfers: tuple[Transfer, ...]

    def statement(self, library: str) -> Statement:
        """The statement of ``library``.

        Raises:
            KeyError: ``library`` has no statement in this settlement.
        """
        for statement in self.statements:
            if statement.library == library:
                return statement
        raise KeyError(library)
