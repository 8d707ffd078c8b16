"""Each formula against a known answer worked by hand (the same numbers as
docs/cost-sharing.md), and the properties the formulas promise."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.settlement import formulas
from gateway.settlement.money import MoneyError, largest_remainder

LIBS = ("alpha", "beta", "gamma")
F = Fraction


def test_equal() -> None:
    """100.00 in three: 33.33 each and the odd cent to alpha."""
    shares = largest_remainder(formulas.equal(10_000, LIBS))
    assert shares == {"alpha": 3_334, "beta": 3_333, "gamma": 3_333}


def test_proportional() -> None:
    """1,000.00 by patrons 42,000 / 18,500 / 9,500."""
    patrons = {"alpha": F(42_000), "beta": F(18_500), "gamma": F(9_500)}
    shares = largest_remainder(formulas.proportional(100_000, patrons))
    assert shares == {"alpha": 60_000, "beta": 26_429, "gamma": 13_571}


def test_a_driver_zero_for_everyone_is_split_equally() -> None:
    assert formulas.proportional(900, dict.fromkeys(LIBS, F(0))) == dict.fromkeys(LIBS, F(300))


def test_base_plus_drivers_with_size_breaks() -> None:
    """10,000.00 the Montana Shared Catalog way: 30% equal, 30% titles, 10% circulation,
    30% patrons; under 10,000 titles counts as 5,000, under 3,000 patrons as none."""
    exact = formulas.base_plus_drivers(
        1_000_000,
        LIBS,
        F(3, 10),
        {"titles": F(3, 10), "circulation": F(1, 10), "patrons": F(3, 10)},
        {
            "titles": {"alpha": F(120_000), "beta": F(8_000), "gamma": F(40_000)},
            "circulation": {"alpha": F(50_000), "beta": F(6_000), "gamma": F(14_000)},
            "patrons": {"alpha": F(20_000), "beta": F(2_500), "gamma": F(8_000)},
        },
        {
            "titles": formulas.SizeBreak(F(10_000), F(5_000)),
            "patrons": formulas.SizeBreak(F(3_000), F(0)),
        },
    )
    # beta: 100,000 equal + 300,000·5,000/165,000 titles + 100,000·6,000/70,000 circulation.
    assert exact["beta"] == 100_000 + F(300_000 * 5_000, 165_000) + F(100_000 * 6_000, 70_000)
    assert largest_remainder(exact) == {"alpha": 603_896, "beta": 117_662, "gamma": 278_442}


def test_a_driver_nobody_has_is_split_equally() -> None:
    exact = formulas.base_plus_drivers(
        900, LIBS, F(0), {"titles": F(1)}, {"titles": dict.fromkeys(LIBS, F(0))}, {}
    )
    assert exact == dict.fromkeys(LIBS, F(300))


def test_ewma_usage_share() -> None:
    """600.00 by usage smoothed with weight 0.5: alpha 100, 80, now 60 → 75; beta only
    now, 25; gamma 50, now 0 → 25."""
    half = F(1, 2)
    usage = {
        "alpha": formulas.ewma((F(100), F(80)), F(60), half),
        "beta": formulas.ewma((), F(25), half),
        "gamma": formulas.ewma((F(50),), F(0), half),
    }
    assert usage == {"alpha": 75, "beta": 25, "gamma": 25}
    assert largest_remainder(formulas.proportional(60_000, usage)) == {
        "alpha": 36_000,
        "beta": 12_000,
        "gamma": 12_000,
    }


def test_two_pool_net_lender_credit() -> None:
    """A 1,000.00 pool: half by loans lent (60/30/10), half by lending over the goal
    (alpha 60 - 1·20 = 40; beta 30 - 1·40 < 0; gamma at goal 0.2: 10 - 0.2·40 = 2)."""
    credits = formulas.net_lender(
        100_000,
        {"alpha": F(60), "beta": F(30), "gamma": F(10)},
        {"alpha": F(20), "beta": F(40), "gamma": F(40)},
        {"alpha": F(1), "beta": F(1), "gamma": F(1, 5)},
    )
    assert largest_remainder(credits) == {"alpha": 77_619, "beta": 15_000, "gamma": 7_381}


def test_with_no_net_lender_the_whole_pool_goes_by_loans() -> None:
    credits = formulas.net_lender(
        900, {"alpha": F(2), "beta": F(1)}, {"alpha": F(5), "beta": F(5)}, dict.fromkeys(LIBS, F(1))
    )
    assert credits == {"alpha": 600, "beta": 300}


def test_per_transaction_charges_with_a_maximum() -> None:
    """5.00 a loan, alpha asks 12.00 but a loan is charged 10.00 at most."""
    prices = {"alpha": 1_200}
    loans = [
        ("alpha", {"alpha": F(1)}, "beta", 3),
        ("beta", {"beta": F(1)}, "alpha", 2),
        ("gamma", {"gamma": F(1)}, "beta", 1),
        ("beta", {"beta": F(1)}, "gamma", 4),
    ]
    charges = formulas.per_transaction(LIBS, loans, lambda lib: prices.get(lib, 500), 1_000)
    assert charges.total == 6_500
    assert charges.debits == {"alpha": 1_000, "beta": 3_500, "gamma": 2_000}
    assert charges.credits == {"alpha": 3_000, "beta": 3_000, "gamma": 500}


def test_a_jointly_owned_loan_is_credited_by_share() -> None:
    """Beta's ILS lent an item co-owned 50/30/20: beta's price, credited by share."""
    loans = [("beta", {"alpha": F(1, 2), "beta": F(3, 10), "gamma": F(1, 5)}, "gamma", 1)]
    prices = {"beta": 1_000}
    charges = formulas.per_transaction(LIBS, loans, lambda lib: prices.get(lib, 99), None)
    assert charges.credits == {"alpha": 500, "beta": 300, "gamma": 200}
    assert charges.debits["gamma"] == 1_000


def test_airport_rule() -> None:
    """Tiers 100.00 / 250.00 / 600.00; alpha needs large, beta medium, gamma small."""
    exact = formulas.airport((10_000, 25_000, 60_000), {"alpha": 2, "beta": 1, "gamma": 0})
    assert exact["gamma"] == F(10_000, 3)
    assert largest_remainder(exact) == {"alpha": 45_834, "beta": 10_833, "gamma": 3_333}


def test_exact_shapley_of_a_capacity_cost() -> None:
    """Up to 50,000 patrons costs 200.00, up to 100,000 costs 300.00; alpha 40,000,
    beta 30,000, gamma 20,000 patrons."""
    demand = {"alpha": 40_000, "beta": 30_000, "gamma": 20_000}

    def cost(coalition: frozenset[str]) -> int:
        need = sum(demand[lib] for lib in coalition)
        return 0 if not coalition else 20_000 if need <= 50_000 else 30_000

    exact = formulas.shapley(LIBS, cost)
    assert exact == {"alpha": F(40_000, 3), "beta": F(25_000, 3), "gamma": F(25_000, 3)}
    assert largest_remainder(exact) == {"alpha": 13_334, "beta": 8_333, "gamma": 8_333}


def test_too_many_players_for_exact_shapley_is_refused() -> None:
    players = [f"lib{i}" for i in range(formulas.SHAPLEY_MAX_PLAYERS + 1)]
    with pytest.raises(MoneyError, match="limit is 16"):
        formulas.shapley(players, lambda coalition: 0)


def test_tiers_that_get_cheaper_are_refused() -> None:
    with pytest.raises(MoneyError, match="must not decrease"):
        formulas.airport((200, 100), {"alpha": 0})


needs = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d", "e", "f", "g"]),
    st.integers(min_value=0, max_value=3),
    min_size=1,
)
tier_costs = st.lists(st.integers(min_value=0, max_value=10**6), min_size=4, max_size=4).map(
    lambda costs: tuple(sorted(costs))
)


@settings(max_examples=40)
@given(needs, tier_costs)
def test_the_airport_rule_is_the_exact_shapley_value(
    need: dict[str, int], costs: tuple[int, ...]
) -> None:
    """The closed form equals Shapley over the game 'a coalition pays for the largest
    tier any of its members needs', and both are efficient."""
    players = sorted(need)

    def game(coalition: frozenset[str]) -> int:
        return max((costs[need[p]] for p in coalition), default=0)

    closed = formulas.airport(costs, need)
    assert closed == formulas.shapley(players, game)
    assert sum(closed.values()) == max(costs[n] for n in need.values())


@settings(max_examples=40)
@given(
    st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=6),
    st.integers(min_value=1, max_value=100),
)
def test_shapley_is_efficient_and_symmetric(demands: list[int], step: int) -> None:
    """Shares sum to the cost of everyone; players with equal demand pay the same."""
    players = [f"p{i}" for i in range(len(demands))]
    demand = dict(zip(players, demands, strict=True))

    def game(coalition: frozenset[str]) -> int:
        # A stepped capacity cost: one unit of 1,000 per started block of `step`.
        need = sum(demand[p] for p in coalition)
        return -(-need // step) * 1_000 if coalition else 0

    shares = formulas.shapley(players, game)
    assert sum(shares.values()) == game(frozenset(players))
    for a in players:
        for b in players:
            if demand[a] == demand[b]:
                assert shares[a] == shares[b]


@settings(max_examples=40)
@given(
    st.integers(min_value=0, max_value=10**8),
    st.lists(st.integers(min_value=0, max_value=10**5), min_size=2, max_size=6),
)
def test_identical_libraries_pay_the_same(total: int, sizes: list[int]) -> None:
    """Two libraries with the same figures get the same exact share (and rounded
    shares within one minor unit) under every driver-based formula."""
    libs = [f"lib{i}" for i in range(len(sizes))]
    twin = {**dict(zip(libs, sizes, strict=True)), "twin": sizes[0]}
    driver = {lib: F(size) for lib, size in twin.items()}
    if not any(driver.values()):
        driver = dict.fromkeys(twin, F(1))
    for exact in (
        formulas.equal(total, twin),
        formulas.proportional(total, driver),
        formulas.base_plus_drivers(total, list(twin), F(1, 5), {"x": F(4, 5)}, {"x": driver}, {}),
    ):
        assert exact["twin"] == exact["lib0"]
        assert sum(exact.values()) == total
        rounded = largest_remainder(exact)
        assert sum(rounded.values()) == total
        assert abs(rounded["twin"] - rounded["lib0"]) <= 1
