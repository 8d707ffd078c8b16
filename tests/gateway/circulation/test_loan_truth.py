"""What the registry records matches what happened at the owner, over real sockets:
the consortium's loan period, and a checkout cut short at shutdown."""

from __future__ import annotations

import os
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

import httpx
import trio
import trio.testing
from structlog.testing import capture_logs

from gateway.runtime.clock import utc_now
from protocols.ncip import CheckOutItem, Header, Patron, read_reply, write_request
from protocols.sip2 import CheckoutResponse, RenewResponse
from tests.helpers.arrivals import Arrivals, held
from tests.helpers.demo import circulation_demo, running_demo
from tests.helpers.kiosk import Kiosk, checkout, renew

if TYPE_CHECKING:
    from config.models import Config
    from gateway.demo.network import Demo

ALPHA_PATRON = "21001000000001"
BETA_ITEM = "31002000000001"
TIMEOUT = 20


def _due_date(config: Config, mode: str) -> Config:
    config = circulation_demo(config)
    node = config.nodes["demo"]
    dialect = node.ils.dialect.model_copy(update={"due_date": mode})
    ils = node.ils.model_copy(update={"dialect": dialect})
    nodes = {**config.nodes, "demo": node.model_copy(update={"ils": ils})}
    return config.model_copy(update={"nodes": nodes})


async def _lend(running: Demo) -> tuple[CheckoutResponse, RenewResponse]:
    kiosk = await Kiosk.logged_in(running, "beta-kiosk")
    lent = await kiosk.expect(checkout(ALPHA_PATRON, BETA_ITEM), CheckoutResponse)
    renewed = await kiosk.expect(renew(ALPHA_PATRON, BETA_ITEM), RenewResponse)
    return lent, renewed


async def test_the_consortiums_loan_period_reaches_a_sip2_owner() -> None:
    """Beta lends to visitors for 14 days (its ILS's own period is 21): with
    ``due_date = "no-block"`` the checkout and the renewal carry the consortium's date,
    the ILS applies it, and the registry records it."""
    with trio.fail_after(TIMEOUT):
        async with running_demo(partial(_due_date, mode="no-block")) as running:
            lent, renewed = await _lend(running)
            loan = await running.gateway.services.store.active_loan("beta", BETA_ITEM)
            item = running.simulators["beta"].library.items[BETA_ITEM]
    assert lent.ok is True
    assert renewed.ok is True
    assert loan is not None
    assert item.due is not None
    expected = (loan.checked_out + timedelta(days=14)).date()
    assert item.due.date() == expected
    assert loan.due.date() == expected


async def test_an_ils_that_keeps_its_own_period_is_recorded_as_it_is() -> None:
    """With ``due_date = "ils"`` the owner applies its own 21 days: the kiosk hears that
    date, the registry records it, and the log says it differs from the policy's."""
    with trio.fail_after(TIMEOUT), capture_logs() as logs:
        async with running_demo(partial(_due_date, mode="ils")) as running:
            kiosk = await Kiosk.logged_in(running, "beta-kiosk")
            lent = await kiosk.expect(checkout(ALPHA_PATRON, BETA_ITEM), CheckoutResponse)
            loan = await running.gateway.services.store.active_loan("beta", BETA_ITEM)
            item = running.simulators["beta"].library.items[BETA_ITEM]
    assert lent.ok is True
    assert loan is not None
    assert item.due is not None
    assert loan.due == item.due
    assert (loan.due.date() - loan.checked_out.date()).days == 21
    assert any(e["event"] == "the owner's ILS set its own due date" for e in logs)


def _short_drain(config: Config) -> Config:
    config = circulation_demo(config)
    gateway = config.gateway.model_copy(update={"drain_grace_s": 0.2})
    return config.model_copy(update={"gateway": gateway})


async def test_a_checkout_cut_short_by_shutdown_is_kept_as_unconfirmed() -> None:
    """The gateway drains while the owner is answering a reciprocal checkout: the slot
    stays held (unconfirmed, listed once its hold time is over), the error names the
    item, and the kiosk's disconnection says what was cut short."""
    with trio.fail_after(TIMEOUT), capture_logs() as logs:
        async with running_demo(_short_drain) as running:
            owner = running.simulators["beta"]
            at_owner = Arrivals.at(owner)
            # The owner does not answer before the drain ends.
            with held(owner, codes=("11",)):
                kiosk = await Kiosk.logged_in(running, "beta-kiosk")
                await kiosk.stream.send_all(kiosk.conn.send(checkout(ALPHA_PATRON, BETA_ITEM)))
                await at_owner.wait("11")
                running.gateway.stop()
                assert await kiosk.closed()
            store = running.gateway.services.store
            hold_ttl = running.gateway.rules.settings.state.hold_ttl_s
            later = await store.unconfirmed(now=utc_now() + timedelta(seconds=hold_ttl + 1))
    assert [hold.item for hold in later] == [BETA_ITEM]
    [unknown] = [e for e in logs if e["event"].startswith("checkout outcome unknown")]
    assert unknown["why"] == "cancelled by the gateway"
    assert unknown["item"] == BETA_ITEM
    [gone] = [e for e in logs if e["event"] == "kiosk disconnected"]
    assert gone["why"] == "cut short by the gateway while serving 11"


async def test_an_ncip_message_in_flight_is_finished_at_shutdown() -> None:
    """SIGTERM's drain covers the NCIP port: a CheckOutItem waiting for a slow owner
    when the gateway stops is carried out and answered, not cut off."""
    header = Header(from_agency="rs-beta", to_agency="interlend")
    body = write_request(CheckOutItem(header, Patron(ALPHA_PATRON, pin="1234"), BETA_ITEM))
    with trio.fail_after(TIMEOUT):
        async with running_demo() as running, trio.open_nursery() as nursery:
            owner = running.simulators["beta"]
            at_owner = Arrivals.at(owner)
            answers: list[httpx.Response] = []

            async def post() -> None:
                async with httpx.AsyncClient() as client:
                    url = running.bound.ncip
                    assert url is not None
                    answers.append(
                        await client.post(
                            url,
                            content=body,
                            headers={"X-API-Key": os.environ["INTERLEND_DEMO_NCIP_KEY"]},
                            timeout=10,
                        )
                    )

            with held(owner, codes=("11",)) as gate:
                nursery.start_soon(post)
                await at_owner.wait("11")
                running.gateway.stop()
                # Whatever the stop does before the owner answers, it has done now.
                await trio.testing.wait_all_tasks_blocked()
                gate.release()
    [answer] = answers
    assert answer.status_code == 200
    reply = read_reply(answer.content)
    assert reply.ok, answer.text
