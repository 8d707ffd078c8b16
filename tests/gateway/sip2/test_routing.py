"""Routing a kiosk's request to a member ILS, rule by rule, over the demo consortium.

The demo consortium: alpha (patrons 21001*, items 31001*), beta (21002*, 31002*) and
gamma (21003*, 31003*); each library's AO institution id is its own name.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from config.loader import load_consortium
from gateway.sip2.routing import Route, RouteKind, home_of, owner_of, route
from protocols.sip2 import (
    BlockPatron,
    CheckinRequest,
    CheckoutRequest,
    EndPatronSessionRequest,
    FeePaidRequest,
    HoldMode,
    HoldRequest,
    ItemInformationRequest,
    ItemStatusUpdateRequest,
    LoginRequest,
    Message,
    PatronEnableRequest,
    PatronInformationRequest,
    PatronStatusRequest,
    RenewAllRequest,
    RenewRequest,
    RequestAcsResend,
    ScStatus,
)

if TYPE_CHECKING:
    from config.consortium import Consortium

DEMO = Path(__file__).parents[3] / "config" / "demo.toml"
NOW = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)

ALPHA_PATRON = "21001000000001"
BETA_PATRON = "21002000000001"
GAMMA_PATRON = "21003000000001"
ALPHA_ITEM = "31001000000001"
BETA_ITEM = "31002000000001"
GAMMA_ITEM = "31003000000001"
UNKNOWN_PATRON = "99999999"
UNKNOWN_ITEM = "88888888"

Maker = Callable[[str, str], Message]
"""Builds a checkout or a renewal from a patron and an item barcode."""


@pytest.fixture(scope="module")
def demo() -> Consortium:
    """The demo consortium (its ILS password is not needed to route)."""
    return load_consortium(DEMO, check_secrets=False)


def patron_requests(patron: str, ao: str) -> list[Message]:
    """One of each patron request (23, 63, 35, 37, 25, 01) for ``patron``."""
    return [
        PatronStatusRequest(transaction_date=NOW, institution_id=ao, patron_identifier=patron),
        PatronInformationRequest(transaction_date=NOW, institution_id=ao, patron_identifier=patron),
        EndPatronSessionRequest(transaction_date=NOW, institution_id=ao, patron_identifier=patron),
        FeePaidRequest(
            transaction_date=NOW,
            fee_type=1,
            payment_type=0,
            currency_type="USD",
            fee_amount="1.00",
            institution_id=ao,
            patron_identifier=patron,
        ),
        PatronEnableRequest(transaction_date=NOW, institution_id=ao, patron_identifier=patron),
        BlockPatron(
            card_retained=False, transaction_date=NOW, institution_id=ao, patron_identifier=patron
        ),
    ]


def item_requests(item: str, ao: str = "alpha") -> list[Message]:
    """One of each item request (17, 19, 09) for ``item``."""
    return [
        ItemInformationRequest(transaction_date=NOW, institution_id=ao, item_identifier=item),
        ItemStatusUpdateRequest(
            transaction_date=NOW, institution_id=ao, item_identifier=item, item_properties="x"
        ),
        CheckinRequest(
            no_block=False,
            transaction_date=NOW,
            return_date=NOW,
            institution_id=ao,
            item_identifier=item,
        ),
    ]


def checkout(patron: str, item: str, ao: str = "alpha") -> CheckoutRequest:
    return CheckoutRequest(
        sc_renewal_policy=True,
        no_block=False,
        transaction_date=NOW,
        nb_due_date=None,
        institution_id=ao,
        patron_identifier=patron,
        item_identifier=item,
    )


def renew(patron: str, item: str, ao: str = "alpha") -> RenewRequest:
    return RenewRequest(
        third_party_allowed=False,
        no_block=False,
        transaction_date=NOW,
        nb_due_date=None,
        institution_id=ao,
        patron_identifier=patron,
        item_identifier=item,
    )


def hold(patron: str, item: str | None, ao: str = "alpha", title: str | None = None) -> HoldRequest:
    return HoldRequest(
        hold_mode=HoldMode.ADD,
        transaction_date=NOW,
        institution_id=ao,
        patron_identifier=patron,
        item_identifier=item,
        title_identifier=title,
    )


def renew_all(patron: str, ao: str = "alpha") -> RenewAllRequest:
    return RenewAllRequest(transaction_date=NOW, institution_id=ao, patron_identifier=patron)


# --- patron requests ------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(6), ids=["23", "63", "35", "37", "25", "01"])
def test_a_patron_request_of_the_terminals_own_patron_is_local(
    demo: Consortium, index: int
) -> None:
    """An alpha card at an alpha kiosk: alpha answers, as the kiosk's own library."""
    message = patron_requests(ALPHA_PATRON, "alpha")[index]
    assert route(demo, "alpha", message) == Route(
        RouteKind.LOCAL, "alpha", target="alpha", home="alpha"
    )


@pytest.mark.parametrize("index", range(6), ids=["23", "63", "35", "37", "25", "01"])
def test_a_patron_request_goes_home_by_barcode(demo: Consortium, index: int) -> None:
    """A beta card at an alpha kiosk goes to beta, even when AO names alpha."""
    message = patron_requests(BETA_PATRON, "alpha")[index]
    assert route(demo, "alpha", message) == Route(
        RouteKind.FORWARD, "alpha", target="beta", home="beta"
    )


def test_the_barcode_wins_over_the_ao_hint(demo: Consortium) -> None:
    """A gamma card sent with AO beta still goes to gamma."""
    for message in patron_requests(GAMMA_PATRON, "beta"):
        decided = route(demo, "alpha", message)
        assert (decided.kind, decided.target, decided.home) == (RouteKind.FORWARD, "gamma", "gamma")


def test_an_unknown_card_follows_the_ao_hint(demo: Consortium) -> None:
    """A card no rule describes goes to the library whose institution id is the AO."""
    for message in patron_requests(UNKNOWN_PATRON, "gamma"):
        assert route(demo, "alpha", message) == Route(
            RouteKind.FORWARD, "alpha", target="gamma", home="gamma"
        )


@pytest.mark.parametrize("ao", ["", "nowhere"])
def test_an_unknown_card_without_a_known_ao_stays_at_the_terminals_library(
    demo: Consortium, ao: str
) -> None:
    """Failing barcode and AO, the terminal's own library answers."""
    for message in patron_requests(UNKNOWN_PATRON, ao):
        assert route(demo, "beta", message) == Route(
            RouteKind.LOCAL, "beta", target="beta", home="beta"
        )


def test_home_of_and_owner_of(demo: Consortium) -> None:
    """The helpers apply the same fallbacks."""
    assert home_of(demo, BETA_PATRON, "gamma", "alpha") == "beta"
    assert home_of(demo, UNKNOWN_PATRON, "gamma", "alpha") == "gamma"
    assert home_of(demo, UNKNOWN_PATRON, "", "alpha") == "alpha"
    assert owner_of(demo, GAMMA_ITEM, "alpha") == "gamma"
    assert owner_of(demo, UNKNOWN_ITEM, "beta") == "beta"


# --- item requests ------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(3), ids=["17", "19", "09"])
def test_an_item_request_goes_to_the_owner(demo: Consortium, index: int) -> None:
    """A gamma item at an alpha kiosk goes to gamma; the AO does not matter."""
    message = item_requests(GAMMA_ITEM, "alpha")[index]
    assert route(demo, "alpha", message) == Route(
        RouteKind.FORWARD, "alpha", target="gamma", owner="gamma"
    )


@pytest.mark.parametrize("index", range(3), ids=["17", "19", "09"])
def test_an_item_request_for_the_terminals_own_item_is_local(demo: Consortium, index: int) -> None:
    """An alpha item at an alpha kiosk stays at alpha."""
    message = item_requests(ALPHA_ITEM)[index]
    assert route(demo, "alpha", message) == Route(
        RouteKind.LOCAL, "alpha", target="alpha", owner="alpha"
    )


@pytest.mark.parametrize("index", range(3), ids=["17", "19", "09"])
def test_an_unknown_item_goes_to_the_terminals_library(demo: Consortium, index: int) -> None:
    """No item rule matches: the terminal's library answers (the AO is not a hint here)."""
    message = item_requests(UNKNOWN_ITEM, "gamma")[index]
    assert route(demo, "beta", message) == Route(
        RouteKind.LOCAL, "beta", target="beta", owner="beta"
    )


# --- checkout and renew --------------------------------------------------------------------


@pytest.mark.parametrize("make", [checkout, renew], ids=["11", "29"])
def test_own_patron_own_item_at_own_kiosk_is_local(demo: Consortium, make: Maker) -> None:
    """Home, owner and terminal are the same library."""
    assert route(demo, "alpha", make(ALPHA_PATRON, ALPHA_ITEM)) == Route(
        RouteKind.LOCAL, "alpha", target="alpha", home="alpha", owner="alpha"
    )


@pytest.mark.parametrize("make", [checkout, renew], ids=["11", "29"])
def test_same_library_loan_at_another_librarys_kiosk_is_forwarded(
    demo: Consortium, make: Maker
) -> None:
    """A beta patron with a beta item at an alpha kiosk: beta's own loan, forwarded."""
    assert route(demo, "alpha", make(BETA_PATRON, BETA_ITEM)) == Route(
        RouteKind.FORWARD, "alpha", target="beta", home="beta", owner="beta"
    )


@pytest.mark.parametrize("make", [checkout, renew], ids=["11", "29"])
def test_patron_and_item_of_different_libraries_is_reciprocal(
    demo: Consortium, make: Maker
) -> None:
    """A beta patron with an alpha item: reciprocal, aimed at the owner."""
    assert route(demo, "alpha", make(BETA_PATRON, ALPHA_ITEM)) == Route(
        RouteKind.RECIPROCAL, "alpha", target="alpha", home="beta", owner="alpha"
    )
    # Neither the patron's nor the item's library needs to be the kiosk's.
    assert route(demo, "alpha", make(BETA_PATRON, GAMMA_ITEM)) == Route(
        RouteKind.RECIPROCAL, "alpha", target="gamma", home="beta", owner="gamma"
    )


def test_checkout_of_an_unknown_item_is_owned_by_the_terminals_library(
    demo: Consortium,
) -> None:
    """An item no rule describes belongs to the kiosk's library for routing."""
    assert route(demo, "alpha", checkout(ALPHA_PATRON, UNKNOWN_ITEM)) == Route(
        RouteKind.LOCAL, "alpha", target="alpha", home="alpha", owner="alpha"
    )
    assert route(demo, "alpha", checkout(BETA_PATRON, UNKNOWN_ITEM)) == Route(
        RouteKind.RECIPROCAL, "alpha", target="alpha", home="beta", owner="alpha"
    )


def test_renew_by_title_only_is_owned_by_the_terminals_library(demo: Consortium) -> None:
    """A 29 without AB routes as an item of the kiosk's library."""
    message = RenewRequest(
        third_party_allowed=False,
        no_block=False,
        transaction_date=NOW,
        nb_due_date=None,
        institution_id="alpha",
        patron_identifier=GAMMA_PATRON,
        title_identifier="Some Title",
    )
    assert route(demo, "alpha", message) == Route(
        RouteKind.RECIPROCAL, "alpha", target="alpha", home="gamma", owner="alpha"
    )


# --- renew all ---------------------------------------------------------------------------


def test_renew_all_of_the_terminals_own_patron_is_local(demo: Consortium) -> None:
    """A patron renewing everything at their own library's kiosk."""
    assert route(demo, "alpha", renew_all(ALPHA_PATRON)) == Route(
        RouteKind.LOCAL, "alpha", target="alpha", home="alpha"
    )


def test_renew_all_of_a_visitor_goes_home_and_covers_reciprocal_loans(
    demo: Consortium,
) -> None:
    """A visitor's 65 targets their home library and is run by the gateway."""
    assert route(demo, "alpha", renew_all(GAMMA_PATRON)) == Route(
        RouteKind.RECIPROCAL, "alpha", target="gamma", home="gamma"
    )


# --- holds -------------------------------------------------------------------------------


def test_hold_on_an_item_of_the_patrons_library_goes_home(demo: Consortium) -> None:
    """Same library: to the home library (local or forwarded)."""
    assert route(demo, "alpha", hold(ALPHA_PATRON, ALPHA_ITEM)) == Route(
        RouteKind.LOCAL, "alpha", target="alpha", home="alpha", owner="alpha"
    )
    assert route(demo, "alpha", hold(BETA_PATRON, BETA_ITEM)) == Route(
        RouteKind.FORWARD, "alpha", target="beta", home="beta", owner="beta"
    )


def test_hold_by_title_goes_home(demo: Consortium) -> None:
    """No item barcode: the patron's library places it."""
    assert route(demo, "alpha", hold(GAMMA_PATRON, None, title="A Title")) == Route(
        RouteKind.FORWARD, "alpha", target="gamma", home="gamma", owner=None
    )


def test_hold_on_an_item_no_rule_describes_goes_home(demo: Consortium) -> None:
    """An unknown item barcode is treated as the patron's library's."""
    assert route(demo, "alpha", hold(BETA_PATRON, UNKNOWN_ITEM)) == Route(
        RouteKind.FORWARD, "alpha", target="beta", home="beta", owner=None
    )


def test_hold_across_libraries_is_answered_by_the_gateway(demo: Consortium) -> None:
    """A beta patron holding a gamma item: no target, the gateway refuses it."""
    decided = route(demo, "alpha", hold(BETA_PATRON, GAMMA_ITEM))
    assert decided == Route(RouteKind.GATEWAY, "alpha", target=None, home="beta", owner="gamma")
    decided = route(demo, "alpha", hold(ALPHA_PATRON, BETA_ITEM))
    assert decided.kind is RouteKind.GATEWAY
    assert decided.target is None


# --- the gateway's own messages ----------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        LoginRequest(login_user_id="alpha-kiosk", login_password="demo"),
        ScStatus(max_print_width=40),
        RequestAcsResend(),
    ],
    ids=["93", "99", "97"],
)
def test_login_status_and_resend_are_the_gateways(demo: Consortium, message: Message) -> None:
    """93 and 99 (and a stray 97) never reach a member ILS."""
    assert route(demo, "gamma", message) == Route(RouteKind.GATEWAY, "gamma")


def test_every_route_keeps_the_terminals_library(demo: Consortium) -> None:
    """Whatever the message, the route names the kiosk's library."""
    messages: list[Message] = [
        *patron_requests(BETA_PATRON, "beta"),
        *item_requests(GAMMA_ITEM),
        checkout(BETA_PATRON, GAMMA_ITEM),
        renew(ALPHA_PATRON, ALPHA_ITEM),
        renew_all(BETA_PATRON),
        hold(BETA_PATRON, GAMMA_ITEM),
        ScStatus(max_print_width=40),
    ]
    for message in messages:
        assert route(demo, "gamma", message).terminal == "gamma"
