"""The SIP2 member-ILS client against the real simulated ILS over loopback sockets."""

from __future__ import annotations

import gc
import warnings
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
import trio
import trio.testing

from adapters.errors import IlsLoginRefused, IlsTimeout, IlsUnavailable
from adapters.ils.base import MemberIls, Sip2Forwarding
from adapters.ils.sip2 import Sip2MemberIls, dialect_of, parse_due_date
from adapters.ils.sip2_link import Endpoint
from config.models import DialectSettings, IlsSettings
from config.resolved import ResolvedDialect, ResolvedIls, listener_dialect
from gateway.demo.simulator.data import packaged_library
from gateway.demo.simulator.engine import SimulatedIls
from gateway.demo.simulator.sip2_server import serve_simulator
from protocols.sip2 import (
    DEFAULT_DIALECT,
    NEED_DATA,
    AcsConnection,
    Charset,
    CirculationStatus,
    ErrorDetection,
    FeeType,
    ItemInformationResponse,
    Language,
    LoginRequest,
    LoginResponse,
    Message,
    MessageReceived,
    PatronStatus,
    PatronStatusRequest,
    PatronStatusResponse,
    SecurityMarker,
    Terminator,
    Unencodable,
    decode,
)
from tests.helpers.arrivals import Arrivals, held
from tests.helpers.polling import eventually
from tests.helpers.services import dead_port, free_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

PASSWORD = "sim-secret"
PATRON = "21001000000001"
BLOCKED = "21001000000099"
ITEM = "31001000000001"
TEST_BUDGET_S = 10


@dataclass
class Simulator:
    """A simulated alpha ILS served on loopback."""

    ils: SimulatedIls
    host: str
    port: int

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """The alpha library's simulated ILS, listening on a free loopback port."""
    ils = SimulatedIls(packaged_library("alpha"), PASSWORD)
    async with trio.open_nursery() as nursery:
        host, port = await nursery.start(partial(serve_simulator, ils, host="127.0.0.1", port=0))
        yield Simulator(ils, host, port)
        nursery.cancel_scope.cancel()


def settings(*endpoints: str, timeout_s: float = 1.0, concurrency: int = 2) -> ResolvedIls:
    """Resolved ILS settings for the tests (short time-outs, one pooled connection)."""
    return ResolvedIls.of(
        IlsSettings(
            endpoints=endpoints,
            login="gateway",
            institution_id="alpha",
            timeout_s=timeout_s,
            connect_timeout_s=1.0,
            concurrency=concurrency,
            pool_size=1,
        )
    )


@asynccontextmanager
async def member(
    *endpoints: str,
    password: str = PASSWORD,
    concurrency: int = 2,
    keepalive_s: float = 30.0,
    backoff_base_s: float = 0.5,
) -> AsyncIterator[Sip2MemberIls]:
    """A ``Sip2MemberIls`` for alpha, always closed at the end."""
    ils = Sip2MemberIls(
        "alpha",
        settings(*endpoints, concurrency=concurrency),
        password,
        keepalive_s=keepalive_s,
        backoff_base_s=backoff_base_s,
    )
    try:
        yield ils
    finally:
        await ils.aclose()


def healthy(ils: Sip2MemberIls) -> bool:
    """``ils.healthy``, read afresh (a call, so type checkers do not narrow it)."""
    return ils.healthy


def endpoint_stats(ils: Sip2MemberIls, index: int = 0) -> dict[str, object]:
    endpoints = ils.statistics()["endpoints"]
    assert isinstance(endpoints, list)
    stats = endpoints[index]
    assert isinstance(stats, dict)
    return stats


# --- the neutral operations ---------------------------------------------------------------


async def test_it_implements_both_protocols(sim: Simulator) -> None:
    """The client is a ``MemberIls`` and a ``Sip2Forwarding``."""
    async with member(sim.endpoint) as ils:
        neutral: MemberIls = ils
        assert neutral.member == "alpha"
        assert isinstance(ils, Sip2Forwarding)


async def test_patron_status_with_the_right_pin(sim: Simulator) -> None:
    """A known patron with the right PIN: found, PIN ok, name, type and fines."""
    with trio.fail_after(TEST_BUDGET_S):
        async with member(sim.endpoint) as ils:
            record = await ils.patron_status(PATRON, "1234", timeout=1.0)
    assert record.found
    assert record.pin_ok is True
    assert record.name == "Alpha Patron 1"
    assert record.patron_type == "adult"
    assert record.currency == "USD"
    assert record.fines == 0
    assert not record.blocked
    assert isinstance(record.response, PatronStatusResponse)
    assert record.response.institution_id == "alpha"
    request = sim.ils.last_request
    assert isinstance(request, PatronStatusRequest)
    assert request.institution_id == "alpha"
    assert request.patron_password == "1234"


async def test_patron_status_with_a_wrong_pin(sim: Simulator) -> None:
    """A wrong PIN is an outcome (``pin_ok`` false), not an error."""
    with trio.fail_after(TEST_BUDGET_S):
        async with member(sim.endpoint) as ils:
            record = await ils.patron_status(PATRON, "0000", timeout=1.0)
    assert record.found
    assert record.pin_ok is False


async def test_patron_status_without_a_pin_does_not_check_it(sim: Simulator) -> None:
    """No PIN given: ``pin_ok`` is None and an empty AD is sent."""
    with trio.fail_after(TEST_BUDGET_S):
        async with member(sim.endpoint) as ils:
            record = await ils.patron_status(PATRON, None, timeout=1.0)
    assert record.found
    assert record.pin_ok is None
    request = sim.ils.last_request
    assert isinstance(request, PatronStatusRequest)
    assert request.patron_password == ""


async def test_patron_status_of_an_unknown_patron(sim: Simulator) -> None:
    """An unknown patron is not found, denied, with the ILS's message."""
    with trio.fail_after(TEST_BUDGET_S):
        async with member(sim.endpoint) as ils:
            record = await ils.patron_status("21001999999999", "1234", timeout=1.0)
    assert not record.found
    assert record.pin_ok is False
    assert record.blocked
    assert record.screen_messages == ("Patron not found",)


async def test_patron_status_of_a_blocked_patron(sim: Simulator) -> None:
    """The ILS's blocks and fines come through."""
    with trio.fail_after(TEST_BUDGET_S):
        async with member(sim.endpoint) as ils:
            record = await ils.patron_status(BLOCKED, "1234", timeout=1.0)
    assert record.found
    assert record.blocked
    assert record.status & PatronStatus.EXCESSIVE_OUTSTANDING_FINES
    assert str(record.fines) == "25.00"


async def test_checkout_renew_checkin(sim: Simulator) -> None:
    """Lend, renew and return one item; each outcome carries what the ILS said."""
    with trio.fail_after(TEST_BUDGET_S):
        async with member(sim.endpoint) as ils:
            lent = await ils.checkout(PATRON, ITEM, due=None, timeout=1.0)
            assert lent.ok
            assert not lent.renewal
            assert lent.title == "Alpha Book 1"
            held = sim.ils.library.items[ITEM]
            assert held.holder == PATRON
            assert lent.due == held.due
            assert lent.due is not None
            assert lent.due > datetime.now(UTC) + timedelta(days=20)
            assert len(lent.due_text) == 18

            renewed = await ils.renew(PATRON, ITEM, timeout=1.0)
            assert renewed.ok
            assert renewed.renewal
            assert renewed.due == held.due
            assert held.renewals == 1

            returned = await ils.checkin(ITEM, "alpha-main", timeout=1.0)
    assert returned.ok
    assert returned.permanent_location == "alpha-stacks"
    assert returned.title == "Alpha Book 1"
    assert returned.previous_patron == PATRON
    assert returned.alert is False
    assert returned.sort_bin is None
    assert returned.screen_messages == ()
    assert returned.extensions == ()
    assert sim.ils.library.items[ITEM].holder is None
    assert sim.ils.executed[-3:] == ["11", "29", "09"]


async def test_refused_checkout_is_an_outcome(sim: Simulator) -> None:
    """An item out to someone else: ``ok`` false with the ILS's reason."""
    sim.ils.library.items[ITEM].holder = "21001000000002"
    with trio.fail_after(TEST_BUDGET_S):
        async with member(sim.endpoint) as ils:
            lent = await ils.checkout(PATRON, ITEM, due=None, timeout=1.0)
    assert not lent.ok
    assert lent.due is None
    assert lent.due_text == ""
    assert lent.screen_messages == ("Item is checked out to another patron",)


async def test_renewing_an_item_not_out_to_the_patron_is_refused(sim: Simulator) -> None:
    """The ILS's renewal refusal comes back as an outcome."""
    with trio.fail_after(TEST_BUDGET_S):
        async with member(sim.endpoint) as ils:
            renewed = await ils.renew(PATRON, ITEM, timeout=1.0)
    assert not renewed.ok
    assert renewed.screen_messages == ("Item is not checked out to this patron",)


async def test_checkin_with_a_waiting_hold_raises_the_alert(sim: Simulator) -> None:
    """The alert and the vendor fields (CV, CY) of the answer are kept."""
    item = sim.ils.library.items[ITEM]
    item.holder = PATRON
    item.holds.append("21001000000002")
    with trio.fail_after(TEST_BUDGET_S):
        async with member(sim.endpoint) as ils:
            returned = await ils.checkin(ITEM, "alpha-main", timeout=1.0)
    assert returned.ok
    assert returned.alert
    assert returned.extensions == (("CV", "01"), ("CY", "21001000000002"))
    assert "Hold waiting: put it on the hold shelf" in returned.screen_messages


async def test_checkin_of_an_unknown_item(sim: Simulator) -> None:
    """Not found: ``ok`` false with the ILS's message."""
    with trio.fail_after(TEST_BUDGET_S):
        async with member(sim.endpoint) as ils:
            returned = await ils.checkin("31001999999999", "alpha-main", timeout=1.0)
    assert not returned.ok
    assert returned.screen_messages == ("Item not found",)


async def test_item_information_found(sim: Simulator) -> None:
    """A known item: title, media type, locations and status."""
    with trio.fail_after(TEST_BUDGET_S):
        async with member(sim.endpoint) as ils:
            record = await ils.item_information("31001000000002", timeout=1.0)
    assert record.found
    assert record.title == "Alpha Book 2"
    assert record.media_type == "001"
    assert record.permanent_location == "alpha-stacks"
    assert record.current_location == "alpha-stacks"
    assert record.circulation_status == 3


async def test_item_information_not_found(sim: Simulator) -> None:
    """An unknown item: not found, status "other"."""
    with trio.fail_after(TEST_BUDGET_S):
        async with member(sim.endpoint) as ils:
            record = await ils.item_information("31001999999999", timeout=1.0)
    assert not record.found
    assert record.title == ""
    assert record.circulation_status == 1


async def test_forward_passes_the_message_and_the_answer_untouched(sim: Simulator) -> None:
    """``forward`` sends the kiosk's message as it is and returns the raw answer."""
    request = PatronStatusRequest(
        language=Language.ENGLISH,
        transaction_date=datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
        institution_id="kiosk-ao",
        patron_identifier=PATRON,
        patron_password="1234",
    )
    with trio.fail_after(TEST_BUDGET_S):
        async with member(sim.endpoint) as ils:
            answer = await ils.forward(request, timeout=1.0)
    assert sim.ils.last_request == request
    assert isinstance(answer, PatronStatusResponse)
    assert answer.valid_patron_password is True


async def _recording_ils(frames: list[bytes], stream: trio.SocketStream) -> None:
    """An ILS that accepts the login, answers every 17 and keeps every byte it got."""
    conn = AcsConnection(DEFAULT_DIALECT, ErrorDetection.AUTO, login_required=True)
    async with stream:
        while data := await stream.receive_some(4096):
            frames.append(data)
            conn.receive_data(data)
            while (event := conn.next_event()) is not NEED_DATA:
                assert isinstance(event, MessageReceived)
                if isinstance(event.message, LoginRequest):
                    answer: Message = LoginResponse(ok=True)
                else:
                    answer = ItemInformationResponse(
                        circulation_status=CirculationStatus.AVAILABLE,
                        security_marker=SecurityMarker.NONE,
                        fee_type=FeeType.OTHER,
                        transaction_date=datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
                        item_identifier=ITEM,
                    )
                await stream.send_all(conn.send(answer))


async def test_forward_as_read_sends_the_kiosks_own_body() -> None:
    """With ``as_read`` a request decoded from a kiosk reaches the ILS as the kiosk wrote
    it (here: no delimiter after its last field), with the link's own trailer; without,
    in the codec's writing (the delimiter put back)."""
    kiosk_body = b"1720260301    100000AOalpha|AB" + ITEM.encode()
    kiosk_dialect = dialect_of(listener_dialect(DialectSettings()))[0]
    request = decode(kiosk_body + b"\r", kiosk_dialect).message
    frames: list[bytes] = []
    with trio.fail_after(TEST_BUDGET_S):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                partial(trio.serve_tcp, partial(_recording_ils, frames), 0, host="127.0.0.1")
            )
            port = listeners[0].socket.getsockname()[1]
            async with member(f"127.0.0.1:{port}") as ils:
                for as_read in (True, False):
                    answer = await ils.forward(request, timeout=1.0, as_read=as_read)
                    assert answer.code == "18"
            nursery.cancel_scope.cancel()
    sent_as_read, sent_rewritten = (f for f in frames if f.startswith(b"17"))
    assert sent_as_read.startswith(kiosk_body + b"AY")
    assert sent_rewritten.startswith(kiosk_body + b"|AY")


# --- the pool ----------------------------------------------------------------------------


async def test_the_pool_reuses_one_logged_in_connection(sim: Simulator) -> None:
    """Sequential requests share one connection, logged in once."""
    with trio.fail_after(TEST_BUDGET_S):
        async with member(sim.endpoint) as ils:
            for _ in range(4):
                await ils.patron_status(PATRON, "1234", timeout=1.0)
                assert sim.ils.connections == 1
            await ils.item_information(ITEM, timeout=1.0)
            assert sim.ils.connections == 1
            assert endpoint_stats(ils)["idle_connections"] == 1
    assert sim.ils.executed.count("93") == 1
    assert sim.ils.executed == ["93", "23", "23", "23", "23", "17"]


async def test_aclose_closes_the_pooled_connections(sim: Simulator) -> None:
    """After ``aclose`` the simulator sees its connection go away."""
    with trio.fail_after(TEST_BUDGET_S):
        async with member(sim.endpoint) as ils:
            await ils.patron_status(PATRON, None, timeout=1.0)
            assert sim.ils.connections == 1
        await eventually(lambda: sim.ils.connections == 0, what="the ILS to see the link closed")


async def test_a_wrong_login_password_is_refused(sim: Simulator) -> None:
    """The ILS refusing the gateway's 93 is ``IlsLoginRefused``, naming the member."""
    with trio.fail_after(TEST_BUDGET_S):
        async with member(sim.endpoint, password="not-the-password") as ils:
            with pytest.raises(IlsLoginRefused) as caught:
                await ils.patron_status(PATRON, "1234", timeout=1.0)
    assert caught.value.member == "alpha"
    assert "refused" in caught.value.detail
    assert sim.ils.executed == ["93"]


# --- health and failures ------------------------------------------------------------------


async def test_nothing_listening_is_unavailable_and_marks_the_endpoint_down(
    frozen_clock: trio.testing.MockClock,
) -> None:
    """A refused connection fails without waiting for a time-out; once the breaker opens
    requests fail at once (trio time stands still: nothing waited for it)."""
    port = dead_port()
    with trio.fail_after(TEST_BUDGET_S):
        async with member(f"127.0.0.1:{port}", backoff_base_s=30.0) as ils:
            assert healthy(ils)
            start = trio.current_time()
            with pytest.raises(IlsUnavailable) as first:
                await ils.patron_status(PATRON, "1234", timeout=5.0)
            assert trio.current_time() == start
            assert first.value.member == "alpha"
            assert "cannot connect" in first.value.detail
            assert not healthy(ils)
            stats = endpoint_stats(ils)
            assert stats["healthy"] is False
            assert stats["last_error"]
            # The breaker opens after BreakerSettings().failure_threshold (5) refusals in
            # a row (the old back-off started after the first one).
            refused = 1
            while endpoint_stats(ils)["state"] != "open":
                with pytest.raises(IlsUnavailable, match="cannot connect"):
                    await ils.patron_status(PATRON, "1234", timeout=5.0)
                refused += 1
                assert refused <= 5
            stats = endpoint_stats(ils)
            failures = stats["failures"]
            assert isinstance(failures, int)
            assert failures == refused
            retry_in = stats["retry_in_s"]
            assert isinstance(retry_in, float)
            assert retry_in > 0

            start = trio.current_time()
            with pytest.raises(IlsUnavailable, match="every endpoint is down"):
                await ils.patron_status(PATRON, "1234", timeout=5.0)
            assert trio.current_time() == start
            assert endpoint_stats(ils)["failures"] == failures


async def test_requests_avoid_an_endpoint_that_is_backing_off(sim: Simulator) -> None:
    """With a dead and a live endpoint, after one failure every request goes to the live one."""
    dead = f"127.0.0.1:{dead_port()}"
    with trio.fail_after(TEST_BUDGET_S):
        async with member(dead, sim.endpoint, backoff_base_s=30.0) as ils:
            failures = 0
            for _ in range(6):
                try:
                    record = await ils.patron_status(PATRON, "1234", timeout=1.0)
                except IlsUnavailable:
                    failures += 1
                else:
                    assert record.found
            assert failures <= 1
            assert healthy(ils)
            assert endpoint_stats(ils, 1)["healthy"] is True
            assert sim.ils.executed.count("23") >= 5


async def test_an_endpoint_that_comes_back_is_used_again() -> None:
    """An endpoint that refused a connection (one failure: its breaker stays closed)
    is tried by the next request once it listens again, which clears the failure."""
    library = SimulatedIls(packaged_library("alpha"), PASSWORD)
    port = free_port()
    with trio.fail_after(TEST_BUDGET_S):
        async with member(f"127.0.0.1:{port}", backoff_base_s=0.05) as ils:
            with pytest.raises(IlsUnavailable):
                await ils.patron_status(PATRON, "1234", timeout=1.0)
            assert not healthy(ils)
            async with trio.open_nursery() as nursery:
                await nursery.start(partial(serve_simulator, library, port=port))  # listens
                record = await ils.patron_status(PATRON, "1234", timeout=1.0)
                assert record.pin_ok is True
                assert healthy(ils)
                assert endpoint_stats(ils)["failures"] == 0
                assert endpoint_stats(ils)["last_error"] == ""
                await ils.aclose()
                nursery.cancel_scope.cancel()


@pytest.mark.slow
async def test_a_slow_ils_times_out_while_connecting(sim: Simulator) -> None:
    """A cold pool and an ILS that holds the login: the caller's budget ends the
    exchange (``IlsTimeout`` naming the "connecting" stage) while the ILS still has
    not answered."""
    with trio.fail_after(TEST_BUDGET_S), held(sim.ils):
        async with member(sim.endpoint) as ils:
            with pytest.raises(IlsTimeout) as caught:
                await ils.patron_status(PATRON, "1234", timeout=0.5)
            assert sim.ils.executed == []
    assert "(connecting)" in caught.value.detail
    assert "23" in caught.value.detail
    assert "0.5s" in caught.value.detail


@pytest.mark.slow
async def test_a_slow_answer_times_out_and_the_connection_is_not_reused(
    sim: Simulator,
) -> None:
    """A warm pool and an answer the ILS holds: the budget ends the exchange, the stage
    is named and the cut-short link dropped."""
    with trio.fail_after(TEST_BUDGET_S):
        async with member(sim.endpoint) as ils:
            await ils.patron_status(PATRON, "1234", timeout=1.0)
            with held(sim.ils):
                with pytest.raises(IlsTimeout) as caught:
                    await ils.patron_status(PATRON, "1234", timeout=0.5)
                assert sim.ils.executed.count("23") == 1  # the first request's only
            assert "(waiting for the answer)" in caught.value.detail
            assert endpoint_stats(ils)["idle_connections"] == 0
            # A slow ILS is not a dead one.
            assert healthy(ils)
            record = await ils.patron_status(PATRON, "1234", timeout=1.0)
            assert record.found
    assert sim.ils.executed.count("93") == 2


async def test_the_bulkhead_bounds_requests_in_flight(sim: Simulator) -> None:
    """With the one slot taken by a request the ILS holds, another times out waiting
    for a slot; the first is answered once the ILS lets it go."""
    with trio.fail_after(TEST_BUDGET_S):
        async with member(sim.endpoint, concurrency=1) as ils:
            await ils.patron_status(PATRON, None, timeout=1.0)
            arrivals = Arrivals.at(sim.ils)
            async with trio.open_nursery() as nursery:
                with held(sim.ils):
                    nursery.start_soon(partial(ils.patron_status, PATRON, None, timeout=5.0))
                    await arrivals.wait("23")
                    assert ils.statistics()["in_flight"] == 1
                    with pytest.raises(IlsTimeout) as caught:
                        await ils.patron_status(PATRON, None, timeout=0.1)
            assert "(waiting for a free slot)" in caught.value.detail
            assert ils.statistics()["in_flight"] == 0


async def test_the_health_loop_warms_the_pool_and_sends_status(sim: Simulator) -> None:
    """``run()`` opens a connection at once, checks it with 99, and ends after ``aclose``."""
    with trio.fail_after(TEST_BUDGET_S):
        async with (
            member(sim.endpoint, keepalive_s=0.05) as ils,
            trio.open_nursery() as nursery,
        ):
            await nursery.start(ils.run)
            await eventually(
                lambda: "99" in sim.ils.executed and endpoint_stats(ils)["idle_connections"] == 1
            )
            assert sim.ils.connections == 1
            assert sim.ils.executed[0] == "93"
            assert sim.ils.executed.count("93") == 1
            assert healthy(ils)
            # Closing the client ends the loop by itself (the nursery waits for it).
            await ils.aclose()
        await eventually(lambda: sim.ils.connections == 0, what="the ILS to see the link closed")


async def test_cancelling_the_health_loop_mid_check_leaks_no_connection(
    sim: Simulator,
) -> None:
    """Stopping ``run()`` (daemon shutdown) while it checks a link must close that link."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with trio.fail_after(TEST_BUDGET_S):
            async with (
                member(sim.endpoint, keepalive_s=0.05) as ils,
                trio.open_nursery() as nursery,
            ):
                await nursery.start(ils.run)
                await eventually(lambda: endpoint_stats(ils)["idle_connections"] == 1)
                arrivals = Arrivals.at(sim.ils)
                with held(sim.ils):
                    # Only the health check takes the idle link: a 99 is now in flight.
                    await arrivals.wait("99")
                    nursery.cancel_scope.cancel()
        gc.collect()
    leaked = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaked == []


async def test_the_health_loop_notices_a_dead_endpoint() -> None:
    """Without any request, ``run()`` marks an unreachable endpoint down."""
    port = dead_port()
    with trio.fail_after(TEST_BUDGET_S):
        async with member(f"127.0.0.1:{port}", keepalive_s=0.05) as ils:
            async with trio.open_nursery() as nursery:
                await nursery.start(ils.run)
                await eventually(lambda: not healthy(ils), what="the endpoint to be found down")
                nursery.cancel_scope.cancel()
            assert "cannot connect" in str(endpoint_stats(ils)["last_error"])


# --- pure helpers --------------------------------------------------------------------------


def test_parse_due_date_of_an_18_character_sip2_date() -> None:
    """The SIP2 date is read in the ILS's zone, or as UTC with the Z indicator."""
    assert parse_due_date("20261214    235959") == datetime(2026, 12, 14, 23, 59, 59, tzinfo=UTC)
    paris = ZoneInfo("Europe/Paris")
    assert parse_due_date("20261214    235959", paris) == datetime(
        2026, 12, 14, 23, 59, 59, tzinfo=paris
    )
    utc = parse_due_date("20261214   Z235959", paris)
    assert utc is not None
    assert utc.utcoffset() == timedelta(0)
    assert utc.hour == 23


def test_parse_due_date_of_an_iso_date_is_the_end_of_that_day() -> None:
    """A bare ISO date means 23:59:59 on that day, in the ILS's zone."""
    assert parse_due_date("2026-12-14") == datetime(2026, 12, 14, 23, 59, 59, tzinfo=UTC)
    paris = ZoneInfo("Europe/Paris")
    assert parse_due_date(" 2026-12-14 ", paris) == datetime(2026, 12, 14, 23, 59, 59, tzinfo=paris)


def test_parse_due_date_of_an_iso_datetime() -> None:
    """An ISO date-time keeps its time, and its offset when it has one."""
    assert parse_due_date("2026-12-14T10:30:00") == datetime(2026, 12, 14, 10, 30, tzinfo=UTC)
    plus_two = timezone(timedelta(hours=2))
    assert parse_due_date("2026-12-14T10:30:00+02:00") == datetime(
        2026, 12, 14, 10, 30, tzinfo=plus_two
    )


@pytest.mark.parametrize(
    "text", ["", "   ", "13/12/2026", "Due next week", "not a date at all!", "20261314    235959"]
)
def test_parse_due_date_of_anything_else_is_none(text: str) -> None:
    """Free text that is not a date gives ``None`` (never an exception)."""
    assert parse_due_date(text) is None


def test_parse_due_date_of_a_basic_iso_date_is_the_end_of_that_day() -> None:
    """``YYYYMMDD`` is an ISO 8601 date too: a bare date means the end of the day."""
    assert parse_due_date("20261214") == datetime(2026, 12, 14, 23, 59, 59, tzinfo=UTC)


def test_dialect_of_defaults() -> None:
    """Unset settings mean the spec's defaults."""
    dialect, detection = dialect_of(ResolvedDialect.of(DialectSettings()))
    assert dialect.charset is Charset.CP850
    assert dialect.field_delimiter == "|"
    assert dialect.terminator is Terminator.CR
    assert dialect.strict is False
    assert dialect.timezone == ZoneInfo("UTC")
    assert dialect.utc_dates is False
    assert dialect.unencodable is Unencodable.ERROR
    assert dialect.max_field_length == 255
    assert detection is ErrorDetection.AUTO


def test_dialect_of_every_setting() -> None:
    """Each setting reaches the codec's dialect."""
    dialect, detection = dialect_of(
        ResolvedDialect(
            charset="utf-8",
            delimiter="^",
            terminator="CRLF",
            strict=True,
            timezone="Europe/Paris",
            utc_dates=True,
            transliterate=True,
            error_detection="required",
            max_field_length=100,
            due_date="no-block",
        )
    )
    assert dialect.charset is Charset.UTF8
    assert dialect.field_delimiter == "^"
    assert dialect.terminator is Terminator.CRLF
    assert dialect.strict is True
    assert dialect.timezone == ZoneInfo("Europe/Paris")
    assert dialect.utc_dates is True
    assert dialect.unencodable is Unencodable.TRANSLITERATE
    assert dialect.max_field_length == 100
    assert detection is ErrorDetection.REQUIRED


def test_dialect_of_error_detection_off() -> None:
    """``off`` turns AY/AZ off."""
    _, detection = dialect_of(ResolvedDialect.of(DialectSettings(error_detection="off")))
    assert detection is ErrorDetection.OFF


def test_the_clients_dialect_comes_from_the_settings() -> None:
    """``Sip2MemberIls`` uses the member's dialect and its login only when it has one."""
    ils = Sip2MemberIls(
        "alpha",
        ResolvedIls.of(
            IlsSettings(
                endpoints=("127.0.0.1:1",), dialect=DialectSettings(timezone="Europe/Paris")
            )
        ),
        None,
    )
    assert ils.dialect.timezone == ZoneInfo("Europe/Paris")
    assert ils.credentials is None
    assert ils.institution_id == ""


# --- endpoints ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:6001", Endpoint("127.0.0.1", 6001, tls=False)),
        ("ils.example.org:6001", Endpoint("ils.example.org", 6001, tls=False)),
        ("tls://ils.example.org:7001", Endpoint("ils.example.org", 7001, tls=True)),
        ("[::1]:6001", Endpoint("::1", 6001, tls=False)),
        ("tls://[2001:db8::5]:7001", Endpoint("2001:db8::5", 7001, tls=True)),
    ],
)
def test_endpoint_parse_and_round_trip(text: str, expected: Endpoint) -> None:
    """Each form parses, and ``str`` writes it back the same way."""
    endpoint = Endpoint.parse(text)
    assert endpoint == expected
    assert str(endpoint) == text
    assert Endpoint.parse(str(endpoint)) == endpoint


@pytest.mark.parametrize(
    "text",
    ["", "localhost", "localhost:", ":6001", "host:port", "::1:6001", "http://host:80", "a:1:2"],
)
def test_endpoint_parse_rejects_bad_text(text: str) -> None:
    """Anything that is not host:port is a ``ValueError`` naming the text."""
    with pytest.raises(ValueError, match="is not host:port"):
        Endpoint.parse(text)
