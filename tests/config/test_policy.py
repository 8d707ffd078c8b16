"""may_borrow / may_renew: one test per rule, each with the reason a kiosk shows."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from config.policy import (
    Decision,
    DecisionCode,
    PatronStanding,
    effective_policy,
    may_borrow,
    may_renew,
    proxy_patron,
)

from .helpers import build, consortium, group, library

if TYPE_CHECKING:
    from config.consortium import Consortium


@pytest.fixture(scope="module")
def network() -> Consortium:
    """Two libraries in a consortium with caps, plus an outsider in another consortium."""
    return build(
        {
            "metro": consortium(
                circulation={
                    "proxy_patron_template": "ILL-{home}",
                    "loan_cap_per_owner": 2,
                    "loan_cap_total": 3,
                    "visitor_loan_days": 14,
                    "visitor_renewals": 1,
                    "block_fines_over": "5.00",
                    "non_circulating_item_types": ["006"],
                    "non_circulating_locations": ["reference"],
                }
            ),
            "east": library("metro", name="East Library"),
            "west": library(
                "metro",
                name="West Library",
                circulation={"proxy_patrons": {"east": "WEST-PROXY-EAST"}},
            ),
            "far": consortium(circulation={"proxy_patron_template": "FAR-{home}"}),
            "remote": library("far", name="Remote Library"),
        }
    )


def check(decision: Decision, code: DecisionCode, *words: str) -> None:
    assert decision.code is code, decision
    assert decision.allowed is (code in (DecisionCode.ALLOWED, DecisionCode.LOCAL))
    for word in words:
        assert word in decision.reason
    # The reason goes on a kiosk screen line (SIP2 AF, cp850, short).
    assert len(decision.reason) <= 80
    decision.reason.encode("cp850")


def test_a_visitor_may_borrow(network: Consortium) -> None:
    """An allowed reciprocal loan carries the loan period, renewals and proxy patron."""
    decision = may_borrow(network, "east", "west", "adult")
    check(decision, DecisionCode.ALLOWED)
    assert (decision.loan_days, decision.renewals) == (14, 1)
    assert decision.proxy_patron == "WEST-PROXY-EAST"
    assert decision.reason == ""


def test_own_library_is_not_reciprocal(network: Consortium) -> None:
    """A patron at their own library is local traffic."""
    check(may_borrow(network, "east", "east"), DecisionCode.LOCAL)


def test_unknown_card_and_item(network: Consortium) -> None:
    """Unrecognised barcodes give a plain refusal."""
    check(may_borrow(network, None, "west"), DecisionCode.UNKNOWN_HOME, "card not recognised")
    check(may_borrow(network, "east", None), DecisionCode.UNKNOWN_OWNER, "Item not recognised")
    check(may_borrow(network, "metro", "west"), DecisionCode.UNKNOWN_HOME)


def test_outside_the_network(network: Consortium) -> None:
    """Libraries sharing no consortium do not lend to each other by default."""
    check(
        may_borrow(network, "remote", "west"),
        DecisionCode.NOT_IN_NETWORK,
        "West Library does not lend to Remote Library patrons",
    )


def test_lend_to_limits_the_network() -> None:
    """lend_to names the nodes whose libraries' patrons may borrow."""
    c = build(
        {
            "top": consortium(circulation={"proxy_patron_template": "ILL-{home}"}),
            "uni": group("pass_through", "top"),
            "a": library("uni", circulation={"lend_to": ["uni"]}),
            "b": library("uni"),
            "c": library("top"),
        }
    )
    check(may_borrow(c, "b", "a"), DecisionCode.ALLOWED)
    check(may_borrow(c, "c", "a"), DecisionCode.NOT_IN_NETWORK)
    check(may_borrow(c, "a", "c"), DecisionCode.ALLOWED)


def test_reciprocity() -> None:
    """A reciprocal-only library lends only to libraries that lend to it."""
    c = build(
        {
            "top": consortium(circulation={"proxy_patron_template": "ILL-{home}"}),
            "giver": library("top", circulation={"reciprocal_only": True}),
            "taker": library("top", circulation={"lend_to": ["taker"]}),
            "friend": library("top"),
        }
    )
    check(may_borrow(c, "taker", "giver"), DecisionCode.NOT_RECIPROCAL, "lends only")
    check(may_borrow(c, "friend", "giver"), DecisionCode.ALLOWED)


def test_patron_types() -> None:
    """Only admitted patron types may borrow; the type may come with the standing."""
    c = build(
        {
            "top": consortium(
                circulation={"proxy_patron_template": "X{home}", "patron_types": ["adult"]}
            ),
            "a": library("top"),
            "b": library("top"),
        }
    )
    check(may_borrow(c, "a", "b", "child"), DecisionCode.PATRON_TYPE, "patron type")
    check(may_borrow(c, "a", "b"), DecisionCode.PATRON_TYPE)
    check(may_borrow(c, "a", "b", "adult"), DecisionCode.ALLOWED)
    check(
        may_borrow(c, "a", "b", standing=PatronStanding(patron_type="adult")), DecisionCode.ALLOWED
    )


def test_blocks_at_home(network: Consortium) -> None:
    """Blocked accounts, fines over the limit and expired cards are refused."""
    check(
        may_borrow(network, "east", "west", standing=PatronStanding(blocked=True)),
        DecisionCode.BLOCKED_AT_HOME,
        "blocked at East Library",
    )
    check(
        may_borrow(network, "east", "west", standing=PatronStanding(fines=Decimal("12.5"))),
        DecisionCode.FINES,
        "Fines of 12.50 are over the 5.00 limit",
    )
    check(
        may_borrow(network, "east", "west", standing=PatronStanding(fines=Decimal("5.00"))),
        DecisionCode.ALLOWED,
    )
    check(
        may_borrow(network, "east", "west", standing=PatronStanding(expired=True)),
        DecisionCode.EXPIRED,
        "expired",
    )


def test_expired_cards_may_be_allowed() -> None:
    """A library that does not block expired cards lends to them."""
    c = build(
        {
            "top": consortium(
                circulation={"proxy_patron_template": "X{home}", "block_expired": False}
            ),
            "a": library("top"),
            "b": library("top"),
        }
    )
    check(may_borrow(c, "a", "b", standing=PatronStanding(expired=True)), DecisionCode.ALLOWED)


def test_items_that_stay_home(network: Consortium) -> None:
    """Item types and locations listed as non-circulating are refused to visitors."""
    check(
        may_borrow(network, "east", "west", item_type="006"),
        DecisionCode.ITEM_TYPE,
        "does not circulate",
    )
    check(may_borrow(network, "east", "west", location="reference"), DecisionCode.LOCATION)
    check(
        may_borrow(network, "east", "west", item_type="001", location="adult"), DecisionCode.ALLOWED
    )


def test_loan_caps(network: Consortium) -> None:
    """The owner's cap per visitor comes first, then the home's cap in all."""
    check(
        may_borrow(network, "east", "west", loans_at_owner=2),
        DecisionCode.OWNER_CAP,
        "Limit of 2 loans from West Library reached",
    )
    check(
        may_borrow(network, "east", "west", loans_at_owner=1, loans_total=3),
        DecisionCode.TOTAL_CAP,
        "Limit of 3 loans from other libraries reached",
    )
    check(
        may_borrow(network, "east", "west", loans_at_owner=1, loans_total=2), DecisionCode.ALLOWED
    )


def test_proxy_patrons(network: Consortium) -> None:
    """An explicit proxy account wins over the template."""
    assert proxy_patron(network, "west", "east") == "WEST-PROXY-EAST"
    assert proxy_patron(network, "east", "west") == "ILL-west"


def test_a_missing_proxy_is_refused_not_crashed(network: Consortium) -> None:
    """Validation guarantees a proxy for every lending relation; should the resolved
    settings lack one anyway, the loan is refused with a reason instead of failing."""
    west = network.policy("west")
    circulation = west.circulation.model_copy(
        update={"proxy_patrons": None, "proxy_patron_template": None}
    )
    broken = dataclasses.replace(
        network,
        policies={**network.policies, "west": west.model_copy(update={"circulation": circulation})},
    )
    check(may_borrow(broken, "east", "west"), DecisionCode.NO_PROXY, "cannot lend")


def test_renewals(network: Consortium) -> None:
    """Visitors renew up to the owner's limit."""
    check(may_renew(network, "east", "west", 0), DecisionCode.ALLOWED)
    check(
        may_renew(network, "east", "west", 1),
        DecisionCode.RENEWALS,
        "No more renewals: West Library allows 1",
    )
    check(may_renew(network, "east", "east", 9), DecisionCode.LOCAL)
    check(may_renew(network, None, "west", 0), DecisionCode.UNKNOWN_HOME)
    check(may_renew(network, "east", "nowhere", 0), DecisionCode.UNKNOWN_OWNER)


def test_effective_policy_is_the_resolved_view(network: Consortium) -> None:
    """effective_policy gives the member's resolved settings, the same object each time;
    where a value came from stays in ``effective``."""
    policy = effective_policy(network, "west")
    assert policy.circulation.loan_cap_per_owner == 2
    assert policy.circulation.require_pin is True  # the default, not None
    assert network.effective["west"]["circulation.loan_cap_per_owner"].source == "metro"
    assert effective_policy(network, "west") is policy
