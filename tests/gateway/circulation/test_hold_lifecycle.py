"""Title holds followed through the real flows to filled, withdrawn or expired, against
the simulated member ILSs (expiry checked at a later ``now``, the clock the check
takes)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import trio

from gateway.circulation.holdwatch import HOLD_LIFETIME, HoldCheck, check_title_holds
from gateway.runtime.clock import utc_now
from protocols.sip2 import CheckoutResponse, HoldResponse
from tests.helpers.kiosk import Kiosk, checkout
from tests.helpers.polling import eventually

from .test_title_holds import ALPHA_PATRON, title_hold

if TYPE_CHECKING:
    from pathlib import Path

    from gateway.demo.network import Demo
    from gateway.network.selection import MemberStats

EXPORT = (
    "member,item,title,isbn\n"
    "beta,31002000000021,Lifecycle One,\n"
    "beta,31002000000022,Lifecycle Two,\n"
    "beta,31002000000023,Lifecycle Three,\n"
    "beta,31002000000024,Lifecycle Four,\n"
)


async def beta_stats(demo: Demo) -> tuple[MemberStats, MemberStats]:
    """Beta's and alpha's lending counters now."""
    counters = demo.gateway.services.counters.counters
    reading = await counters.read(["alpha", "beta"], now=utc_now().timestamp() + 1)
    return reading.stats["beta"], reading.stats["alpha"]


async def test_title_holds_end_filled_withdrawn_or_expired(demo: Demo, tmp_path: Path) -> None:
    """Four holds of alpha's patron, each at beta for alpha's proxy account:

    * the first copy is then lent to alpha's patron: the outbox's consumer closes the
      hold as filled (beta filled it; the request was counted once, at placing);
    * beta's staff cancel the second at their ILS: the check finds it withdrawn;
    * beta's desk lends the fourth to alpha's account at its own ILS (through beta's
      kiosk, passed through to beta): the check finds it filled;
    * the third is left: the check a lifetime later finds it expired and cancels it
      at beta.

    Each end is counted once; beta has no assignment left open; the unfilled ends are
    in the refusal history, for the fill rate."""
    export = tmp_path / "holdings.csv"
    export.write_text(EXPORT, encoding="utf-8")
    demo.gateway.services.holdings.load_csv(export)
    store = demo.gateway.services.store
    beta_ils = demo.simulators["beta"].library
    with trio.fail_after(15):
        kiosk = await Kiosk.logged_in(demo, "alpha-kiosk")
        for title in ("Lifecycle One", "Lifecycle Two", "Lifecycle Three", "Lifecycle Four"):
            placed = await kiosk.expect(title_hold(title), HoldResponse)
            assert placed.ok, placed.screen_messages
        opened = await store.title_holds_open()
        assert sorted((h.lender, h.item, h.account) for h in opened) == [
            ("beta", f"310020000000{n}", "ILL-alpha") for n in (21, 22, 23, 24)
        ]
        beta, alpha = await beta_stats(demo)
        assert (beta.open_assigned, alpha.active_borrows) == (4, 4)

        desk = await Kiosk.logged_in(demo, "beta-kiosk")
        lent = await desk.expect(checkout(ALPHA_PATRON, "31002000000021"), CheckoutResponse)
        assert lent.ok, lent.screen_messages

        async def filled() -> bool:
            return len(await store.title_holds_open()) == 3

        await eventually(filled, what="the outbox's consumer to fill the first hold")
        beta, alpha = await beta_stats(demo)
        assert (beta.open_assigned, beta.lifetime_lends, alpha.active_borrows) == (3, 1, 4)

        beta_ils.items["31002000000022"].holds.remove("ILL-alpha")  # beta's staff cancel it
        at_desk = await desk.expect(checkout("ILL-alpha", "31002000000024", None), CheckoutResponse)
        assert at_desk.ok, at_desk.screen_messages
        now = utc_now()
        first = await check_title_holds(demo.gateway.rules, demo.gateway.services, now=now)
        later = now + HOLD_LIFETIME + timedelta(minutes=1)
        second = await check_title_holds(demo.gateway.rules, demo.gateway.services, now=later)
        third = await check_title_holds(demo.gateway.rules, demo.gateway.services, now=later)
        ended = await store.refusals_between(now - timedelta(days=1), later + timedelta(days=1))
        closed = await store.title_holds_closed_between(
            now - timedelta(days=1), later + timedelta(days=1)
        )
        beta, alpha = await beta_stats(demo)
    assert first == HoldCheck(still_open=1, filled=1, withdrawn=1)
    assert second == HoldCheck(expired=1)
    assert third == HoldCheck()
    assert await store.title_holds_open() == []
    assert sorted((c.hold.item, c.outcome) for c in closed) == [
        ("31002000000021", "filled"),
        ("31002000000022", "withdrawn"),
        ("31002000000023", "expired"),
        ("31002000000024", "filled"),
    ]
    assert "ILL-alpha" not in beta_ils.items["31002000000023"].holds
    assert [(r.flow, r.code, r.home, r.owner) for r in ended] == [
        ("hold", "hold-withdrawn", "alpha", "beta"),
        ("hold", "hold-expired", "alpha", "beta"),
    ]
    # Left in progress: the gateway's own loan of the first copy (the desk's loan of the
    # fourth is counted returned at once: its return will not be seen).
    assert (beta.open_assigned, beta.lifetime_lends, alpha.active_borrows) == (0, 2, 1)
    assert beta.active_lends == 1
