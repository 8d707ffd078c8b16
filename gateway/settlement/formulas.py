"""The cost-sharing formulas, as pure functions over exact amounts.

Each formula returns every library's *exact* share (``Fraction`` of minor units) of a
total; ``gateway.settlement.money`` bounds, prorates and rounds them.  Keys are library
codes.  The formulas, with the consortia that use them (docs/cost-sharing.md has a
worked example of each):

* ``equal``: ``C / n``.
* ``proportional``: ``C · x_i / Σx`` for one driver ``x`` (patrons, FTE, items…).
* ``base_plus_drivers``: ``a·C/n + (1-a)·C·Σ_k w_k·x_ik/Σ_j x_jk`` with size breaks
  (a driver below a threshold counts as a set value): the Montana Shared Catalog shape.
* ``ewma`` then ``proportional``: usage share, each library's usage smoothed over the
  years by an exponentially weighted moving average.
* ``net_lender``: a credit pool, part by all loans made to other libraries' patrons,
  the rest by net lending over the goal ratio (``max(0, L_i - g_i·B_i)``): the
  Connecticut borrowIT shape.
* ``per_transaction``: each loan's charge (the lender's price, at most the maximum)
  debited to the borrowing library and credited to the lending one: the OCLC IFM shape.
* ``airport``: the Shapley value of a tiered infrastructure cost (the cost of the
  largest tier anyone needs), in closed form: each tier's increment split equally among
  the libraries that need that tier or a larger one (Littlechild and Owen).
* ``shapley``: the exact Shapley value of any cost function of coalitions, for a small
  number of libraries (every subset is visited).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction
from math import factorial
from typing import TYPE_CHECKING

from gateway.settlement.money import MoneyError, split

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = [
    "SHAPLEY_MAX_PLAYERS",
    "SizeBreak",
    "TransactionCharges",
    "airport",
    "base_plus_drivers",
    "equal",
    "ewma",
    "net_lender",
    "per_transaction",
    "proportional",
    "shapley",
]

SHAPLEY_MAX_PLAYERS = 16
"""The most libraries exact Shapley is computed for (2^16 coalitions); above it, use a
closed form (``airport``) or another formula."""


def equal(total: int, libraries: Iterable[str]) -> dict[str, Fraction]:
    """``total`` in equal shares."""
    return split(total, dict.fromkeys(libraries, Fraction(1)))


def proportional(total: int, driver: Mapping[str, Fraction]) -> dict[str, Fraction]:
    """``total`` in proportion to each library's value of one driver.

    A driver that is zero for every library (no loans at all in the month) has
    nothing to be proportional to: the total is then split equally.
    """
    if not any(driver.values()):
        return equal(total, driver)
    return split(total, driver)


@dataclass(frozen=True)
class SizeBreak:
    """A driver value below ``below`` counts as ``use`` (MSC: under 3,000 patrons
    counts as 0, under 10,000 titles as 5,000)."""

    below: Fraction
    use: Fraction

    def apply(self, value: Fraction) -> Fraction:
        """The value the formula counts."""
        return self.use if value < self.below else value


def base_plus_drivers(
    total: int,
    libraries: Sequence[str],
    base: Fraction,
    weights: Mapping[str, Fraction],
    drivers: Mapping[str, Mapping[str, Fraction]],
    breaks: Mapping[str, SizeBreak],
) -> dict[str, Fraction]:
    """``base`` of ``total`` equally, and each driver's weight of it in proportion to
    that driver (after its size break).

    ``base`` and the weights sum to 1.  A driver that is zero for every library
    (after breaks) has nothing to be proportional to; its part is split equally.
    """
    shares = {library: Fraction(0) for library in libraries}
    parts = [(None, base), *weights.items()]
    for driver, weight in parts:
        part = Fraction(total) * weight
        values = {library: Fraction(1) for library in libraries}
        if driver is not None:
            rule = breaks.get(driver)
            counted = {
                library: rule.apply(drivers[driver][library]) if rule else drivers[driver][library]
                for library in libraries
            }
            if any(counted.values()):
                values = counted
        for library, share in split(part, values).items():
            shares[library] += share
    return shares


def ewma(history: Sequence[Fraction], current: Fraction, weight: Fraction) -> Fraction:
    """Usage smoothed over the periods: ``s = w·x + (1-w)·s_previous``, from the oldest
    period to the current one; the first period counted is its own start value."""
    smoothed: Fraction | None = None
    for value in (*history, current):
        smoothed = value if smoothed is None else weight * value + (1 - weight) * smoothed
    assert smoothed is not None
    return smoothed


def net_lender(
    pool: int,
    lent: Mapping[str, Fraction],
    borrowed: Mapping[str, Fraction],
    goal: Mapping[str, Fraction],
    net_part: Fraction = Fraction(1, 2),
) -> dict[str, Fraction]:
    """A credit ``pool``: ``1 - net_part`` of it by loans made to other libraries'
    patrons, ``net_part`` by net lending over the goal ratio, ``max(0, L_i - g_i·B_i)``.

    When no library lends more than its goal, the whole pool goes by loans made; when
    nobody lent at all, nobody is credited and ``MoneyError`` is raised.
    """
    net = {lib: max(Fraction(0), lent[lib] - goal[lib] * borrowed[lib]) for lib in lent}
    if not any(net.values()):
        return split(pool, lent)
    by_loans = split(Fraction(pool) * (1 - net_part), lent)
    by_net = split(Fraction(pool) * net_part, net)
    return {lib: by_loans[lib] + by_net[lib] for lib in lent}


@dataclass(frozen=True)
class TransactionCharges:
    """Per-transaction charges of a period: what each library is debited as a borrower
    and credited as a lender (both sum to ``total``)."""

    total: int
    debits: dict[str, int]
    credits: dict[str, Fraction]


def per_transaction(
    libraries: Iterable[str],
    loans: Iterable[tuple[str, Mapping[str, Fraction], str, int]],
    price: Callable[[str], int],
    maximum: int | None,
) -> TransactionCharges:
    """Charge each loan to the borrowing library and credit it to the lender.

    Args:
        libraries: Every library settled (each gets an entry, maybe zero).
        loans: Loans grouped as (the library whose ILS lent, the lenders' parts summing
            to 1 — that library, or the co-owners of a jointly owned collection it
            holds —, the borrowing library, how many loans).
        price: The charge for a loan from the library whose ILS lent, in minor units.
        maximum: The most one loan may be charged (``None``: no maximum).
    """
    debits = dict.fromkeys(libraries, 0)
    credits = dict.fromkeys(debits, Fraction(0))
    for lending, lenders, borrower, count in loans:
        charge = price(lending) if maximum is None else min(price(lending), maximum)
        debits[borrower] += charge * count
        for lender, part in lenders.items():
            credits[lender] += charge * count * part
    return TransactionCharges(sum(debits.values()), debits, credits)


def airport(tier_costs: Sequence[int], needs: Mapping[str, int]) -> dict[str, Fraction]:
    """The Shapley value of a tiered cost: ``tier_costs[k]`` is the whole cost of
    providing tier ``k`` (non-decreasing), ``needs[lib]`` the tier a library needs.

    The infrastructure built is the largest tier needed, so the total is its cost.
    Tier ``k``'s increment over tier ``k-1`` is split equally among the libraries
    needing tier ``k`` or more.

    Raises:
        MoneyError: The costs decrease, or a need names no tier.
    """
    if any(b < a for a, b in itertools.pairwise(tier_costs)):
        raise MoneyError("the tiers' costs must not decrease from one tier to the next")
    if any(not 0 <= need < len(tier_costs) for need in needs.values()):
        raise MoneyError("a library needs a tier that does not exist")
    shares = dict.fromkeys(needs, Fraction(0))
    previous = 0
    for tier, cost in enumerate(tier_costs):
        users = [lib for lib, need in needs.items() if need >= tier]
        if not users:
            break
        for lib in users:
            shares[lib] += Fraction(cost - previous, len(users))
        previous = cost
    return shares


def shapley(players: Sequence[str], cost: Callable[[frozenset[str]], int]) -> dict[str, Fraction]:
    """The exact Shapley value: each player's marginal cost averaged over every order in
    which the players could join, ``Σ_S |S|!(n-|S|-1)!/n! · (c(S+i) - c(S))``.

    ``cost`` is asked once per coalition (2^n of them); ``cost(∅)`` should be 0 for the
    shares to sum to the cost of everyone.

    Raises:
        MoneyError: More than ``SHAPLEY_MAX_PLAYERS`` players.
    """
    n = len(players)
    if n > SHAPLEY_MAX_PLAYERS:
        raise MoneyError(
            f"exact Shapley for {n} libraries visits 2^{n} coalitions; the limit is "
            f"{SHAPLEY_MAX_PLAYERS} (use the airport rule or another formula)"
        )
    costs = [
        cost(frozenset(players[i] for i in range(n) if mask >> i & 1)) for mask in range(1 << n)
    ]
    # Integer weights s!(n-s-1)!, divided by n! once per player: exact and fast.
    weight = [factorial(s) * factorial(n - s - 1) for s in range(n)]
    orders = factorial(n)
    shares: dict[str, Fraction] = {}
    for i, player in enumerate(players):
        bit = 1 << i
        marginal = sum(
            weight[mask.bit_count()] * (costs[mask | bit] - costs[mask])
            for mask in range(1 << n)
            if not mask & bit
        )
        shares[player] = Fraction(marginal, orders)
    return shares
