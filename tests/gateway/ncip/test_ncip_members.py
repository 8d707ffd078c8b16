"""Reciprocal circulation with members whose ILS speaks NCIP (the demo's alpha over NCIP).

Alpha's patrons are checked at home with LookupUser, alpha's items are lent with
CheckOutItem to the borrowing library's account, and each reciprocal loan of an alpha
patron gets a temporary item at alpha (AcceptItem) that goes at the return (CheckInItem,
DeleteItem).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from protocols.sip2 import CheckinResponse, CheckoutResponse, PatronInformationResponse
from tests.helpers.kiosk import Kiosk, checkin, checkout, information

if TYPE_CHECKING:
    from gateway.demo.network import Demo

ALPHA_PATRON = "21001000000001"
GAMMA_PATRON = "21003000000001"
BETA_ITEM = "31002000000001"
ALPHA_ITEM = "31001000000002"
TIMEOUT = 20


async def test_a_patron_of_an_ncip_library_borrows_elsewhere_and_returns(ncip_demo: Demo) -> None:
    alpha = ncip_demo.simulators["alpha"].library
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(ncip_demo, "beta-kiosk")
        info = await kiosk.expect(information(ALPHA_PATRON), PatronInformationResponse)
        wrong = await kiosk.expect(information(ALPHA_PATRON, pin="0000"), PatronInformationResponse)
        lent = await kiosk.expect(checkout(ALPHA_PATRON, BETA_ITEM), CheckoutResponse)
        temporary = alpha.items.get(f"beta-{BETA_ITEM}")
        back = await kiosk.expect(checkin(BETA_ITEM), CheckinResponse)
    assert info.valid_patron
    assert info.valid_patron_password
    assert info.personal_name
    assert wrong.valid_patron_password is False
    assert lent.ok, lent.screen_messages
    assert temporary is not None  # the loan showed in the patron's account at home
    assert back.ok
    assert f"beta-{BETA_ITEM}" not in alpha.items  # and went at the return
    assert await ncip_demo.gateway.services.store.active_loan("beta", BETA_ITEM) is None


async def test_an_ncip_library_lends_to_a_visitor(ncip_demo: Demo) -> None:
    alpha = ncip_demo.simulators["alpha"].library
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(ncip_demo, "gamma-desk")
        lent = await kiosk.expect(checkout(GAMMA_PATRON, ALPHA_ITEM), CheckoutResponse)
        holder = alpha.items[ALPHA_ITEM].holder
        back = await kiosk.expect(checkin(ALPHA_ITEM), CheckinResponse)
    assert lent.ok, lent.screen_messages
    assert holder == "ILL-gamma"
    assert back.ok
    assert alpha.items[ALPHA_ITEM].holder is None
    assert any("Return to Alpha" in line for line in back.screen_messages)


async def test_an_unreachable_ncip_home_is_a_clear_refusal(ncip_demo: Demo) -> None:
    ncip_demo.stop_ils("alpha")
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(ncip_demo, "beta-kiosk")
        lent = await kiosk.expect(checkout(ALPHA_PATRON, BETA_ITEM), CheckoutResponse)
    assert not lent.ok
    assert any("cannot be reached" in line for line in lent.screen_messages)
