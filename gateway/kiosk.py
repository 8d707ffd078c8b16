"""Kiosk connections: read SIP2 requests, answer them, log one line each.

``KioskServer.serve(stream, listener)`` runs one connection to its end.  The SIP2
codec decides everything about frames (96 for a bad one, the last answer again for a
97 or a repeated request, closing after a request sent before login); this loop only
moves bytes, asks ``Circulation`` for answers and logs.

It never lets one kiosk hurt another: anything a kiosk sends ends, at worst, its own
connection; an unexpected error in the gateway becomes a refusal for that request.
A connection idle for ``idle_timeout_s`` is closed.  ``drain()`` (at shutdown) closes
every connection that is waiting for a request and lets the others finish the one
they are serving.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import ssl
from typing import TYPE_CHECKING

import structlog
import trio

from adapters.ils.sip2 import dialect_of
from adapters.wire import Wire
from protocols.sip2 import (
    NEED_DATA,
    AcsConnection,
    AcsStatus,
    ConnectionFailed,
    FrameDiscarded,
    LocalProtocolError,
    LoginRequest,
    LoginResponse,
    Message,
    MessageReceived,
    ReplyCause,
    ScStatus,
    SendReply,
    SupportedMessages,
)

from .context import Outcome, Result, utc_now
from .responses import refusal
from .session import TerminalSession

if TYPE_CHECKING:
    from collections.abc import Callable

    from config.models import Sip2Listener

    from .circulation import Circulation
    from .metrics import Metrics
    from .runtime import Runtime

__all__ = ["KioskServer"]

log = structlog.get_logger("interlend.sip2")

RECEIVE_SIZE = 4096
WRITE_TIMEOUT_S = 10.0
_CLOSED = (trio.BrokenResourceError, trio.ClosedResourceError, ssl.SSLError, OSError)


def _peer(stream: trio.abc.Stream) -> str:
    inner = stream.transport_stream if isinstance(stream, trio.SSLStream) else stream
    if isinstance(inner, trio.SocketStream):
        with contextlib.suppress(OSError):
            host, port = inner.socket.getpeername()[:2]
            return f"{host}:{port}"
    return "?"


class KioskServer:
    """Serves kiosk connections for a gateway.

    Args:
        circulation: Answers requests.
        runtime: Returns the current runtime (for the gateway's settings).
        metrics: Where counts and latencies go.
    """

    def __init__(
        self, circulation: Circulation, runtime: Callable[[], Runtime], metrics: Metrics
    ) -> None:
        self._circulation = circulation
        self._runtime = runtime
        self._metrics = metrics
        self._ids = itertools.count(1)
        self._waiting: set[trio.CancelScope] = set()
        self._draining = False
        self.open_connections = 0

    def drain(self) -> None:
        """Close idle connections now and the busy ones after their current request."""
        self._draining = True
        for scope in list(self._waiting):
            scope.cancel()

    async def serve(self, stream: trio.abc.Stream, listener: Sip2Listener) -> None:
        """Run one kiosk connection until it closes, idles out or the gateway drains."""
        settings = self._runtime().settings
        dialect, error_detection = dialect_of(listener.dialect)
        conn = AcsConnection(
            dialect,
            error_detection,
            login_required=settings.login_required,
            max_frame_size=settings.max_frame_size,
        )
        session = TerminalSession(f"c{next(self._ids)}", _peer(stream), member=listener.member)
        self.open_connections += 1
        self._metrics.connections.inc()
        why = "closed by the kiosk"
        try:
            why = await self._loop(Wire(stream), conn, session)
        except _CLOSED as exc:
            why = f"connection lost: {type(exc).__name__}"
        finally:
            self.open_connections -= 1
            self._metrics.connections.dec()
            with (
                trio.CancelScope(shield=True),
                trio.move_on_after(1),
                contextlib.suppress(*_CLOSED),
            ):
                await stream.aclose()
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await self._circulation.forget(session)
            log.info("kiosk disconnected", conn=session.conn_id, terminal=session.login, why=why)

    async def _loop(self, wire: Wire, conn: AcsConnection, session: TerminalSession) -> str:
        idle = self._runtime().settings.idle_timeout_s
        log.info("kiosk connected", conn=session.conn_id, peer=session.peer)
        # One scope for the whole connection, armed (idle time-out, drain) only while
        # waiting for the kiosk's next request: cheaper than a scope per read, and a
        # request being served is never cut short by it.
        with trio.CancelScope() as waiting:
            while True:
                event = conn.next_event()
                if event is NEED_DATA:
                    if self._draining:
                        return "gateway shutting down"
                    waiting.deadline = trio.current_time() + idle
                    self._waiting.add(waiting)
                    try:
                        data = await wire.receive(RECEIVE_SIZE)
                    finally:
                        self._waiting.discard(waiting)
                        waiting.deadline = math.inf
                    if waiting.cancel_called:
                        break  # timed out or drained just as bytes came: no request is run
                    if not data:
                        return "closed by the kiosk"
                    conn.receive_data(data)
                    continue
                match event:
                    case MessageReceived(message=message):
                        if not await self._answer(wire, conn, session, message):
                            return "answer could not be written"
                    case SendReply(data=reply, cause=cause, error=error):
                        if error is not None:
                            self._metrics.frames_refused.labels(error.reason.value).inc()
                        log.info(
                            "kiosk frame refused" if cause is ReplyCause.BAD_FRAME else "resent",
                            conn=session.conn_id,
                            cause=cause.value,
                            error=str(error) if error else None,
                        )
                        if not await self._write(wire, reply):
                            return "answer could not be written"
                    case FrameDiscarded(error=error):
                        self._metrics.frames_refused.labels(error.reason.value).inc()
                        log.info("kiosk frame ignored", conn=session.conn_id, error=str(error))
                    case ConnectionFailed(error=error):
                        self._metrics.frames_refused.labels(error.reason.value).inc()
                        return f"protocol error: {error}"
        return "gateway shutting down" if self._draining else "idle timeout"

    async def _answer(
        self,
        wire: Wire,
        conn: AcsConnection,
        session: TerminalSession,
        message: Message,
    ) -> bool:
        started = trio.current_time()
        try:
            outcome = await self._circulation.handle(session, message)
        except Exception:
            log.exception("request failed in the gateway", conn=session.conn_id, code=message.code)
            outcome = _failure(message)
        try:
            data = conn.send(outcome.response)
        except LocalProtocolError as exc:
            log.error(
                "answer cannot be encoded for this kiosk", conn=session.conn_id, error=str(exc)
            )
            outcome = _failure(message, "The answer could not be shown here; see the desk")
            data = conn.send(outcome.response)
        written = await self._write(wire, data)
        elapsed = trio.current_time() - started
        where = outcome.route
        route = where.kind.value if where else "gateway"
        self._metrics.request_answered(message.code, route, outcome.result.value, elapsed)
        log.info(
            "request",
            conn=session.conn_id,
            terminal=session.login,
            member=session.member,
            code=message.code,
            route=route,
            target=where.target if where else None,
            result=outcome.result.value,
            reason=outcome.reason or None,
            patron=outcome.patron[:12] if outcome.patron else None,
            latency_ms=round(elapsed * 1000, 2),
        )
        return written

    async def _write(self, wire: Wire, data: bytes) -> bool:
        rest = wire.send_nowait(data)
        if not rest:
            return True  # the usual case: the kernel took it all, nothing to wait for
        with trio.move_on_after(WRITE_TIMEOUT_S):
            await wire.stream.send_all(rest)
            return True
        return False


def _offline() -> AcsStatus:
    return AcsStatus(
        online_status=False,
        checkin_ok=False,
        checkout_ok=False,
        acs_renewal_policy=False,
        status_update_ok=False,
        offline_ok=False,
        timeout_period=0,
        retries_allowed=0,
        date_time_sync=utc_now(),
        supported_messages=SupportedMessages(0),
    )


def _failure(message: Message, reason: str = "The request could not be completed") -> Outcome:
    if isinstance(message, LoginRequest):
        return Outcome(LoginResponse(ok=False), Result.ERROR, reason)
    if isinstance(message, ScStatus):
        return Outcome(_offline(), Result.ERROR, reason)
    return Outcome(refusal(message, reason, utc_now()), Result.ERROR, reason)
