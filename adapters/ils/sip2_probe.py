"""What a library's SIP2 server speaks, found by trying it (``interlend probe-ils``).

Before a member goes live, its SIP2 server is asked the questions whose answers the
configuration needs, on one connection and from the raw bytes of its answers rather
than through the pooled client (which assumes a dialect):

1. **Terminator.** The login (or 99 without credentials) is sent ending in CR; a server
   that does not answer within the time-out gets a fresh connection and CRLF.  The
   terminator to configure is the one its answers end with.
2. **Error detection.** That first frame carries an ``AY``/``AZ`` trailer; the next
   request, 99, none.  A server that answers the bare 99 with 96 requires trailers
   (``required``); one that answered the first frame with a valid trailer of its own
   checks them (``auto``); one that answered without a trailer ignores them (``off``).
   Whether each answer echoes its request's sequence number is noted too.
3. **Login** (93/94) with the configured credentials.
4. **98**: the messages it supports (field ``BX``), its institution id, and its date
   format: UTC (``Z``) or local time, and then its clock's offset from UTC now.
5. **Encoding**: the bytes above 0x7F in every answer.  Valid UTF-8 says ``utf-8``;
   bytes 0x80-0x9F (letters in cp850, control codes in latin-1) say ``cp850``; other
   high bytes say ``latin-1``.  Answers in plain ASCII say nothing (the default,
   cp850, stays), which is why a test patron or item with accents helps.
6. **Patron status** (23) for a test card, with its PIN when given, and **item
   information** (17) for a test item.

The caller bounds each exchange (``timeout_s``); every failure is kept in the result
as text (``problems``), never raised, so the report says how far the probe got.
"""

from __future__ import annotations

import contextlib
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import trio

from adapters.ils.sip2_link import Endpoint
from protocols.sip2 import (
    AcsStatus,
    Charset,
    Dialect,
    ItemInformationRequest,
    ItemInformationResponse,
    LoginRequest,
    LoginResponse,
    Message,
    PatronStatusRequest,
    PatronStatusResponse,
    RemoteProtocolError,
    ScStatus,
    SupportedMessages,
    Terminator,
    decode,
    encode,
    next_sequence,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["Answer", "ProbeTarget", "Sip2Probe", "guess_charset", "probe_sip2"]

RECEIVE_SIZE = 65536
MAX_ANSWER = 64 * 1024
"""The longest answer read (a server that never ends its frame is cut off here)."""
LF_GRACE_S = 0.2
"""How long to wait for the LF of a CRLF that did not arrive with its CR."""
_TERMINATORS = ((Terminator.CR, "CR"), (Terminator.CRLF, "CRLF"))
# The 98 message's fixed part: code, six flags, two 3-digit numbers, then the date.
_DATE_AT = slice(14, 32)

ErrorDetectionName = Literal["off", "auto", "required"]


@dataclass(frozen=True)
class ProbeTarget:
    """What to try, and with what: a member's endpoint and the configured account."""

    endpoint: Endpoint
    login: str | None = None
    password: str | None = None
    location: str | None = None
    institution_id: str | None = None
    test_patron: str | None = None
    test_pin: str | None = None
    test_item: str | None = None
    timeout_s: float = 5.0
    lf_grace_s: float = LF_GRACE_S
    """How long to wait for the LF of a first answer that ended in CR (a server may
    send CR and LF in two writes); on loopback both always come together."""


@dataclass(frozen=True)
class Answer:
    """One answer as it came: the frame's bytes, how it ended, its trailer."""

    frame: bytes
    terminator: str
    message: Message | None
    sequence: int | None
    has_trailer: bool
    trailer_valid: bool | None
    error: str | None = None

    @property
    def code(self) -> str:
        """The answer's message code, as sent."""
        return self.frame[:2].decode("latin-1")


@dataclass
class Sip2Probe:
    """What the probe found (fields stay ``None`` where it did not get that far)."""

    endpoint: str
    connected: bool = False
    terminator: str | None = None
    error_detection: ErrorDetectionName | None = None
    sequence_echoed: bool | None = None
    login_ok: bool | None = None
    supported: SupportedMessages | None = None
    institution_id: str | None = None
    library_name: str | None = None
    protocol_version: str | None = None
    dates_in_utc: bool | None = None
    clock_offset_s: int | None = None
    charset: str | None = None
    charset_evidence: str = ""
    patron: PatronStatusResponse | None = None
    item: ItemInformationResponse | None = None
    notes: list[str] = field(default_factory=list)
    """What was tried and did not work, on the way to what did."""
    problems: list[str] = field(default_factory=list)
    """Why the probe stopped, or what did not work in the end."""

    @property
    def ok(self) -> bool:
        """The server answered, took the login, and every test asked was answered."""
        return self.connected and self.login_ok is not False and not self.problems


def guess_charset(frames: Iterable[bytes]) -> tuple[str | None, str]:
    """The charset the frames' bytes point to, and why (``None``: they do not tell)."""
    high = [f for f in frames if not f.isascii()]
    if not high:
        return None, "every answer was ASCII, which does not tell the charset"
    try:
        for frame in high:
            frame.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8", "the bytes above 0x7F form valid UTF-8"
    if any(0x80 <= byte <= 0x9F for frame in high for byte in frame):
        return "cp850", "bytes 0x80-0x9F appear: letters in cp850, control codes in latin-1"
    return "latin-1", "bytes above 0x9F only, and not UTF-8: latin-1 (cp850 would be unusual)"


class _Connection:
    """One TCP (or TLS) connection, sending frames and reading whole answers."""

    def __init__(self, stream: trio.abc.Stream, terminator: Terminator, lf_grace_s: float) -> None:
        self.stream = stream
        self.lf_grace_s = lf_grace_s
        self.terminator = terminator
        self.dialect = Dialect(terminator=terminator, charset=Charset.LATIN1)
        self.buffer = bytearray()
        self.sequence = 0
        self.ending: str | None = None
        """How the server ends its frames, once its first answer has shown it."""
        self.echoes: list[bool] = []
        """For each answer to a frame with a trailer: whether it carried the same AY."""

    async def exchange(self, message: Message, *, trailer: bool, dialect: Dialect) -> Answer:
        """Send ``message`` and read one answer (the caller bounds the time)."""
        sequence = self.sequence if trailer else None
        data = encode(
            message,
            Dialect(terminator=self.terminator, charset=dialect.charset),
            sequence=sequence,
            error_detection=trailer,
        )
        if trailer:
            self.sequence = next_sequence(self.sequence)
        await self.stream.send_all(data)
        frame, ending = await self._frame()
        answer = _read(frame, ending, dialect)
        if sequence is not None and answer.has_trailer and answer.code != "96":
            self.echoes.append(answer.sequence == sequence)
        return answer

    async def _frame(self) -> tuple[bytes, str]:
        while True:
            end = self.buffer.find(b"\r")
            if end >= 0:
                if end + 1 == len(self.buffer) and self.ending is None:
                    # Only the first answer is waited on: it tells how the server ends
                    # frames, and a late LF is skipped before the next one anyway.
                    with trio.move_on_after(self.lf_grace_s):
                        await self._receive()
                if self.ending is None:
                    self.ending = "CRLF" if self.buffer[end + 1 : end + 2] == b"\n" else "CR"
                frame = bytes(self.buffer[:end]).lstrip(b"\n")
                del self.buffer[: end + 1]
                return frame, self.ending
            if len(self.buffer) > MAX_ANSWER:
                raise _Failed(f"an answer longer than {MAX_ANSWER} bytes without a terminator")
            await self._receive()

    async def _receive(self) -> None:
        data = await self.stream.receive_some(RECEIVE_SIZE)
        if not data:
            raise _Failed("the server closed the connection")
        self.buffer += data

    async def aclose(self) -> None:
        with (
            trio.CancelScope(shield=True),
            trio.move_on_after(1),
            contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError),
        ):
            await self.stream.aclose()


class _Failed(Exception):
    """The probe cannot go on (the reason is the message)."""


def _read(frame: bytes, ending: str, dialect: Dialect) -> Answer:
    """Decode an answer, keeping what its trailer says even when the rest is bad."""
    has_trailer = b"AZ" in frame[-6:]
    try:
        decoded = decode(frame, dialect, verify=False)
    except RemoteProtocolError as exc:
        return Answer(frame, ending, None, None, has_trailer, None, str(exc))
    valid = None
    if decoded.checksum is not None:
        try:
            decode(frame, dialect, verify=True)
            valid = True
        except RemoteProtocolError:
            valid = False
    return Answer(
        frame, ending, decoded.message, decoded.sequence, decoded.checksum is not None, valid
    )


async def _connect(endpoint: Endpoint, timeout_s: float) -> trio.abc.Stream:
    try:
        with trio.fail_after(timeout_s):
            stream: trio.abc.Stream = await trio.open_tcp_stream(endpoint.host, endpoint.port)
    except OSError as exc:
        raise _Failed(f"cannot connect to {endpoint}: {exc.strerror or exc}") from None
    except trio.TooSlowError:
        raise _Failed(f"cannot connect to {endpoint} within {timeout_s}s") from None
    if endpoint.tls:
        stream = trio.SSLStream(stream, ssl.create_default_context(), server_hostname=endpoint.host)
    return stream


def _first_message(target: ProbeTarget) -> Message:
    if target.login is not None:
        return LoginRequest(
            login_user_id=target.login,
            login_password=target.password or "",
            location_code=target.location,
        )
    return ScStatus(max_print_width=80)


async def _open(target: ProbeTarget, result: Sip2Probe) -> tuple[_Connection, Answer]:
    """Connect and get an answer to the first frame, trying CR and then CRLF."""
    for terminator, name in _TERMINATORS:
        stream = await _connect(target.endpoint, target.timeout_s)
        result.connected = True
        conn = _Connection(stream, terminator, target.lf_grace_s)
        try:
            with trio.fail_after(target.timeout_s):
                answer = await conn.exchange(
                    _first_message(target), trailer=True, dialect=conn.dialect
                )
        except trio.TooSlowError:
            await conn.aclose()
            result.notes.append(f"no answer within {target.timeout_s}s to frames ending {name}")
            continue
        except (_Failed, trio.BrokenResourceError, OSError) as exc:
            await conn.aclose()
            raise _Failed(f"the first exchange failed ({exc})") from None
        return conn, answer
    raise _Failed("the server answered neither CR- nor CRLF-terminated frames")


async def _ask(
    conn: _Connection, message: Message, target: ProbeTarget, *, trailer: bool
) -> Answer:
    with trio.fail_after(target.timeout_s):
        return await conn.exchange(message, trailer=trailer, dialect=conn.dialect)


async def probe_sip2(target: ProbeTarget) -> Sip2Probe:
    """Probe one SIP2 endpoint (see the module documentation); never raises for the
    server's faults: they are in ``problems``."""
    result = Sip2Probe(str(target.endpoint))
    answers: list[Answer] = []
    conn: _Connection | None = None
    try:
        conn, first = await _open(target, result)
        answers.append(first)
        await _examine(conn, first, target, result, answers)
    except _Failed as exc:
        result.problems.append(str(exc))
    except trio.TooSlowError:
        result.problems.append(f"no answer within {target.timeout_s}s")
    except (trio.BrokenResourceError, OSError) as exc:
        result.problems.append(f"the connection broke ({exc})")
    finally:
        if conn is not None:
            result.sequence_echoed = all(conn.echoes) if conn.echoes else None
            await conn.aclose()
    charset, evidence = guess_charset(a.frame for a in answers)
    result.charset, result.charset_evidence = charset, evidence
    return result


async def _examine(
    conn: _Connection,
    first: Answer,
    target: ProbeTarget,
    result: Sip2Probe,
    answers: list[Answer],
) -> None:
    result.terminator = first.terminator
    if first.code == "96":
        # A server that cannot take trailers at all: ask again without one.
        first = await _ask(conn, _first_message(target), target, trailer=False)
        answers.append(first)
    if first.error is not None:
        raise _Failed(f"the first answer cannot be read: {first.error}")
    if target.login is not None:
        if not isinstance(first.message, LoginResponse):
            raise _Failed(f"the login (93) was answered with {_what(first)}")
        result.login_ok = first.message.ok
        if not first.message.ok:
            raise _Failed("the server refused the login (94 with ok 0): check ils.login/password")
    status = await _ask(conn, ScStatus(max_print_width=80), target, trailer=False)
    answers.append(status)
    if status.code == "96":
        result.error_detection = "required"
        status = await _ask(conn, ScStatus(max_print_width=80), target, trailer=True)
        answers.append(status)
    elif first.has_trailer and first.trailer_valid:
        result.error_detection = "auto"
    else:
        result.error_detection = "off"
    if first.has_trailer and not first.trailer_valid:
        result.problems.append("the server's checksum (AZ) does not match its frame")
    _read_status(status, result)
    trailer = result.error_detection != "off"
    institution = target.institution_id or result.institution_id or ""
    if target.test_patron is not None:
        answer = await _ask(
            conn,
            PatronStatusRequest(
                transaction_date=datetime.now(UTC),
                institution_id=institution,
                patron_identifier=target.test_patron,
                patron_password=target.test_pin or "",
            ),
            target,
            trailer=trailer,
        )
        answers.append(answer)
        if isinstance(answer.message, PatronStatusResponse):
            result.patron = answer.message
        else:
            result.problems.append(f"patron status (23) was answered with: {_what(answer)}")
    if target.test_item is not None:
        answer = await _ask(
            conn,
            ItemInformationRequest(
                transaction_date=datetime.now(UTC),
                institution_id=institution,
                item_identifier=target.test_item,
            ),
            target,
            trailer=trailer,
        )
        answers.append(answer)
        if isinstance(answer.message, ItemInformationResponse):
            result.item = answer.message
        else:
            result.problems.append(f"item information (17) was answered with: {_what(answer)}")


def _what(answer: Answer) -> str:
    if answer.error is not None:
        return f"an unreadable frame ({answer.error})"
    return f"message {answer.code}"


def _read_status(answer: Answer, result: Sip2Probe) -> None:
    if not isinstance(answer.message, AcsStatus):
        result.problems.append(f"the status request (99) was answered with {_what(answer)}")
        return
    status = answer.message
    result.supported = status.supported_messages
    result.institution_id = status.institution_id or None
    result.library_name = status.library_name
    result.protocol_version = status.protocol_version
    raw = answer.frame[_DATE_AT].decode("latin-1")
    zone = raw[8:12].strip()
    result.dates_in_utc = zone == "Z"
    if not zone:
        result.clock_offset_s = _offset(raw)


def _offset(raw: str) -> int | None:
    """A local-time date's offset from UTC now, to the quarter hour (``None``: unreadable)."""
    try:
        local = datetime.strptime(raw[:8] + raw[12:], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    seconds = (local - datetime.now(UTC)).total_seconds()
    return round(seconds / 900) * 900
