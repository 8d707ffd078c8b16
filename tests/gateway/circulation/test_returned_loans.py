"""A loan that was returned is not replayed: the kiosk's checkout after the checkin
lends again, even when it carries the same transaction date (the idempotency key's
date), over real sockets through the demo network."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from adapters.state.base import LoanState
from protocols.sip2 import CheckinResponse, CheckoutResponse
from tests.helpers.kiosk import NOW, Kiosk, checkin, checkout

if TYPE_CHECKING:
    from gateway.demo.network import Demo

ALPHA_PATRON = "21001000000001"
BETA_ITEM = "31002000000001"
TIMEOUT = 10


async def test_a_checkout_after_the_checkin_with_the_same_date_lends_again(demo: Demo) -> None:
    """Checkout, checkin, checkout again with the same transaction date: the owner's ILS
    lends the item again (it shows on loan there) and the kiosk is told it is lent, not
    that it is already on loan; the registry holds a returned loan and a new active one."""
    beta_ils = demo.simulators["beta"].library
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
        first = await kiosk.expect(checkout(ALPHA_PATRON, BETA_ITEM, when=NOW), CheckoutResponse)
        assert first.ok
        back = await kiosk.expect(checkin(BETA_ITEM), CheckinResponse)
        assert back.ok
        assert beta_ils.items[BETA_ITEM].holder is None
        again = await kiosk.expect(checkout(ALPHA_PATRON, BETA_ITEM, when=NOW), CheckoutResponse)
    assert again.ok
    assert not any("Already on loan" in line for line in again.screen_messages)
    assert any("Lent by Beta" in line for line in again.screen_messages)
    assert beta_ils.items[BETA_ITEM].holder == "ILL-alpha"
    assert demo.simulators["beta"].executed.count("11") == 2
    newest, oldest = await demo.gateway.services.store.recent_loans(10)
    assert (newest.state, oldest.state) == (LoanState.ACTIVE, LoanState.RETURNED)
    assert newest.loan_id != oldest.loan_id
