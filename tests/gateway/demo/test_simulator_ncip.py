"""The simulated ILS's NCIP responder: schema-valid answers, catalogue changes, hostile input."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

import httpx
import pytest
import trio

from gateway.demo.simulator.data import packaged_library
from gateway.demo.simulator.engine import SimulatedIls
from gateway.demo.simulator.ncip_server import UNREADABLE, NcipSimulator, serve_simulator_ncip
from protocols.ncip import (
    AcceptItem,
    CancelRequestItem,
    CheckInItem,
    CheckOutItem,
    DeleteItem,
    Header,
    LookupAgency,
    LookupItem,
    LookupUser,
    Patron,
    RenewItem,
    Reply,
    Request,
    RequestItem,
    Style,
    read_reply,
    write_request,
)
from tests.protocols.ncip.schema import assert_valid, sample_files

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ASK = Header(from_agency="reshare", to_agency="alpha")
PATRON = Patron("21001000000001")
WITH_PIN = Patron("21001000000001", pin="1234")
WRONG_PIN = Patron("21001000000001", pin="0000")
BLOCKED = Patron("21001000000099")
UNKNOWN = Patron("21001999999999")
PROXY = Patron("ILL-beta")
ITEM = "31001000000001"
NCIP_NS = "http://www.niso.org/2008/ncip"


def simulator() -> NcipSimulator:
    """A fresh alpha library behind an NCIP responder."""
    return NcipSimulator(SimulatedIls(packaged_library("alpha"), "unused"))


def ask(sim: NcipSimulator, request: Request, style: Style | None = None) -> Reply:
    """Send one request, check the answer against the 2.02 schema, and read it."""
    answer = sim.answer(write_request(request, style), NOW)
    assert_valid(answer)
    return read_reply(answer)


def problem_types(reply: Reply) -> list[str]:
    return [p.type for p in reply.problems]


# Each step: a request and the Problem types expected ([] for success).  They run in
# order on one library, so later steps see what earlier ones did.
SCENARIO: list[tuple[Request, list[str]]] = [
    (LookupUser(ASK, WITH_PIN, ("Name Information", "User Privilege")), []),
    (LookupUser(ASK, WRONG_PIN), ["User Authentication Failed"]),
    (LookupUser(ASK, UNKNOWN), ["Unknown User"]),
    (LookupUser(ASK, BLOCKED, ("Block Or Trap",)), []),
    (CheckOutItem(ASK, PROXY, ITEM), []),
    (CheckOutItem(ASK, PATRON, ITEM), ["Resource Cannot Be Provided"]),
    (CheckOutItem(ASK, BLOCKED, "31001000000002"), ["User Blocked"]),
    (CheckOutItem(ASK, WRONG_PIN, "31001000000002"), ["User Authentication Failed"]),
    (CheckOutItem(ASK, PROXY, "31001999999999"), ["Unknown Item"]),
    (CheckOutItem(Header(), PROXY, "31001000000003", desired_due=NOW), []),
    (RenewItem(ASK, PROXY, ITEM), []),
    (RenewItem(ASK, PROXY, ITEM), []),
    (RenewItem(ASK, PROXY, ITEM), ["Maximum Renewals Exceeded"]),
    (RenewItem(ASK, PATRON, ITEM), ["Item Not Checked Out"]),
    (LookupItem(ASK, ITEM), []),
    (LookupItem(ASK, "31001999999999"), ["Unknown Item"]),
    (CheckInItem(ASK, ITEM), []),
    (CheckInItem(ASK, ITEM), ["Item Not Checked Out"]),
    (CheckInItem(ASK, "31001999999999"), ["Unknown Item"]),
    (
        AcceptItem(
            ASK,
            "req-1",
            "Hold For Pickup",
            PATRON,
            "31002000000001",
            title="Beta Book 1",
            author="Someone",
            date_for_return=NOW,
            pickup_location="alpha-desk",
        ),
        [],
    ),
    (AcceptItem(ASK, "req-2", "Hold For Pickup", PATRON, "31002000000001"), ["Cannot Accept Item"]),
    (AcceptItem(ASK, "req-1", "Hold For Pickup", PATRON, "31002000000002"), ["Duplicate Request"]),
    (AcceptItem(ASK, "req-3", "Circulate", UNKNOWN, "31002000000003"), ["Unknown User"]),
    (AcceptItem(ASK, "req-4", "Circulate", PATRON), []),
    (LookupItem(ASK, None, "req-1"), []),
    (LookupItem(ASK, None, "req-404"), ["Unknown Request"]),
    (DeleteItem(ASK, "31002000000001"), []),
    (DeleteItem(ASK, "31002000000001"), ["Unknown Item"]),
    (DeleteItem(ASK, "TMP-req-4"), ["Element Rule Violated"]),
    (RequestItem(ASK, PATRON, ("31001000000005",), request_id="hold-1"), []),
    (RequestItem(ASK, PATRON, ("31001000000005",)), ["Duplicate Request"]),
    (RequestItem(ASK, Patron("21001000000003"), ("31001000000006",)), []),
    (RequestItem(ASK, BLOCKED, ("31001000000005",)), ["User Blocked"]),
    (CheckOutItem(ASK, PROXY, "31001000000005"), ["Resource Cannot Be Provided"]),
    (CancelRequestItem(ASK, PATRON, request_id="hold-1"), []),
    (CancelRequestItem(ASK, PATRON, request_id="hold-1"), ["Unknown Request"]),
    (CancelRequestItem(ASK, Patron("21001000000003"), item="31001000000006"), []),
    (LookupAgency(ASK, "alpha"), []),
    (LookupAgency(ASK, "zeta"), ["Unknown Agency"]),
]


def test_every_answer_in_a_working_day_is_schema_valid() -> None:
    """Each service, succeeding and failing, answers schema-valid 2.02 with the right Problem."""
    sim = simulator()
    for request, expected in SCENARIO:
        reply = ask(sim, request)
        assert problem_types(reply) == expected, request
        assert reply.service == type(request).__name__
    assert sim.calls == [type(r).__name__ for r, _ in SCENARIO]


def test_answers_carry_what_the_library_did() -> None:
    """Due dates, holds and temporary items: the answers and the catalogue agree."""
    sim = simulator()
    items = sim.library.items
    out = ask(sim, CheckOutItem(ASK, PROXY, ITEM))
    assert out.payload.value("UserId", "UserIdentifierValue") == "ILL-beta"
    assert out.payload.value("DateDue") == "2026-12-14T23:59:59Z"
    assert items[ITEM].holder == "ILL-beta"
    loaned = ask(sim, LookupItem(ASK, ITEM)).payload
    assert loaned.value("ItemOptionalFields", "CirculationStatus") == "On Loan"

    accepted = ask(sim, AcceptItem(ASK, "req-9", "Hold For Pickup", PATRON, "31002000000004"))
    assert accepted.payload.value("RequestId", "RequestIdentifierValue") == "req-9"
    assert items["31002000000004"].holds == [PATRON.identifier]
    assert "31002000000004" in sim.temporary
    status = ask(sim, LookupItem(ASK, "31002000000004")).payload.value(
        "ItemOptionalFields", "CirculationStatus"
    )
    assert status == "Available For Pickup"

    circulated = ask(sim, AcceptItem(ASK, "req-10", "Circulate", PATRON, "31002000000008"))
    assert circulated.ok
    assert items["31002000000008"].holder == PATRON.identifier

    user = ask(sim, LookupUser(ASK, BLOCKED)).payload
    assert user.value("UserOptionalFields", "BlockOrTrap", "BlockOrTrapType") == "Excessive fines"
    assert (
        user.value(
            "UserOptionalFields", "UserPrivilege", "UserPrivilegeStatus", "UserPrivilegeStatusType"
        )
        == "Blocked"
    )


def test_the_response_header_answers_the_caller() -> None:
    """With a FromAgencyId, the answer's ResponseHeader goes from the library to the caller."""
    reply = ask(simulator(), LookupAgency(ASK, "alpha"))
    header = reply.payload.child("ResponseHeader")
    assert header is not None
    assert header.value("FromAgencyId", "AgencyId") == "alpha"
    assert header.value("ToAgencyId", "AgencyId") == "reshare"


def test_requests_in_the_koha_style_are_answered_in_the_schema_style() -> None:
    """A prefix-free, date-only request is read; the answer is still strict 2.02."""
    sim = simulator()
    due = datetime(2031, 5, 6, tzinfo=UTC)
    koha = Style(prefix=None, date_only=True)
    reply = ask(sim, CheckOutItem(ASK, PROXY, ITEM, desired_due=due), koha)
    assert reply.ok
    assert sim.library.items[ITEM].due == due
    assert b"<DesiredDateDue>2031-05-06</DesiredDateDue>" in sim.last_body


def test_pins_are_not_kept() -> None:
    """The last body is kept for tests with every AuthenticationInputData masked."""
    sim = simulator()
    ask(sim, LookupUser(ASK, Patron("21001000000001", pin="7531")))
    assert b"7531" not in sim.last_body
    assert b"AuthenticationInputData>***</" in sim.last_body


HOSTILE: dict[str, bytes] = {
    "empty": b"",
    "not xml": b"hello, is this the library?",
    "truncated": b'<NCIPMessage xmlns="http://www.niso.org/2008/ncip"><LookupUser><UserId>',
    "wrong root": b"<html><body>hi</body></html>",
    "no service": b'<NCIPMessage xmlns="http://www.niso.org/2008/ncip"/>',
    "binary": bytes(range(256)) * 4,
    "external entity": (
        b'<?xml version="1.0"?><!DOCTYPE NCIPMessage [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<NCIPMessage xmlns="http://www.niso.org/2008/ncip"><LookupUser><UserId>'
        b"<UserIdentifierValue>&xxe;</UserIdentifierValue></UserId></LookupUser></NCIPMessage>"
    ),
    "entity bomb": (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            b'<!ENTITY lol%d "%s">'
            % (i, b"".join(b"&lol%d;" % (i - 1) if i > 1 else b"&lol;" for _ in range(10)))
            for i in range(1, 10)
        )
        + b']><NCIPMessage xmlns="http://www.niso.org/2008/ncip"><LookupUser><UserId>'
        b"<UserIdentifierValue>&lol9;</UserIdentifierValue></UserId></LookupUser></NCIPMessage>"
    ),
    "too deep": b"<NCIPMessage>" + b"<a>" * 100 + b"</a>" * 100 + b"</NCIPMessage>",
}


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_bodies_get_a_message_level_problem(body: bytes) -> None:
    """Whatever the bytes, the answer is a schema-valid message-level Problem, quickly."""
    sim = simulator()
    started = time.monotonic()
    answer = sim.answer(body, NOW)
    assert time.monotonic() - started < 2.0
    assert_valid(answer)
    reply = read_reply(answer)
    assert reply.problems
    # An unresolved entity leaves a readable LookupUser whose UserId is empty: the
    # Problem is then the service's own (Needed Data Missing).
    assert reply.service in ("", "LookupUser")
    assert sim.calls[-1] in (UNREADABLE, "LookupUser")
    assert b"root:" not in answer


def test_missing_data_and_unknown_services_are_named() -> None:
    """A known service missing an element, and a service not offered, get fitting Problems."""
    sim = simulator()
    missing = sim.answer(
        b'<NCIPMessage xmlns="http://www.niso.org/2008/ncip"><CheckOutItem><UserId>'
        b"<UserIdentifierValue>x</UserIdentifierValue></UserId></CheckOutItem></NCIPMessage>",
        NOW,
    )
    assert_valid(missing)
    reply = read_reply(missing)
    assert reply.service == "CheckOutItem"
    assert problem_types(reply) == ["Needed Data Missing"]
    assert reply.problems[0].element == "ItemId"

    unsupported = sim.answer(
        b'<NCIPMessage xmlns="http://www.niso.org/2008/ncip"><LookupVersion/></NCIPMessage>', NOW
    )
    assert_valid(unsupported)
    assert problem_types(read_reply(unsupported)) == ["Unsupported Service"]
    assert sim.calls == ["CheckOutItem", "LookupVersion"]


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_collected_sample_gets_a_schema_valid_answer(path: Path) -> None:
    """Real-world messages (requests, responses, NCIP 1, broken ones) never break it."""
    answer = simulator().answer(path.read_bytes(), NOW)
    assert_valid(answer)


# --- over HTTP --------------------------------------------------------------------------------


@pytest.fixture
async def served() -> AsyncIterator[tuple[NcipSimulator, str]]:
    """A simulator's NCIP responder on a free loopback port, and its URL."""
    sim = simulator()
    async with trio.open_nursery() as nursery:
        host, port = await nursery.start(partial(serve_simulator_ncip, sim))
        yield sim, f"http://{host}:{port}/ncip"
        nursery.cancel_scope.cancel()


async def test_it_answers_over_http(served: tuple[NcipSimulator, str]) -> None:
    """POST /ncip: 200, application/xml, a schema-valid answer; GET is not allowed."""
    sim, url = served
    async with httpx.AsyncClient() as client:
        response = await client.post(
            url,
            content=write_request(LookupUser(ASK, WITH_PIN)),
            headers={"Content-Type": "application/xml; charset=utf-8"},
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/xml")
        assert_valid(response.content)
        assert read_reply(response.content).ok
        assert (await client.get(url)).status_code == 405
        garbled = await client.post(url, content=HOSTILE["entity bomb"])
        assert garbled.status_code == 200
        assert_valid(garbled.content)
        assert read_reply(garbled.content).service == ""
    assert sim.calls == ["LookupUser", UNREADABLE]


async def test_a_ten_megabyte_body_is_refused_quickly(served: tuple[NcipSimulator, str]) -> None:
    """Over the size cap: HTTP 413 at once, before the body has even arrived."""
    sim, url = served
    host, port = url.removeprefix("http://").removesuffix("/ncip").rsplit(":", 1)
    head = (
        f"POST /ncip HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/xml\r\n"
        f"Content-Length: {10 * 1024 * 1024}\r\n\r\n"
    ).encode()
    with trio.fail_after(2):
        stream = await trio.open_tcp_stream(host, int(port))
        async with stream:
            await stream.send_all(head + b"<NCIPMessage>" + b" " * 65536)
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = await stream.receive_some(4096)
                assert chunk, "the connection closed without an answer"
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 413")
    assert sim.calls == [UNREADABLE]


def test_bibliographic_requests_are_refused_by_item() -> None:
    """The simulated ILS places holds on items only; a title-level request is refused."""
    body = (
        b'<ns1:NCIPMessage xmlns:ns1="http://www.niso.org/2008/ncip" '
        b'ns1:version="http://www.niso.org/schemas/ncip/v2_02/ncip_v2_02.xsd"><ns1:RequestItem>'
        b"<ns1:UserId><ns1:UserIdentifierValue>21001000000001</ns1:UserIdentifierValue>"
        b"</ns1:UserId><ns1:BibliographicId><ns1:BibliographicRecordId>"
        b"<ns1:BibliographicRecordIdentifier>bib-1</ns1:BibliographicRecordIdentifier>"
        b"<ns1:BibliographicRecordIdentifierCode>Accession Number"
        b"</ns1:BibliographicRecordIdentifierCode>"
        b"</ns1:BibliographicRecordId></ns1:BibliographicId>"
        b"<ns1:RequestType>Hold</ns1:RequestType>"
        b"<ns1:RequestScopeType>Bibliographic Item</ns1:RequestScopeType>"
        b"</ns1:RequestItem></ns1:NCIPMessage>"
    )
    assert_valid(body)
    answer = simulator().answer(body, NOW)
    assert_valid(answer)
    assert problem_types(read_reply(answer)) == ["Unknown Item"]


async def test_a_plain_simulated_ils_can_be_served() -> None:
    """``serve_simulator_ncip`` also takes the SimulatedIls itself (the demo's way)."""
    ils = SimulatedIls(packaged_library("beta"), "unused")
    async with trio.open_nursery() as nursery:
        host, port = await nursery.start(partial(serve_simulator_ncip, ils))
        assert host == "127.0.0.1"
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"http://{host}:{port}/ncip",
                content=write_request(CheckOutItem(ASK, Patron("ILL-alpha"), "31002000000001")),
            )
        assert read_reply(response.content).ok
        assert ils.library.items["31002000000001"].holder == "ILL-alpha"
        nursery.cancel_scope.cancel()


async def test_required_headers_are_enforced(served: tuple[NcipSimulator, str]) -> None:
    """An ILS that wants an API key answers 401 without it."""
    sim, url = served
    sim.required_headers = {"X-API-Key": "k1"}
    body = write_request(LookupAgency(ASK, "alpha"))
    async with httpx.AsyncClient() as client:
        assert (await client.post(url, content=body)).status_code == 401
        allowed = await client.post(url, content=body, headers={"X-API-Key": "k1"})
        assert allowed.status_code == 200
    assert sim.calls == ["LookupAgency"]
