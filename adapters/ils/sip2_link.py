"""One logged-in SIP2 connection from the gateway to a member ILS (the SC role).

``Sip2Link.open`` connects (TCP, or TLS with the server's certificate verified and its
handshake done before the login), logs in with 93 when the member has
credentials, and then carries one request at a time: ``request`` writes the frame and
reads until the matching answer, doing what ``ScConnection`` asks on the way (a 97
after a corrupted answer, the request again after a 96).

It never resends on a timer: most ILSs do not recognise a repeated frame, and a
checkout sent twice could lend an item twice.  When an answer does not come in time
the caller's cancel scope ends the wait and the link is discarded.

Transport and protocol failures become ``IlsUnavailable`` / ``IlsProtocolError``;
a refused login becomes ``IlsLoginRefused``.
"""

from __future__ import annotations

import contextlib
import re
import ssl
from dataclasses import dataclass

import trio

from adapters.errors import IlsLoginRefused, IlsProtocolError, IlsRequestInvalid, IlsUnavailable
from adapters.tls import failure_reason
from adapters.wire import Wire
from protocols.sip2 import (
    NEED_DATA,
    ConnectionFailed,
    Dialect,
    EncodedRequest,
    ErrorDetection,
    FrameDiscarded,
    LocalProtocolError,
    LoginRequest,
    LoginResponse,
    Message,
    MessageReceived,
    ReplyCause,
    ScConnection,
    SendReply,
)

__all__ = ["Endpoint", "Sip2Link"]

RECEIVE_SIZE = 65536
_TRANSPORT_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError, ssl.SSLError)

_ENDPOINT = re.compile(
    r"(?P<tls>tls://)?(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]+)):(?P<port>\d+)"
)


@dataclass(frozen=True)
class Endpoint:
    """Where a member's SIP2 server listens."""

    host: str
    port: int
    tls: bool = False

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """Parse ``host:port``, ``tls://host:port`` or ``[v6]:port``."""
        found = _ENDPOINT.fullmatch(text)
        if found is None:
            raise ValueError(f"{text!r} is not host:port")
        return cls(
            found.group("v6") or found.group("host"),
            int(found.group("port")),
            bool(found.group("tls")),
        )

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'tls://' if self.tls else ''}{host}:{self.port}"


@dataclass(frozen=True)
class Credentials:
    """The gateway's own SIP2 account at a member ILS."""

    login: str
    password: str
    location: str | None = None


async def _handshake(
    member: str,
    endpoint: Endpoint,
    stream: trio.abc.Stream,
    context: ssl.SSLContext | None,
    server_name: str | None,
) -> trio.SSLStream[trio.abc.Stream]:
    """``stream`` over TLS, handshake done, so that a certificate the gateway does not
    trust is named as such rather than as a connection lost at login."""
    secure = trio.SSLStream(
        stream,
        context or ssl.create_default_context(),
        server_hostname=server_name or endpoint.host,
    )
    try:
        await secure.do_handshake()
    except BaseException as exc:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(stream)
        if isinstance(exc, _TRANSPORT_ERRORS):
            raise IlsUnavailable(
                member, f"TLS handshake with {endpoint} failed: {failure_reason(exc)}"
            ) from None
        raise
    return secure


class Sip2Link:
    """A connected (and logged-in) SIP2 session to one endpoint."""

    def __init__(
        self, member: str, endpoint: Endpoint, stream: trio.abc.Stream, conn: ScConnection
    ) -> None:
        self.member = member
        self.endpoint = endpoint
        self._stream = stream
        self._wire = Wire(stream)
        self._conn = conn
        self.broken = False
        self.delivered = False

    @classmethod
    async def open(
        cls,
        member: str,
        endpoint: Endpoint,
        dialect: Dialect,
        error_detection: ErrorDetection,
        credentials: Credentials | None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_name: str | None = None,
    ) -> Sip2Link:
        """Connect (over TLS for a ``tls://`` endpoint) and log in.  The caller bounds
        the time with its cancel scope.

        Args:
            member: The member's id.
            endpoint: Where to connect.
            dialect: The member's SIP2 dialect.
            error_detection: Its AY/AZ mode.
            credentials: The gateway's account there (``None``: no 93).
            ssl_context: For TLS: the context that verifies the ILS's certificate
                (default: the system's trust store).
            server_name: For TLS: the name the certificate must carry, also sent as
                SNI (default: the endpoint's host).

        Raises:
            IlsUnavailable: The endpoint cannot be reached, or its TLS handshake failed
                (an untrusted certificate, a wrong name).
            IlsLoginRefused: The ILS refused the login.
            IlsProtocolError: The ILS answered the login with something else.
        """
        try:
            stream: trio.abc.Stream = await trio.open_tcp_stream(endpoint.host, endpoint.port)
        except OSError as exc:
            raise IlsUnavailable(
                member, f"cannot connect to {endpoint}: {exc.strerror or exc}"
            ) from None
        if endpoint.tls:
            stream = await _handshake(member, endpoint, stream, ssl_context, server_name)
        link = cls(member, endpoint, stream, ScConnection(dialect, error_detection))
        if credentials is not None:
            try:
                answer = await link.request(
                    LoginRequest(
                        login_user_id=credentials.login,
                        login_password=credentials.password,
                        location_code=credentials.location,
                    )
                )
            except BaseException:
                await link.aclose()
                raise
            if not isinstance(answer, LoginResponse) or not answer.ok:
                await link.aclose()
                if isinstance(answer, LoginResponse):
                    raise IlsLoginRefused(member, f"{endpoint} refused the gateway's login")
                raise IlsProtocolError(member, f"{endpoint} answered the login with {answer.code}")
        return link

    async def request(
        self, message: Message | EncodedRequest, *, from_a_client: bool = False
    ) -> Message:
        """Send ``message`` (or a request already written for this link's dialect) and
        return the ILS's answer.

        ``from_a_client`` says the request came from a kiosk or a peer rather than from
        the gateway itself (a login, a status probe): a request the ILS answers only
        with 96s is then that client's fault (``IlsRequestInvalid``), not the endpoint's.

        The link is marked broken unless the exchange completes, so that a caller
        cancelled half-way never reuses a connection with an answer still to come.
        ``delivered`` tells, after a failure, whether the whole frame had been handed
        to the transport: until then the ILS cannot have acted on the request (it acts
        on a frame only once its terminator has come), so it is safe to send it again.

        Raises:
            IlsUnavailable: The connection broke.
            IlsRequestInvalid: ``from_a_client``, and the ILS answered every sending of
                the request with a 96 (it cannot read it).
            IlsProtocolError: The ILS sent what cannot be accepted, or gave up; or
                ``message`` could not be sent (callers write requests beforehand with
                ``encode_request`` to tell a request that cannot be written apart).
        """
        self.broken = True
        self.delivered = False
        try:
            data = self._conn.send(message)
        except LocalProtocolError as exc:
            raise IlsProtocolError(self.member, f"cannot send a request: {exc}") from None
        wire = self._wire
        refused = False  # the ILS's last word was a 96: it could not read our request
        try:
            await wire.send_all(data)
            self.delivered = True
            while True:
                event = self._conn.next_event()
                if event is NEED_DATA:
                    chunk = await wire.receive(RECEIVE_SIZE)
                    if not chunk:
                        raise IlsUnavailable(self.member, f"{self.endpoint} closed the connection")
                    self._conn.receive_data(chunk)
                    continue
                match event:
                    case MessageReceived(message=answer):
                        self.broken = False
                        return answer
                    case SendReply(data=reply, cause=cause):
                        refused = cause is ReplyCause.RESEND_REQUESTED
                        await wire.send_all(reply)
                    case FrameDiscarded():
                        continue
                    case ConnectionFailed(error=error) if refused and from_a_client:
                        # The ILS answered, each time with a 96: it cannot read this
                        # request (a field it refuses, say). That is the request's fault,
                        # not the endpoint's: one kiosk's bad request must not mark the
                        # member down for every other kiosk.
                        raise IlsRequestInvalid(
                            self.member,
                            f"{self.endpoint} answered {self._conn.max_retries + 1} times "
                            "with 96 (it cannot read the request)",
                        )
                    case ConnectionFailed(error=error):
                        raise IlsProtocolError(self.member, f"{self.endpoint}: {error}")
        except _TRANSPORT_ERRORS as exc:
            raise IlsUnavailable(self.member, f"{self.endpoint}: connection lost ({exc})") from None

    async def aclose(self) -> None:
        """Close the connection (never raises)."""
        self.broken = True
        with (
            trio.CancelScope(shield=True),
            trio.move_on_after(1),
            contextlib.suppress(
                trio.BrokenResourceError, trio.ClosedResourceError, OSError, ssl.SSLError
            ),
        ):
            await self._stream.aclose()
