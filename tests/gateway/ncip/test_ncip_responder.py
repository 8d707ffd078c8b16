"""The NCIP endpoint end to end: a resource-sharing system posting to the demo gateway."""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING

import httpx
import pytest
import trio
from lxml import etree

from adapters.state.base import LoanKind
from adapters.state.connect import open_state
from adapters.state.memory import MemoryStateStore
from config.models import StateSettings
from protocols.ncip import (
    AcceptItem,
    CheckInItem,
    CheckOutItem,
    Header,
    LookupAgency,
    LookupItem,
    LookupUser,
    Patron,
    RenewItem,
    RequestItem,
    read_reply,
    write_request,
)
from protocols.ncip.xml import NS
from tests.helpers.demo import running_demo, short_timeouts
from tests.helpers.ncip import ask, key, post, reply
from tests.helpers.services import dead_port
from tests.protocols.ncip.schema import SAMPLES, assert_valid, sample_files

if TYPE_CHECKING:
    from datetime import datetime

    from config.models import Config
    from gateway.demo.network import Demo

ALPHA_PATRON = "21001000000001"
BLOCKED = "21001000000099"
BETA_ITEM = "31002000000001"
AS_BETA = Header(from_agency="rs-beta", to_agency="interlend")


# --- services --------------------------------------------------------------------------------


async def test_lookup_user_for_a_visitor_with_the_right_and_wrong_pin(demo: Demo) -> None:
    found = read_reply(
        (await ask(demo, LookupUser(AS_BETA, Patron(ALPHA_PATRON, None, "1234")))).content
    )
    assert found.ok
    assert found.payload.value("UserId", "UserIdentifierValue") == ALPHA_PATRON
    assert found.payload.value("UserId", "AgencyId") == "alpha"
    assert found.payload.value(
        "UserOptionalFields", "NameInformation", "PersonalNameInformation",
        "UnstructuredPersonalUserName",
    )  # fmt: skip
    wrong = read_reply(
        (await ask(demo, LookupUser(AS_BETA, Patron(ALPHA_PATRON, None, "0000")))).content
    )
    assert wrong.has_problem("User Authentication Failed")
    unknown = await reply(demo, LookupUser(AS_BETA, Patron("21001999999999")))
    assert unknown.has_problem("Unknown User")
    blocked = await reply(demo, LookupUser(AS_BETA, Patron(BLOCKED)))
    assert blocked.ok
    assert blocked.payload.value("UserOptionalFields", "BlockOrTrap", "BlockOrTrapType")


async def test_checkout_of_a_visitor_is_a_reciprocal_loan_once_per_request_id(demo: Demo) -> None:
    request = CheckOutItem(AS_BETA, Patron(ALPHA_PATRON), BETA_ITEM, "ill-77")
    first = await reply(demo, request)
    again = await reply(demo, request)
    assert first.ok, first.problems
    assert again.ok
    assert first.payload.value("DateDue") == again.payload.value("DateDue")
    store = demo.gateway.services.store
    assert isinstance(store, MemoryStateStore)
    loan = await store.active_loan("beta", BETA_ITEM)
    assert loan is not None
    assert loan.home == "alpha"
    assert loan.proxy_patron == "ILL-alpha"
    assert demo.simulators["beta"].executed.count("11") == 1
    assert demo.simulators["beta"].library.items[BETA_ITEM].holder == "ILL-alpha"
    back = await reply(demo, CheckInItem(AS_BETA, BETA_ITEM))
    assert back.ok
    assert await store.active_loan("beta", BETA_ITEM) is None


async def test_checkout_to_a_librarys_institutional_account_is_an_ill_loan(demo: Demo) -> None:
    """ReShare checks the item out to the borrowing library's account at the lender."""
    request = CheckOutItem(AS_BETA, Patron("ILL-gamma"), "31002000000005", "req-5")
    lent = await reply(demo, request)
    assert lent.ok, lent.problems
    assert lent.payload.value("UserId", "UserIdentifierValue") == "ILL-gamma"
    loan = await demo.gateway.services.store.active_loan("beta", "31002000000005")
    assert loan is not None
    assert (loan.home, loan.proxy_patron) == ("gamma", "ILL-gamma")
    assert loan.kind is LoanKind.LIBRARY_LOAN
    assert demo.simulators["beta"].library.items["31002000000005"].holder == "ILL-gamma"
    again = await reply(demo, request)
    assert again.ok
    assert demo.simulators["beta"].executed.count("11") == 1


async def test_refusals_become_problems(demo: Demo) -> None:
    """Each refusal is the Problem its code maps to: a blocked visitor is User Blocked,
    an unknown item cannot be provided, and renewing an item the patron does not have
    is Item Not Checked Out (NCIP RenewItem's own error for it)."""
    blocked = read_reply(
        (await ask(demo, CheckOutItem(AS_BETA, Patron(BLOCKED), BETA_ITEM))).content
    )
    assert blocked.has_problem("User Blocked")
    missing = read_reply(
        (await ask(demo, CheckOutItem(AS_BETA, Patron(ALPHA_PATRON), "31002999999999"))).content
    )
    assert not missing.ok
    not_out = read_reply(
        (await ask(demo, RenewItem(AS_BETA, Patron(ALPHA_PATRON), BETA_ITEM))).content
    )
    assert not_out.has_problem("Item Not Checked Out")


async def test_renew_lookup_item_and_agency(demo: Demo) -> None:
    await ask(demo, CheckOutItem(AS_BETA, Patron(ALPHA_PATRON), BETA_ITEM, "r-1"))
    renewed = read_reply(
        (await ask(demo, RenewItem(AS_BETA, Patron(ALPHA_PATRON), BETA_ITEM))).content
    )
    assert renewed.ok, renewed.problems
    assert renewed.payload.value("DateDue")
    item = await reply(demo, LookupItem(AS_BETA, BETA_ITEM))
    assert item.ok
    assert item.payload.value("ItemOptionalFields", "BibliographicDescription", "Title")
    assert item.payload.value("ItemOptionalFields", "CirculationStatus") == "On Loan"
    unknown = await reply(demo, LookupItem(AS_BETA, "31002999999999"))
    assert unknown.has_problem("Unknown Item")
    agency = await reply(demo, LookupAgency(AS_BETA, "gamma"))
    assert agency.payload.value("OrganizationNameInformation", "OrganizationName") == (
        "Gamma College Library"
    )
    nobody = await reply(demo, LookupAgency(AS_BETA, "nowhere"))
    assert nobody.has_problem("Unknown Agency")


async def test_item_records_need_an_ncip_ils(demo: Demo) -> None:
    """Beta's ILS speaks SIP2: AcceptItem for a beta patron says it cannot make items."""
    accept = AcceptItem(AS_BETA, "req-1", "Hold For Pickup", Patron("21002000000001"), "TMP-1")
    answer = await reply(demo, accept)
    assert answer.has_problem("Unsupported Service")
    assert "speaks SIP2" in (answer.problems[0].detail or "")


async def test_holds_across_libraries_are_refused_with_the_reason(demo: Demo) -> None:
    hold = RequestItem(AS_BETA, Patron(ALPHA_PATRON), (BETA_ITEM,), (), "h-1", "Hold", "Item")
    answer = await reply(demo, hold)
    assert not answer.ok
    assert answer.problems[0].detail


# --- peers and authentication --------------------------------------------------------------


async def test_unknown_agencies_and_wrong_keys_are_refused(demo: Demo) -> None:
    lookup = LookupUser(AS_BETA, Patron(ALPHA_PATRON))
    wrong = await reply(demo, lookup, api_key="nope")
    assert wrong.has_problem("Agency Authentication Failed")
    none = await reply(demo, lookup, api_key=None)
    assert none.has_problem("Agency Authentication Failed")
    stranger = LookupUser(Header("somebody", "interlend"), Patron(ALPHA_PATRON))
    assert (await reply(demo, stranger)).has_problem("Unknown Agency")
    bearer = read_reply(
        (
            await ask(demo, lookup, api_key=None, headers={"Authorization": f"Bearer {key()}"})
        ).content
    )
    assert bearer.has_problem("Agency Authentication Failed")  # no token configured


async def test_the_key_may_travel_as_from_agency_authentication(demo: Demo) -> None:
    header = Header("rs-beta", "interlend", from_agency_authentication=key())
    answer = read_reply(
        (await ask(demo, LookupUser(header, Patron(ALPHA_PATRON)), api_key=None)).content
    )
    assert answer.ok


async def test_the_response_header_names_both_agencies(demo: Demo) -> None:
    body = (await ask(demo, LookupAgency(AS_BETA, "beta"))).content
    root = etree.fromstring(body)
    header = root.find(f".//{{{NS}}}ResponseHeader")
    assert header is not None
    texts = [e.text for e in header.iter(f"{{{NS}}}AgencyId")]
    assert texts == ["interlend", "rs-beta"]


# --- hostile and malformed input ------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml at all",
        b"<NCIPMessage><CheckInItem><ItemId>",
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<NCIPMessage><CheckInItem><ItemId><ItemIdentifierValue>&x;</ItemIdentifierValue>"
        b"</ItemId></CheckInItem></NCIPMessage>",
        (
            '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
            + "".join(
                f'<!ENTITY {c} "{("&" + p + ";") * 10}">'
                for p, c in zip("abcdefgh", "bcdefghi", strict=True)
            )
            + "]><NCIPMessage><LookupUser><UserId><UserIdentifierValue>&i;"
            "</UserIdentifierValue></UserId></LookupUser></NCIPMessage>"
        ).encode(),
        f'<NCIPMessage xmlns="{NS}"><CreateUser/></NCIPMessage>'.encode(),
        f'<NCIPMessage xmlns="{NS}"><CheckOutItem/></NCIPMessage>'.encode(),
        b"<NCIPMessage>" + b"<x>" * 200 + b"</x>" * 200 + b"</NCIPMessage>",
    ],
    ids=["empty", "text", "truncated", "xxe", "entity-bomb", "unsupported", "missing", "deep"],
)
async def test_hostile_bodies_get_a_problem_quickly(demo: Demo, body: bytes) -> None:
    started = time.monotonic()
    answer = await post(demo, body)
    assert time.monotonic() - started < 2
    assert answer.status_code == 200
    assert_valid(answer.content)
    reply = read_reply(answer.content)
    assert not reply.ok
    assert b"root:" not in answer.content


async def test_a_ten_megabyte_body_is_refused_with_413(demo: Demo) -> None:
    """Over a raw socket: the gateway answers 413 (an NCIP Problem) without reading it all."""
    assert demo.bound.ncip is not None
    host, port = demo.bound.ncip.split("//")[1].split("/")[0].rsplit(":", 1)
    size = 10 * 1024 * 1024
    started = time.monotonic()
    stream = await trio.open_tcp_stream(host, int(port))
    head = (
        f"POST /ncip HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/xml\r\n"
        f"X-API-Key: {key()}\r\nContent-Length: {size}\r\n\r\n"
    )
    received = b""
    async with stream:
        await stream.send_all(head.encode())

        async def upload() -> None:
            chunk = b" " * 65536
            try:
                for _ in range(size // len(chunk)):
                    await stream.send_all(chunk)
            except trio.BrokenResourceError:
                pass  # the gateway stopped reading: that is the point

        async with trio.open_nursery() as nursery:
            nursery.start_soon(upload)
            with trio.fail_after(5):
                while b"</ns1:NCIPMessage>" not in received:
                    data = await stream.receive_some(65536)
                    if not data:
                        break
                    received += data
            nursery.cancel_scope.cancel()
    assert time.monotonic() - started < 2
    status, _, rest = received.partition(b"\r\n")
    assert b" 413 " in status
    assert_valid(rest.partition(b"\r\n\r\n")[2])


async def test_each_port_serves_only_its_own_routes(demo: Demo) -> None:
    assert demo.bound.ncip is not None
    assert demo.bound.admin is not None
    base = demo.bound.ncip.removesuffix("/ncip")
    async with httpx.AsyncClient() as client:
        assert (await client.get(demo.bound.ncip)).status_code == 405
        assert (await client.get(f"{base}/api/loans")).status_code == 404
        assert (await client.get(f"{base}/healthz")).status_code == 200
        admin = demo.bound.admin.rstrip("/")
        assert (await client.post(f"{admin}/ncip", content=b"<x/>")).status_code == 404
        assert (await client.get(f"{admin}/api/loans")).status_code == 200


def koha_style_gamma(config: Config) -> Config:
    """The demo with gamma's resource-sharing peer wanting prefix-free, date-only NCIP."""
    config = short_timeouts(config)
    gamma = config.nodes["gamma"]
    peer = gamma.ncip_peers[0].model_copy(update={"prefix_free": True, "date_only": True})
    node = gamma.model_copy(update={"ncip_peers": (peer,)})
    return config.model_copy(update={"nodes": {**config.nodes, "gamma": node}})


async def test_a_prefix_free_peer_gets_prefix_free_answers() -> None:
    """The per-peer style switch: default namespace, plain attributes, bare dates."""
    async with running_demo(koha_style_gamma) as running:
        as_gamma = Header("rs-gamma", "interlend")
        koha = await post(
            running, write_request(CheckOutItem(as_gamma, Patron(ALPHA_PATRON), "31003000000001"))
        )
        strict = await post(running, write_request(LookupAgency(AS_BETA, "beta")))
    text = koha.text
    assert '<NCIPMessage xmlns="http://www.niso.org/2008/ncip" version=' in text
    assert "ns1:" not in text
    due = read_reply(koha.content).payload.value("DateDue")
    assert due is not None
    assert len(due) == 10  # YYYY-MM-DD
    assert "<ns1:NCIPMessage" in strict.text


# --- samples from other systems ----------------------------------------------------------------


def _as_peer(body: bytes) -> bytes:
    """The sample with its FromAgencyId made the demo's rs-beta (so services run)."""
    try:
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return body
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.rpartition("}")[2] == "FromAgencyId":
            for agency in element.iter():
                if isinstance(agency.tag, str) and agency.tag.rpartition("}")[2] in (
                    "AgencyId",
                    "Value",
                ):
                    agency.text = "rs-beta"
    return bytes(etree.tostring(root))


async def test_every_collected_sample_gets_a_schema_valid_answer(demo: Demo) -> None:
    """Each NCIP sample of other systems, posted as rs-beta: a valid response or Problem.
    What the gateway does with each source is written down in docs/ncip-samples.md."""
    files = sample_files()
    if not files:
        pytest.skip("../shared/reference/ncip/samples is absent")
    outcomes: Counter[tuple[str, str]] = Counter()
    with trio.fail_after(120):
        for path in files:
            answer = await post(demo, _as_peer(path.read_bytes()))
            assert answer.status_code == 200, path
            assert_valid(answer.content)
            reply = read_reply(answer.content)
            source = path.relative_to(SAMPLES).parts[0]
            label = reply.problems[0].type if reply.problems else f"{reply.service} ok"
            outcomes[(source, label)] += 1
    assert sum(outcomes.values()) == len(files)
    if os.environ.get("INTERLEND_PRINT_SAMPLES"):
        for (source, label), count in sorted(outcomes.items()):
            print(f"| {source} | {label} | {count} |")


async def test_a_librarys_own_patron_is_served_by_its_own_ils(demo: Demo) -> None:
    """Local checkout and renewal pass through as SIP2 the strict ILS accepts."""
    beta_patron = "21002000000001"
    lent = await reply(demo, CheckOutItem(AS_BETA, Patron(beta_patron), "31002000000009", "l-1"))
    assert lent.ok, lent.problems
    renewed = await reply(demo, RenewItem(AS_BETA, Patron(beta_patron), "31002000000009"))
    assert renewed.ok, renewed.problems
    assert demo.simulators["beta"].library.items["31002000000009"].holder == beta_patron
    assert "96" not in demo.simulators["beta"].executed


async def test_only_the_lenders_own_system_lends_its_stock_to_a_library(demo: Demo) -> None:
    """rs-alpha acts for alpha: it cannot make beta lend beta's item to gamma."""
    as_alpha = Header("rs-alpha", "interlend")
    refused = await reply(demo, CheckOutItem(as_alpha, Patron("ILL-gamma"), "31002000000006"))
    assert refused.has_problem("Unauthorized Combination Of Element Values For Agency")
    assert refused.problems[0].element == "ItemId"
    assert demo.simulators["beta"].library.items["31002000000006"].holder is None
    assert await demo.gateway.services.store.active_loan("beta", "31002000000006") is None


async def test_a_library_loan_without_request_id_can_be_lent_again_after_return(
    demo: Demo,
) -> None:
    item = "31002000000007"
    first = await reply(demo, CheckOutItem(AS_BETA, Patron("ILL-gamma"), item))
    assert first.ok
    assert (await reply(demo, CheckInItem(AS_BETA, item))).ok
    again = await reply(demo, CheckOutItem(AS_BETA, Patron("ILL-gamma"), item))
    assert again.ok
    assert demo.simulators["beta"].library.items[item].holder == "ILL-gamma"
    assert await demo.gateway.services.store.active_loan("beta", item) is not None


async def test_a_dead_ils_or_registry_is_a_temporary_processing_failure(demo: Demo) -> None:
    """The peer is told to retry: a Problem, not an HTTP error, and nothing half done."""
    from dataclasses import replace as replaced

    from adapters.state.base import LoanRequest, Reservation, StateUnavailable

    class RegistryAway(MemoryStateStore):
        async def reserve(self, request: LoanRequest, *, now: datetime) -> Reservation:
            raise StateUnavailable("Redis failed (reserve): connection refused")

    services = demo.gateway.services
    demo.gateway.services = replaced(services, store=RegistryAway())
    away = await reply(demo, CheckOutItem(AS_BETA, Patron(ALPHA_PATRON), BETA_ITEM, "t-1"))
    demo.gateway.services = services
    assert away.has_problem("Temporary Processing Failure")
    assert demo.simulators["beta"].library.items[BETA_ITEM].holder is None
    demo.stop_ils("beta")
    dead = await reply(demo, LookupItem(AS_BETA, BETA_ITEM))
    assert dead.has_problem("Temporary Processing Failure")
    assert "Beta Public Library cannot be reached" in (dead.problems[0].detail or "")


async def test_a_peer_never_sees_how_a_member_or_the_registry_failed() -> None:
    """A loan registry (a real Redis client, on a closed port) or a member ILS that
    cannot answer is a Temporary Processing Failure in stable words: no host, port,
    Redis command or socket error reaches the peer (they go to the gateway's log)."""
    port = dead_port()
    away = StateSettings(backend="redis", url=f"redis://127.0.0.1:{port}/0", timeout_s=1.0)
    loan = CheckOutItem(AS_BETA, Patron("ILL-gamma"), "31002000000005", "leak-1")
    with trio.fail_after(20):
        # The client outlives the gateway, whose background tasks may still hold it.
        async with open_state(away, None) as registry, running_demo() as demo:
            services = demo.gateway.services
            demo.gateway.services = replace(services, store=registry)
            registry_away = await ask(demo, loan)
            demo.gateway.services = services
            demo.stop_ils("beta")
            ils_away = await ask(demo, loan)
            held_at_beta = demo.simulators["beta"].library.items["31002000000005"].holder
    for answer in (registry_away, ils_away):
        text = answer.text.lower()
        for word in ("127.0.0.1", str(port), "redis", "reserve", "refused", "connect", "endpoint"):
            assert word not in text, (word, answer.text)
        assert read_reply(answer.content).has_problem("Temporary Processing Failure")
    assert read_reply(registry_away.content).problems[0].detail == (
        "The consortium's loan registry is unavailable; please try again shortly"
    )
    assert read_reply(ils_away.content).problems[0].detail == (
        "Beta Public Library cannot be reached; please try again later"
    )
    assert held_at_beta is None


async def test_a_key_with_non_ascii_characters_is_a_wrong_key(demo: Demo) -> None:
    """A key outside ASCII, in the header or as FromAgencyAuthentication, is compared
    like any other (as bytes): Agency Authentication Failed, never a server error."""
    assert demo.bound.ncip is not None
    lookup = write_request(LookupUser(AS_BETA, Patron(ALPHA_PATRON)))
    in_header = [(b"Content-Type", b"application/xml"), (b"X-API-Key", "clé-ü".encode())]
    in_body = LookupUser(
        Header("rs-beta", "interlend", from_agency_authentication="clé-ü"), Patron(ALPHA_PATRON)
    )
    with trio.fail_after(10):
        async with httpx.AsyncClient() as client:
            header_answer = await client.post(demo.bound.ncip, content=lookup, headers=in_header)
        body_answer = await post(demo, write_request(in_body), api_key=None)
    for answer in (header_answer, body_answer):
        assert answer.status_code == 200
        assert_valid(answer.content)
        assert read_reply(answer.content).has_problem("Agency Authentication Failed")
