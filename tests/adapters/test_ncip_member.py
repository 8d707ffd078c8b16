"""The NCIP member-ILS client against the simulated ILS's NCIP server over loopback."""

from __future__ import annotations

import itertools
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import structlog
import trio
import trio.testing

from adapters.errors import IlsLoginRefused, IlsProtocolError, IlsTimeout, IlsUnavailable
from adapters.ils.balancing import BreakerSettings
from adapters.ils.ncip import NcipMemberIls, patron_record, redact_ncip
from config.models import IlsSettings, NcipSettings
from config.resolved import ResolvedIls
from gateway.demo.simulator.data import packaged_library
from gateway.demo.simulator.engine import SimulatedIls
from gateway.demo.simulator.ncip_server import NcipSimulator, serve_simulator_ncip
from protocols.ncip import read_reply
from protocols.sip2 import CirculationStatus
from tests.helpers.arrivals import Arrivals, held
from tests.helpers.polling import eventually
from tests.helpers.services import dead_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, MutableMapping

    from adapters.ils.base import MemberIls

PATRON = "21001000000001"
OTHER_PATRON = "21001000000002"
BLOCKED = "21001000000099"
PIN = "1234"
PROXY = "ILL-beta"
ITEM = "31001000000001"
BUDGET = 2.0


@dataclass
class Simulator:
    """A simulated alpha ILS whose NCIP responder listens on loopback."""

    ncip: NcipSimulator
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/ncip"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """The alpha library's simulated ILS, answering NCIP on a free loopback port."""
    responder = NcipSimulator(SimulatedIls(packaged_library("alpha"), "unused"))
    async with trio.open_nursery() as nursery:
        host, port = await nursery.start(partial(serve_simulator_ncip, responder))
        yield Simulator(responder, host, port)
        nursery.cancel_scope.cancel()


def settings(*endpoints: str, concurrency: int = 2, **ncip: Any) -> ResolvedIls:
    """Resolved ILS settings for alpha over NCIP (short time-outs)."""
    return ResolvedIls.of(
        IlsSettings(
            adapter="ncip",
            endpoints=endpoints,
            institution_id="alpha",
            timeout_s=BUDGET,
            connect_timeout_s=1.0,
            concurrency=concurrency,
            pool_size=1,
            ncip=NcipSettings(**ncip),
        )
    )


@asynccontextmanager
async def member(
    *endpoints: str,
    secret: str | None = None,
    concurrency: int = 2,
    backoff_base_s: float = 0.5,
    keepalive_s: float = 30.0,
    **ncip: Any,
) -> AsyncIterator[NcipMemberIls]:
    """An ``NcipMemberIls`` for alpha, always closed at the end."""
    ils = NcipMemberIls(
        "alpha",
        settings(*endpoints, concurrency=concurrency, **ncip),
        secret,
        backoff_base_s=backoff_base_s,
        keepalive_s=keepalive_s,
    )
    try:
        yield ils
    finally:
        await ils.aclose()


def dead_url() -> str:
    """An NCIP URL on a loopback port with nothing listening."""
    return f"http://127.0.0.1:{dead_port()}/ncip"


def endpoint_stats(ils: NcipMemberIls, index: int = 0) -> dict[str, object]:
    endpoints = ils.statistics()["endpoints"]
    assert isinstance(endpoints, list)
    stats = endpoints[index]
    assert isinstance(stats, dict)
    return stats


def healthy(ils: NcipMemberIls) -> bool:
    """``ils.healthy``, read afresh (a call, so type checkers do not narrow it)."""
    return ils.healthy


# --- patrons ------------------------------------------------------------------------------


async def test_a_patron_with_the_right_pin_is_found(sim: Simulator) -> None:
    """LookupUser with barcode and PIN: found, PIN right, name and type read back."""
    async with member(sim.url) as ils:
        client: MemberIls = ils
        record = await client.patron_status(PATRON, PIN, timeout=BUDGET)
    assert record.found
    assert record.pin_ok is True
    assert record.name == "Alpha Patron 1"
    assert record.patron_type == "adult"
    assert not record.blocked
    assert sim.ncip.calls == ["LookupUser"]


async def test_without_a_pin_the_pin_is_not_judged(sim: Simulator) -> None:
    """No PIN: LookupUser by UserId, and ``pin_ok`` stays unknown."""
    async with member(sim.url) as ils:
        record = await ils.patron_status(PATRON, None, timeout=BUDGET)
    assert record.found
    assert record.pin_ok is None
    assert b"UserIdentifierValue>21001000000001<" in sim.ncip.last_body


async def test_an_unknown_patron_is_not_found(sim: Simulator) -> None:
    """``Unknown User`` is a patron not found, not an error."""
    async with member(sim.url) as ils:
        record = await ils.patron_status("21001999999999", PIN, timeout=BUDGET)
    assert not record.found
    assert record.pin_ok is False


async def test_a_wrong_pin_is_reported(sim: Simulator) -> None:
    """``User Authentication Failed``: the patron exists, the PIN is wrong."""
    async with member(sim.url) as ils:
        record = await ils.patron_status(PATRON, "9999", timeout=BUDGET)
    assert record.found
    assert record.pin_ok is False


async def test_a_blocked_patron_is_denied_charge_privileges(sim: Simulator) -> None:
    """A BlockOrTrap becomes the SIP2 "charge privileges denied" status, with its reason."""
    async with member(sim.url) as ils:
        record = await ils.patron_status(BLOCKED, PIN, timeout=BUDGET)
    assert record.found
    assert record.pin_ok is True
    assert record.blocked
    assert record.screen_messages == ("Excessive fines",)


def test_privileges_and_blocks_are_read_leniently() -> None:
    """PROFILE/STATUS pairs, privilege types with "active", User Blocked Problems, fines."""
    profile_style = b"""<NCIPMessage xmlns="http://www.niso.org/2008/ncip" version="2">
      <LookupUserResponse><UserId><UserIdentifierValue>p1</UserIdentifierValue></UserId>
        <UserFiscalAccount><AccountBalance><CurrencyCode>USD</CurrencyCode>
          <MonetaryValue>1250</MonetaryValue></AccountBalance></UserFiscalAccount>
        <UserOptionalFields>
          <NameInformation><PersonalNameInformation><StructuredPersonalUserName>
            <GivenName>Donald</GivenName><Surname>Duck</Surname>
          </StructuredPersonalUserName></PersonalNameInformation></NameInformation>
          <UserPrivilege><AgencyUserPrivilegeType>LIBRARY</AgencyUserPrivilegeType>
            <UserPrivilegeStatus><UserPrivilegeStatusType>g</UserPrivilegeStatusType>
            </UserPrivilegeStatus></UserPrivilege>
          <UserPrivilege><AgencyUserPrivilegeType>PROFILE</AgencyUserPrivilegeType>
            <UserPrivilegeStatus><UserPrivilegeStatusType>faculty</UserPrivilegeStatusType>
            </UserPrivilegeStatus></UserPrivilege>
          <UserPrivilege><AgencyUserPrivilegeType>STATUS</AgencyUserPrivilegeType>
            <UserPrivilegeStatus><UserPrivilegeStatusType>BLOCKED</UserPrivilegeStatusType>
            </UserPrivilegeStatus></UserPrivilege>
          <BlockOrTrap><AgencyId>x</AgencyId><BlockOrTrapType></BlockOrTrapType></BlockOrTrap>
        </UserOptionalFields>
      </LookupUserResponse></NCIPMessage>"""
    record = patron_record(read_reply(profile_style), pin_checked=False)
    assert record.found
    assert record.pin_ok is None
    assert record.name == "Donald Duck"
    assert record.patron_type == "faculty"
    assert record.blocked
    assert record.screen_messages == ()  # an empty BlockOrTrap carries no reason
    assert (record.fines, record.currency) == (Decimal("12.50"), "USD")

    type_style = b"""<ns1:NCIPMessage xmlns:ns1="http://www.niso.org/2008/ncip">
      <ns1:LookupUserResponse><ns1:UserId><ns1:UserIdentifierValue>p2</ns1:UserIdentifierValue>
      </ns1:UserId><ns1:UserOptionalFields><ns1:UserPrivilege><ns1:AgencyId>a</ns1:AgencyId>
        <ns1:AgencyUserPrivilegeType>Graduate</ns1:AgencyUserPrivilegeType>
        <ns1:ValidToDate>2001-01-01</ns1:ValidToDate>
      </ns1:UserPrivilege></ns1:UserOptionalFields></ns1:LookupUserResponse></ns1:NCIPMessage>"""
    record = patron_record(read_reply(type_style), pin_checked=True)
    assert record.patron_type == "Graduate"
    assert record.expired
    assert not record.blocked
    assert record.pin_ok is True

    problem = b"""<NCIPMessage xmlns="http://www.niso.org/2008/ncip"><LookupUserResponse>
      <Problem><ProblemType>user blocked</ProblemType><ProblemDetail>Fines</ProblemDetail>
      </Problem></LookupUserResponse></NCIPMessage>"""
    record = patron_record(read_reply(problem), pin_checked=True)
    assert record.found
    assert record.blocked
    assert record.pin_ok is None
    assert record.screen_messages == ("user blocked: Fines",)


# --- circulation -------------------------------------------------------------------------


async def test_checkout_renew_and_checkin(sim: Simulator) -> None:
    """A loan to a proxy account: made, renewed, returned; a second return is still ok."""
    items = sim.ncip.library.items
    async with member(sim.url) as ils:
        out = await ils.checkout(PROXY, ITEM, due=None, timeout=BUDGET)
        assert out.ok
        assert out.due is not None
        assert out.due > datetime.now(UTC)
        assert out.due_text.startswith(f"{out.due:%Y-%m-%d}")
        assert items[ITEM].holder == PROXY

        renewed = await ils.renew(PROXY, ITEM, timeout=BUDGET)
        assert renewed.ok
        assert renewed.renewal
        assert items[ITEM].renewals == 1

        back = await ils.checkin(ITEM, "alpha-desk", timeout=BUDGET)
        assert back.ok
        assert back.previous_patron == PROXY
        assert items[ITEM].holder is None

        again = await ils.checkin(ITEM, "alpha-desk", timeout=BUDGET)
        assert again.ok
        assert again.screen_messages == ("Item was not checked out",)
    assert sim.ncip.calls == ["CheckOutItem", "RenewItem", "CheckInItem", "CheckInItem"]


async def test_the_desired_due_date_is_sent(sim: Simulator) -> None:
    """``due`` travels as DesiredDateDue; the simulated ILS lends until then."""
    due = datetime(2031, 3, 4, 12, 0, tzinfo=UTC)
    async with member(sim.url) as ils:
        out = await ils.checkout(PROXY, ITEM, due=due, timeout=BUDGET)
    assert out.ok
    assert out.due == due
    assert sim.ncip.library.items[ITEM].due == due


async def test_refusals_are_outcomes_with_the_reason(sim: Simulator) -> None:
    """Problems (out to someone else, unknown item, renewal limits) come back as ok=False."""
    async with member(sim.url) as ils:
        assert (await ils.checkout(OTHER_PATRON, ITEM, due=None, timeout=BUDGET)).ok
        taken = await ils.checkout(PROXY, ITEM, due=None, timeout=BUDGET)
        assert not taken.ok
        assert taken.screen_messages == (
            "Resource Cannot Be Provided: Item is checked out to another patron",
        )
        blocked = await ils.checkout(BLOCKED, "31001000000002", due=None, timeout=BUDGET)
        assert not blocked.ok
        assert blocked.screen_messages[0].startswith("User Blocked")
        unknown = await ils.checkout(PROXY, "31001999999999", due=None, timeout=BUDGET)
        assert unknown.screen_messages == ("Unknown Item",)
        not_theirs = await ils.renew(PROXY, ITEM, timeout=BUDGET)
        assert not not_theirs.ok
        for _ in range(sim.ncip.library.max_renewals):
            assert (await ils.renew(OTHER_PATRON, ITEM, timeout=BUDGET)).ok
        limit = await ils.renew(OTHER_PATRON, ITEM, timeout=BUDGET)
        assert not limit.ok
        assert limit.screen_messages == ("Maximum Renewals Exceeded",)
        missing = await ils.checkin("31001999999999", "alpha-desk", timeout=BUDGET)
        assert not missing.ok


async def test_item_information(sim: Simulator) -> None:
    """LookupItem: title, location, and the circulation status as SIP2's number."""
    async with member(sim.url) as ils:
        shelf = await ils.item_information(ITEM, timeout=BUDGET)
        assert shelf.found
        assert shelf.title == "Alpha Book 1"
        assert shelf.permanent_location == "alpha-stacks"
        assert shelf.circulation_status == CirculationStatus.AVAILABLE
        await ils.checkout(PROXY, ITEM, due=None, timeout=BUDGET)
        out = await ils.item_information(ITEM, timeout=BUDGET)
        assert out.circulation_status == CirculationStatus.CHARGED
        unknown = await ils.item_information("31001999999999", timeout=BUDGET)
        assert not unknown.found


async def test_accept_and_delete_a_temporary_item(sim: Simulator) -> None:
    """AcceptItem makes a temporary item on hold for the patron; DeleteItem removes it."""
    temporary = "31002000000007"
    items = sim.ncip.library.items
    async with member(sim.url) as ils:
        accepted = await ils.accept_item(
            "loan-1",
            PATRON,
            temporary,
            title="Beta Book 7",
            due=datetime(2031, 1, 1, tzinfo=UTC),
            pickup_location="alpha-desk",
            timeout=BUDGET,
        )
        assert accepted.ok
        assert (accepted.item, accepted.request_id) == (temporary, "loan-1")
        assert items[temporary].title == "Beta Book 7"
        assert items[temporary].holds == [PATRON]

        twice = await ils.accept_item("loan-2", PATRON, temporary, timeout=BUDGET)
        assert not twice.ok
        assert twice.screen_messages[0].startswith("Cannot Accept Item")

        # The patron can now be charged the temporary item at home.
        assert (await ils.checkout(PATRON, temporary, due=None, timeout=BUDGET)).ok
        assert (await ils.checkin(temporary, "alpha-desk", timeout=BUDGET)).ok

        assert (await ils.delete_item(temporary, timeout=BUDGET)).ok
        assert temporary not in items
        gone = await ils.delete_item(temporary, timeout=BUDGET)
        assert gone.ok
        assert gone.screen_messages == ("Item was not there",)


# --- failures ------------------------------------------------------------------------------


async def test_a_dead_endpoint_is_unavailable_at_once(
    frozen_clock: trio.testing.MockClock,
) -> None:
    """Connection refused: IlsUnavailable without waiting for the budget (trio time
    stands still: nothing waited for it); the member is unhealthy."""
    async with member(dead_url()) as ils:
        started = trio.current_time()
        with pytest.raises(IlsUnavailable, match="cannot connect"):
            await ils.patron_status(PATRON, PIN, timeout=BUDGET)
        assert trio.current_time() == started
        assert not healthy(ils)
        # The breaker opens after BreakerSettings().failure_threshold (5) refusals in a
        # row (the old back-off started after the first one); then requests fail at once.
        refused = 1
        while endpoint_stats(ils)["state"] != "open":
            with pytest.raises(IlsUnavailable, match="cannot connect"):
                await ils.patron_status(PATRON, PIN, timeout=BUDGET)
            refused += 1
            assert refused <= 5
        assert endpoint_stats(ils)["requests"] == refused
        with pytest.raises(IlsUnavailable, match="every endpoint is down"):
            await ils.checkout(PROXY, ITEM, due=None, timeout=BUDGET)


@pytest.mark.slow
async def test_a_slow_endpoint_times_out_within_the_budget(sim: Simulator) -> None:
    """The caller's budget bounds the whole exchange: IlsTimeout, naming the stage,
    while the ILS still holds its answer."""
    with trio.fail_after(10), held(sim.ncip):
        async with member(sim.url) as ils:
            with pytest.raises(IlsTimeout, match=r"no answer to LookupUser within 0\.3s"):
                await ils.patron_status(PATRON, PIN, timeout=0.3)
            assert sim.ncip.calls == []  # not answered
            assert ils.statistics()["in_flight"] == 0


async def test_an_http_error_page_is_a_protocol_error(sim: Simulator) -> None:
    """HTTP 500 with a non-NCIP body: IlsProtocolError, with a short excerpt of the body."""
    sim.ncip.fault = (500, b"<Problem><message>NullPointerException</message></Problem>")
    async with member(sim.url) as ils:
        with pytest.raises(IlsProtocolError, match="HTTP 500") as caught:
            await ils.checkout(PROXY, ITEM, due=None, timeout=BUDGET)
    assert "NullPointerException" in caught.value.detail
    assert len(caught.value.detail) < 400


async def test_a_body_that_is_not_ncip_is_a_protocol_error(sim: Simulator) -> None:
    """HTTP 200 with an HTML page is not an answer to trust."""
    sim.ncip.fault = (200, b"<html><body>It works!</body></html>")
    async with member(sim.url) as ils:
        with pytest.raises(IlsProtocolError, match="not NCIP"):
            await ils.item_information(ITEM, timeout=BUDGET)


async def test_a_second_endpoint_takes_over(sim: Simulator) -> None:
    """The first endpoint refuses connections: the request goes to the next one."""
    async with member(dead_url(), sim.url) as ils:
        record = await ils.patron_status(PATRON, PIN, timeout=BUDGET)
        assert record.found
        assert endpoint_stats(ils, 0)["healthy"] is False
        assert endpoint_stats(ils, 1)["healthy"] is True
        assert healthy(ils)
        # While the first one backs off, requests go straight to the second.
        assert (await ils.item_information(ITEM, timeout=BUDGET)).found
        assert endpoint_stats(ils, 0)["requests"] == 1
    assert sim.ncip.calls == ["LookupUser", "LookupItem"]


async def test_the_bulkhead_caps_requests_in_flight(sim: Simulator) -> None:
    """With ``concurrency = 1`` a second request waits for the first one's slot: it
    reaches the ILS only once the first is answered."""
    arrivals = Arrivals.at_ncip(sim.ncip)
    with trio.fail_after(10):
        async with member(sim.url, concurrency=1) as ils, trio.open_nursery() as nursery:
            with held(sim.ncip):
                for _ in range(2):
                    nursery.start_soon(partial(ils.item_information, ITEM, timeout=BUDGET))
                await arrivals.wait("LookupItem")
                await trio.testing.wait_all_tasks_blocked()  # the other waits for a slot
                first_alone = (arrivals.count("LookupItem"), ils.statistics()["in_flight"])
            with held(sim.ncip):  # the first is answered; the second is held in turn
                await arrivals.wait("LookupItem", count=2)
                second_alone = (len(sim.ncip.calls), ils.statistics()["in_flight"])
    assert first_alone == (1, 1)
    assert second_alone == (1, 1)  # the first answered, the second in flight


@pytest.mark.slow
async def test_health_checks_find_a_dead_endpoint_and_its_return(sim: Simulator) -> None:
    """``run()`` sends LookupAgency; a dead endpoint is unhealthy and retried with back-off."""
    async with member(sim.url, keepalive_s=0.05) as ils, trio.open_nursery() as nursery:
        await nursery.start(ils.run)
        await eventually(lambda: sim.ncip.calls.count("LookupAgency") >= 2)
        assert healthy(ils)
        nursery.cancel_scope.cancel()
    async with member(dead_url(), backoff_base_s=0.05) as ils, trio.open_nursery() as nursery:
        await nursery.start(ils.run)
        await eventually(lambda: int(str(endpoint_stats(ils)["failures"])) >= 3)
        assert not healthy(ils)
        assert "cannot connect" in str(endpoint_stats(ils)["last_error"])
        nursery.cancel_scope.cancel()


async def test_keep_alive_probes_of_a_failing_endpoint_back_off(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Each failed keep-alive probe doubles the wait before the next one, from
    ``backoff_base_s`` up to ``backoff_max_s`` (a refused connection is the fault, made
    by a mock transport so that the fake clock can time the probes)."""
    probed: list[float] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        probed.append(trio.current_time())
        raise httpx.ConnectError("connection refused", request=request)

    ils = NcipMemberIls(
        "alpha",
        settings("http://alpha.invalid/ncip"),
        None,
        keepalive_s=30.0,
        backoff_base_s=0.5,
        backoff_max_s=4.0,
        # The breaker stays closed, so that the keep-alive probes go on.
        breaker=BreakerSettings(failure_threshold=100, cool_down_s=60.0, max_cool_down_s=60.0),
        transport=httpx.MockTransport(refuse),
    )
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(ils.run)
            await eventually(lambda: len(probed) >= 7, timeout=60, every=0.01, what="seven probes")
            nursery.cancel_scope.cancel()
    finally:
        await ils.aclose()
    gaps = [later - earlier for earlier, later in itertools.pairwise(probed)]
    assert gaps[:6] == pytest.approx([0.5, 1.0, 2.0, 4.0, 4.0, 4.0])
    assert int(str(endpoint_stats(ils)["failures"])) >= 7


@pytest.mark.slow
async def test_an_endpoint_failing_for_ever_is_still_probed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Past 1,024 failures in a row the probes keep coming at ``backoff_max_s`` (the
    back-off stays at its cap instead of overflowing a float and ending the task)."""
    probed: list[float] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        probed.append(trio.current_time())
        raise httpx.ConnectError("connection refused", request=request)

    ils = NcipMemberIls(
        "alpha",
        settings("http://alpha.invalid/ncip"),
        None,
        backoff_base_s=0.001,
        backoff_max_s=0.002,
        breaker=BreakerSettings(failure_threshold=10_000, cool_down_s=60.0, max_cool_down_s=60.0),
        transport=httpx.MockTransport(refuse),
    )
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(ils.run)
            await eventually(
                lambda: len(probed) >= 1030, timeout=60, every=0.001, what="1,030 probes"
            )
            nursery.cancel_scope.cancel()
    finally:
        await ils.aclose()
    assert probed[-1] - probed[-2] == pytest.approx(0.002)


# --- dialect and authentication -------------------------------------------------------------


async def test_the_koha_style_reaches_the_ils(sim: Simulator) -> None:
    """Prefix-free XML with unqualified attributes and date-only dates is sent and read."""
    async with member(sim.url, prefix_free=True, date_only=True) as ils:
        out = await ils.checkout(
            PROXY, ITEM, due=datetime(2031, 5, 6, 15, 0, tzinfo=UTC), timeout=BUDGET
        )
    assert out.ok
    body = sim.ncip.last_body
    assert b"ns1:" not in body
    assert b'<NCIPMessage xmlns="http://www.niso.org/2008/ncip" version=' in body
    assert b"<DesiredDateDue>2031-05-06</DesiredDateDue>" in body
    assert sim.ncip.library.items[ITEM].due == datetime(2031, 5, 6, tzinfo=UTC)


async def test_the_initiation_header_names_both_agencies(sim: Simulator) -> None:
    """FromAgencyId, ToAgencyId and the application profile go in every request."""
    async with member(sim.url, from_agency="metro-gw", application_profile="ILL") as ils:
        await ils.item_information(ITEM, timeout=BUDGET)
    body = sim.ncip.last_body
    assert b"<ns1:FromAgencyId><ns1:AgencyId>metro-gw</ns1:AgencyId>" in body
    assert b"<ns1:ToAgencyId><ns1:AgencyId>alpha</ns1:AgencyId>" in body
    assert b"<ns1:ApplicationProfileType>ILL</ns1:ApplicationProfileType>" in body
    assert sim.ncip.last_headers["content-type"] == "application/xml; charset=utf-8"


async def test_an_api_key_is_sent_in_its_header(sim: Simulator) -> None:
    """``auth = "api-key"`` puts the secret in ``api_key_header``; a wrong key is refused."""
    sim.ncip.required_headers = {"X-Okapi-Key": "s3cret"}
    async with member(
        sim.url, secret="s3cret", auth="api-key", api_key_header="X-Okapi-Key"
    ) as ils:
        assert (await ils.patron_status(PATRON, PIN, timeout=BUDGET)).found
    assert sim.ncip.last_headers["x-okapi-key"] == "s3cret"
    async with member(sim.url, secret="wrong", auth="api-key", api_key_header="X-Okapi-Key") as ils:
        with pytest.raises(IlsLoginRefused, match="HTTP 401"):
            await ils.patron_status(PATRON, PIN, timeout=BUDGET)


async def test_a_bearer_token_is_sent(sim: Simulator) -> None:
    """``auth = "bearer"`` sends ``Authorization: Bearer <secret>``."""
    sim.ncip.required_headers = {"Authorization": "Bearer tok-1"}
    async with member(sim.url, secret="tok-1", auth="bearer") as ils:
        assert (await ils.item_information(ITEM, timeout=BUDGET)).found
    assert sim.ncip.last_headers["authorization"] == "Bearer tok-1"


async def test_agency_authentication_travels_in_the_header(sim: Simulator) -> None:
    """``auth = "agency"`` sends the secret as FromAgencyAuthentication, not as HTTP auth."""
    async with member(sim.url, secret="agency-pw", auth="agency") as ils:
        assert (await ils.item_information(ITEM, timeout=BUDGET)).found
    assert b"<ns1:FromAgencyAuthentication>agency-pw</" in sim.ncip.last_body
    assert "authorization" not in sim.ncip.last_headers


# --- logs ------------------------------------------------------------------------------------


@pytest.fixture
def debug_logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """Every log event, debug included, captured (the previous configuration restored)."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(0))
    try:
        with structlog.testing.capture_logs() as captured:
            yield captured
    finally:
        structlog.configure(**saved)


async def test_exchanges_are_logged_without_pins(
    sim: Simulator, debug_logs: list[MutableMapping[str, Any]]
) -> None:
    """The raw request and answer are logged at debug level; PINs and secrets never are."""
    async with member(sim.url, secret="agency-pw", auth="agency") as ils:
        await ils.patron_status(PATRON, "8642", timeout=BUDGET)
    exchanges = [e for e in debug_logs if e["event"] == "NCIP exchange"]
    assert len(exchanges) == 1
    logged = exchanges[0]
    assert logged["log_level"] == "debug"
    assert logged["service"] == "LookupUser"
    assert "AuthenticationInputData>***</" in logged["xml"]
    assert "FromAgencyAuthentication>***</" in logged["xml"]
    assert "User Authentication Failed" in logged["body"]
    everything = repr(debug_logs)
    assert "8642" not in everything
    assert "agency-pw" not in everything


def test_redaction_masks_every_authentication_input() -> None:
    """Prefixed or not, the content of AuthenticationInputData is masked."""
    text = redact_ncip(
        b"<a:AuthenticationInputData>1234</a:AuthenticationInputData>"
        b"<AuthenticationInputData x='1'>\n99\n</AuthenticationInputData>"
    )
    assert "1234" not in text
    assert "99" not in text
    assert text.count("***") == 2
