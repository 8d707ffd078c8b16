"""Netting: every position settled, money conserved, each party on one side only."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.settlement.netting import NettingError, net_transfers
from gateway.settlement.result import Transfer


def test_the_per_transaction_example_nets_to_two_payments() -> None:
    """alpha is owed 20.00; beta owes 5.00 and gamma 15.00 (docs/cost-sharing.md)."""
    assert net_transfers({"alpha": 2000, "beta": -500, "gamma": -1500}) == (
        Transfer("gamma", "alpha", 1500),
        Transfer("beta", "alpha", 500),
    )


def test_positions_that_do_not_balance_are_refused() -> None:
    with pytest.raises(NettingError, match="sum to 1, not 0"):
        net_transfers({"alpha": 1})


def test_nobody_owing_anything_makes_no_transfers() -> None:
    assert net_transfers({"alpha": 0, "beta": 0}) == ()


@st.composite
def balanced(draw: st.DrawFn) -> dict[str, int]:
    parties = draw(st.lists(st.sampled_from("abcdefghij"), min_size=1, max_size=10, unique=True))
    amounts = draw(
        st.lists(
            st.integers(min_value=-(10**7), max_value=10**7),
            min_size=len(parties) - 1,
            max_size=len(parties) - 1,
        )
    )
    return {**dict(zip(parties, amounts, strict=False)), parties[-1]: -sum(amounts)}


@settings(max_examples=80)
@given(balanced())
def test_netting_conserves_money_and_leaves_each_party_one_side(
    positions: dict[str, int],
) -> None:
    transfers = net_transfers(positions)
    moved = dict.fromkeys(positions, 0)
    for transfer in transfers:
        moved[transfer.payer] -= transfer.amount
        moved[transfer.payee] += transfer.amount
    assert moved == positions
    payers = {t.payer for t in transfers}
    payees = {t.payee for t in transfers}
    assert not payers & payees
    assert len(transfers) <= max(0, sum(1 for n in positions.values() if n) - 1)
