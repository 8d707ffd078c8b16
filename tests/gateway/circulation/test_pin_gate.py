"""The PIN gate over real sockets: wrong PINs are counted whichever message carries
them, a locked-out patron is refused whatever is sent, and 63 lists loans only to the
patron or a staff desk (demo data: alpha patrons 21001…, PIN 1234; ``pin_attempts`` 5).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from gateway.circulation.patrons import TOO_MANY_PINS, WRONG_PIN
from protocols.ncip import Header, LookupUser, Patron
from protocols.sip2 import (
    CheckoutResponse,
    HoldMode,
    HoldRequest,
    HoldResponse,
    PatronInformationResponse,
    PatronStatusResponse,
    RenewAllRequest,
    RenewAllResponse,
)
from tests.helpers.kiosk import NOW, Kiosk, checkout, information, status
from tests.helpers.ncip import ask

if TYPE_CHECKING:
    from gateway.demo.network import Demo

ALPHA_PATRON = "21001000000001"
ALPHA_ITEM = "31001000000001"
OTHER_ALPHA_ITEM = "31001000000002"
BETA_ITEM = "31002000000001"
ATTEMPTS = 5
TIMEOUT = 20


async def _lock_out(kiosk: Kiosk, patron: str = ALPHA_PATRON) -> None:
    """Use up the patron's wrong PINs with 23s (each answered CQN)."""
    for _ in range(ATTEMPTS):
        answer = await kiosk.expect(status(patron, pin="0000"), PatronStatusResponse)
        assert answer.valid_patron_password is False


async def test_guessing_through_23_locks_the_patron_out(demo: Demo) -> None:
    """After ``pin_attempts`` wrong PINs on 23 the right PIN gets CQN too, and the home
    ILS is no longer asked."""
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "alpha-kiosk")
        await _lock_out(kiosk)
        asked = len(demo.simulators["alpha"].executed)
        answer = await kiosk.expect(status(ALPHA_PATRON), PatronStatusResponse)
    assert answer.valid_patron_password is False
    assert TOO_MANY_PINS in answer.screen_messages
    assert len(demo.simulators["alpha"].executed) == asked


async def test_guessing_through_63_locks_the_patron_out(demo: Demo) -> None:
    """63 counts wrong PINs as 23 does, and a locked patron's 63 lists nothing."""
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
        for _ in range(ATTEMPTS):
            wrong = await kiosk.expect(
                information(ALPHA_PATRON, pin="9999"), PatronInformationResponse
            )
            assert wrong.valid_patron_password is False
        answer = await kiosk.expect(information(ALPHA_PATRON), PatronInformationResponse)
    assert answer.valid_patron_password is False
    assert TOO_MANY_PINS in answer.screen_messages
    assert answer.personal_name == ""


async def test_a_patron_locked_on_11_cannot_confirm_the_pin_on_23(demo: Demo) -> None:
    """Wrong PINs on reciprocal checkouts lock the patron out of 23 as well."""
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
        for _ in range(ATTEMPTS):
            refused = await kiosk.expect(
                checkout(ALPHA_PATRON, BETA_ITEM, pin="0000"), CheckoutResponse
            )
            assert refused.ok is False
        answer = await kiosk.expect(status(ALPHA_PATRON), PatronStatusResponse)
    assert answer.valid_patron_password is False
    assert TOO_MANY_PINS in answer.screen_messages


async def test_a_locked_patron_cannot_borrow_with_an_empty_pin(demo: Demo) -> None:
    """A patron verified earlier on a connection is refused once locked out, even with
    no PIN: the lock-out is not bypassed by a session's earlier confirmation."""
    with trio.fail_after(TIMEOUT):
        desk = await Kiosk.logged_in(demo, "beta-kiosk")
        verified = await desk.expect(status(ALPHA_PATRON), PatronStatusResponse)
        assert verified.valid_patron_password is True
        guesser = await Kiosk.logged_in(demo, "beta-kiosk")
        await _lock_out(guesser)
        answer = await desk.expect(checkout(ALPHA_PATRON, BETA_ITEM, pin=None), CheckoutResponse)
    assert answer.ok is False
    assert TOO_MANY_PINS in answer.screen_messages
    assert "11" not in demo.simulators["beta"].executed


async def test_wrong_pins_on_a_local_checkout_are_counted(demo: Demo) -> None:
    """A local 11 with a PIN (its answer cannot say the PIN was wrong) has the PIN
    checked at home first: wrong ones are refused and counted until the lock-out."""
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "alpha-kiosk")
        for _ in range(ATTEMPTS):
            wrong = await kiosk.expect(
                checkout(ALPHA_PATRON, ALPHA_ITEM, pin="0000"), CheckoutResponse
            )
            assert wrong.ok is False
            assert WRONG_PIN in wrong.screen_messages
        answer = await kiosk.expect(checkout(ALPHA_PATRON, ALPHA_ITEM), CheckoutResponse)
    assert answer.ok is False
    assert TOO_MANY_PINS in answer.screen_messages
    assert "11" not in demo.simulators["alpha"].executed


async def test_a_right_pin_on_a_local_checkout_still_lends(demo: Demo) -> None:
    """The check at home costs one 23 for a PIN not yet confirmed on the connection,
    none once it is."""
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "alpha-kiosk")
        first = await kiosk.expect(checkout(ALPHA_PATRON, ALPHA_ITEM), CheckoutResponse)
        second = await kiosk.expect(checkout(ALPHA_PATRON, OTHER_ALPHA_ITEM), CheckoutResponse)
    assert first.ok is True
    assert second.ok is True
    assert demo.simulators["alpha"].executed[-3:] == ["23", "11", "11"]


async def test_holds_and_renew_all_pass_the_gate(demo: Demo) -> None:
    """15 and 65 with a PIN are refused for a locked patron, without reaching home."""
    hold = HoldRequest(
        hold_mode=HoldMode.ADD,
        transaction_date=NOW,
        patron_identifier=ALPHA_PATRON,
        patron_password="1234",
        item_identifier=ALPHA_ITEM,
    )
    renew_all = RenewAllRequest(
        transaction_date=NOW, patron_identifier=ALPHA_PATRON, patron_password="1234"
    )
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "alpha-kiosk")
        await _lock_out(kiosk)
        asked = len(demo.simulators["alpha"].executed)
        held = await kiosk.expect(hold, HoldResponse)
        renewed = await kiosk.expect(renew_all, RenewAllResponse)
    assert held.ok is False
    assert TOO_MANY_PINS in held.screen_messages
    assert renewed.ok is False
    assert TOO_MANY_PINS in renewed.screen_messages
    assert len(demo.simulators["alpha"].executed) == asked


async def test_a_right_pin_clears_earlier_wrong_ones(demo: Demo) -> None:
    """Four wrong PINs, the right one, then four more wrong ones: not locked out."""
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "alpha-kiosk")
        for _ in range(2):
            for _ in range(ATTEMPTS - 1):
                await kiosk.expect(status(ALPHA_PATRON, pin="0000"), PatronStatusResponse)
            right = await kiosk.expect(status(ALPHA_PATRON), PatronStatusResponse)
            assert right.valid_patron_password is True


async def test_an_ncip_peer_guessing_through_lookup_user_is_locked_out(demo: Demo) -> None:
    """LookupUser with AuthenticationInput counts like a kiosk's 63: after the wrong
    PINs the right one fails too, and the patron's name is not given."""
    header = Header(from_agency="rs-beta", to_agency="interlend")
    with trio.fail_after(TIMEOUT):
        for _ in range(ATTEMPTS):
            wrong = await ask(demo, LookupUser(header, Patron(ALPHA_PATRON, pin="0000")))
            assert b"User Authentication Failed" in wrong.content
        right = await ask(demo, LookupUser(header, Patron(ALPHA_PATRON, pin="1234")))
    assert b"User Authentication Failed" in right.content
    assert b"Alpha Patron" not in right.content


async def test_63_lists_loans_only_with_the_pin(demo: Demo) -> None:
    """A 63 with a wrong PIN or none lists no items and no contact details; with the
    right PIN it lists the patron's loans."""
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "alpha-kiosk")
        lent = await kiosk.expect(checkout(ALPHA_PATRON, ALPHA_ITEM), CheckoutResponse)
        assert lent.ok is True
        other = await Kiosk.logged_in(demo, "alpha-kiosk")
        wrong = await other.expect(information(ALPHA_PATRON, pin="0000"), PatronInformationResponse)
        none = await other.expect(information(ALPHA_PATRON, pin=""), PatronInformationResponse)
        right = await other.expect(information(ALPHA_PATRON), PatronInformationResponse)
    assert wrong.charged_items == ()
    assert none.charged_items == ()
    assert none.home_address is None
    assert none.email_address is None
    assert ALPHA_ITEM in right.charged_items


async def test_a_staff_desk_lists_loans_without_the_pin(demo: Demo) -> None:
    """gamma-desk is configured as a staff desk: its 63 lists a visitor's loans (the
    ones in the registry included) without the PIN."""
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
        lent = await kiosk.expect(checkout(ALPHA_PATRON, BETA_ITEM), CheckoutResponse)
        assert lent.ok is True
        desk = await Kiosk.logged_in(demo, "gamma-desk")
        listed = await desk.expect(information(ALPHA_PATRON, pin=""), PatronInformationResponse)
        other = await Kiosk.logged_in(demo, "beta-kiosk")
        unlisted = await other.expect(information(ALPHA_PATRON, pin=""), PatronInformationResponse)
    assert BETA_ITEM in listed.charged_items
    assert BETA_ITEM not in unlisted.charged_items
