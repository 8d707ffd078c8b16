"""Exact splits: largest-remainder rounding, caps and floors, proration (known answers
and properties)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.settlement.money import MoneyError, bounded, largest_remainder, prorated, split

LIBS = ("alpha", "beta", "gamma")
PATRONS = {"alpha": Fraction(42000), "beta": Fraction(18500), "gamma": Fraction(9500)}


def test_the_unit_left_over_goes_to_the_largest_remainder() -> None:
    """1,000.00 by patrons: beta's .571 beats gamma's .429 for the last cent."""
    assert largest_remainder(split(100_000, PATRONS)) == {
        "alpha": 60_000,
        "beta": 26_429,
        "gamma": 13_571,
    }


def test_equal_remainders_go_in_alphabetical_order() -> None:
    assert largest_remainder(split(10_000, dict.fromkeys(LIBS, Fraction(1)))) == {
        "alpha": 3_334,
        "beta": 3_333,
        "gamma": 3_333,
    }


def test_amounts_that_miss_whole_units_are_refused() -> None:
    with pytest.raises(MoneyError, match="not to whole minor units"):
        largest_remainder({"alpha": Fraction(1, 2)})


def test_a_cap_moves_its_excess_to_the_others_by_their_amounts() -> None:
    amounts = bounded(split(100_000, PATRONS), {}, dict.fromkeys(LIBS, 50_000))
    assert largest_remainder(amounts) == {"alpha": 50_000, "beta": 33_036, "gamma": 16_964}


def test_a_floor_is_paid_for_by_the_others_by_their_amounts() -> None:
    amounts = bounded(split(100_000, PATRONS), dict.fromkeys(LIBS, 15_000), {})
    assert largest_remainder(amounts) == {"alpha": 59_008, "beta": 25_992, "gamma": 15_000}


def test_a_library_owing_nothing_pays_only_its_floor() -> None:
    amounts = bounded({"alpha": Fraction(900), "beta": Fraction(0)}, {"beta": 100}, {})
    assert amounts == {"alpha": 800, "beta": 100}


@pytest.mark.parametrize(
    ("floors", "caps", "message"),
    [
        (dict.fromkeys(LIBS, 40_000), {}, "floors add up to 120000"),
        ({}, dict.fromkeys(LIBS, 30_000), "caps add up to 90000"),
        ({"alpha": 5}, {"alpha": 4}, "cap 4 is below its floor 5"),
    ],
)
def test_bounds_that_cannot_hold_the_total_are_refused(
    floors: dict[str, int], caps: dict[str, int | None], message: str
) -> None:
    with pytest.raises(MoneyError, match=message):
        bounded(split(100_000, PATRONS), floors, caps)


def test_a_library_present_half_the_period_counts_half() -> None:
    """300.00 equally, gamma a member for 15 days of 30: weights 1, 1, 1/2."""
    amounts = prorated(split(30_000, dict.fromkeys(LIBS, Fraction(1))), {"gamma": Fraction(15, 30)})
    assert largest_remainder(amounts) == {"alpha": 12_000, "beta": 12_000, "gamma": 6_000}


def test_splitting_by_nothing_is_refused() -> None:
    with pytest.raises(MoneyError, match="every weight is zero"):
        split(100, {"alpha": Fraction(0)})
    with pytest.raises(MoneyError, match="negative"):
        split(100, {"alpha": Fraction(-1)})


weights = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d", "e", "f"]),
    st.integers(min_value=0, max_value=10**6).map(Fraction),
    min_size=1,
).filter(lambda w: any(w.values()))
totals = st.integers(min_value=0, max_value=10**9)


@settings(max_examples=60)
@given(weights, totals)
def test_rounded_shares_sum_to_the_total_and_stay_within_a_unit(
    weights: dict[str, Fraction], total: int
) -> None:
    exact = split(total, weights)
    rounded = largest_remainder(exact)
    assert sum(rounded.values()) == total
    assert all(abs(rounded[k] - exact[k]) < 1 for k in exact)


@settings(max_examples=60)
@given(weights, totals, st.integers(min_value=0, max_value=10**9), st.data())
def test_bounded_shares_keep_the_total_and_their_bounds(
    weights: dict[str, Fraction], total: int, cap: int, data: st.DataObject
) -> None:
    exact = split(total, weights)
    floor = data.draw(st.integers(min_value=0, max_value=min(cap, total // len(weights))))
    try:
        result = bounded(exact, dict.fromkeys(exact, floor), dict.fromkeys(exact, cap))
    except MoneyError:
        # Only when the caps cannot hold the total.
        assert (
            cap * sum(1 for w in weights.values() if w)
            + floor * sum(1 for w in weights.values() if not w)
            < total
        )
        return
    assert sum(result.values()) == total
    assert all(floor <= v <= cap for v in result.values())
    # The libraries held by neither bound keep their proportions to one another.
    free = {k: result[k] / exact[k] for k in exact if exact[k] and floor < result[k] < cap}
    assert len(set(free.values())) <= 1
    rounded = largest_remainder(result)
    assert sum(rounded.values()) == total
    assert all(floor <= v <= cap for v in rounded.values())
