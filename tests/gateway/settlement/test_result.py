"""The settlement's result types refuse amounts that do not add up."""

from __future__ import annotations

import pytest

from gateway.settlement.result import Allocation, Settlement, Transfer
from gateway.settlement.statement import Statement


def test_an_allocation_whose_shares_miss_its_total_is_refused() -> None:
    with pytest.raises(ValueError, match="sum to 99, not to its total 100"):
        Allocation("catalogue", "equal", 100, {"alpha": 50, "beta": 49})


def test_an_allocation_whose_shares_make_its_total_is_kept() -> None:
    allocation = Allocation("catalogue", "equal", 101, {"alpha": 51, "beta": 50})
    assert allocation.shares["alpha"] == 51


@pytest.mark.parametrize(
    ("payer", "payee", "amount", "message"),
    [("alpha", "beta", 0, "positive"), ("alpha", "alpha", 5, "does not pay itself")],
)
def test_a_transfer_moves_money_between_two_libraries(
    payer: str, payee: str, amount: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Transfer(payer, payee, amount)


def test_a_settlement_finds_each_library_statement() -> None:
    alpha = Statement("2026-11", "alpha", "USD", 3, 1, 100, 250)
    settlement = Settlement("2026-11", "USD", (), (alpha,), (Transfer("beta", "alpha", 150),))
    assert settlement.statement("alpha") is alpha
    with pytest.raises(KeyError):
        settlement.statement("gamma")
