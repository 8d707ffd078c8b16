"""A request a member's ILS cannot be sent is the caller's error (``IlsRequestInvalid``):
found before any slot or endpoint is taken, nothing goes on the wire, and the member's
breakers and health do not move.  Against simulated ILSs over loopback sockets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import trio

from adapters.errors import IlsError, IlsRequestInvalid
from adapters.ils.balancing import BreakerSettings
from protocols.sip2 import Language, PatronStatusRequest

from .endpoints import (
    ITEM,
    LIMIT_S,
    PATRON,
    endpoint_stats,
    ncip_member,
    ncip_sim,
    sip2_member,
    sip2_sim,
)

BAD_REQUESTS = 20
# A breaker that a single counted failure would open.
FRAGILE = BreakerSettings(failure_threshold=1, cool_down_s=60.0, max_cool_down_s=60.0)


def lookup(patron: str) -> PatronStatusRequest:
    """A kiosk's 23 for ``patron``, as the gateway forwards it."""
    return PatronStatusRequest(
        language=Language.ENGLISH,
        transaction_date=datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
        institution_id="alpha",
        patron_identifier=patron,
        patron_password="1234",
    )


def test_a_request_invalid_is_no_ils_failure() -> None:
    """The error tree: clauses that catch ``IlsError`` ("the library cannot answer")
    do not catch a request that cannot be sent."""
    assert not issubclass(IlsRequestInvalid, IlsError)


@pytest.mark.parametrize(
    "patron",
    ["21001" + "0" * 295, "21001|AF", "21001\N{CJK UNIFIED IDEOGRAPH-4E2D}"],
    ids=["300 characters", "the delimiter", "a character cp850 lacks"],
)
async def test_sip2_a_request_the_dialect_cannot_carry_never_reaches_the_ils(
    patron: str,
) -> None:
    """Twenty forwarded requests the dialect cannot carry each raise
    ``IlsRequestInvalid`` without a connection being made; the breaker stays closed,
    the endpoint healthy, and an honest request is answered."""
    with trio.fail_after(LIMIT_S):
        async with sip2_sim() as sim, sip2_member(sim.endpoint, breaker=FRAGILE) as ils:
            for _ in range(BAD_REQUESTS):
                with pytest.raises(IlsRequestInvalid) as raised:
                    await ils.forward(lookup(patron), timeout=2.0)
                assert raised.value.member == "alpha"
            assert sim.ils.connections == 0
            assert sim.ils.executed == []
            stats = endpoint_stats(ils, 0)
            assert (stats["state"], stats["failures"], stats["healthy"]) == ("closed", 0, True)
            assert stats["outstanding"] == 0
            assert ils.statistics()["in_flight"] == 0
            assert (await ils.patron_status(PATRON, "1234", timeout=2.0)).found
    assert sim.count("23") == 1


async def test_ncip_a_request_xml_cannot_carry_never_reaches_the_ils() -> None:
    """A control character in a barcode cannot be written in XML: ``IlsRequestInvalid``
    every time, nothing posted, the breaker closed, and an honest lookup answered."""
    with trio.fail_after(LIMIT_S):
        async with ncip_sim() as sim, ncip_member(sim.endpoint, breaker=FRAGILE) as ils:
            for _ in range(BAD_REQUESTS):
                with pytest.raises(IlsRequestInvalid):
                    await ils.item_information("31001\x1b[2J", timeout=2.0)
            assert sim.ncip.calls == []
            stats = endpoint_stats(ils, 0)
            assert (stats["state"], stats["failures"], stats["requests"]) == ("closed", 0, 0)
            assert (await ils.item_information(ITEM, timeout=2.0)).found
    assert sim.count("LookupItem") == 1
