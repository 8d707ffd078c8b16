"""The cost-sharing plan of each consortium: its costs in minor units, its libraries'
figures, its jointly owned collections, all checked against one another.

``config.models`` checks what one cost says on its own (the formula's keys, weights
that sum to 1, a currency that is ISO 4217); this module checks what needs the whole
graph, and reports each problem with its key path:

* an amount with more decimals than the currency has;
* a driver that a library has no figure for (usage drivers come from the loans and
  need none: ``loans_lent``, ``loans_borrowed``, ``loans``);
* a library whose ``cost.tier`` names no tier of an ``airport`` cost;
* an ``among``, ``held_by``, owner or lender price naming a node outside the plan;
* more libraries than exact Shapley can visit;
* a jointly owned collection whose items are not items of the library holding it,
  or two collections claiming one barcode.

A plan is made for every consortium or hybrid node that sets ``cost.costs`` itself or
declares collections; its libraries are the libraries below that node.  The
settlement engine (``gateway.settlement.engine``) reads plans, never the raw models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

from .currency import CurrencyError, to_minor
from .errors import ConfigIssue, KeyPath
from .identity import BarcodePattern
from .models import GROUP_KINDS, CostItem, Formula, JointCollection, Retention

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .consortium import Consortium

__all__ = [
    "USAGE_DRIVERS",
    "CollectionPlan",
    "CostPlan",
    "LibraryFigures",
    "PlannedCost",
    "build_cost_plans",
]

USAGE_DRIVERS = frozenset({"loans_lent", "loans_borrowed", "loans"})
"""Drivers counted from the period's loans, not declared: loans a library's items made
to other libraries' patrons, loans its patrons took from other libraries, and both."""

SHAPLEY_LIMIT = 16
"""The most libraries an exact Shapley cost is computed for (2^16 coalitions)."""


@dataclass(frozen=True)
class LibraryFigures:
    """What a library brings to the formulas besides its loans."""

    drivers: Mapping[str, Fraction]
    tier: str | None
    goal_ratio: Fraction
    usage_history: tuple[Fraction, ...]
    member_from: date | None
    member_until: date | None


@dataclass(frozen=True)
class PlannedCost:
    """One cost or pool, its amounts in minor units.

    Attributes:
        name: The cost's name (a collection's costs are ``<collection>/<name>``).
        formula: How it is split.
        libraries: The libraries that share it.
        item: The cost as configured (driver, base, weights, breaks, weights…).
        amount: The total (``None`` for per-transaction, airport and Shapley costs,
            whose totals follow from the loans or the tiers).
        floor: The least a library pays (0: none).
        cap: The most a library pays (``None``: no cap).
        price: Per-transaction charge per loan, and ``prices`` per lender.
        maximum: The most one loan is charged.
        tier_costs: Airport: each tier's cost; ``tier_names`` in the same order.
        steps: Shapley: (up to this much of the driver, cost) steps.
        shares: ``shares`` formula: each owner's share.
    """

    name: str
    formula: Formula
    libraries: tuple[str, ...]
    item: CostItem
    amount: int | None = None
    floor: int = 0
    cap: int | None = None
    price: int = 0
    prices: Mapping[str, int] = field(default_factory=dict)
    maximum: int | None = None
    tier_costs: tuple[int, ...] = ()
    tier_names: tuple[str, ...] = ()
    steps: tuple[tuple[Fraction, int], ...] = ()
    shares: Mapping[str, Fraction] = field(default_factory=dict)

    @property
    def is_credit(self) -> bool:
        """A pool the libraries are credited from, not a cost they pay."""
        return self.formula == "net-lender"


@dataclass(frozen=True)
class CollectionPlan:
    """A jointly owned collection: who holds it, who owns what share of it."""

    collection: str
    name: str
    declared_at: str
    held_by: str
    rules: tuple[BarcodePattern, ...]
    owners: Mapping[str, Fraction]
    retention: Retention

    def holds(self, item: str) -> bool:
        """Whether an item barcode belongs to this collection."""
        return any(rule.matches(item) for rule in self.rules)


@dataclass(frozen=True)
class CostPlan:
    """A consortium's (or hybrid's) cost sharing, checked and in minor units."""

    node: str
    currency: str
    libraries: tuple[str, ...]
    figures: Mapping[str, LibraryFigures]
    costs: tuple[PlannedCost, ...]
    collections: tuple[CollectionPlan, ...]

    def collection_of(self, item: str) -> CollectionPlan | None:
        """The jointly owned collection an item belongs to, if any."""
        return next((c for c in self.collections if c.holds(item)), None)


def _fraction(value: Decimal | float) -> Fraction:
    return Fraction(Decimal(str(value)) if isinstance(value, float) else value)


class _Planner:
    """Builds one node's plan, collecting issues instead of stopping at the first."""

    def __init__(self, consortium: Consortium, node: str) -> None:
        self.consortium = consortium
        self.node = node
        self.currency = consortium.policy(node).cost.currency
        self.libraries = tuple(
            lib for lib in consortium.libraries if node in consortium.ancestors[lib]
        )
        self.issues: list[ConfigIssue] = []

    def minor(self, amount: Decimal | None, path: KeyPath) -> int | None:
        if amount is None:
            return None
        try:
            return to_minor(amount, self.currency)
        except CurrencyError as exc:
            self.issues.append(ConfigIssue(path, str(exc), "write the amount in major units"))
            return 0

    def figures(self) -> dict[str, LibraryFigures]:
        found: dict[str, LibraryFigures] = {}
        for lib in self.libraries:
            cost = self.consortium.policy(lib).cost
            found[lib] = LibraryFigures(
                {k: _fraction(v) for k, v in (cost.drivers or {}).items()},
                cost.tier,
                _fraction(self.consortium.policy(lib).lending.goal_ratio),
                tuple(_fraction(v) for v in cost.usage_history),
                cost.member_from,
                cost.member_until,
            )
        return found

    def among(self, item: CostItem, path: KeyPath, default: tuple[str, ...]) -> tuple[str, ...]:
        if item.among is None:
            return default
        chosen: list[str] = []
        known = True
        for index, name in enumerate(item.among):
            if name not in self.consortium.nodes:
                self.issues.append(ConfigIssue((*path, "among", index), f"{name!r} is not a node"))
                known = False
                continue
            below = {name} | {
                lib for lib in self.libraries if name in self.consortium.ancestors[lib]
            }
            chosen.extend(lib for lib in self.libraries if lib in below and lib not in chosen)
        if not chosen and known:
            self.issues.append(
                ConfigIssue((*path, "among"), f"no library of {self.node} shares {item.name!r}")
            )
        return tuple(chosen)

    def drivers_known(self, item: CostItem, path: KeyPath, libraries: tuple[str, ...]) -> None:
        wanted = [item.driver] if item.driver else list(item.weights or {})
        for driver in wanted:
            if driver is None or driver in USAGE_DRIVERS:
                continue
            for lib in libraries:
                if driver not in (self.consortium.policy(lib).cost.drivers or {}):
                    source = self.consortium.effective[lib]["cost.drivers"].source or lib
                    self.issues.append(
                        ConfigIssue(
                            ("nodes", source, "cost", "drivers"),
                            f"library {lib} has no figure {driver!r}, which cost "
                            f"{item.name!r} ({item.formula}) of {self.node} is split by",
                            f"set cost.drivers.{driver} at {lib}, or use a usage driver "
                            f"({', '.join(sorted(USAGE_DRIVERS))})",
                        )
                    )

    def cost(
        self,
        item: CostItem,
        path: KeyPath,
        libraries: tuple[str, ...],
        name: str,
        shares: Mapping[str, Fraction] | None = None,
    ) -> PlannedCost:
        if item.formula == "shares" and shares is None:
            self.issues.append(
                ConfigIssue(
                    (*path, "formula"),
                    "formula shares splits a jointly owned collection's cost by ownership",
                    "use it in [nodes.<id>.collections.<id>.costs], or choose another formula",
                )
            )
        self.drivers_known(item, path, libraries)
        tier_names = tuple(tier.name for tier in item.tiers or ())
        if item.formula == "airport":
            for lib in libraries:
                tier = self.consortium.policy(lib).cost.tier
                if tier not in tier_names:
                    self.issues.append(
                        ConfigIssue(
                            ("nodes", lib, "cost", "tier"),
                            f"library {lib}'s tier {tier!r} is not a tier of cost "
                            f"{item.name!r} ({', '.join(tier_names)})",
                            "set cost.tier to one of them",
                        )
                    )
        if item.formula == "shapley" and len(libraries) > SHAPLEY_LIMIT:
            self.issues.append(
                ConfigIssue(
                    (*path, "formula"),
                    f"exact Shapley over {len(libraries)} libraries visits 2^{len(libraries)} "
                    f"coalitions; the limit is {SHAPLEY_LIMIT}",
                    "use the airport formula for tiered costs, or another formula",
                )
            )
        prices: dict[str, int] = {}
        for lender, price in (item.prices or {}).items():
            if lender not in libraries:
                self.issues.append(
                    ConfigIssue((*path, "prices", lender), f"{lender!r} is not a library here")
                )
            prices[lender] = self.minor(price, (*path, "prices", lender)) or 0
        return PlannedCost(
            name,
            item.formula,
            libraries,
            item,
            amount=self.minor(item.amount, (*path, "amount")),
            floor=self.minor(item.floor, (*path, "floor")) or 0,
            cap=self.minor(item.cap, (*path, "cap")),
            price=self.minor(item.price, (*path, "price")) or 0,
            prices=prices,
            maximum=self.minor(item.maximum, (*path, "maximum")),
            tier_costs=tuple(
                self.minor(t.cost, (*path, "tiers", i, "cost")) or 0
                for i, t in enumerate(item.tiers or ())
            ),
            tier_names=tier_names,
            steps=tuple(
                (_fraction(s.up_to), self.minor(s.cost, (*path, "steps", i, "cost")) or 0)
                for i, s in enumerate(item.steps or ())
            ),
            shares=shares or {},
        )

    def collection(self, key: str, declared: JointCollection) -> CollectionPlan | None:
        path: KeyPath = ("nodes", self.node, "collections", key)
        ok = True
        if declared.held_by not in self.libraries:
            self.issues.append(
                ConfigIssue(
                    (*path, "held_by"),
                    f"{declared.held_by!r} is not a library of {self.node}",
                    f"libraries of {self.node}: {', '.join(self.libraries)}",
                )
            )
            ok = False
        for owner in declared.owners:
            if owner not in self.libraries:
                self.issues.append(
                    ConfigIssue(
                        (*path, "owners", owner), f"{owner!r} is not a library of {self.node}"
                    )
                )
                ok = False
        rules = tuple(BarcodePattern.parse(text) for text in declared.items)
        if ok:
            held = [rule for rule, lib in self.consortium.item_rules if lib == declared.held_by]
            for index, rule in enumerate(rules):
                if not any(rule.overlap_example(other) for other in held):
                    self.issues.append(
                        ConfigIssue(
                            (*path, "items", index),
                            f"item rule {rule.text!r} matches no item of {declared.held_by}, "
                            "which holds the collection",
                            f"use a rule within {declared.held_by}'s item rules",
                        )
                    )
        return (
            CollectionPlan(
                key,
                declared.name,
                self.node,
                declared.held_by,
                rules,
                {lib: Fraction(share) for lib, share in declared.owners.items()},
                declared.retention,
            )
            if ok
            else None
        )

    def plan(self) -> CostPlan:
        node = self.consortium.nodes[self.node]
        local = self.consortium.effective[self.node]["cost.costs"].source == self.node
        costs: list[PlannedCost] = []
        if local:
            for index, item in enumerate(self.consortium.policy(self.node).cost.costs):
                path: KeyPath = ("nodes", self.node, "cost", "costs", index)
                libraries = self.among(item, path, self.libraries)
                costs.append(self.cost(item, path, libraries, item.name))
        collections: list[CollectionPlan] = []
        for key, declared in node.collections.items():
            collection = self.collection(key, declared)
            if collection is None:
                continue
            collections.append(collection)
            owners = tuple(lib for lib in self.libraries if lib in collection.owners)
            for index, item in enumerate(declared.costs):
                path = ("nodes", self.node, "collections", key, "costs", index)
                libraries = self.among(item, path, owners)
                name = f"{key}/{item.name}"
                costs.append(self.cost(item, path, libraries, name, collection.owners))
        return CostPlan(
            self.node,
            self.currency,
            self.libraries,
            self.figures(),
            tuple(costs),
            tuple(collections),
        )


def _overlapping(collections: list[CollectionPlan]) -> Iterator[ConfigIssue]:
    """Two collections (of one plan or of two) claiming one barcode."""
    for i, first in enumerate(collections):
        for second in collections[i + 1 :]:
            example = next(
                (
                    found
                    for rule in first.rules
                    for other in second.rules
                    if (found := rule.overlap_example(other)) is not None
                ),
                None,
            )
            if example is not None:
                yield ConfigIssue(
                    ("nodes", second.declared_at, "collections", second.collection),
                    f"collections {first.declared_at}.{first.collection} and "
                    f"{second.declared_at}.{second.collection} both claim items such as "
                    f"{example!r}",
                    "an item belongs to one jointly owned collection at most",
                )


def _planned_nodes(consortium: Consortium) -> Iterator[str]:
    for node_id, node in consortium.nodes.items():
        if node.kind not in GROUP_KINDS:
            continue
        sets_costs = consortium.effective[node_id]["cost.costs"].source == node_id
        if sets_costs or node.collections:
            yield node_id


def build_cost_plans(consortium: Consortium) -> tuple[dict[str, CostPlan], list[ConfigIssue]]:
    """Every cost-sharing plan of the consortium graph, by node, and the issues found."""
    plans: dict[str, CostPlan] = {}
    issues: list[ConfigIssue] = []
    for node_id, node in consortium.nodes.items():
        if node.kind not in GROUP_KINDS and node.cost.costs is not None:
            issues.append(
                ConfigIssue(
                    ("nodes", node_id, "cost", "costs"),
                    f"costs set at the {node.kind} {node_id} are shared with nobody",
                    "declare costs at the consortium or hybrid whose libraries share them "
                    "(among = [...] picks some of its libraries)",
                )
            )
        if node.collections and node.kind not in GROUP_KINDS:
            issues.append(
                ConfigIssue(
                    ("nodes", node_id, "collections"),
                    f"a {node.kind} cannot declare jointly owned collections",
                    "declare them at the consortium or hybrid the co-owners belong to",
                )
            )
    for node_id in _planned_nodes(consortium):
        planner = _Planner(consortium, node_id)
        plans[node_id] = planner.plan()
        issues.extend(planner.issues)
    issues.extend(_overlapping([c for plan in plans.values() for c in plan.collections]))
    return plans, issues
