"""The settlement engine: a period's loans and a cost plan in, a ``Settlement`` out.

Example (a plan built by ``config.loader.load_consortium`` from a file whose consortium
``metro`` shares one cost of 300.00 USD equally among alpha, beta and gamma)::

    settlement = settle(await read_period(store, Period.parse("2026-11")),
                        consortium, consortium.cost_plans["metro"])
    settlement.statement("alpha").charges     # 10000 (cents)

What is counted: the period's loans between two libraries of the plan (the owner, or
the co-owners of a jointly owned collection by share, lent; the patron's home library
borrowed).  Each cost of the plan is split by its formula (``formulas``), then

* for the fixed formulas (``equal``, ``proportional`` to a declared figure,
  ``base-plus-drivers``, ``airport``, ``shapley``), prorated by the days a library was
  a member in the period (``cost.member_from``/``member_until``);
* for the charges, held between each library's floor and cap;
* rounded by largest remainder, so every allocation sums exactly to its total.

A usage formula with no usage at all in the period splits its cost equally, and a
credit pool nobody earned (no loans) is not paid out: its allocation is zero.

Each library's statement adds up its charges and credits; the consortium or hybrid
that owns the plan is the counterparty of the costs and pools (it pays the vendors and
holds the pools), so the net positions of the libraries and of that office sum to zero
and netting turns them into transfers where each party only pays or only receives.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from config.costs import USAGE_DRIVERS
from gateway.settlement import formulas
from gateway.settlement.money import MoneyError, bounded, largest_remainder, prorated, split
from gateway.settlement.netting import net_transfers
from gateway.settlement.result import Allocation, Settlement
from gateway.settlement.statement import Statement

if TYPE_CHECKING:
    from collections.abc import Callable

    from config.consortium import Consortium
    from config.costs import CostPlan, PlannedCost
    from gateway.history.period import Period
    from gateway.history.reader import PeriodLoans

__all__ = ["SettlementError", "Usage", "settle", "usage_of"]

_FIXED = frozenset({"equal", "proportional", "base-plus-drivers", "airport", "shapley"})
_USAGE = USAGE_DRIVERS
_BOUNDED = frozenset({"equal", "proportional", "base-plus-drivers", "usage-ewma", "shares"})


class SettlementError(ValueError):
    """A plan that cannot be applied to the period (caps below the total, a Shapley
    demand above the largest step…); the message names the cost."""


@dataclass(frozen=True)
class Usage:
    """A period's loans between the plan's libraries, counted per library.

    Attributes:
        lent: Loans credited to each library as lender (co-owners by share).
        borrowed: Loans each library's patrons took.
        physically_lent: Loans each library's own ILS made (whole loans).
        loans: The loans grouped: (the library whose ILS lent, the lenders' parts,
            the borrowing library, how many loans).
    """

    lent: Mapping[str, Fraction]
    borrowed: Mapping[str, int]
    physically_lent: Mapping[str, int]
    loans: tuple[tuple[str, Mapping[str, Fraction], str, int], ...]

    def driver(self, name: str, library: str) -> Fraction:
        """A usage driver (``loans_lent``, ``loans_borrowed``, ``loans``)."""
        lent = self.lent[library]
        borrowed = Fraction(self.borrowed[library])
        return {"loans_lent": lent, "loans_borrowed": borrowed, "loans": lent + borrowed}[name]


def usage_of(loans: PeriodLoans, plan: CostPlan) -> Usage:
    """Count a period's loans for a plan (see the module documentation).

    Loans are tallied in whole numbers by (owner, collection, home) first, and turned
    into fractions once per group: a month of many loans costs one pass of integer
    counting, and barcodes are matched against collections only at their holders.
    """
    members = set(plan.libraries)
    holders = {collection.held_by for collection in plan.collections}
    groups: Counter[tuple[str, str | None, str]] = Counter()
    for loan in loans.loans:
        owner, home = loan.owner, loan.home
        if owner == home or owner not in members or home not in members:
            continue
        collection = plan.collection_of(loan.item) if owner in holders else None
        groups[owner, collection.collection if collection else None, home] += 1
    shares = {c.collection: c.owners for c in plan.collections}
    lent = dict.fromkeys(plan.libraries, Fraction(0))
    borrowed = dict.fromkeys(plan.libraries, 0)
    physical = dict.fromkeys(plan.libraries, 0)
    counted: list[tuple[str, Mapping[str, Fraction], str, int]] = []
    for (owner, collection_id, home), count in groups.items():
        lenders = shares[collection_id] if collection_id else {owner: Fraction(1)}
        for lender, part in lenders.items():
            lent[lender] += part * count
        borrowed[home] += count
        physical[owner] += count
        counted.append((owner, lenders, home, count))
    return Usage(lent, borrowed, physical, tuple(counted))


def _presence(plan: CostPlan, period: Period) -> dict[str, Fraction]:
    present: dict[str, Fraction] = {}
    for library, figures in plan.figures.items():
        first = max(period.first, figures.member_from or period.first)
        last = min(period.last, figures.member_until or period.last)
        days = max(0, (last - first).days + 1)
        present[library] = Fraction(days, period.days)
    return present


class _Splitter:
    """Applies one plan's costs to one period."""

    def __init__(self, plan: CostPlan, usage: Usage, present: Mapping[str, Fraction]) -> None:
        self.plan = plan
        self.usage = usage
        self.present = present

    def figure(self, driver: str, library: str) -> Fraction:
        if driver in _USAGE:
            return self.usage.driver(driver, library)
        return self.plan.figures[library].drivers[driver]

    def exact(self, cost: PlannedCost) -> dict[str, Fraction]:
        """Each library's exact share of a charge or pool (not per-transaction)."""
        libraries = cost.libraries
        item = cost.item
        match cost.formula:
            case "equal":
                return formulas.equal(cost.amount or 0, libraries)
            case "proportional":
                assert item.driver is not None
                driver = {lib: self.figure(item.driver, lib) for lib in libraries}
                return formulas.proportional(cost.amount or 0, driver)
            case "base-plus-drivers":
                weights = {k: Fraction(v) for k, v in (item.weights or {}).items()}
                return formulas.base_plus_drivers(
                    cost.amount or 0,
                    libraries,
                    Fraction(item.base or 0),
                    weights,
                    {d: {lib: self.figure(d, lib) for lib in libraries} for d in weights},
                    {
                        d: formulas.SizeBreak(Fraction(b.below), Fraction(b.use))
                        for d, b in (item.breaks or {}).items()
                    },
                )
            case "usage-ewma":
                weight = Fraction(item.ewma_weight) if item.ewma_weight is not None else None
                smoothed = {
                    lib: formulas.ewma(
                        self.plan.figures[lib].usage_history,
                        Fraction(self.usage.borrowed[lib]),
                        weight if weight is not None else Fraction(1, 2),
                    )
                    for lib in libraries
                }
                if not any(smoothed.values()):
                    return formulas.equal(cost.amount or 0, libraries)
                return formulas.proportional(cost.amount or 0, smoothed)
            case "net-lender":
                if not any(self.usage.lent[lib] for lib in libraries):
                    return dict.fromkeys(libraries, Fraction(0))
                return formulas.net_lender(
                    cost.amount or 0,
                    {lib: self.usage.lent[lib] for lib in libraries},
                    {lib: Fraction(self.usage.borrowed[lib]) for lib in libraries},
                    {lib: self.plan.figures[lib].goal_ratio for lib in libraries},
                    Fraction(item.net_share) if item.net_share is not None else Fraction(1, 2),
                )
            case "airport":
                rank = {name: index for index, name in enumerate(cost.tier_names)}
                needs = {lib: rank[self.plan.figures[lib].tier or ""] for lib in libraries}
                return formulas.airport(cost.tier_costs, needs)
            case "shapley":
                return formulas.shapley(libraries, self._step_cost(cost))
            case "shares":
                return split(cost.amount or 0, {lib: cost.shares[lib] for lib in libraries})
        raise AssertionError(f"no split for {cost.formula}")  # pragma: no cover

    def _step_cost(self, cost: PlannedCost) -> Callable[[frozenset[str]], int]:
        assert cost.item.driver is not None
        demand = {lib: self.figure(cost.item.driver, lib) for lib in cost.libraries}

        def of(coalition: frozenset[str]) -> int:
            if not coalition:
                return 0
            needed = sum((demand[lib] for lib in coalition), Fraction(0))
            for up_to, step_cost in cost.steps:
                if needed <= up_to:
                    return step_cost
            raise SettlementError(
                f"cost {cost.name!r}: a demand of {float(needed):g} {cost.item.driver} is "
                f"above the largest step ({float(cost.steps[-1][0]):g})"
            )

        return of

    def allocations(self, cost: PlannedCost) -> list[Allocation]:
        try:
            if cost.formula == "per-transaction":
                return self._transactions(cost)
            amounts = self.exact(cost)
            fixed = cost.formula in _FIXED and not (
                cost.formula == "proportional" and cost.item.driver in _USAGE
            )
            if fixed and any(self.present[lib] != 1 for lib in cost.libraries):
                amounts = prorated(amounts, {lib: self.present[lib] for lib in cost.libraries})
            if cost.formula in _BOUNDED and (cost.floor or cost.cap is not None):
                amounts = bounded(
                    amounts,
                    dict.fromkeys(amounts, cost.floor),
                    dict.fromkeys(amounts, cost.cap),
                )
            shares = largest_remainder(amounts)
        except MoneyError as exc:
            raise SettlementError(f"cost {cost.name!r}: {exc}") from None
        total = sum(shares.values())
        if cost.is_credit:
            return [Allocation(cost.name, cost.formula, total, shares, "credit")]
        return [Allocation(cost.name, cost.formula, total, shares, "charge")]

    def _transactions(self, cost: PlannedCost) -> list[Allocation]:
        members = set(cost.libraries)
        loans = [
            loan
            for loan in self.usage.loans
            if loan[2] in members and loan[0] in members and set(loan[1]) <= members
        ]
        charges = formulas.per_transaction(
            cost.libraries,
            loans,
            lambda lender: cost.prices.get(lender, cost.price),
            cost.maximum,
        )
        credits = largest_remainder(charges.credits)
        return [
            Allocation(cost.name, cost.formula, charges.total, charges.debits, "charge"),
            Allocation(cost.name, cost.formula, charges.total, credits, "credit"),
        ]


def settle(loans: PeriodLoans, consortium: Consortium, costs: CostPlan) -> Settlement:
    """Settle a period: split every cost of the plan, sum each library's statement, net.

    Args:
        loans: The period's loans (``gateway.history.read_period``).
        consortium: The consortium the plan belongs to (its libraries are checked
            against the plan's).
        costs: The plan of the consortium or hybrid settled
            (``consortium.cost_plans[node]``).

    Raises:
        SettlementError: A cost cannot be split as configured for this period.
    """
    unknown = [lib for lib in costs.libraries if lib not in consortium.libraries]
    if unknown:
        raise SettlementError(f"the plan names libraries this consortium lacks: {unknown}")
    usage = usage_of(loans, costs)
    splitter = _Splitter(costs, usage, _presence(costs, loans.period))
    allocations = [a for cost in costs.costs for a in splitter.allocations(cost)]
    charged = dict.fromkeys(costs.libraries, 0)
    credited = dict.fromkeys(costs.libraries, 0)
    for allocation in allocations:
        side = charged if allocation.side == "charge" else credited
        for library, share in allocation.shares.items():
            side[library] += share
    label = loans.period.label
    statements = tuple(
        Statement(
            label,
            lib,
            costs.currency,
            usage.physically_lent[lib],
            usage.borrowed[lib],
            charged[lib],
            credited[lib],
        )
        for lib in costs.libraries
    )
    positions = {s.library: s.net for s in statements}
    office = -sum(positions.values())
    if office:
        positions[costs.node] = office
    return Settlement(
        label, costs.currency, tuple(allocations), statements, net_transfers(positions)
    )
