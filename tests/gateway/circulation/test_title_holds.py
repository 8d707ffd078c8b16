"""A hold by title the patron's own library cannot fill: the gateway chooses a lender."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from gateway.circulation.holds import NO_LENDER
from protocols.sip2 import HoldMode, HoldRequest, HoldResponse
from tests.helpers.kiosk import NOW, Kiosk

if TYPE_CHECKING:
    from pathlib import Path

    from gateway.demo.network import Demo

ALPHA_PATRON = "21001000000001"
EXPORT = (
    "member,item,title,isbn\n"
    "beta,31002000000011,A Travelling Title,9780306406157\n"
    "gamma,31003000000011,A Travelling Title,9780306406157\n"
    "alpha,31001000000011,A Home Title,\n"
)


def title_hold(title: str, patron: str = ALPHA_PATRON) -> HoldRequest:
    return HoldRequest(
        hold_mode=HoldMode.ADD,
        transaction_date=NOW,
        patron_identifier=patron,
        patron_password="1234",
        title_identifier=title,
    )


async def test_a_title_held_elsewhere_is_requested_from_the_chosen_lender(
    demo: Demo, tmp_path: Path
) -> None:
    export = tmp_path / "holdings.csv"
    export.write_text(EXPORT, encoding="utf-8")
    demo.gateway.services.holdings.load_csv(export)
    with trio.fail_after(10):
        kiosk = await Kiosk.logged_in(demo, "alpha-kiosk")
        placed = await kiosk.expect(title_hold("A Travelling Title"), HoldResponse)
        by_isbn = await kiosk.expect(title_hold("0-306-40615-2"), HoldResponse)
    assert placed.ok, placed.screen_messages
    assert placed.screen_messages[0].startswith("Requested from ")
    assert "it will be sent to Alpha Public Library" in placed.screen_messages[0]
    queued = {
        member: demo.simulators[member].library.items[item].holds
        for member, item in (("beta", "31002000000011"), ("gamma", "31003000000011"))
    }
    assert [m for m, holds in queued.items() if "ILL-alpha" in holds], queued
    assert by_isbn.ok
    counters = demo.gateway.services.counters.counters
    reading = await counters.read(["beta", "gamma"], now=NOW.timestamp() + 1)
    assert reading.stats["beta"].open_assigned + reading.stats["gamma"].open_assigned == 2


async def test_a_title_the_home_library_holds_stays_at_home(demo: Demo, tmp_path: Path) -> None:
    export = tmp_path / "holdings.csv"
    export.write_text(EXPORT, encoding="utf-8")
    demo.gateway.services.holdings.load_csv(export)
    before = demo.simulators["alpha"].executed.count("15")
    with trio.fail_after(10):
        kiosk = await Kiosk.logged_in(demo, "alpha-kiosk")
        await kiosk.expect(title_hold("A Home Title"), HoldResponse)
    assert demo.simulators["alpha"].executed.count("15") == before + 1


async def test_a_title_nobody_holds_is_refused_with_the_reason(demo: Demo) -> None:
    with trio.fail_after(10):
        kiosk = await Kiosk.logged_in(demo, "alpha-kiosk")
        answer = await kiosk.expect(title_hold("A Title Nobody Has"), HoldResponse)
    assert not answer.ok
    assert NO_LENDER in answer.screen_messages


async def test_an_ncip_request_by_isbn_goes_to_the_chosen_lender(
    demo: Demo, tmp_path: Path
) -> None:
    """A resource-sharing system's RequestItem by bibliographic id, for an alpha patron."""
    import os

    import httpx

    from protocols.ncip import Header, Patron, RequestItem, read_reply, write_request

    export = tmp_path / "holdings.csv"
    export.write_text(EXPORT, encoding="utf-8")
    demo.gateway.services.holdings.load_csv(export)
    request = RequestItem(
        Header("rs-alpha", "interlend"),
        Patron(ALPHA_PATRON),
        (),
        ("9780306406157",),
        "ill-9",
        "Hold",
        "Bibliographic Item",
    )
    assert demo.bound.ncip is not None
    with trio.fail_after(10):
        async with httpx.AsyncClient() as client:
            answer = await client.post(
                demo.bound.ncip,
                content=write_request(request),
                headers={"X-API-Key": os.environ["INTERLEND_DEMO_NCIP_KEY"]},
            )
    reply = read_reply(answer.content)
    assert reply.ok, reply.problems
    assert reply.payload.value("RequestId", "RequestIdentifierValue") == "ill-9"


async def test_a_title_hold_needs_a_patron_in_good_standing(demo: Demo, tmp_path: Path) -> None:
    export = tmp_path / "holdings.csv"
    export.write_text(EXPORT, encoding="utf-8")
    demo.gateway.services.holdings.load_csv(export)
    wrong_pin = HoldRequest(
        hold_mode=HoldMode.ADD,
        transaction_date=NOW,
        patron_identifier=ALPHA_PATRON,
        patron_password="9999",
        title_identifier="A Travelling Title",
    )
    no_pin = HoldRequest(
        hold_mode=HoldMode.ADD,
        transaction_date=NOW,
        patron_identifier=ALPHA_PATRON,
        title_identifier="A Travelling Title",
    )
    with trio.fail_after(10):
        kiosk = await Kiosk.logged_in(demo, "alpha-kiosk")
        wrong = await kiosk.expect(wrong_pin, HoldResponse)
        unknown = await kiosk.expect(
            title_hold("A Travelling Title", "21001999999999"), HoldResponse
        )
        blocked = await kiosk.expect(
            title_hold("A Travelling Title", "21001000000099"), HoldResponse
        )
        missing = await kiosk.expect(no_pin, HoldResponse)
    assert not wrong.ok
    assert "Incorrect PIN" in wrong.screen_messages
    assert not unknown.ok
    assert any("not recognised" in line for line in unknown.screen_messages)
    assert not blocked.ok
    assert any("blocked" in line for line in blocked.screen_messages)
    assert not missing.ok
    assert "Please enter your PIN" in missing.screen_messages
    for member, item in (("beta", "31002000000011"), ("gamma", "31003000000011")):
        assert demo.simulators[member].library.items[item].holds == []


ON_LOAN_EXPORT = (
    "member,item,title,isbn\n"
    "alpha,31001000000012,A Title Out At Home,\n"
    "beta,31002000000012,A Title Out At Home,\n"
    "alpha,31001000000013,Out At Home Only,\n"
)


async def test_a_title_the_home_library_has_only_on_loan_goes_to_a_lender(
    demo: Demo, tmp_path: Path
) -> None:
    """Alpha's only copy is out (lent at alpha's own kiosk): the hold goes to beta, which
    has one on the shelf, instead of waiting at alpha.  A title alpha alone holds, out,
    still goes to alpha's ILS: no lender can send it."""
    from protocols.sip2 import CheckoutResponse
    from tests.helpers.kiosk import checkout

    export = tmp_path / "holdings.csv"
    export.write_text(ON_LOAN_EXPORT, encoding="utf-8")
    demo.gateway.services.holdings.load_csv(export)
    alpha_ils = demo.simulators["alpha"]
    with trio.fail_after(10):
        kiosk = await Kiosk.logged_in(demo, "alpha-kiosk")
        for item in ("31001000000012", "31001000000013"):
            lent = await kiosk.expect(checkout("21001000000003", item), CheckoutResponse)
            assert lent.ok, lent.screen_messages
        holds_at_home = alpha_ils.executed.count("15")
        sent = await kiosk.expect(title_hold("A Title Out At Home"), HoldResponse)
        assert alpha_ils.executed.count("15") == holds_at_home
        waits = await kiosk.expect(title_hold("Out At Home Only"), HoldResponse)
    assert sent.ok, sent.screen_messages
    assert sent.screen_messages[0].startswith("Requested from Beta")
    assert "ILL-alpha" in demo.simulators["beta"].library.items["31002000000012"].holds
    # The second went to alpha's ILS as it is (the simulator takes holds on items only,
    # so it answers this one with its own refusal), not to a lender.
    assert alpha_ils.executed.count("15") == holds_at_home + 1
    assert not any(m.startswith("Requested from") for m in waits.screen_messages)
