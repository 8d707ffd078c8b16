"""Retention commitments through the real flows: kiosks (SIP2) and a resource-sharing
system (NCIP) in front of the simulated ILSs.

The demo is rearranged so that beta and gamma form a hybrid ``core`` inside the demo
consortium, which declares gamma's items 31003000000030…39 a jointly owned shared-print
collection under a last-copy commitment: beta's patrons (inside ``core``) may borrow
them, alpha's (beyond it) may not, neither at a kiosk nor through NCIP, while gamma's
other items still go to alpha.  Gamma's ILS is reached over NCIP, so it keeps item
records: a last copy's record cannot be deleted (withdrawn), another item's can.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from protocols.ncip import CheckOutItem, DeleteItem, Header, Patron
from protocols.sip2 import CheckoutResponse, HoldMode, HoldRequest, HoldResponse
from tests.helpers.demo import circulation_demo, running_demo
from tests.helpers.kiosk import NOW, Kiosk, checkout
from tests.helpers.ncip import reply

if TYPE_CHECKING:
    from pathlib import Path

    from config.models import Config

ALPHA_PATRON = "21001000000001"
BETA_PATRON = "21002000000001"
LAST_COPY = "31003000000031"
OTHER_LAST_COPY = "31003000000032"
THIRD_LAST_COPY = "31003000000033"
ORDINARY = "31003000000001"
AS_GAMMA = Header(from_agency="rs-gamma", to_agency="interlend")
AS_ALPHA = Header(from_agency="rs-alpha", to_agency="interlend")
TIMEOUT = 10


def with_core_collection(config: Config) -> Config:
    """beta and gamma in a hybrid ``core`` that keeps a last-copy collection at gamma."""
    data = circulation_demo(config).model_dump(exclude_unset=True)
    # The demo's own shared print (the same items, kept by the whole demo) gives way.
    del data["nodes"]["demo"]["collections"]
    data["nodes"]["core"] = {
        "kind": "hybrid",
        "name": "Core Libraries",
        "memberships": [{"parent": "demo"}],
        "collections": {
            "print": {
                "name": "Shared print repository",
                "held_by": "gamma",
                "items": ["3100300000003*"],
                "owners": {"beta": "0.5", "gamma": "0.5"},
                "retention": "last-copy",
            }
        },
    }
    for member in ("beta", "gamma"):
        data["nodes"][member]["memberships"] = [{"parent": "core"}]
    return type(config).model_validate(data)


async def test_a_last_copy_is_lent_inside_its_consortium_only() -> None:
    async with running_demo(with_core_collection, ncip_members=("gamma",)) as demo:
        with trio.fail_after(TIMEOUT):
            alpha_kiosk = await Kiosk.logged_in(demo, "alpha-kiosk")
            kept = await alpha_kiosk.expect(checkout(ALPHA_PATRON, LAST_COPY), CheckoutResponse)
            ordinary = await alpha_kiosk.expect(checkout(ALPHA_PATRON, ORDINARY), CheckoutResponse)
            beta_kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
            inside = await beta_kiosk.expect(checkout(BETA_PATRON, LAST_COPY), CheckoutResponse)
            # Through NCIP: a visitor's loan, and an inter-library loan to alpha's account.
            visitor = await reply(
                demo, CheckOutItem(AS_ALPHA, Patron(ALPHA_PATRON), OTHER_LAST_COPY, "r-1")
            )
            to_alpha = await reply(
                demo, CheckOutItem(AS_GAMMA, Patron("ILL-alpha"), OTHER_LAST_COPY, "r-2")
            )
            # Withdrawing: gamma's ILS keeps item records (NCIP), but not for a last copy.
            withdrawn = await reply(demo, DeleteItem(AS_GAMMA, OTHER_LAST_COPY))
            ordinary_gone = await reply(demo, DeleteItem(AS_GAMMA, "31003000000002"))
    assert not kept.ok
    assert any("last copy kept by Core Libraries" in line for line in kept.screen_messages)
    assert ordinary.ok
    assert inside.ok
    assert visitor.has_problem("Item Does Not Circulate")
    assert to_alpha.has_problem("Item Does Not Circulate")
    assert withdrawn.has_problem("Item Does Not Circulate")
    assert any("cannot be withdrawn" in p.detail for p in withdrawn.problems if p.detail)
    assert ordinary_gone.ok
    gamma = demo.simulators["gamma"].library.items
    assert gamma[LAST_COPY].holder == "ILL-beta"
    assert gamma[OTHER_LAST_COPY].holder is None
    assert "31003000000002" not in gamma


def title_hold(title: str, patron: str) -> HoldRequest:
    """A kiosk's hold by title (no item) for ``patron``."""
    return HoldRequest(
        hold_mode=HoldMode.ADD,
        transaction_date=NOW,
        patron_identifier=patron,
        patron_password="1234",
        title_identifier=title,
    )


async def test_a_title_hold_never_sends_a_last_copy_beyond_its_consortium(
    tmp_path: Path,
) -> None:
    """A hold by title makes the lender send the copy to the patron's library: a last
    copy is asked for beta's patrons (inside ``core``), never for alpha's, who are told
    why."""
    export = tmp_path / "holdings.csv"
    export.write_text(
        f"member,item,title,isbn\ngamma,{THIRD_LAST_COPY},Gamma Book 33,\n", encoding="utf-8"
    )
    async with running_demo(with_core_collection, ncip_members=("gamma",)) as demo:
        demo.gateway.services.holdings.load_csv(export)
        with trio.fail_after(TIMEOUT):
            alpha_kiosk = await Kiosk.logged_in(demo, "alpha-kiosk")
            kept = await alpha_kiosk.expect(title_hold("Gamma Book 33", ALPHA_PATRON), HoldResponse)
            held_for_alpha = list(demo.simulators["gamma"].library.items[THIRD_LAST_COPY].holds)
            beta_kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
            inside = await beta_kiosk.expect(title_hold("Gamma Book 33", BETA_PATRON), HoldResponse)
    assert not kept.ok
    assert any("last copy kept by Core Libraries" in line for line in kept.screen_messages)
    assert held_for_alpha == []
    assert inside.ok, inside.screen_messages
