"""NCIP peers write only for their own library (``gateway/ncip/responder.py``'s second table).

Each test has an authenticated peer of one library ask for a write that concerns only
other libraries: the answer is the "Unauthorized Combination Of Element Values For
Agency" Problem and nothing changed at any ILS or in the registry.  The same write by
a peer of a library it concerns goes through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from protocols.ncip import (
    AcceptItem,
    CancelRequestItem,
    CheckInItem,
    CheckOutItem,
    DeleteItem,
    Header,
    Patron,
    RenewItem,
    RequestItem,
    read_reply,
)
from tests.helpers.ncip import ask

if TYPE_CHECKING:
    from gateway.demo.network import Demo
    from protocols.ncip import Reply, Request

UNAUTHORIZED = "Unauthorized Combination Of Element Values For Agency"
AS_ALPHA = Header("rs-alpha", "interlend")
AS_BETA = Header("rs-beta", "interlend")
AS_GAMMA = Header("rs-gamma", "interlend")
ALPHA_PATRON = "21001000000001"
ALPHA_ITEM = "31001000000004"
BETA_ITEM = "31002000000001"
TIMEOUT = 20


async def reply(demo: Demo, request: Request) -> Reply:
    """The answer to ``request`` (HTTP 200 and schema-valid, checked by ``ask``)."""
    return read_reply((await ask(demo, request)).content)


def refused(answer: Reply, element: str) -> bool:
    """Whether the answer is the refusal of a write beyond the peer's library."""
    return (
        answer.has_problem(UNAUTHORIZED)
        and len(answer.problems) == 1
        and answer.problems[0].element == element
    )


async def lend_beta_item_to_alpha_patron(demo: Demo) -> None:
    """The loan the checkin and renewal tests start from (made by the owner's peer)."""
    lent = await reply(demo, CheckOutItem(AS_BETA, Patron(ALPHA_PATRON), BETA_ITEM, "scope-1"))
    assert lent.ok, lent.problems


async def test_a_checkout_needs_the_items_owner_or_the_patrons_home(demo: Demo) -> None:
    """rs-gamma cannot make beta lend to an alpha patron; rs-alpha (the home) can."""
    beta = demo.simulators["beta"]
    with trio.fail_after(TIMEOUT):
        stranger = await reply(demo, CheckOutItem(AS_GAMMA, Patron(ALPHA_PATRON), BETA_ITEM))
        untouched = (list(beta.executed), beta.library.items[BETA_ITEM].holder)
        loan_after_refusal = await demo.gateway.services.store.active_loan("beta", BETA_ITEM)
        home = await reply(demo, CheckOutItem(AS_ALPHA, Patron(ALPHA_PATRON), BETA_ITEM))
    assert refused(stranger, "UserId")
    assert "rs-gamma acts for Gamma College Library" in (stranger.problems[0].detail or "")
    assert "11" not in untouched[0]
    assert untouched[1] is None
    assert loan_after_refusal is None
    assert home.ok, home.problems
    assert beta.library.items[BETA_ITEM].holder == "ILL-alpha"


async def test_a_checkin_needs_the_owner_or_the_library_it_is_lent_to(demo: Demo) -> None:
    """rs-gamma cannot check in beta's item lent to alpha; rs-alpha (the borrower) can."""
    beta = demo.simulators["beta"]
    store = demo.gateway.services.store
    with trio.fail_after(TIMEOUT):
        await lend_beta_item_to_alpha_patron(demo)
        stranger = await reply(demo, CheckInItem(AS_GAMMA, BETA_ITEM))
        untouched = ("09" in beta.executed, beta.library.items[BETA_ITEM].holder)
        still_lent = await store.active_loan("beta", BETA_ITEM)
        borrower = await reply(demo, CheckInItem(AS_ALPHA, BETA_ITEM))
        closed = await store.active_loan("beta", BETA_ITEM)
    assert refused(stranger, "ItemId")
    assert untouched == (False, "ILL-alpha")
    assert still_lent is not None
    assert borrower.ok, borrower.problems
    assert closed is None
    assert beta.library.items[BETA_ITEM].holder is None


async def test_a_renewal_needs_the_owner_or_the_patrons_home(demo: Demo) -> None:
    """rs-gamma cannot renew an alpha patron's loan of a beta item; rs-alpha can."""
    beta = demo.simulators["beta"]
    store = demo.gateway.services.store
    with trio.fail_after(TIMEOUT):
        await lend_beta_item_to_alpha_patron(demo)
        stranger = await reply(demo, RenewItem(AS_GAMMA, Patron(ALPHA_PATRON), BETA_ITEM))
        renewed_at_beta = "29" in beta.executed
        loan = await store.active_loan("beta", BETA_ITEM)
        home = await reply(demo, RenewItem(AS_ALPHA, Patron(ALPHA_PATRON), BETA_ITEM))
        renewed = await store.active_loan("beta", BETA_ITEM)
    assert refused(stranger, "UserId")
    assert not renewed_at_beta
    assert loan is not None
    assert loan.renewals == 0
    assert home.ok, home.problems
    assert renewed is not None
    assert renewed.renewals == 1


async def test_holds_and_their_cancelling_need_the_patrons_home(demo: Demo) -> None:
    """rs-gamma can neither place nor cancel an alpha patron's hold at alpha (by item or
    by title); rs-alpha can do both."""
    alpha = demo.simulators["alpha"]
    holds = alpha.library.items[ALPHA_ITEM].holds
    with trio.fail_after(TIMEOUT):
        place = RequestItem(AS_GAMMA, Patron(ALPHA_PATRON), (ALPHA_ITEM,), (), "h-1")
        stranger = await reply(demo, place)
        by_title = RequestItem(AS_GAMMA, Patron(ALPHA_PATRON), (), ("Alpha Book 4",), "h-2")
        stranger_by_title = await reply(demo, by_title)
        asked_alpha = "15" in alpha.executed
        home = await reply(
            demo, RequestItem(AS_ALPHA, Patron(ALPHA_PATRON), (ALPHA_ITEM,), (), "h-1")
        )
        held = list(holds)
        cancel = CancelRequestItem(AS_GAMMA, Patron(ALPHA_PATRON), ALPHA_ITEM)
        stranger_cancel = await reply(demo, cancel)
        still_held = list(holds)
        home_cancel = await reply(
            demo, CancelRequestItem(AS_ALPHA, Patron(ALPHA_PATRON), ALPHA_ITEM)
        )
    assert refused(stranger, "UserId")
    assert refused(stranger_by_title, "UserId")
    assert not asked_alpha
    assert home.ok, home.problems
    assert held == [ALPHA_PATRON]
    assert refused(stranger_cancel, "UserId")
    assert still_held == [ALPHA_PATRON]
    assert home_cancel.ok, home_cancel.problems
    assert holds == []


async def test_temporary_items_are_made_and_deleted_by_the_patrons_home_only(
    ncip_demo: Demo,
) -> None:
    """rs-beta cannot make a temporary item for an alpha patron at alpha, and its
    DeleteItem reaches beta's own ILS only; rs-alpha makes and deletes it."""
    alpha = ncip_demo.simulators["alpha"].library

    def accept(header: Header) -> AcceptItem:
        return AcceptItem(header, "req-9", "Hold For Pickup", Patron(ALPHA_PATRON), "TMP-9")

    with trio.fail_after(TIMEOUT):
        stranger = await reply(ncip_demo, accept(AS_BETA))
        made_by_stranger = "TMP-9" in alpha.items
        home = await reply(ncip_demo, accept(AS_ALPHA))
        made = "TMP-9" in alpha.items
        stranger_delete = await reply(ncip_demo, DeleteItem(AS_BETA, "TMP-9"))
        kept = "TMP-9" in alpha.items
        home_delete = await reply(ncip_demo, DeleteItem(AS_ALPHA, "TMP-9"))
    assert refused(stranger, "UserId")
    assert not made_by_stranger
    assert home.ok, home.problems
    assert made
    assert stranger_delete.has_problem("Unsupported Service")  # beta's ILS speaks SIP2
    assert kept
    assert home_delete.ok, home_delete.problems
    assert "TMP-9" not in alpha.items
