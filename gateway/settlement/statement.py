"""One library's settlement for one period, as invoices and the chain see it.

A statement holds no personal data: library codes, counts and amounts only, so it
can be published to the members and committed on chain as a Merkle leaf.  Money is
in integer minor units of ``currency`` (ISO 4217), never floats.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Statement"]


@dataclass(frozen=True)
class Statement:
    """What ``library`` owes and is owed for ``period`` once everything is netted.

    Attributes:
        period: The period's label (``2026-11``, or a span ``2026-11-01..2026-11-15``).
        library: The member library's code.
        currency: ISO 4217 code of every amount.
        loans_lent: Loans the library's items made to patrons of other libraries.
        loans_borrowed: Loans the library's patrons took from other libraries.
        charges: What the library pays for the period (its shares of costs and
            its transaction charges), in minor units, never negative.
        credits: What the library is credited (lending credits, co-owned
            collections' shares), in minor units, never negative.
    """

    period: str
    library: str
    currency: str
    loans_lent: int
    loans_borrowed: int
    charges: int
    credits: int

    def __post_init__(self) -> None:
        for name in ("loans_lent", "loans_borrowed", "charges", "credits"):
            if getattr(self, name) < 0:
                raise ValueError(f"a statement's {name} cannot be negative")
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise ValueError(f"{self.currency!r} is not an ISO 4217 currency code")

    @property
    def net(self) -> int:
        """Credits less charges: positive is a receivable, negative a payable."""
        return self.credits - self.charges
