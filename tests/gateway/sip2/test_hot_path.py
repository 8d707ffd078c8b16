"""The per-request path's shortcuts behave exactly like the long way round.

Kiosk connections over in-memory streams (the ``Stream`` path of ``Wire``) and over
real sockets (its file-descriptor path): idle time-out, drain, a kiosk that stops
reading; ``Wire`` on its own; the metrics kept per request; the shared clock; and
``Answer.routed``.
"""

from __future__ import annotations

import dataclasses
import os
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

import gateway.runtime.clock
from adapters.ils.sip2 import dialect_of
from adapters.wire import Wire
from config.models import LimitSettings, Sip2Listener
from config.resolved import listener_dialect
from gateway.sip2.answer import Answer, Result
from gateway.sip2.kiosk import WRITE_TIMEOUT_S, KioskServer
from gateway.sip2.routing import Route, RouteKind
from gateway.telemetry.metrics import Metrics
from protocols.sip2 import (
    CirculationStatus,
    ItemInformationRequest,
    ItemInformationResponse,
    LoginRequest,
    LoginResponse,
    Message,
    SecurityMarker,
    checksum,
    checksum_ok,
    decode,
    encode,
)

if TYPE_CHECKING:
    from collections.abc import MutableMapping

    from gateway.circulation.session import Session

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LOGIN = encode(
    LoginRequest(login_user_id="k", login_password="p"), sequence=0, error_detection=True
)
ITEMS = [
    encode(
        ItemInformationRequest(transaction_date=NOW, item_identifier="31001000000001"),
        sequence=n,
        error_detection=True,
    )
    for n in (1, 2)  # two sequence numbers: the same frame twice would be a resend
]


class _Answers:
    """A circulation that accepts every login and answers 17 with a long 18."""

    async def forget(self, session: Session) -> None:
        """Nothing is kept about a kiosk here."""

    async def handle(self, session: Session, message: Message) -> Answer:
        if isinstance(message, LoginRequest):
            session.member, session.login = "alpha", message.login_user_id
            return Answer(LoginResponse(ok=True))
        assert isinstance(message, ItemInformationRequest)
        answer = ItemInformationResponse(
            circulation_status=CirculationStatus.AVAILABLE,
            security_marker=SecurityMarker.NONE,
            fee_type=1,
            transaction_date=NOW,
            item_identifier=message.item_identifier,
            screen_messages=("y" * 250,) * 200,  # about 50 kB: more than one read
        )
        return Answer(answer, route=Route(RouteKind.LOCAL, "alpha", target="alpha"))


def _server(idle_timeout_s: float = 30.0) -> tuple[KioskServer, Metrics]:
    settings = SimpleNamespace(
        idle_timeout_s=idle_timeout_s,
        request_timeout_s=10.0,
        login_required=True,
        max_frame_size=32_768,
        limits=LimitSettings(),
    )

    metrics = Metrics()
    server = KioskServer(cast("Any", _Answers()), lambda: cast("Any", settings), metrics)
    return server, metrics


async def _read_frame(stream: trio.abc.Stream, buffer: bytearray) -> bytes:
    while b"\r" not in buffer:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise EOFError
        buffer += chunk
    frame, _, rest = bytes(buffer).partition(b"\r")
    buffer[:] = rest
    return frame


def _why(logs: list[MutableMapping[str, Any]]) -> str:
    return next(str(e["why"]) for e in logs if e["event"] == "kiosk disconnected")


async def test_an_idle_kiosk_is_closed_after_the_idle_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Logged in and then silent: closed after ``idle_timeout_s``, not before."""
    server, _ = _server(idle_timeout_s=60)
    kiosk, gateway_side = trio.testing.memory_stream_pair()
    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.serve, gateway_side, Sip2Listener())
            await kiosk.send_all(LOGIN)
            assert (await _read_frame(kiosk, bytearray())).startswith(b"941")
            started = trio.current_time()
            assert await kiosk.receive_some(100) == b""
            assert trio.current_time() - started == pytest.approx(60)
    assert _why(logs) == "idle timeout"
    assert server.open_connections == 0


async def test_drain_closes_a_waiting_kiosk_at_once(autojump_clock: trio.testing.MockClock) -> None:
    """A kiosk waiting between requests is let go when the gateway drains."""
    server, _ = _server()
    kiosk, gateway_side = trio.testing.memory_stream_pair()
    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.serve, gateway_side, Sip2Listener())
            await kiosk.send_all(LOGIN)
            await _read_frame(kiosk, bytearray())
            await trio.testing.wait_all_tasks_blocked()  # the server waits for a request
            server.drain()
            assert await kiosk.receive_some(100) == b""
    assert _why(logs) == "gateway shutting down"


async def test_a_kiosk_that_stops_reading_is_let_go(autojump_clock: trio.testing.MockClock) -> None:
    """An answer the kiosk does not take within the write time-out ends the connection."""
    server, metrics = _server()
    kiosk, gateway_side = trio.testing.lockstep_stream_pair()
    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.serve, gateway_side, Sip2Listener())
            await kiosk.send_all(LOGIN)
            await _read_frame(kiosk, bytearray())
            await kiosk.send_all(ITEMS[0])
            # Never reads the answer: trio time (the test's) runs past the write time-out.
            await trio.sleep(WRITE_TIMEOUT_S + 1)
            await kiosk.aclose()
    assert _why(logs) == "answer could not be written"
    assert metrics.requests.labels("17", "local", "ok")._value.get() == 1


async def test_large_answers_over_a_socket_are_written_whole() -> None:
    """Over a plain socket, answers far larger than one read arrive whole and are counted."""
    server, metrics = _server()
    done = trio.Event()

    async def serve(stream: trio.SocketStream) -> None:
        await server.serve(stream, Sip2Listener())
        done.set()

    with trio.fail_after(10):
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, serve, listeners)
            kiosk = await trio.open_tcp_stream("127.0.0.1", port)
            buffer = bytearray()
            await kiosk.send_all(LOGIN)
            assert (await _read_frame(kiosk, buffer)).startswith(b"941")
            for item in ITEMS:
                await kiosk.send_all(item)
                answer = await _read_frame(kiosk, buffer)
                assert answer.startswith(b"18")
                assert answer.count(b"|AF") == 200
            await kiosk.aclose()
            await done.wait()  # the connection's requests are all counted by now
            nursery.cancel_scope.cancel()
    assert metrics.requests.labels("17", "local", "ok")._value.get() == 2


class TestWire:
    """``Wire`` over a socket pair and over an in-memory stream."""

    async def test_a_socket_is_read_and_written_directly(self) -> None:
        """Bytes go both ways; a closed peer reads as empty bytes."""
        left, right = trio.socket.socketpair()
        ours, theirs = trio.SocketStream(left), trio.SocketStream(right)
        wire = Wire(ours)
        assert wire.direct == (os.name == "posix")
        with trio.fail_after(5):
            await wire.send_all(b"hello\r")
            assert await theirs.receive_some(100) == b"hello\r"
            await theirs.send_all(b"back\r")
            assert await wire.receive(100) == b"back\r"
            await theirs.aclose()
            assert await wire.receive(100) == b""
        await ours.aclose()

    async def test_what_the_kernel_cannot_take_is_sent_when_it_can(self) -> None:
        """A write larger than the socket buffers completes once the peer reads."""
        left, right = trio.socket.socketpair()
        ours, theirs = trio.SocketStream(left), trio.SocketStream(right)
        wire = Wire(ours)
        payload = bytes(range(256)) * 40_000  # 10 MB
        received = bytearray()

        async def read_all() -> None:
            while len(received) < len(payload):
                received.extend(await theirs.receive_some(1 << 20))

        with trio.fail_after(20):
            rest = wire.send_nowait(payload)
            assert 0 < len(rest) < len(payload)
            assert wire.send_nowait(rest) == rest  # the buffers are full: nothing taken
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_all)
                await wire.send_all(rest)
        assert bytes(received) == payload
        await ours.aclose()
        await theirs.aclose()

    async def test_other_streams_go_through_their_own_methods(self) -> None:
        """An in-memory stream is written and read through the Stream interface."""
        ours, theirs = trio.testing.memory_stream_pair()
        wire = Wire(ours)
        assert not wire.direct
        assert wire.send_nowait(b"x") == b"x"
        await wire.send_all(b"abc")
        assert await theirs.receive_some(10) == b"abc"
        await theirs.send_all(b"def")
        assert await wire.receive(10) == b"def"


def test_request_metrics_count_and_time_each_answer() -> None:
    """Each answered request is counted by code, route and result, and timed by code."""
    metrics = Metrics()
    metrics.request_answered("23", "local", "ok", 0.002)
    metrics.request_answered("23", "local", "ok", 0.004)
    metrics.request_answered("17", "forward", "unavailable", 0.5)
    registry = metrics.registry
    labels = {"code": "23", "route": "local", "result": "ok"}
    assert registry.get_sample_value("interlend_sip2_requests_total", labels) == 2
    assert (
        registry.get_sample_value(
            "interlend_sip2_requests_total",
            {"code": "17", "route": "forward", "result": "unavailable"},
        )
        == 1
    )
    assert registry.get_sample_value("interlend_sip2_request_seconds_count", {"code": "23"}) == 2
    assert registry.get_sample_value(
        "interlend_sip2_request_seconds_sum", {"code": "23"}
    ) == pytest.approx(0.006)
    assert (
        registry.get_sample_value(
            "interlend_sip2_request_seconds_bucket", {"code": "17", "le": "0.25"}
        )
        == 0
    )


def test_the_clock_is_utc_to_the_second_and_shared_within_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One datetime per second, in UTC, without a fraction; the next second is new."""
    now = [1_790_000_000.25]
    monkeypatch.setattr(time, "time", lambda: now[0])
    first = gateway.runtime.clock.utc_now()
    assert first == datetime.fromtimestamp(1_790_000_000, UTC)
    assert first.tzinfo is UTC
    now[0] += 0.5
    assert gateway.runtime.clock.utc_now() is first
    now[0] += 0.5
    later = gateway.runtime.clock.utc_now()
    assert (later - first).total_seconds() == 1


def test_a_routed_outcome_keeps_every_other_field() -> None:
    """``routed`` is ``dataclasses.replace(outcome, route=...)``, field for field."""
    outcome = Answer(LoginResponse(ok=False), Result.REFUSED, "wrong password", None, "abc")
    where = Route(RouteKind.GATEWAY, "alpha")
    assert outcome.routed(where) == dataclasses.replace(outcome, route=where)
    assert outcome.routed(where).route is where
    assert outcome.route is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        outcome.routed(where).reason = "x"  # type: ignore[misc]


class _Custom:
    """An object with its own log form."""

    def __structlog__(self) -> str:
        return "custom-form"


def test_json_lines_render_what_json_cannot_hold() -> None:
    """Objects with ``__structlog__`` use it, others their repr, as structlog's own."""
    import io
    import json

    import structlog

    from gateway.telemetry.logs import configure_logging

    saved = structlog.get_config()
    out = io.StringIO()
    try:
        configure_logging(stream=out, json=True)
        structlog.get_logger("test").info("event", custom=_Custom(), when=NOW, pin="1234")
        structlog.get_logger("test").info("again", n=2)
    finally:
        structlog.configure(**saved)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["custom"] == "custom-form"
    assert first["when"] == repr(NOW)
    assert first["pin"] == "***"
    assert second["n"] == 2


class _IlsAnswers(_Answers):
    """Answers 17 with what an ILS wrote without its last delimiter (read leniently):
    as alpha's own answer for alpha's items, as another library's for the others."""

    ILS_BODY = b"1803020120261123    120000AB31001000000001|AJA title|AQalpha|CRvendor|AFsee desk"

    async def handle(self, session: Session, message: Message) -> Answer:
        if isinstance(message, LoginRequest):
            return await super().handle(session, message)
        assert isinstance(message, ItemInformationRequest)
        dialect = dialect_of(listener_dialect(Sip2Listener().dialect))[0]
        answer = decode(self.ILS_BODY + b"\r", dialect).message
        owner = "alpha" if message.item_identifier.startswith("31001") else "beta"
        kind = RouteKind.LOCAL if owner == "alpha" else RouteKind.FORWARD
        return Answer(answer, route=Route(kind, "alpha", target=owner))


async def test_a_librarys_own_answer_reaches_its_kiosk_as_its_ils_wrote_it() -> None:
    """A local answer keeps the ILS's body (here: no delimiter after its last field),
    with the kiosk's own sequence number and checksum; an answer forwarded from another
    library is the codec's writing (the delimiter put back)."""
    server = KioskServer(
        cast("Any", _IlsAnswers()),
        lambda: cast("Any", _server()[0]._settings()),
        Metrics(),
    )
    kiosk, gateway_side = trio.testing.memory_stream_pair()
    other_item = encode(
        ItemInformationRequest(transaction_date=NOW, item_identifier="31002000000001"),
        sequence=2,
        error_detection=True,
    )
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.serve, gateway_side, Sip2Listener())
            buffer = bytearray()
            await kiosk.send_all(LOGIN)
            await _read_frame(kiosk, buffer)
            await kiosk.send_all(ITEMS[0])
            local = await _read_frame(kiosk, buffer)
            await kiosk.send_all(other_item)
            forwarded = await _read_frame(kiosk, buffer)
            await kiosk.aclose()
    body = _IlsAnswers.ILS_BODY
    assert local == body + b"AY1AZ" + checksum(body + b"AY1AZ")
    payload, trailer = forwarded[:-9], forwarded[-9:]
    assert payload != body
    assert payload.endswith(b"|")  # every field delimited
    assert trailer.startswith(b"AY2AZ")
    assert checksum_ok(forwarded[:-4], forwarded[-4:])
    assert decode(forwarded).message == decode(local).message


class _SlowAnswers(_Answers):
    """Answers 17 after ``delay_s`` of trio time."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    async def handle(self, session: Session, message: Message) -> Answer:
        if not isinstance(message, LoginRequest):
            await trio.sleep(self.delay_s)
        return await super().handle(session, message)


@pytest.mark.parametrize(
    ("idle_s", "quiet_s", "delay_s"),
    [
        (60.0, 0.0, 25.0),  # the deadline 60 s away: left set while serving
        (60.0, 59.0, 9.0),  # 1 s away: cleared, the request outlasts it
        (5.0, 4.0, 9.0),  # a short idle time: always cleared
    ],
)
async def test_a_request_being_served_is_never_cut_by_the_idle_time(
    autojump_clock: trio.testing.MockClock, idle_s: float, quiet_s: float, delay_s: float
) -> None:
    """Whether the idle deadline stays set while a request is served (it is further
    away than a request can take: twice the 10 s time-out and 10 s) or is cleared: the
    request is answered, and the idle time then runs from the answer."""
    server, _ = _server(idle_timeout_s=idle_s)
    server._dispatcher = cast("Any", _SlowAnswers(delay_s))
    kiosk, gateway_side = trio.testing.memory_stream_pair()
    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.serve, gateway_side, Sip2Listener())
            buffer = bytearray()
            await kiosk.send_all(LOGIN)
            await _read_frame(kiosk, buffer)
            await trio.sleep(quiet_s)  # idle, but not past the idle time
            sent = trio.current_time()
            await kiosk.send_all(ITEMS[0])
            assert (await _read_frame(kiosk, buffer)).startswith(b"18")
            assert trio.current_time() - sent == pytest.approx(delay_s)
            answered = trio.current_time()
            assert await kiosk.receive_some(100) == b""
            assert trio.current_time() - answered == pytest.approx(idle_s)
    assert _why(logs) == "idle timeout"
