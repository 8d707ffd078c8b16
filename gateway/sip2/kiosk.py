"""Kiosk connections: read SIP2 requests, answer them, log one line each.

``KioskServer.serve(stream, listener)`` runs one connection to its end.  The SIP2
codec decides everything about frames (96 for a bad one, the last answer again for a
97 or a repeated request, closing after a request sent before login); this loop only
moves bytes, asks the ``Dispatcher`` for answers and logs.

It never lets one kiosk hurt another: anything a kiosk sends ends, at worst, its own
connection; an unexpected error in the gateway becomes a refusal for that request.
The limits (``[gateway.limits]``, docs/security.md):

* **Connections**: at most ``max_connections`` open in all (kept below the process's
  file descriptor limit, so the admin port always has descriptors left) and
  ``max_connections_per_address`` from one address; a connection over either is
  closed at once and counted.
* **TLS**: on a listener with ``tls`` the handshake must be done within its
  ``handshake_timeout_s`` (a connection in its handshake counts against the caps);
  failed handshakes are counted by kind and logged like bad frames (sampled).
* **Idle time**: a connection that has not logged in is closed after
  ``login_timeout_s``; a logged-in one after ``idle_timeout_s`` without a request.
* **Bad frames**: frames refused (96), ignored or resent do not count as requests; a
  connection that sends more than ``max_bad_frames`` of them in a row
  (``max_bad_frames_before_login`` before it has logged in) is closed, and new
  connections from its address are closed at once for ``bad_frames_cool_down_s``
  (reconnecting to start afresh buys nothing).  At most
  ``logged_bad_frames`` of them are logged per kiosk address every
  ``SAMPLED_LOG_INTERVAL_S`` (reconnecting does not reset it); the next line logged
  says how many were not.
* **Fair turns**: the loop yields to the other connections after every frame, so a
  kiosk that sends thousands of frames in one write cannot hold the event loop.

``drain()`` (at shutdown) closes every connection that is waiting for a request and
lets the others finish the one they are serving.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
import trio

from adapters.ils.sip2 import dialect_of
from adapters.tls import HandshakeFailed, accept_tls
from adapters.wire import Wire
from config.resolved import listener_dialect
from gateway.circulation.session import Session
from gateway.runtime.clock import utc_now
from gateway.sip2.answer import Answer, Result
from gateway.sip2.responses import refusal, with_fields
from gateway.sip2.routing import RouteKind
from gateway.telemetry.logs import LineSampler, hot_line
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

if TYPE_CHECKING:
    from collections.abc import Callable

    from adapters.tls import ServerTls
    from config.models import GatewaySettings, LimitSettings, Sip2Listener
    from gateway.sip2.dispatch import Dispatcher
    from gateway.telemetry.metrics import Metrics

__all__ = ["REMEMBERED_ADDRESSES", "KioskServer"]

log = structlog.get_logger("interlend.sip2")

RECEIVE_SIZE = 4096
WRITE_TIMEOUT_S = 10.0
SAMPLED_LOG_INTERVAL_S = 10.0
TOO_MANY_BAD_FRAMES = "too many bad frames"
_ARMED_BEYOND = 2
_ARMED_MARGIN_S = 10.0
"""The idle deadline stays set while a request is served when it is further away than
twice the request time-out plus this margin (a request cannot take that long): one
deadline change per request instead of two."""
REMEMBERED_ADDRESSES = 100_000
"""Addresses in a bad-frames cool-down a gateway remembers (past it, those whose
cool-down has ended are forgotten; if none has, the quarter that began first)."""
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
        dispatcher: Answers requests.
        settings: Returns the gateway's settings in force.
        metrics: Where counts and latencies go.
        conn_prefix: Put before each connection's number (gateways sharing one
            process keep their connection ids apart with it).
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        settings: Callable[[], GatewaySettings],
        metrics: Metrics,
        *,
        conn_prefix: str = "",
    ) -> None:
        self._dispatcher = dispatcher
        self._settings = settings
        self._metrics = metrics
        self._ids = itertools.count(1)
        self._conn_prefix = conn_prefix
        self._waiting: set[trio.CancelScope] = set()
        self._draining = False
        self.open_connections = 0
        self._by_address: dict[str, int] = {}
        self._cooling: dict[str, float] = {}
        """Addresses whose new connections are closed until a time (bad frames)."""
        self.connection_cap = settings().limits.max_connections
        """Kiosk connections allowed at once (the daemon lowers it to fit the fd limit)."""
        self._refusal_lines = LineSampler(SAMPLED_LOG_INTERVAL_S)
        self._bad_frame_lines = LineSampler(SAMPLED_LOG_INTERVAL_S)
        self._handshake_lines = LineSampler(SAMPLED_LOG_INTERVAL_S)

    def drain(self) -> None:
        """Close idle connections now and the busy ones after their current request."""
        self._draining = True
        for scope in list(self._waiting):
            scope.cancel()

    def _admit(self, address: str) -> str | None:
        """Why a new connection from ``address`` is over a cap, if it is."""
        limits = self._settings().limits
        if self.open_connections >= min(self.connection_cap, limits.max_connections):
            return "total"
        if self._by_address.get(address, 0) >= limits.max_connections_per_address:
            return "per_address"
        until = self._cooling.get(address)
        if until is not None:
            if trio.current_time() < until:
                return "cool_down"
            del self._cooling[address]
        return None

    @property
    def cooling_addresses(self) -> int:
        """Addresses remembered in a bad-frames cool-down (some may have ended)."""
        return len(self._cooling)

    def _cool_down(self, address: str) -> None:
        """Close new connections from ``address`` for ``bad_frames_cool_down_s``: one
        that reconnects to start its bad frames afresh costs an accept, not a session."""
        seconds = self._settings().limits.bad_frames_cool_down_s
        if not seconds:
            return
        now = trio.current_time()
        if address not in self._cooling and len(self._cooling) >= REMEMBERED_ADDRESSES:
            self._cooling = {a: t for a, t in self._cooling.items() if t > now}
            if len(self._cooling) >= REMEMBERED_ADDRESSES:
                # Every address still cooling down: the quarter that began first is let go.
                keep = REMEMBERED_ADDRESSES * 3 // 4
                cooling = self._cooling.items()
                self._cooling = dict(itertools.islice(cooling, len(cooling) - keep, None))
        self._cooling[address] = now + seconds

    def _refused(self, address: str, cap: str) -> None:
        self._metrics.connections_refused.labels(cap).inc()
        skipped = self._refusal_lines.admit("refused", 1, trio.current_time())
        if skipped is None:
            self._metrics.log_lines_suppressed.labels("connection refused").inc()
            return
        log.warning("kiosk connection refused", peer=address, cap=cap, not_logged=skipped)

    async def serve(
        self, stream: trio.abc.Stream, listener: Sip2Listener, tls: ServerTls | None = None
    ) -> None:
        """Run one kiosk connection until it closes, idles out or the gateway drains;
        with ``tls``, once its TLS handshake is done (within the listener's limit)."""
        peer = _peer(stream)
        address = peer.rpartition(":")[0] or peer
        cap = self._admit(address)
        if cap is not None:
            self._refused(address, cap)
            with trio.CancelScope(shield=True), contextlib.suppress(*_CLOSED):
                await stream.aclose()
            return
        self._by_address[address] = self._by_address.get(address, 0) + 1
        try:
            if tls is not None:
                secure = await self._handshake(stream, tls, address)
                if secure is None:
                    return
                stream = secure
            await self._serve(stream, listener, peer)
        finally:
            left = self._by_address[address] - 1
            if left:
                self._by_address[address] = left
            else:
                del self._by_address[address]

    async def _handshake(
        self, stream: trio.abc.Stream, tls: ServerTls, address: str
    ) -> trio.SSLStream[trio.abc.Stream] | None:
        """The connection over TLS, or ``None`` (logged, counted, closed) when its
        handshake fails.  A connection in its handshake counts against the caps."""
        self.open_connections += 1
        secure = None
        try:
            secure = await accept_tls(stream, tls)
        except HandshakeFailed as exc:
            self._handshake_failed(tls, address, exc)
        finally:
            self.open_connections -= 1
            if secure is None:
                with trio.CancelScope(shield=True):
                    await trio.aclose_forcefully(stream)
        return secure

    def _handshake_failed(self, tls: ServerTls, address: str, exc: HandshakeFailed) -> None:
        self._metrics.tls_handshakes_failed.labels(tls.name, exc.kind).inc()
        limit = self._settings().limits.logged_bad_frames
        skipped = self._handshake_lines.admit(address, limit, trio.current_time())
        if skipped is None:
            self._metrics.log_lines_suppressed.labels("tls handshake failed").inc()
            return
        log.info(
            "kiosk TLS handshake failed",
            peer=address,
            listener=tls.name,
            kind=exc.kind,
            detail=exc.detail,
            not_logged=skipped or None,
        )

    async def _serve(self, stream: trio.abc.Stream, listener: Sip2Listener, peer: str) -> None:
        settings = self._settings()
        dialect, error_detection = dialect_of(listener_dialect(listener.dialect))
        conn = AcsConnection(
            dialect,
            error_detection,
            login_required=settings.login_required,
            max_frame_size=settings.max_frame_size,
        )
        session = Session(f"{self._conn_prefix}c{next(self._ids)}", peer, member=listener.member)
        self.open_connections += 1
        self._metrics.connections.inc()
        link = _Link(Wire(stream), conn, session)
        why = "closed by the kiosk"
        try:
            why = await self._loop(link)
            if why == TOO_MANY_BAD_FRAMES:
                self._cool_down(session.address)
        except _CLOSED as exc:
            why = f"connection lost: {type(exc).__name__}"
        except trio.Cancelled:
            why = (
                f"cut short by the gateway while serving {link.serving}"
                if link.serving
                else "cancelled by the gateway"
            )
            raise
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
                await self._dispatcher.forget(session)
            log.info(
                "kiosk disconnected",
                conn=session.conn_id,
                terminal=session.login,
                why=why,
                bad_frames_not_logged=link.not_logged or None,
            )

    async def _loop(self, link: _Link) -> str:
        wire, conn, session = link.wire, link.conn, link.session
        settings = self._settings()
        limits = settings.limits
        log.info("kiosk connected", conn=session.conn_id, peer=session.peer)
        # One scope for the whole connection, armed (idle time-out, drain) while waiting
        # for the kiosk's next request: cheaper than a scope per read.  A request being
        # served is never cut short by it: the idle deadline is left as it is only when
        # it is further away than a request can take (``_ARMED_BEYOND``), else cleared.
        armed_beyond = _ARMED_BEYOND * settings.request_timeout_s + _ARMED_MARGIN_S
        with trio.CancelScope() as waiting:
            served_from_this_read = False
            while True:
                event = conn.next_event()
                if event is not NEED_DATA and served_from_this_read:
                    # A turn for the other connections before each further frame of
                    # one read: a kiosk that sends thousands in one write must not hold
                    # the loop.  (Waiting for the next read below is a turn already, so
                    # a kiosk sending one request at a time does not pay for a second.)
                    # Many requests from one read may take longer than one: no deadline.
                    waiting.deadline = math.inf
                    await trio.lowlevel.checkpoint()
                served_from_this_read = True
                if event is NEED_DATA:
                    if self._draining:
                        return "gateway shutting down"
                    logged_in = session.login is not None or not settings.login_required
                    idle = settings.idle_timeout_s if logged_in else limits.login_timeout_s
                    waiting.deadline = trio.current_time() + idle
                    self._waiting.add(waiting)
                    try:
                        data = await wire.receive(RECEIVE_SIZE)
                    finally:
                        self._waiting.discard(waiting)
                        if waiting.deadline - trio.current_time() < armed_beyond:
                            waiting.deadline = math.inf
                    if waiting.cancel_called:
                        break  # timed out or drained just as bytes came: no request is run
                    if not data:
                        return "closed by the kiosk"
                    conn.receive_data(data)
                    served_from_this_read = False
                    continue
                match event:
                    case MessageReceived(message=message):
                        link.bad_frames = 0
                        link.serving = message.code
                        written = await self._answer(wire, conn, session, message)
                        link.serving = None
                        if not written:
                            return "answer could not be written"
                    case SendReply(data=reply, cause=cause, error=error):
                        if error is not None:
                            self._metrics.frames_refused.labels(error.reason.value).inc()
                        what = "kiosk frame refused" if cause is ReplyCause.BAD_FRAME else "resent"
                        self._log_bad(link, what, cause=cause.value, error=str(error or ""))
                        if not await self._write(wire, reply):
                            return "answer could not be written"
                        if self._too_many_bad(link, limits, settings.login_required):
                            return TOO_MANY_BAD_FRAMES
                    case FrameDiscarded(error=error):
                        self._metrics.frames_refused.labels(error.reason.value).inc()
                        self._log_bad(link, "kiosk frame ignored", error=str(error))
                        if self._too_many_bad(link, limits, settings.login_required):
                            return TOO_MANY_BAD_FRAMES
                    case ConnectionFailed(error=error):
                        self._metrics.frames_refused.labels(error.reason.value).inc()
                        return f"protocol error: {error}"
        if self._draining:
            return "gateway shutting down"
        if session.login is None and settings.login_required:
            self._metrics.connections_closed.labels("login timeout").inc()
            return "no login in time"
        self._metrics.connections_closed.labels("idle timeout").inc()
        return "idle timeout"

    def _too_many_bad(self, link: _Link, limits: LimitSettings, login_required: bool) -> bool:
        link.bad_frames += 1
        logged_in = link.session.login is not None or not login_required
        budget = limits.max_bad_frames if logged_in else limits.max_bad_frames_before_login
        if link.bad_frames <= budget:
            return False
        self._metrics.connections_closed.labels("bad frames").inc()
        return True

    def _log_bad(self, link: _Link, what: str, **fields: str) -> None:
        """Log a bad frame, within ``logged_bad_frames`` lines per kiosk address every
        ``SAMPLED_LOG_INTERVAL_S`` (a kiosk reconnecting to start afresh does not get
        more); the others are counted, and the next line logged says how many."""
        limit = self._settings().limits.logged_bad_frames
        skipped = self._bad_frame_lines.admit(link.session.address, limit, trio.current_time())
        if skipped is None:
            link.not_logged += 1
            self._metrics.log_lines_suppressed.labels("bad frame").inc()
            return
        log.info(what, conn=link.session.conn_id, not_logged=skipped or None, **fields)

    async def _answer(
        self,
        wire: Wire,
        conn: AcsConnection,
        session: Session,
        message: Message,
    ) -> bool:
        started = trio.current_time()
        try:
            outcome = await self._dispatcher.handle(session, message)
        except Exception:
            log.exception("request failed in the gateway", conn=session.conn_id, code=message.code)
            outcome = _failure(message)
        try:
            # A library's own traffic reaches its kiosk as its ILS wrote it (what the
            # kiosk got before the gateway); an answer from another library is the
            # codec's own writing, repaired where the ILS was lenient.
            local = outcome.route is not None and outcome.route.kind is RouteKind.LOCAL
            data = conn.send(outcome.response, as_read=local)
        except LocalProtocolError as exc:
            log.error(
                "answer cannot be encoded for this kiosk", conn=session.conn_id, error=str(exc)
            )
            outcome = _failure(message, "The answer could not be shown here; see the desk")
            encoded = _encoded_refusal(conn, outcome.response)
            if encoded is None:
                log.error("no answer can be encoded for this kiosk", conn=session.conn_id)
                return False
            data = encoded
        written = await self._write(wire, data)
        elapsed = trio.current_time() - started
        where = outcome.route
        route = where.kind.value if where else "gateway"
        self._metrics.request_answered(message.code, route, outcome.result.value, elapsed)
        hot_line(
            log,
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


@dataclass
class _Link:
    """One kiosk connection's codec, wire and bookkeeping."""

    wire: Wire
    conn: AcsConnection
    session: Session
    serving: str | None = None
    """The code of the request being answered, if any."""
    bad_frames: int = 0
    """Bad frames since the last request."""
    not_logged: int = 0
    """Bad frames of this connection that were not logged (the sampling)."""


def _encoded_refusal(conn: AcsConnection, refusal: Message) -> bytes | None:
    """``refusal`` as the kiosk's dialect writes it; failing that (it echoes a value
    longer than the kiosk's field limit), the same refusal with no identifiers and no
    text; ``None`` when even that cannot be written."""
    for answer in (
        refusal,
        with_fields(
            refusal,
            patron_identifier="",
            item_identifier="",
            title_identifier="",
            screen_messages=(),
        ),
    ):
        try:
            return conn.send(answer)
        except LocalProtocolError:
            continue
    return None


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


def _failure(message: Message, reason: str = "The request could not be completed") -> Answer:
    if isinstance(message, LoginRequest):
        return Answer(LoginResponse(ok=False), Result.ERROR, reason)
    if isinstance(message, ScStatus):
        return Answer(_offline(), Result.ERROR, reason)
    return Answer(refusal(message, reason, utc_now()), Result.ERROR, reason)
