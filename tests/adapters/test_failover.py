"""A member with two endpoints, one of them failing: a request is sent once more to the
other endpoint when that is safe, never when a checkout's outcome at the first ILS is
unknown (SIP2; and NCIP, whose client tries each endpoint once).  Against simulated
ILSs (and rogue ones) over loopback sockets; each request is paced by awaiting its
answer, and time is only bounded, never measured."""

from __future__ import annotations

import pytest
import trio

from adapters.errors import IlsTimeout, IlsUnavailable
from tests.helpers.services import dead_port

from .endpoints import (
    ITEM,
    LIMIT_S,
    PATRON,
    breaker_state,
    endpoint_stats,
    ncip_member,
    ncip_sim,
    rogue_ils,
    rogue_ncip,
    sip2_member,
    sip2_sim,
)

PACED = 30
ITEMS = [f"31001{n:09d}" for n in range(1, 11)]


async def test_with_one_endpoint_dead_every_paced_request_is_answered() -> None:
    """30 requests one after the other (patron lookups, checkouts and checkins), with
    the first endpoint's port closed: every one is answered by the live endpoint,
    checkouts included, since none of them ever reached the dead one."""
    dead = f"127.0.0.1:{dead_port()}"
    with trio.fail_after(LIMIT_S):
        async with sip2_sim() as live, sip2_member(dead, live.endpoint) as ils:
            for item in ITEMS:
                assert (await ils.patron_status(PATRON, "1234", timeout=2.0)).found
                assert (await ils.checkout(PATRON, item, due=None, timeout=2.0)).ok
                assert (await ils.checkin(item, "desk", timeout=2.0)).ok
            assert breaker_state(ils, 1) == "closed"
            assert endpoint_stats(ils, 0)["failures"] != 0  # it was tried, and failed
    assert [live.count(code) for code in ("23", "11", "09")] == [10, 10, 10]
    assert all(live.ils.library.items[item].holder is None for item in ITEMS)


async def test_a_refused_login_sends_the_checkout_to_the_other_endpoint() -> None:
    """An endpoint that refuses the gateway's login never saw the checkout: it is sent
    to the other endpoint, once."""
    with trio.fail_after(LIMIT_S):
        async with (
            sip2_sim(password="another") as refusing,
            sip2_sim() as live,
            sip2_member(refusing.endpoint, live.endpoint) as ils,
        ):
            lent = await ils.checkout(PATRON, ITEM, due=None, timeout=2.0)
    assert lent.ok
    assert refusing.count("11") == 0
    assert live.count("11") == 1


async def test_a_lookup_whose_answer_was_lost_is_asked_again_elsewhere() -> None:
    """The first endpoint takes a patron lookup and hangs up: a lookup changes nothing,
    so the other endpoint is asked and answers."""
    with trio.fail_after(LIMIT_S):
        async with (
            rogue_ils(hang_up=True) as rogue,
            sip2_sim() as live,
            sip2_member(rogue.endpoint, live.endpoint) as ils,
        ):
            record = await ils.patron_status(PATRON, "1234", timeout=2.0)
    assert record.found
    assert rogue.received == ["23"]
    assert live.count("23") == 1


async def test_a_checkout_whose_endpoint_hung_up_after_it_was_sent_is_not_sent_again() -> None:
    """The first endpoint takes the checkout and hangs up: whether the item was lent
    there is unknown, so the checkout fails and the other endpoint never sees it,
    though time was left to ask it."""
    with trio.fail_after(LIMIT_S):
        async with (
            rogue_ils(hang_up=True) as rogue,
            sip2_sim() as live,
            sip2_member(rogue.endpoint, live.endpoint) as ils,
        ):
            with pytest.raises(IlsUnavailable, match="closed the connection"):
                await ils.checkout(PATRON, ITEM, due=None, timeout=5.0)
    assert rogue.received == ["11"]
    assert live.count("11") == 0
    assert live.ils.library.items[ITEM].holder is None


async def test_a_checkout_whose_endpoint_went_quiet_times_out_and_is_not_sent_again() -> None:
    """The first endpoint takes the checkout and never answers: the caller's budget
    runs out (``IlsTimeout``), and the other endpoint never sees the checkout."""
    with trio.fail_after(LIMIT_S):
        async with (
            rogue_ils(hang_up=False) as rogue,
            sip2_sim() as live,
            sip2_member(rogue.endpoint, live.endpoint) as ils,
        ):
            with pytest.raises(IlsTimeout):
                await ils.checkout(PATRON, ITEM, due=None, timeout=0.5)
            assert endpoint_stats(ils, 0)["outstanding"] == 0
    assert rogue.received == ["11"]
    assert live.count("11") == 0


async def test_ncip_a_lookup_is_asked_again_but_a_checkout_is_not() -> None:
    """The first NCIP endpoint reads each request and hangs up: LookupItem is sent to
    the other endpoint and answered; CheckOutItem fails, and the other never sees it."""
    with trio.fail_after(LIMIT_S):
        async with rogue_ncip() as rogue, ncip_sim() as live:
            async with ncip_member(rogue.endpoint, live.endpoint) as ils:
                assert (await ils.item_information(ITEM, timeout=2.0)).found
            async with ncip_member(rogue.endpoint, live.endpoint) as ils:
                with pytest.raises(IlsUnavailable):
                    await ils.checkout(PATRON, ITEM, due=None, timeout=2.0)
    assert rogue.received == ["LookupItem", "CheckOutItem"]
    assert live.count("LookupItem") == 1
    assert live.count("CheckOutItem") == 0
