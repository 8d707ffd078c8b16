"""SIP2 connections without I/O: bytes in, events out, messages back to bytes.

``AcsConnection`` is the circulation-system side (what the gateway is to a kiosk);
``ScConnection`` is the self-check side (what the gateway is to a member ILS).  Both
follow the h11 pattern::

    conn.receive_data(data)          # whatever the socket returned
    event = conn.next_event()        # an Event, NEED_DATA or PAUSED
    data = conn.send(message)        # the bytes to write

The error-detection rules of SIP2 (reference §1.4) live here, so the daemon only
writes what it is told:

ACS: a frame that cannot be accepted (bad checksum, malformed, oversized, an unknown
command) is answered with 96; a 97 is answered with the last message sent (or 96 if
none); a frame whose ``AY`` and ``AZ`` equal those of the previous request gets the
previous response again without being executed; responses echo the request's ``AY``.

SC: each new request takes the next ``AY`` (0-9, wrapping); a response with a bad
checksum gets a 97; a 96 makes us resend our request, unless our last message was a
97, which means the link is broken; a response with the wrong ``AY`` is discarded; a
timeout (``timeout()``) resends; retries are bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

from .codec import DecodedFrame, decode, encode, encode_body, finish_frame, split_trailer
from .dialect import DEFAULT_DIALECT, Dialect, ErrorDetection
from .errors import FrameError, LocalProtocolError, RemoteProtocolError, ResponseHint
from .events import (
    NEED_DATA,
    PAUSED,
    ConnectionFailed,
    Event,
    FrameDiscarded,
    MessageReceived,
    Pending,
    ReplyCause,
    SendReply,
)
from .framing import DEFAULT_MAX_FRAME_SIZE, FrameBuffer
from .messages import RESPONSE_CODES, LoginResponse, RequestAcsResend, RequestScResend
from .spec import Direction, Message
from .state import AcsInput, AcsState, AcsStateMachine, ScInput, ScState, ScStateMachine

__all__ = ["AcsConnection", "EncodedRequest", "ScConnection", "encode_request"]

_RECEIVE_INPUTS = {"93": AcsInput.RECV_LOGIN, "99": AcsInput.RECV_STATUS}
_ANYTIME_RESPONSES = frozenset({"96", "98"})


@dataclass(frozen=True, slots=True)
class EncodedRequest:
    """A request written for a dialect, waiting for its sequence number.

    ``ScConnection.send`` takes it in place of the message: a client with several
    connections writes a request once, before it chooses the connection, so a request
    that cannot be written is refused before any connection is used.

    Attributes:
        message: The request.
        body: Its frame without the trailer and the terminator (``encode_body``).
        dialect: The dialect it was written for.
    """

    message: Message
    body: bytes
    dialect: Dialect


def encode_request(
    message: Message, dialect: Dialect = DEFAULT_DIALECT, *, as_read: bool = False
) -> EncodedRequest:
    """Write a request an SC sends for ``dialect`` (see ``EncodedRequest``; ``as_read``:
    see ``encode_body``).

    Raises:
        LocalProtocolError: ``message`` is not a request the SC may send itself, or it
            cannot be written in ``dialect``.
    """
    if message.direction is not Direction.SC_TO_ACS or isinstance(message, RequestAcsResend):
        raise LocalProtocolError(f"{message.code} is not a request the SC sends itself")
    return EncodedRequest(message, encode_body(message, dialect, as_read=as_read), dialect)


@dataclass(slots=True)
class _Pending:
    """The request an ACS owes an answer to (private and never changed once made;
    not frozen, because a frozen dataclass pays a call per field to be built)."""

    code: str
    sequence: int | None
    trailer: bool
    key: tuple[int, str] | None


class _Base:
    def __init__(
        self,
        dialect: Dialect,
        error_detection: ErrorDetection,
        max_frame_size: int,
    ) -> None:
        self.dialect = dialect
        self.error_detection = error_detection
        self._buffer = FrameBuffer(max_frame_size)

    def receive_data(self, data: bytes | bytearray) -> None:
        """Add bytes received from the peer."""
        self._buffer.feed(data)

    def _read(self) -> tuple[DecodedFrame | None, RemoteProtocolError | None, bool]:
        """Decode the next frame: ``(frame, error, had trailer)``; all None: need data."""
        try:
            raw = self._buffer.next_frame()
        except RemoteProtocolError as exc:
            return None, exc, self.error_detection is not ErrorDetection.OFF
        if raw is None:
            return None, None, False
        checking = self.error_detection is not ErrorDetection.OFF
        try:
            frame = decode(raw, self.dialect, verify=checking)
        except RemoteProtocolError as exc:
            return None, exc, checking and split_trailer(raw, self.dialect)[2] is not None
        if not checking:
            return DecodedFrame(frame.message, None, None), None, False
        if frame.checksum is None and self.error_detection is ErrorDetection.REQUIRED:
            error = RemoteProtocolError(
                "error detection is required but the frame has no AY/AZ trailer",
                reason=FrameError.MISSING_TRAILER,
            )
            return None, error, True
        return frame, None, frame.checksum is not None


class AcsConnection(_Base):
    """The ACS end of one SIP2 connection.

    Args:
        dialect: How the SC writes SIP2.
        error_detection: The ``AY``/``AZ`` policy for this SC.
        login_required: Refuse requests (other than 93, 99, 97) before a login.
        max_frame_size: The longest frame accepted.
    """

    def __init__(
        self,
        dialect: Dialect = DEFAULT_DIALECT,
        error_detection: ErrorDetection = ErrorDetection.AUTO,
        *,
        login_required: bool = True,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ) -> None:
        super().__init__(dialect, error_detection, max_frame_size)
        self._machine = AcsStateMachine(login_required=login_required)
        self._pending: _Pending | None = None
        self._last_sent: bytes | None = None
        self._last_response: bytes | None = None
        self._last_key: tuple[int, str] | None = None
        self._resend = {
            trailer: encode(RequestScResend(), dialect, error_detection=trailer)
            for trailer in (False, True)
        }

    @property
    def state(self) -> AcsState:
        """The connection's state."""
        return self._machine.state

    @property
    def logged_in(self) -> bool:
        """Whether the SC has logged in successfully (or no login is required)."""
        return self._machine.state in (AcsState.READY, AcsState.RESPONDING)

    def next_event(self) -> Event | Pending:
        """Return what the SC sent next, or ``NEED_DATA`` / ``PAUSED``.

        Never raises for anything the peer sends.

        Raises:
            LocalProtocolError: The connection is closed.
        """
        state = self._machine.state
        if state is AcsState.CLOSED:
            raise LocalProtocolError("the connection is closed")
        if self._pending is not None:
            return PAUSED
        frame, error, trailer = self._read()
        if error is not None:
            return self._refuse(error, trailer)
        if frame is None:
            return NEED_DATA
        message = frame.message
        if message.direction is not Direction.SC_TO_ACS:
            return FrameDiscarded(
                RemoteProtocolError(
                    f"{message.code} is not a request", reason=FrameError.WRONG_DIRECTION
                )
            )
        if isinstance(message, RequestAcsResend):
            self._machine.process(AcsInput.RECV_RESEND_REQUEST)
            return self._reply(
                self._last_sent or self._resend[trailer], ReplyCause.RESEND_REQUESTED
            )
        key = (
            (frame.sequence, frame.checksum)
            if frame.sequence is not None and frame.checksum is not None
            else None
        )
        if key is not None and key == self._last_key and self._last_response is not None:
            self._machine.process(AcsInput.RECV_DUPLICATE)
            return self._reply(self._last_response, ReplyCause.DUPLICATE)
        if self._machine.process(_RECEIVE_INPUTS.get(message.code, AcsInput.RECV_REQUEST)) is (
            AcsState.CLOSED
        ):
            return ConnectionFailed(
                RemoteProtocolError(
                    f"{message.code} sent before a successful login",
                    reason=FrameError.LOGIN_REQUIRED,
                )
            )
        self._pending = _Pending(message.code, frame.sequence, trailer, key)
        return MessageReceived(message, frame.sequence)

    def send(self, message: Message, *, as_read: bool = False) -> bytes:
        """Encode the answer to the pending request and return the bytes to write;
        ``as_read``: an answer decoded from another peer in this connection's dialect
        keeps that peer's body (``encode_body``), with this connection's trailer.

        Raises:
            LocalProtocolError: Nothing awaits an answer, ``message`` is not a valid
                answer to it, or it cannot be encoded.
        """
        pending = self._pending
        if pending is None:
            self._machine.process(AcsInput.CLOSE)
            raise LocalProtocolError("no request is waiting for an answer")
        expected = RESPONSE_CODES[pending.code]
        if message.code != expected and message.code not in _ANYTIME_RESPONSES:
            self._machine.process(AcsInput.CLOSE)
            raise LocalProtocolError(
                f"{pending.code} is answered with {expected}, not {message.code}"
            )
        trailer = self.error_detection is ErrorDetection.REQUIRED or (
            self.error_detection is ErrorDetection.AUTO and pending.trailer
        )
        sequence = (pending.sequence or 0) if trailer and message.code != "96" else None
        data = encode(
            message, self.dialect, sequence=sequence, error_detection=trailer, as_read=as_read
        )
        if isinstance(message, LoginResponse):
            self._machine.process(
                AcsInput.SEND_LOGIN_ACCEPTED if message.ok else AcsInput.SEND_LOGIN_REFUSED
            )
        else:
            self._machine.process(AcsInput.SEND_RESPONSE)
        self._pending = None
        self._last_sent = self._last_response = data
        self._last_key = pending.key
        return data

    def _refuse(self, error: RemoteProtocolError, trailer: bool) -> SendReply:
        # Every frame the ACS cannot read is answered with 96, an unknown command too
        # (whose hint is to ignore it): SIP2 says not to execute it, but the SC that
        # sent it waits for an answer.  96 gets it the resend its own timer would,
        # without the wait, and its retry limit ends the exchange.
        self._machine.process(AcsInput.RECV_BAD_FRAME)
        return self._reply(self._resend[trailer], ReplyCause.BAD_FRAME, error)

    def _reply(
        self, data: bytes, cause: ReplyCause, error: RemoteProtocolError | None = None
    ) -> SendReply:
        self._last_sent = data
        return SendReply(data, cause, error)


class ScConnection(_Base):
    """The SC end of one SIP2 connection (the gateway talking to a member ILS).

    Args:
        dialect: How the ACS writes SIP2.
        error_detection: The ``AY``/``AZ`` policy for this ACS.
        max_retries: Resends (after 96, a bad frame or a timeout) before giving up.
        max_frame_size: The longest frame accepted.
    """

    def __init__(
        self,
        dialect: Dialect = DEFAULT_DIALECT,
        error_detection: ErrorDetection = ErrorDetection.AUTO,
        *,
        max_retries: int = 3,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ) -> None:
        super().__init__(dialect, error_detection, max_frame_size)
        self.max_retries = max_retries
        self._machine = ScStateMachine()
        self._sequence = 0
        self._sent_sequence: int | None = None
        self._expected: str | None = None
        self._request: bytes = b""
        self._retries = 0
        trailer = error_detection is not ErrorDetection.OFF
        self._ask_resend = encode(RequestAcsResend(), dialect, error_detection=trailer)

    @property
    def state(self) -> ScState:
        """The connection's state."""
        return self._machine.state

    def send(self, message: Message | EncodedRequest) -> bytes:
        """Encode a new request with the next sequence number.

        ``message`` may be already written (``encode_request``) for this connection's
        dialect; only its trailer and terminator are then added.

        Raises:
            LocalProtocolError: A request is still unanswered, ``message`` is not a
                request the SC may send itself, it cannot be encoded, or it was
                written for another dialect.
        """
        if not isinstance(message, EncodedRequest):
            request = encode_request(message, self.dialect)
        elif message.dialect is self.dialect or message.dialect == self.dialect:
            request = message
        else:
            raise LocalProtocolError(f"{message.message.code} was written for another dialect")
        code = request.message.code
        trailer = self.error_detection is not ErrorDetection.OFF
        sequence = self._sequence if trailer else None
        data = finish_frame(
            code, request.body, self.dialect, sequence=sequence, error_detection=trailer
        )
        self._machine.process(ScInput.SEND_REQUEST)
        self._sequence = (self._sequence + 1) % 10
        self._sent_sequence = sequence
        self._expected = RESPONSE_CODES[code]
        self._request = data
        self._retries = 0
        return data

    def timeout(self) -> Event:
        """Report that no answer came in time; returns what to send, or the failure.

        Raises:
            LocalProtocolError: No request is outstanding.
        """
        state = self._machine.state
        if state not in (ScState.AWAITING_RESPONSE, ScState.AWAITING_RESEND):
            self._machine.process(ScInput.TIMEOUT)  # raises: nothing is outstanding
        data = self._request if state is ScState.AWAITING_RESPONSE else self._ask_resend
        return self._retry(ScInput.TIMEOUT, data, ReplyCause.TIMEOUT, None)

    def next_event(self) -> Event | Pending:
        """Return the ACS's answer, a reply to send, or ``NEED_DATA``.

        Never raises for anything the peer sends.

        Raises:
            LocalProtocolError: The connection has failed.
        """
        if self._machine.state is ScState.FAILED:
            raise LocalProtocolError("the connection has failed")
        frame, error, _ = self._read()
        if error is not None:
            return self._bad_frame(error)
        if frame is None:
            return NEED_DATA
        return self._accept(frame)

    def _accept(self, frame: DecodedFrame) -> Event:
        message = frame.message
        waiting = self._machine.state is not ScState.IDLE
        if message.direction is not Direction.ACS_TO_SC:
            return self._stray(f"{message.code} is not a response", FrameError.WRONG_DIRECTION)
        if isinstance(message, RequestScResend):
            if not waiting:
                return self._stray("96 with no request outstanding", FrameError.MALFORMED)
            if self._machine.state is ScState.AWAITING_RESEND:
                self._machine.process(ScInput.RECV_RESEND_REQUEST)
                return ConnectionFailed(
                    RemoteProtocolError(
                        "the ACS asked for a resend of our 97: the link is broken",
                        reason=FrameError.RETRIES_EXHAUSTED,
                    )
                )
            return self._retry(
                ScInput.RECV_RESEND_REQUEST, self._request, ReplyCause.RESEND_REQUESTED, None
            )
        if not waiting:
            return self._stray(f"unsolicited {message.code}", FrameError.MALFORMED)
        if frame.sequence is not None and frame.sequence != self._sent_sequence:
            return self._stray(
                f"response AY{frame.sequence} does not match request AY{self._sent_sequence}",
                FrameError.MALFORMED,
            )
        if message.code != self._expected and message.code not in _ANYTIME_RESPONSES:
            return self._stray(
                f"{message.code} does not answer a request expecting {self._expected}",
                FrameError.MALFORMED,
            )
        self._machine.process(ScInput.RECV_RESPONSE)
        self._retries = 0
        return MessageReceived(message, frame.sequence)

    def _stray(self, why: str, reason: FrameError) -> Event:
        self._machine.process(ScInput.RECV_STRAY)
        return FrameDiscarded(
            RemoteProtocolError(why, reason=reason, response_hint=ResponseHint.IGNORE)
        )

    def _bad_frame(self, error: RemoteProtocolError) -> Event:
        if error.response_hint is ResponseHint.IGNORE or self._machine.state is ScState.IDLE:
            self._machine.process(ScInput.RECV_STRAY)
            return FrameDiscarded(error)
        return self._retry(ScInput.RECV_BAD_FRAME, self._ask_resend, ReplyCause.BAD_FRAME, error)

    def _retry(
        self,
        event: ScInput,
        data: bytes,
        cause: ReplyCause,
        error: RemoteProtocolError | None,
    ) -> Event:
        if self._retries >= self.max_retries:
            self._machine.process(ScInput.GIVE_UP)
            return ConnectionFailed(
                RemoteProtocolError(
                    f"no valid answer after {self.max_retries} retries",
                    reason=FrameError.RETRIES_EXHAUSTED,
                )
            )
        self._retries += 1
        self._machine.process(event)
        return SendReply(data, cause, error)
