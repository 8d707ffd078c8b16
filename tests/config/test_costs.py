"""The cost configuration: costs checked on their own and against the graph, each
mistake reported with its key path and a message that says what to do."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import pydantic
import pytest

from config.currency import CurrencyError, check_currency, exponent, to_minor
from config.models import Config
from config.policy import DecisionCode, may_borrow

from .helpers import PROXY, build, consortium, issues, library, one_issue

EQUAL = {"name": "hosting", "formula": "equal", "amount": "300.00"}


def network(top: dict[str, Any] | None = None, **libraries: dict[str, Any]) -> dict[str, Any]:
    """A consortium ``metro`` (with ``top`` settings) over alpha, beta and gamma."""
    figures = {"drivers": {"patrons": 1000}}
    nodes: dict[str, Any] = {"metro": consortium(circulation=PROXY, **(top or {}))}
    for name in ("alpha", "beta", "gamma"):
        nodes[name] = library("metro", cost=libraries.get(name, figures))
    return nodes


def models_error(nodes: dict[str, Any]) -> str:
    with pytest.raises(pydantic.ValidationError) as info:
        Config.model_validate({"nodes": nodes})
    return str(info.value)


def test_a_plan_has_the_costs_in_minor_units_and_every_library() -> None:
    c = build(network({"cost": {"currency": "EUR", "costs": [EQUAL]}}))
    plan = c.cost_plans["metro"]
    assert plan.currency == "EUR"
    assert plan.libraries == ("alpha", "beta", "gamma")
    assert plan.costs[0].amount == 30_000
    assert plan.figures["alpha"].drivers == {"patrons": Fraction(1000)}


def test_libraries_inherit_the_consortium_costs_and_a_lock_keeps_them() -> None:
    nodes = network({"cost": {"costs": [EQUAL]}, "lock": ["cost.costs"]})
    nodes["beta"]["cost"] = {"costs": [{**EQUAL, "amount": "1.00"}]}
    found = issues(nodes)
    assert any("cost.costs is locked by metro" in issue.message for issue in found)


def test_an_unknown_formula_lists_the_formulas() -> None:
    text = models_error(network({"cost": {"costs": [{**EQUAL, "formula": "lottery"}]}}))
    for word in ("lottery", "'equal'", "'shapley'"):
        assert word in text


@pytest.mark.parametrize(
    ("cost", "message"),
    [
        ({"name": "x", "formula": "proportional", "amount": "1"}, "needs driver"),
        ({**EQUAL, "driver": "patrons"}, "equal does not use driver"),
        (
            {
                "name": "x",
                "formula": "base-plus-drivers",
                "amount": "1",
                "base": "0.3",
                "weights": {"titles": "0.3", "patrons": "0.3"},
            },
            "base and weights sum to 0.9, not to 1",
        ),
        ({**EQUAL, "floor": "5", "cap": "4"}, "the cap is below the floor"),
        (
            {
                "name": "x",
                "formula": "airport",
                "tiers": [{"name": "big", "cost": "9"}, {"name": "small", "cost": "1"}],
            },
            "cheapest to the dearest",
        ),
        ({"name": "x", "formula": "net-lender", "amount": "1", "cap": "1"}, "does not use cap"),
    ],
)
def test_a_cost_that_does_not_fit_its_formula_is_refused(
    cost: dict[str, Any], message: str
) -> None:
    assert message in models_error(network({"cost": {"costs": [cost]}}))


def test_a_currency_that_is_not_iso_4217_is_refused() -> None:
    assert "'usd' is not an ISO 4217 currency code (ISO 4217 codes are upper case)" in models_error(
        network({"cost": {"currency": "usd"}})
    )
    assert "'XYZ' is not an ISO 4217" in models_error(network({"cost": {"currency": "XYZ"}}))


def test_currencies_know_their_minor_units() -> None:
    assert [exponent(code) for code in ("JPY", "USD", "KWD", "CLF")] == [0, 2, 3, 4]
    assert to_minor(Decimal("12.50"), "USD") == 1250
    with pytest.raises(CurrencyError, match="more decimals than JPY has"):
        to_minor(Decimal("1.5"), "JPY")
    with pytest.raises(CurrencyError):
        check_currency("EURO")


def test_an_amount_finer_than_the_currency_is_an_error_at_its_key() -> None:
    one_issue(
        network({"cost": {"currency": "JPY", "costs": [{**EQUAL, "amount": "10.5"}]}}),
        "nodes.metro.cost.costs[0].amount",
        "more decimals than JPY",
    )


def test_a_driver_missing_for_a_library_names_the_library_and_the_cost() -> None:
    proportional = {"name": "courier", "formula": "proportional", "amount": "1", "driver": "fte"}
    issue = one_issue(
        network(
            {"cost": {"costs": [proportional]}},
            alpha={"drivers": {"fte": 10}},
            beta={"drivers": {"fte": 5}},
        ),
        "nodes.gamma.cost.drivers",
        "gamma has no figure 'fte'",
        "'courier'",
    )
    assert "loans_lent" in issue.hint


def test_usage_drivers_need_no_figure() -> None:
    cost = {"name": "courier", "formula": "proportional", "amount": "1", "driver": "loans"}
    assert build(network({"cost": {"costs": [cost]}})).cost_plans["metro"].costs[0].amount == 100


def test_a_tier_that_is_not_one_of_the_costs_tiers_is_an_error() -> None:
    cost = {"name": "hosting", "formula": "airport", "tiers": [{"name": "small", "cost": "1"}]}
    found = issues(network({"cost": {"costs": [cost], "tier": "small"}}, gamma={"tier": "huge"}))
    assert [str(i.path) for i in found] == ["('nodes', 'gamma', 'cost', 'tier')"]
    assert "'huge' is not a tier" in found[0].message


def test_shares_outside_a_collection_are_refused() -> None:
    one_issue(
        network({"cost": {"costs": [{**EQUAL, "formula": "shares"}]}}),
        "nodes.metro.cost.costs[0].formula",
        "jointly owned collection",
    )


def test_among_naming_no_node_is_an_error() -> None:
    one_issue(
        network({"cost": {"costs": [{**EQUAL, "among": ["nowhere"]}]}}),
        "nodes.metro.cost.costs[0].among[0]",
        "'nowhere' is not a node",
    )


def collection(nodes: dict[str, Any], **fields: Any) -> dict[str, Any]:
    holder_items = nodes["gamma"]["items"][0].rstrip("*")
    nodes["metro"]["collections"] = {
        "print": {
            "name": "Shared print repository",
            "held_by": "gamma",
            "items": [f"{holder_items}9*"],
            "owners": {"alpha": "0.5", "beta": "0.3", "gamma": "0.2"},
            "retention": "last-copy",
            "costs": [{"name": "storage", "formula": "shares", "amount": "500.00"}],
            **fields,
        }
    }
    return nodes


def test_a_jointly_owned_collection_is_planned_with_its_costs() -> None:
    nodes = collection(network())
    c = build(nodes)
    plan = c.cost_plans["metro"]
    (shared,) = plan.collections
    assert shared.owners == {
        "alpha": Fraction(1, 2),
        "beta": Fraction(3, 10),
        "gamma": Fraction(1, 5),
    }
    assert plan.costs[0].name == "print/storage"
    assert plan.costs[0].libraries == (
        "alpha",
        "beta",
        "gamma",
    )
    item = nodes["metro"]["collections"]["print"]["items"][0].rstrip("*") + "0001"
    assert c.collection_of(item) is shared
    assert c.collection_of(item.replace(item[-5], "8")) is None


def test_owner_shares_must_sum_to_one() -> None:
    text = models_error(collection(network(), owners={"alpha": "0.5", "beta": "0.4"}))
    assert "the owners' shares sum to 0.9, not to 1" in text


def test_a_collection_held_outside_the_consortium_is_an_error() -> None:
    one_issue(
        collection(network(), held_by="delta"),
        "nodes.metro.collections.print.held_by",
        "'delta' is not a library of metro",
    )


def test_collection_items_must_be_items_of_the_holding_library() -> None:
    nodes = collection(network())
    nodes["metro"]["collections"]["print"]["items"] = [nodes["alpha"]["items"][0]]
    one_issue(nodes, "nodes.metro.collections.print.items[0]", "matches no item of gamma")


def test_a_last_copy_is_not_lent_beyond_the_consortium_that_keeps_it() -> None:
    """gamma is in metro and in state; metro keeps gamma's shared print as last copies:
    alpha (metro) may borrow them, delta (state only) may not, other items it may."""
    nodes = collection(network())
    nodes["state"] = consortium(circulation=PROXY)
    nodes["delta"] = library("state")
    nodes["gamma"]["memberships"] = ["metro", "state"]
    c = build(nodes)
    kept = nodes["metro"]["collections"]["print"]["items"][0].rstrip("*") + "0001"
    ordinary = nodes["gamma"]["items"][0].rstrip("*") + "10001"
    refused = may_borrow(c, "delta", "gamma", item=kept)
    assert refused.code is DecisionCode.RETENTION
    assert "last copy kept by Consortium (Shared print repository)" in refused.reason
    assert may_borrow(c, "alpha", "gamma", item=kept).allowed
    assert may_borrow(c, "delta", "gamma", item=ordinary).allowed


def test_two_collections_claiming_one_item_are_an_error() -> None:
    """Even when declared at two different nodes (a consortium and a hybrid in it)."""
    nodes = collection(network())
    nodes["core"] = {"kind": "hybrid", "name": "Core", "memberships": ["metro"]}
    nodes["gamma"]["memberships"] = ["core"]
    nodes["core"]["collections"] = {"again": dict(nodes["metro"]["collections"]["print"])}
    nodes["core"]["collections"]["again"]["owners"] = {"gamma": "1"}
    nodes["core"]["collections"]["again"]["costs"] = []
    one_issue(nodes, "nodes.core.collections.again", "metro.print and core.again both claim")


def test_costs_set_at_a_library_are_an_error() -> None:
    one_issue(
        network(alpha={"costs": [EQUAL]}),
        "nodes.alpha.cost.costs",
        "shared with nobody",
    )


def test_a_price_for_a_library_outside_the_plan_is_an_error() -> None:
    cost = {"name": "loans", "formula": "per-transaction", "price": "1", "prices": {"zeta": "2"}}
    one_issue(
        network({"cost": {"costs": [cost]}}),
        "nodes.metro.cost.costs[0].prices.zeta",
        "'zeta' is not a library here",
    )


def test_exact_shapley_over_too_many_libraries_is_an_error() -> None:
    steps = {
        "name": "licence",
        "formula": "shapley",
        "driver": "loans",
        "steps": [{"up_to": 10, "cost": "1"}],
    }
    nodes: dict[str, Any] = {"metro": consortium(circulation=PROXY, cost={"costs": [steps]})}
    for index in range(17):
        nodes[f"lib{index}"] = library("metro")
    one_issue(nodes, "nodes.metro.cost.costs[0].formula", "over 17 libraries", "limit is 16")


def test_collections_belong_to_a_consortium_or_hybrid() -> None:
    nodes = collection(network())
    nodes["alpha"]["collections"] = nodes["metro"].pop("collections")
    found = issues(nodes)
    assert any(
        issue.path == ("nodes", "alpha", "collections")
        and "member cannot declare jointly owned collections" in issue.message
        for issue in found
    ), found


@pytest.mark.parametrize(
    ("cost", "message"),
    [
        (
            {"name": "x", "formula": "airport",
             "tiers": [{"name": "a", "cost": "1"}, {"name": "a", "cost": "2"}]},
            "a tier is named twice",
        ),
        (
            {"name": "x", "formula": "shapley", "driver": "loans",
             "steps": [{"up_to": 9, "cost": "1"}, {"up_to": 3, "cost": "2"}]},
            "steps go from the smallest up_to up",
        ),
        (
            {"name": "x", "formula": "base-plus-drivers", "amount": "1", "base": "0.5",
             "weights": {"fte": "0.5"}, "breaks": {"titles": {"below": 5, "use": 1}}},
            "breaks for titles, which has no weight",
        ),
    ],
)  # fmt: skip
def test_tiers_steps_and_breaks_are_checked(cost: dict[str, Any], message: str) -> None:
    assert message in models_error(network({"cost": {"costs": [cost]}}))


def test_negative_figures_are_refused() -> None:
    assert "a figure cannot be negative" in models_error(
        network(alpha={"drivers": {"patrons": -1}})
    )
    assert "usage cannot be negative" in models_error(network(alpha={"usage_history": [-1]}))
