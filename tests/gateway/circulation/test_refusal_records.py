"""The flows record their refusals in the registry's refusal history, with the typed
code, the requesting library and the library asked (never the patron)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import trio

from gateway.circulation.outcomes import RefusalCode
from protocols.sip2 import CheckoutResponse, HoldResponse
from tests.helpers.kiosk import Kiosk, checkout

from .test_title_holds import title_hold

if TYPE_CHECKING:
    from gateway.demo.network import Demo

BLOCKED_ALPHA_PATRON = "21001000000099"


async def test_refused_checkouts_and_holds_are_recorded(demo: Demo) -> None:
    """A blocked alpha patron refused a beta item at beta's kiosk, and a title no
    library holds: two records, each with its code; a local checkout's refusal (alpha's
    patron at alpha, the ILS's business) is not one between libraries, and is not kept."""
    with trio.fail_after(10):
        beta = await Kiosk.logged_in(demo, "beta-kiosk")
        refused = await beta.expect(
            checkout(BLOCKED_ALPHA_PATRON, "31002000000003"), CheckoutResponse
        )
        alpha = await Kiosk.logged_in(demo, "alpha-kiosk")
        hold = await alpha.expect(title_hold("A Title Nobody Has"), HoldResponse)
        local = await alpha.expect(
            checkout(BLOCKED_ALPHA_PATRON, "31001000000003"), CheckoutResponse
        )
    assert not refused.ok
    assert not hold.ok
    assert not local.ok
    now = datetime.now(UTC)
    store = demo.gateway.services.store
    kept = await store.refusals_between(now - timedelta(days=1), now + timedelta(days=1))
    assert [(r.flow, r.home, r.owner) for r in kept] == [
        ("checkout", "alpha", "beta"),
        ("hold", "alpha", None),
    ]
    assert kept[0].code in {RefusalCode.BLOCKED_AT_HOME.value, RefusalCode.FINES.value}
    assert kept[1].code == RefusalCode.NO_LENDER.value
