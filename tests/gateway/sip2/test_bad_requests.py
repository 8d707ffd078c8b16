"""A kiosk's or a peer's bad input is their error: it gets a clear answer and never
counts against a member's ILS (over real loopback sockets, the demo network).

The demo data (DESIGN.md): alpha patrons 21001…, beta items 31002…, PIN 1234; the
members' ILSs take fields of at most 255 characters (the SIP2 default), so a 300-
character barcode cannot be put to them.  Each test compares the member's breaker and
its count of failures before and after: a probe at start-up may already have failed
on a loaded machine, and that is not what these tests are about.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

import httpx
import trio

from gateway.network.discovery import discover
from gateway.runtime.directory import MemberDirectory
from protocols.ncip import CheckOutItem, Header, LookupUser, Patron, Reply, read_reply
from protocols.ncip import Request as NcipRequest
from protocols.ncip import write_request as write_ncip
from protocols.sip2 import (
    CheckoutResponse,
    Dialect,
    LoginRequest,
    LoginResponse,
    PatronStatus,
    PatronStatusResponse,
    ScConnection,
    checksum,
)
from tests.helpers.kiosk import Kiosk, checkout, status

if TYPE_CHECKING:
    from gateway.demo.network import Demo

ALPHA_PATRON = "21001000000001"
TOO_LONG_PATRON = "21001" + "0" * 295  # alpha's by its prefix, 300 characters
TOO_LONG_ITEM = "31002" + "0" * 295  # beta's by its prefix
AS_BETA = Header(from_agency="rs-beta", to_agency="interlend")
BAD_REQUESTS = 20
TIMEOUT = 20


async def admin_json(demo: Demo, path: str) -> dict[str, object]:
    """GET an admin API path and return its JSON object."""
    assert demo.bound.admin is not None
    async with httpx.AsyncClient(timeout=5) as client:
        answer = await client.get(f"{demo.bound.admin.rstrip('/')}{path}")
    found: dict[str, object] = answer.json()
    return found


def endpoint(demo: Demo, member: str) -> dict[str, object]:
    """The member's only endpoint as ``/api/members`` shows it (its client's figures)."""
    supervised = demo.gateway.services.members[member].supervised
    assert supervised is not None
    endpoints = supervised.statistics()["endpoints"]
    assert isinstance(endpoints, list)
    [first] = endpoints
    assert isinstance(first, dict)
    return first


async def unlimited_kiosk(demo: Demo, login: str) -> Kiosk:
    """A kiosk whose own codec writes fields of any length (a hostile one), logged in."""
    kiosk = await Kiosk.connect(demo)
    kiosk.conn = ScConnection(Dialect(max_field_length=None))
    answer = await kiosk.request(LoginRequest(login_user_id=login, login_password="demo"))
    assert isinstance(answer, LoginResponse)
    assert answer.ok
    return kiosk


async def ncip(demo: Demo, request: NcipRequest) -> Reply:
    """Post an NCIP request as rs-beta and read the answer."""
    assert demo.bound.ncip is not None
    headers = {
        "Content-Type": "application/xml; charset=utf-8",
        "X-API-Key": os.environ["INTERLEND_DEMO_NCIP_KEY"],
    }
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.post(demo.bound.ncip, content=write_ncip(request), headers=headers)
    assert answer.status_code == 200
    return read_reply(answer.content)


async def test_an_unknown_command_gets_96(demo: Demo) -> None:
    """A 2-character command SIP2 does not define is answered with 96 (with or without
    error detection), and the kiosk's next request is served as usual."""
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "alpha-kiosk")
        assert await kiosk.raw(b"XS0\r") == b"96\r"
        body = b"ZZ0000AY5AZ"
        assert await kiosk.raw(body + checksum(body) + b"\r") == b"96AZFEF6\r"
        answer = await kiosk.expect(status(ALPHA_PATRON), PatronStatusResponse)
    assert answer.valid_patron


async def test_a_value_too_long_for_the_ils_is_refused_and_never_trips_its_breaker(
    demo: Demo,
) -> None:
    """Twenty patron lookups with a 300-character AA each get a refusal naming the
    problem (logged as refused, not as an unreachable library) and never reach the
    ILS; alpha's breaker stays closed and an honest request is served."""
    with trio.fail_after(TIMEOUT):
        before = endpoint(demo, "alpha")
        kiosk = await unlimited_kiosk(demo, "alpha-kiosk")
        refused = [
            await kiosk.expect(status(TOO_LONG_PATRON), PatronStatusResponse)
            for _ in range(BAD_REQUESTS)
        ]
        members = await admin_json(demo, "/api/members")
        honest = await kiosk.expect(status(ALPHA_PATRON), PatronStatusResponse)
        assert demo.bound.admin is not None
        async with httpx.AsyncClient(timeout=5) as client:
            metrics = (await client.get(f"{demo.bound.admin.rstrip('/')}/metrics")).text
    for answer in refused:
        assert answer.patron_status & PatronStatus.CHARGE_PRIVILEGES_DENIED
        assert "cannot take this request" in " ".join(answer.screen_messages)
        assert "cannot be reached" not in " ".join(answer.screen_messages)
    alpha = members["alpha"]
    assert isinstance(alpha, dict)
    [shown] = alpha["endpoints"]
    assert shown["state"] == "closed"
    assert shown["failures"] == before["failures"]
    assert honest.valid_patron
    assert demo.simulators["alpha"].executed.count("23") == 1  # the honest one only
    assert (
        'interlend_sip2_requests_total{code="23",result="refused",route="local"} '
        f"{float(BAD_REQUESTS)}" in metrics
    )


async def test_discovery_never_asks_an_ils_about_an_id_it_cannot_carry(demo: Demo) -> None:
    """A live lookup of an item id with the field delimiter in it is not sent to the
    owner's ILS and does not make the owner unreachable or open its breaker."""
    directory = MemberDirectory(*demo.gateway.current())
    holdings = demo.gateway.services.holdings
    with trio.fail_after(TIMEOUT):
        before = endpoint(demo, "alpha")
        answers = [await discover(directory, holdings, item="31001000000001|AF") for _ in range(10)]
    for answer in answers:
        assert answer.unreachable == ()
        assert answer.partial is False
    after = endpoint(demo, "alpha")
    assert after["state"] == "closed"
    assert after["failures"] == before["failures"]
    assert demo.simulators["alpha"].executed.count("17") == 0


async def test_an_ncip_lookup_with_an_id_the_ils_cannot_carry_is_no_processing_failure(
    demo: Demo,
) -> None:
    """LookupUser of an id too long for alpha's ILS is the peer's error (Element Rule
    Violated, one of LookupUser's own Problems), not a Temporary Processing Failure
    telling the peer to retry."""
    with trio.fail_after(TIMEOUT):
        before = endpoint(demo, "alpha")
        answer = await ncip(demo, LookupUser(AS_BETA, Patron(TOO_LONG_PATRON)))
    assert answer.has_problem("Element Rule Violated")
    assert not answer.has_problem("Temporary Processing Failure")
    assert endpoint(demo, "alpha")["failures"] == before["failures"]


async def test_an_ill_checkout_the_owner_cannot_be_asked_about_is_the_peers_error(
    demo: Demo,
) -> None:
    """An ILL CheckOutItem of an item id too long for beta's ILS gets a Problem that
    is the peer's (Element Rule Violated), sends no checkout and leaves beta's breaker
    alone."""
    with trio.fail_after(TIMEOUT):
        before = endpoint(demo, "beta")
        answer = await ncip(
            demo, CheckOutItem(AS_BETA, Patron("ILL-gamma"), TOO_LONG_ITEM, "req-long")
        )
    assert answer.has_problem("Element Rule Violated")
    assert demo.simulators["beta"].executed.count("11") == 0
    after = endpoint(demo, "beta")
    assert after["state"] == "closed"
    assert after["failures"] == before["failures"]


async def test_a_request_the_ils_cannot_read_is_refused_and_never_trips_its_breaker(
    demo: Demo,
) -> None:
    """Checkouts with a blank due date pass the gateway (it reads SIP2 leniently) but
    alpha's strict ILS answers each sending with 96: the kiosk is refused, alpha's
    breaker stays closed with no failure counted, and another kiosk's request is served
    (before, the fourth 96 marked the endpoint failed and alpha unreachable for all)."""
    blank_due = dataclasses.replace(checkout(ALPHA_PATRON, "31001000000003"), nb_due_date=None)
    with trio.fail_after(TIMEOUT):
        before = endpoint(demo, "alpha")
        kiosk = await Kiosk.logged_in(demo, "alpha-kiosk")
        refused = [await kiosk.expect(blank_due, CheckoutResponse) for _ in range(5)]
        members = await admin_json(demo, "/api/members")
        other = await Kiosk.logged_in(demo, "alpha-kiosk")
        honest = await other.expect(status(ALPHA_PATRON), PatronStatusResponse)
    for answer in refused:
        assert not answer.ok
        assert "cannot be reached" not in " ".join(answer.screen_messages)
    alpha = members["alpha"]
    assert isinstance(alpha, dict)
    [shown] = alpha["endpoints"]
    assert shown["state"] == "closed"
    assert shown["failures"] <= before["failures"]  # none added (a success resets them)
    assert honest.valid_patron
