"""The settlement engine: a period's loans and a consortium's cost plan in, allocations,
statements and transfers out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import config
from adapters.state.base import Loan
from config.loader import load_consortium
from gateway.history.period import Period
from gateway.history.reader import PeriodLoans
from gateway.settlement.engine import SettlementError, settle
from tests.config.helpers import PROXY, build, consortium, library

if TYPE_CHECKING:
    from config.consortium import Consortium

NOVEMBER = Period.parse("2026-11")
LIBS = ("alpha", "beta", "gamma")


def metro(costs: list[dict[str, Any]], **libraries: dict[str, Any]) -> Consortium:
    """A consortium ``metro`` over alpha, beta and gamma, sharing ``costs``."""
    nodes: dict[str, Any] = {"metro": consortium(circulation=PROXY, cost={"costs": costs})}
    for name in LIBS:
        nodes[name] = library("metro", cost=libraries.get(name, {}))
    return build(nodes)


def item_of(c: Consortium, owner: str, number: int = 1) -> str:
    prefix = c.nodes[owner].items[0].rstrip("*")
    return f"{prefix}{number:08d}"


def loans(c: Consortium, *pairs: tuple[str, str], item: str | None = None) -> PeriodLoans:
    """One loan per (owner, home) pair, checked out on 2 November."""
    start = datetime(2026, 11, 2, tzinfo=UTC)
    made = tuple(
        Loan(
            f"loan-{i}",
            owner,
            home,
            item or item_of(c, owner, i),
            "patron-key",
            f"ILL-{home}",
            f"{owner}-kiosk",
            start,
            start + timedelta(days=21),
        )
        for i, (owner, home) in enumerate(pairs)
    )
    return PeriodLoans(NOVEMBER, made)


EQUAL = {"name": "hosting", "formula": "equal", "amount": "300.00"}
POOL = {"name": "state-aid", "formula": "net-lender", "amount": "100.00"}
PER_LOAN = {"name": "lending", "formula": "per-transaction", "price": "2.00"}


def test_a_month_settles_into_statements_and_transfers() -> None:
    c = metro([EQUAL, POOL, PER_LOAN])
    period = loans(c, *[("alpha", "beta")] * 3, ("beta", "alpha"))
    result = settle(period, c, c.cost_plans["metro"])
    hosting, aid, charged, credited = result.allocations
    assert hosting.shares == {"alpha": 10_000, "beta": 10_000, "gamma": 10_000}
    # Half of 100.00 by loans lent (3:1), half by net lending (alpha 3 - 1 = 2; beta 0).
    assert aid.side == "credit"
    assert aid.shares == {"alpha": 8_750, "beta": 1_250, "gamma": 0}
    assert charged.shares == {"alpha": 200, "beta": 600, "gamma": 0}
    assert credited.shares == {"alpha": 600, "beta": 200, "gamma": 0}
    alpha = result.statement("alpha")
    assert (alpha.loans_lent, alpha.loans_borrowed) == (3, 1)
    assert (alpha.charges, alpha.credits) == (10_200, 9_350)
    # The consortium office collects the hosting and pays the pool.
    positions = {s.library: s.net for s in result.statements}
    assert positions == {"alpha": -850, "beta": -9_150, "gamma": -10_000}
    paid = {t.payer: t.amount for t in result.transfers}
    assert paid == {"gamma": 10_000, "beta": 9_150, "alpha": 850}
    assert {t.payee for t in result.transfers} == {"metro"}


def test_a_library_that_joined_mid_month_is_prorated_by_days() -> None:
    c = metro([EQUAL], gamma={"member_from": "2026-11-16"})
    result = settle(loans(c), c, c.cost_plans["metro"])
    assert result.allocations[0].shares == {"alpha": 12_000, "beta": 12_000, "gamma": 6_000}


def test_a_library_that_left_before_the_month_pays_no_fixed_cost() -> None:
    c = metro([EQUAL], beta={"member_until": "2026-10-31"})
    result = settle(loans(c), c, c.cost_plans["metro"])
    assert result.allocations[0].shares == {"alpha": 15_000, "beta": 0, "gamma": 15_000}


def test_caps_and_floors_are_applied_to_the_charges() -> None:
    cost = {
        "name": "courier",
        "formula": "proportional",
        "driver": "patrons",
        "amount": "1000.00",
        "cap": "500.00",
    }
    c = metro(
        [cost],
        alpha={"drivers": {"patrons": 42_000}},
        beta={"drivers": {"patrons": 18_500}},
        gamma={"drivers": {"patrons": 9_500}},
    )
    result = settle(loans(c), c, c.cost_plans["metro"])
    assert result.allocations[0].shares == {"alpha": 50_000, "beta": 33_036, "gamma": 16_964}


def test_floors_the_total_cannot_cover_are_a_settlement_error() -> None:
    c = metro([{**EQUAL, "floor": "150.00"}])
    with pytest.raises(SettlementError, match="cost 'hosting': the floors add up to 45000"):
        settle(loans(c), c, c.cost_plans["metro"])


def test_tiered_and_capacity_costs_use_their_shapley_values() -> None:
    airport = {
        "name": "servers",
        "formula": "airport",
        "tiers": [
            {"name": "small", "cost": "100.00"},
            {"name": "medium", "cost": "250.00"},
            {"name": "large", "cost": "600.00"},
        ],
    }
    steps = {
        "name": "licence",
        "formula": "shapley",
        "driver": "patrons",
        "steps": [{"up_to": 50_000, "cost": "200.00"}, {"up_to": 100_000, "cost": "300.00"}],
    }
    c = metro(
        [airport, steps],
        alpha={"tier": "large", "drivers": {"patrons": 40_000}},
        beta={"tier": "medium", "drivers": {"patrons": 30_000}},
        gamma={"tier": "small", "drivers": {"patrons": 20_000}},
    )
    servers, licence = settle(loans(c), c, c.cost_plans["metro"]).allocations
    assert servers.shares == {"alpha": 45_834, "beta": 10_833, "gamma": 3_333}
    assert licence.shares == {"alpha": 13_334, "beta": 8_333, "gamma": 8_333}


def test_a_demand_above_the_largest_step_is_a_settlement_error() -> None:
    steps = {
        "name": "licence",
        "formula": "shapley",
        "driver": "loans",
        "steps": [{"up_to": 1, "cost": "200.00"}],
    }
    c = metro([steps])
    with pytest.raises(SettlementError, match="a demand of 2 loans is above the largest step"):
        settle(loans(c, ("alpha", "beta")), c, c.cost_plans["metro"])


def test_a_jointly_owned_collection_credits_its_owners_and_splits_its_costs() -> None:
    nodes: dict[str, Any] = {
        "metro": consortium(circulation=PROXY, cost={"costs": [PER_LOAN]}),
    }
    for name in LIBS:
        nodes[name] = library("metro")
    gamma_items = nodes["gamma"]["items"][0].rstrip("*")
    nodes["metro"]["collections"] = {
        "print": {
            "name": "Shared print",
            "held_by": "gamma",
            "items": [f"{gamma_items}9*"],
            "owners": {"alpha": "0.5", "beta": "0.3", "gamma": "0.2"},
            "costs": [{"name": "storage", "formula": "shares", "amount": "500.00"}],
        }
    }
    c = build(nodes)
    shared_item = f"{gamma_items}90000001"
    result = settle(loans(c, ("gamma", "beta"), item=shared_item), c, c.cost_plans["metro"])
    charged, credited, storage = result.allocations
    assert charged.shares == {"alpha": 0, "beta": 200, "gamma": 0}
    assert credited.shares == {"alpha": 100, "beta": 60, "gamma": 40}
    assert storage.cost == "print/storage"
    assert storage.shares == {"alpha": 25_000, "beta": 15_000, "gamma": 10_000}
    # The holding library's ILS made the loan.
    assert result.statement("gamma").loans_lent == 1


def test_usage_ewma_with_no_usage_at_all_splits_equally() -> None:
    c = metro([{"name": "courier", "formula": "usage-ewma", "amount": "300.00"}])
    assert settle(loans(c), c, c.cost_plans["metro"]).allocations[0].shares == {
        "alpha": 10_000,
        "beta": 10_000,
        "gamma": 10_000,
    }


PROPERTY_PLAN: list[dict[str, Any]] = [
    EQUAL,
    {"name": "courier", "formula": "proportional", "driver": "loans", "amount": "90.00"},
    {"name": "catalogue", "formula": "usage-ewma", "amount": "120.00", "ewma_weight": "0.3"},
    POOL,
    {**PER_LOAN, "maximum": "1.50", "prices": {"alpha": "1.00"}},
]
_SHARED = metro(PROPERTY_PLAN)
pairs = st.lists(
    st.tuples(st.sampled_from(("alpha", "beta")), st.sampled_from(("alpha", "beta"))).filter(
        lambda pair: pair[0] != pair[1]
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=30, deadline=None)
@given(pairs)
def test_every_settlement_balances_and_an_idle_library_pays_only_its_fixed_part(
    made: list[tuple[str, str]],
) -> None:
    """gamma lends and borrows nothing: it pays its equal share of hosting and nothing
    else; every allocation sums to its total; money is conserved by the transfers."""
    c = _SHARED
    result = settle(loans(c, *made), c, c.cost_plans["metro"])
    for allocation in result.allocations:
        assert sum(allocation.shares.values()) == allocation.total
    gamma = result.statement("gamma")
    assert gamma.credits == 0
    assert gamma.charges == result.allocations[0].shares["gamma"]
    moved = dict.fromkeys((*LIBS, "metro"), 0)
    for transfer in result.transfers:
        moved[transfer.payer] -= transfer.amount
        moved[transfer.payee] += transfer.amount
    for statement in result.statements:
        assert moved[statement.library] == statement.net
    assert not {t.payer for t in result.transfers} & {t.payee for t in result.transfers}


@pytest.mark.parametrize(
    ("path", "plan", "period"),
    [
        ("examples/cost-sharing.toml", "valley", "2026-03"),
        ("examples/cost-sharing.toml", "print", "2026-03"),
        ("demo.toml", "demo", "2026-11"),
    ],
)
def test_the_shipped_plans_settle(path: str, plan: str, period: str) -> None:
    """Every formula of the shipped files runs on a month of loans in every direction,
    and the settlement balances: what the libraries owe, net, the office receives."""
    c = load_consortium(Path(config.__file__).parent / path, check_secrets=False)
    costs = c.cost_plans[plan]
    libraries = costs.libraries
    month = Period.parse(period)
    start = datetime(month.first.year, month.first.month, 20, tzinfo=UTC)
    made = []
    for number, (owner, home) in enumerate((o, h) for o in libraries for h in libraries if o != h):
        prefix = c.nodes[owner].items[0].rstrip("*")
        for copy in range(number % 3 + 1):
            # The holder of a collection also lends items of it (…9… at lakeside).
            item = f"{prefix}{9 if copy == 2 else 1}{number:04d}{copy}"
            made.append(
                Loan(
                    f"l{number}-{copy}",
                    owner,
                    home,
                    item,
                    "k",
                    f"ILL-{home}",
                    "t",
                    start,
                    start + timedelta(days=21),
                )
            )
    result = settle(PeriodLoans(month, tuple(made)), c, costs)
    assert len(result.statements) == len(libraries)
    nets = sum(s.net for s in result.statements)
    to_office = sum(t.amount for t in result.transfers if t.payee == plan)
    from_office = sum(t.amount for t in result.transfers if t.payer == plan)
    assert to_office - from_office == -nets


def test_a_month_without_loans_settles() -> None:
    """The demo's plan on an empty month: usage costs are split equally, the pool is
    not paid out, nobody is charged per loan."""
    c = load_consortium(Path(config.__file__).parent / "demo.toml", check_secrets=False)
    result = settle(PeriodLoans(NOVEMBER, ()), c, c.cost_plans["demo"])
    by_name = {(a.cost, a.side): a for a in result.allocations}
    assert by_name["courier", "charge"].shares == {"alpha": 13_334, "beta": 13_333, "gamma": 13_333}
    assert by_name["lending grant", "credit"].total == 0
    assert by_name["loan charges", "charge"].total == 0


def test_a_plan_of_another_consortium_is_refused() -> None:
    """The plan and the consortium must come from the same configuration."""
    ours = metro([EQUAL])
    theirs = build(
        {
            "other": consortium(circulation=PROXY, cost={"costs": [EQUAL]}),
            "delta": library("other"),
        }
    )
    with pytest.raises(SettlementError, match=r"libraries this consortium lacks: \['delta'\]"):
        settle(loans(ours), ours, theirs.cost_plans["other"])
