"""Splitting an amount of money exactly: rounding, caps and floors, proration.

Every formula first computes each library's *exact* amount as a ``Fraction`` of minor
units (the amounts sum exactly to the total); this module then

* bounds them (``bounded``): a library's amount is kept between its floor and its cap,
  and what a cap removes (or a floor adds) is spread over the others in proportion to
  their amounts, so the total is unchanged;
* prorates them (``prorated``): a library that was a member for part of the period
  counts for that part of its amount, and the others cover the rest;
* rounds them to integers (``largest_remainder``): every library gets the whole minor
  units of its exact amount, and the units left over go one each to the largest
  fractional parts (ties to the library code first in alphabetical order), so the
  integers sum exactly to the total and none moves by a whole unit or more.

Nothing here knows what a library or a cost is: keys are opaque strings.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["MoneyError", "bounded", "largest_remainder", "prorated", "split"]


class MoneyError(ValueError):
    """An amount that cannot be split as asked (caps below the total, no weights…)."""


def split(total: int | Fraction, weights: Mapping[str, Fraction]) -> dict[str, Fraction]:
    """``total`` split in proportion to ``weights``, exactly.

    Raises:
        MoneyError: A negative weight, or no weight at all while ``total`` is not zero.
    """
    if any(weight < 0 for weight in weights.values()):
        raise MoneyError("a weight cannot be negative")
    whole = sum(weights.values(), Fraction(0))
    if whole == 0:
        if total != 0:
            raise MoneyError("nothing to split by: every weight is zero")
        return {key: Fraction(0) for key in weights}
    return {key: Fraction(total) * weight / whole for key, weight in weights.items()}


def largest_remainder(amounts: Mapping[str, Fraction]) -> dict[str, int]:
    """Exact amounts rounded to whole minor units that still sum to their (whole) total.

    Raises:
        MoneyError: The amounts do not sum to a whole number of minor units.
    """
    total = sum(amounts.values(), Fraction(0))
    if total.denominator != 1:
        raise MoneyError(f"the amounts sum to {total}, not to whole minor units")
    floors = {key: math.floor(amount) for key, amount in amounts.items()}
    left = int(total) - sum(floors.values())
    by_remainder = sorted(amounts, key=lambda key: (-(amounts[key] - floors[key]), key))
    for key in by_remainder[:left]:
        floors[key] += 1
    return floors


def _clamped(value: Fraction, floor: int, cap: int | None) -> Fraction:
    low = max(value, Fraction(floor))
    return low if cap is None else min(low, Fraction(cap))


def bounded(
    amounts: Mapping[str, Fraction],
    floors: Mapping[str, int],
    caps: Mapping[str, int | None],
) -> dict[str, Fraction]:
    """The amounts kept between each library's floor and cap, with the same total.

    Each library gets ``clamp(λ·amount, floor, cap)`` for the one ``λ`` that keeps the
    total: what caps take off is redistributed over the libraries below their caps in
    proportion to their amounts (and floors are paid for the same way).  A library
    whose amount is zero pays its floor and nothing more.

    Raises:
        MoneyError: The floors add up to more than the total, or the caps (with the
            floors of the libraries that owe nothing) to less.
    """
    total = sum(amounts.values(), Fraction(0))
    floor_of = {key: floors.get(key, 0) for key in amounts}
    cap_of = {key: caps.get(key) for key in amounts}
    for key in amounts:
        cap = cap_of[key]
        if cap is not None and cap < floor_of[key]:
            raise MoneyError(f"{key}: its cap {cap} is below its floor {floor_of[key]}")

    def at(scale: Fraction) -> Fraction:
        return sum(
            (
                _clamped(scale * amount, floor_of[key], cap_of[key])
                for key, amount in amounts.items()
            ),
            Fraction(0),
        )

    lowest = sum((Fraction(f) for f in floor_of.values()), Fraction(0))
    if total < lowest:
        raise MoneyError(f"the floors add up to {lowest}, more than the total {total}")
    unbounded = any(cap_of[key] is None and amount > 0 for key, amount in amounts.items())
    if not unbounded:
        highest = sum(
            (
                Fraction(cap_of[key] if amount > 0 else floor_of[key])  # type: ignore[arg-type]
                for key, amount in amounts.items()
            ),
            Fraction(0),
        )
        if total > highest:
            raise MoneyError(f"the caps add up to {highest}, less than the total {total}")
    # at() is piecewise linear and non-decreasing in the scale; its bends are where a
    # library reaches its floor or its cap.  Find the segment holding the total.
    bends = sorted(
        {
            Fraction(bound) / amount
            for key, amount in amounts.items()
            if amount > 0
            for bound in (floor_of[key], cap_of[key])
            if bound is not None
        }
        | {Fraction(0)}
    )
    low, high = Fraction(0), None
    for bend in bends:
        reached = at(bend)
        if reached == total:
            return _settle(bend, amounts, floor_of, cap_of)
        if reached > total:
            high = bend
            break
        low = bend
    # Strictly between two bends each library is either held at a bound or moves
    # linearly with the scale: classify them at a point inside, then solve.
    probe = low + 1 if high is None else (low + high) / 2
    fixed = Fraction(0)
    slope = Fraction(0)
    for key, amount in amounts.items():
        value = probe * amount
        cap = cap_of[key]
        if amount == 0 or value <= floor_of[key]:
            fixed += floor_of[key]
        elif cap is not None and value >= cap:
            fixed += cap
        else:
            slope += amount
    return _settle((total - fixed) / slope, amounts, floor_of, cap_of)


def _settle(
    scale: Fraction,
    amounts: Mapping[str, Fraction],
    floor_of: Mapping[str, int],
    cap_of: Mapping[str, int | None],
) -> dict[str, Fraction]:
    return {
        key: _clamped(scale * amount, floor_of[key], cap_of[key]) for key, amount in amounts.items()
    }


def prorated(
    amounts: Mapping[str, Fraction], present: Mapping[str, Fraction]
) -> dict[str, Fraction]:
    """The amounts with each library counted for the part of the period it was a
    member (``present``: 1 for the whole period, ``Fraction(12, 30)`` for 12 days of
    30), scaled back to the same total so the others cover the absent days.

    Raises:
        MoneyError: A part outside 0..1, or nobody present to pay a non-zero total.
    """
    if any(not 0 <= part <= 1 for part in present.values()):
        raise MoneyError("a library is present for between none and all of the period")
    total = sum(amounts.values(), Fraction(0))
    return split(
        total, {key: amount * present.get(key, Fraction(1)) for key, amount in amounts.items()}
    )
