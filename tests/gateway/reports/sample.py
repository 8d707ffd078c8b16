"""A settlement built by hand, whose every figure the tests know."""

from __future__ import annotations

from gateway.settlement.result import Allocation, Settlement, Transfer
from gateway.settlement.statement import Statement

__all__ = ["SAMPLE"]


def _statement(library: str, lent: int, borrowed: int, charges: int, credits: int) -> Statement:
    return Statement("2026-11", library, "USD", lent, borrowed, charges, credits)


SAMPLE = Settlement(
    period="2026-11",
    currency="USD",
    allocations=(
        Allocation(
            "borrowing", "proportional", 100_000, {"alpha": 52_000, "beta": 30_000, "gamma": 18_000}
        ),
        Allocation(
            "net-lending",
            "two-pool",
            100_000,
            {"alpha": 12_000, "beta": 35_000, "gamma": 53_000},
            side="credit",
        ),
    ),
    statements=(
        _statement("alpha", 40, 130, 52_000, 12_000),
        _statement("beta", 70, 60, 30_000, 35_000),
        _statement("gamma", 110, 30, 18_000, 53_000),
    ),
    transfers=(Transfer("alpha", "gamma", 35_000), Transfer("alpha", "beta", 5_000)),
)
"""Alpha, a net borrower, pays 400.00 USD: 350.00 to gamma and 50.00 to beta."""
