"""The ACS end of a connection follows SIP2's login and error-detection rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from protocols.sip2 import (
    NEED_DATA,
    PAUSED,
    AcsConnection,
    AcsState,
    CheckoutRequest,
    CheckoutResponse,
    ConnectionFailed,
    Dialect,
    ErrorDetection,
    FrameDiscarded,
    FrameError,
    LocalProtocolError,
    LoginRequest,
    LoginResponse,
    Message,
    MessageReceived,
    PatronStatusRequest,
    PatronStatusResponse,
    ReplyCause,
    RequestScResend,
    ScStatus,
    SendReply,
    checksum,
    encode,
)
from protocols.sip2.samples import sample

from .wire import frame, receive, state_of

WHEN = datetime(2026, 11, 22, 23, 55, 13, tzinfo=UTC)
LOGIN = LoginRequest(login_user_id="beta-kiosk", login_password="demo")
STATUS_REQUEST = PatronStatusRequest(
    transaction_date=WHEN, patron_identifier="21001000000001", patron_password="1234"
)
STATUS_RESPONSE = PatronStatusResponse(
    transaction_date=WHEN, patron_identifier="21001000000001", personal_name="Ada"
)
ACS_STATUS = sample("98")


def logged_in(mode: ErrorDetection = ErrorDetection.AUTO, trailer: bool = True) -> AcsConnection:
    conn = AcsConnection(error_detection=mode)
    event = receive(conn, frame(LOGIN, 0 if trailer else None))
    assert isinstance(event, MessageReceived)
    conn.send(LoginResponse(ok=True))
    assert conn.logged_in
    return conn


def test_login_then_request() -> None:
    """A login is answered with 94; then requests are delivered one at a time."""
    conn = AcsConnection()
    assert state_of(conn) is AcsState.AWAITING_LOGIN
    assert conn.next_event() is NEED_DATA
    event = receive(conn, frame(LOGIN, 0))
    assert event == MessageReceived(LOGIN, 0)
    assert state_of(conn) is AcsState.LOGGING_IN
    assert conn.next_event() is PAUSED
    assert conn.send(LoginResponse(ok=True)) == frame(LoginResponse(ok=True), 0)
    assert state_of(conn) is AcsState.READY
    event = receive(conn, frame(STATUS_REQUEST, 1))
    assert event == MessageReceived(STATUS_REQUEST, 1)
    assert conn.send(STATUS_RESPONSE) == frame(STATUS_RESPONSE, 1)


def test_refused_login_leaves_the_terminal_logged_out() -> None:
    """After a refused login only 93, 99 and 97 are accepted."""
    conn = AcsConnection()
    receive(conn, frame(LOGIN, 0))
    conn.send(LoginResponse(ok=False))
    assert state_of(conn) is AcsState.AWAITING_LOGIN
    assert not conn.logged_in
    event = receive(conn, frame(STATUS_REQUEST, 1))
    assert isinstance(event, ConnectionFailed)
    assert event.error.reason is FrameError.LOGIN_REQUIRED
    assert state_of(conn) is AcsState.CLOSED
    with pytest.raises(LocalProtocolError, match="closed"):
        conn.next_event()


def test_status_is_allowed_before_login() -> None:
    """An SC may send 99 before logging in and gets its 98."""
    conn = AcsConnection()
    event = receive(conn, frame(ScStatus(max_print_width=40), 0))
    assert isinstance(event, MessageReceived)
    assert state_of(conn) is AcsState.STATUS_BEFORE_LOGIN
    conn.send(ACS_STATUS)
    assert state_of(conn) is AcsState.AWAITING_LOGIN


def test_without_required_login_requests_are_served() -> None:
    """With login_required off, a request needs no 93, and a refused 93 changes nothing."""
    conn = AcsConnection(login_required=False)
    assert conn.logged_in
    assert isinstance(receive(conn, frame(STATUS_REQUEST)), MessageReceived)
    conn.send(STATUS_RESPONSE)
    receive(conn, frame(LOGIN))
    conn.send(LoginResponse(ok=False))
    assert state_of(conn) is AcsState.READY


def test_answers_follow_the_requests_style() -> None:
    """In auto mode a request with a trailer gets one, a request without gets none."""
    conn = logged_in(trailer=False)
    receive(conn, frame(STATUS_REQUEST))
    assert conn.send(STATUS_RESPONSE) == frame(STATUS_RESPONSE)
    receive(conn, frame(STATUS_REQUEST, 7))
    assert conn.send(STATUS_RESPONSE) == frame(STATUS_RESPONSE, 7)


def test_a_trailer_without_sequence_is_answered_with_ay0() -> None:
    """A lenient SC may send AZ without AY; the answer still carries a sequence."""
    conn = logged_in()
    body = frame(STATUS_REQUEST)[:-1] + b"AZ"
    event = receive(conn, body + checksum(body) + b"\r")
    assert event == MessageReceived(STATUS_REQUEST, None)
    assert conn.send(STATUS_RESPONSE) == frame(STATUS_RESPONSE, 0)


def test_bad_checksum_is_answered_with_96() -> None:
    """A frame with a wrong checksum is not executed; the SC is asked to resend."""
    conn = logged_in()
    good = frame(STATUS_REQUEST, 1)
    event = receive(conn, good.replace(b"Ada", b"Adb").replace(b"AA21001", b"AA21002"))
    assert isinstance(event, SendReply)
    assert event.data == b"96AZFEF6\r"
    assert event.cause is ReplyCause.BAD_FRAME
    assert event.error is not None
    assert event.error.reason is FrameError.BAD_CHECKSUM
    assert state_of(conn) is AcsState.READY
    assert receive(conn, good) == MessageReceived(STATUS_REQUEST, 1)


def test_a_malformed_frame_without_trailer_gets_a_plain_96() -> None:
    """In auto mode the 96 carries a checksum only if the bad frame had a trailer."""
    conn = logged_in(trailer=False)
    event = receive(conn, b"11YN\r")
    assert isinstance(event, SendReply)
    assert event.data == b"96\r"


def test_required_error_detection() -> None:
    """With error detection required, a frame without a trailer is refused with 96."""
    conn = logged_in(ErrorDetection.REQUIRED)
    event = receive(conn, frame(STATUS_REQUEST))
    assert isinstance(event, SendReply)
    assert event.data == b"96AZFEF6\r"
    assert event.error is not None
    assert event.error.reason is FrameError.MISSING_TRAILER


def test_error_detection_off_ignores_trailers() -> None:
    """With error detection off, trailers are stripped unchecked and never sent."""
    conn = logged_in(ErrorDetection.OFF)
    corrupt = frame(STATUS_REQUEST, 3)[:-5] + b"0000\r"
    assert receive(conn, corrupt) == MessageReceived(STATUS_REQUEST, None)
    assert conn.send(STATUS_RESPONSE) == frame(STATUS_RESPONSE)


def test_97_resends_the_last_message() -> None:
    """97 gets the last message sent again, even when that was a 96."""
    conn = logged_in()
    receive(conn, frame(STATUS_REQUEST, 2))
    answer = conn.send(STATUS_RESPONSE)
    event = receive(conn, b"97AZFEF5\r")
    assert event == SendReply(answer, ReplyCause.RESEND_REQUESTED)
    refused = receive(conn, b"11YN\r")
    assert isinstance(refused, SendReply)
    event = receive(conn, b"97AZFEF5\r")
    assert isinstance(event, SendReply)
    assert event.data == b"96\r"


def test_97_before_anything_was_sent_gets_96() -> None:
    """There is nothing to resend yet, so the SC is asked to resend instead."""
    conn = AcsConnection()
    event = receive(conn, b"97AZFEF5\r")
    assert event == SendReply(b"96AZFEF6\r", ReplyCause.RESEND_REQUESTED)
    assert state_of(conn) is AcsState.AWAITING_LOGIN


def test_a_repeated_request_is_answered_not_executed() -> None:
    """The same AY and AZ as the previous request: the previous answer, no new event."""
    conn = logged_in()
    checkout = CheckoutRequest(
        sc_renewal_policy=True,
        no_block=False,
        transaction_date=WHEN,
        nb_due_date=None,
        patron_identifier="21001000000001",
        item_identifier="31002000000001",
    )
    data = frame(checkout, 4)
    assert isinstance(receive(conn, data), MessageReceived)
    answer = conn.send(
        CheckoutResponse(
            ok=True,
            renewal_ok=False,
            magnetic_media=None,
            desensitize=True,
            transaction_date=WHEN,
            patron_identifier="21001000000001",
            item_identifier="31002000000001",
        )
    )
    assert receive(conn, data) == SendReply(answer, ReplyCause.DUPLICATE)
    assert receive(conn, data) == SendReply(answer, ReplyCause.DUPLICATE)
    assert isinstance(receive(conn, frame(checkout, 5)), MessageReceived)


def test_without_a_trailer_a_repeat_is_a_new_request() -> None:
    """Without AY/AZ nothing distinguishes a resend, so the request runs again."""
    conn = logged_in(trailer=False)
    for _ in range(2):
        assert isinstance(receive(conn, frame(STATUS_REQUEST)), MessageReceived)
        conn.send(STATUS_RESPONSE)


def test_messages_meant_for_an_sc_are_dropped() -> None:
    """A response sent to the ACS is dropped without an answer."""
    conn = logged_in()
    event = receive(conn, frame(STATUS_RESPONSE, 1))
    assert isinstance(event, FrameDiscarded)
    assert event.error.reason is FrameError.WRONG_DIRECTION
    assert state_of(conn) is AcsState.READY


@pytest.mark.parametrize(
    ("data", "answer"),
    [(b"XS0\r", b"96\r"), (b"XSAY3AZ" + checksum(b"XSAY3AZ") + b"\r", b"96AZFEF6\r")],
    ids=["plain", "with a trailer"],
)
def test_an_unknown_command_is_answered_with_96(data: bytes, answer: bytes) -> None:
    """A 2-character command the ACS does not know is not executed but answered with
    96 (in the kiosk's error-detection style), so the kiosk is never left waiting."""
    conn = logged_in()
    event = receive(conn, data)
    assert isinstance(event, SendReply)
    assert event.data == answer
    assert event.cause is ReplyCause.BAD_FRAME
    assert event.error is not None
    assert event.error.reason is FrameError.UNKNOWN_COMMAND
    assert state_of(conn) is AcsState.READY
    event = receive(conn, frame(STATUS_REQUEST, 4))
    assert event == MessageReceived(STATUS_REQUEST, 4)


def test_an_unknown_command_before_login_is_answered_with_96() -> None:
    """Before a login too: 96, and the terminal may still log in."""
    conn = AcsConnection()
    event = receive(conn, b"XS0\r")
    assert isinstance(event, SendReply)
    assert event.data == b"96\r"
    assert state_of(conn) is AcsState.AWAITING_LOGIN
    assert receive(conn, frame(LOGIN, 0)) == MessageReceived(LOGIN, 0)


def test_pipelined_requests_wait_for_the_answer() -> None:
    """Two frames in one read: the second is delivered after the first is answered."""
    conn = logged_in()
    conn.receive_data(frame(STATUS_REQUEST, 1) + frame(ScStatus(max_print_width=40), 2))
    assert isinstance(conn.next_event(), MessageReceived)
    assert conn.next_event() is PAUSED
    conn.send(STATUS_RESPONSE)
    event = conn.next_event()
    assert isinstance(event, MessageReceived)
    assert isinstance(event.message, ScStatus)


def test_an_oversized_frame_is_answered_with_96() -> None:
    """A frame over the size limit is refused and the connection carries on."""
    conn = AcsConnection(max_frame_size=64)
    event = receive(conn, b"23" + b"x" * 100 + b"\r")
    assert isinstance(event, SendReply)
    assert event.error is not None
    assert event.error.reason is FrameError.OVERSIZED
    assert isinstance(receive(conn, frame(LOGIN, 0)), MessageReceived)


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        (PatronStatusResponse(transaction_date=WHEN, patron_identifier="1"), "answered with 94"),
        (ACS_STATUS, "not allowed"),
    ],
)
def test_a_wrong_answer_is_our_bug(answer: Message, match: str) -> None:
    """Answering a 93 with anything but 94 is a local error, and closes the connection."""
    conn = AcsConnection()
    receive(conn, frame(LOGIN, 0))
    with pytest.raises(LocalProtocolError, match=match):
        conn.send(answer)
    assert state_of(conn) is AcsState.CLOSED


def test_sending_with_nothing_to_answer_is_our_bug() -> None:
    """send() without a pending request is a local error."""
    conn = logged_in()
    with pytest.raises(LocalProtocolError, match="no request"):
        conn.send(STATUS_RESPONSE)


def test_98_and_96_answer_any_request() -> None:
    """The ACS may answer any request with 98 (status change) or ask for a resend."""
    conn = logged_in()
    receive(conn, frame(STATUS_REQUEST, 1))
    assert conn.send(ACS_STATUS).startswith(b"98")
    receive(conn, frame(STATUS_REQUEST, 2))
    assert conn.send(RequestScResend()) == b"96AZFEF6\r"


def test_a_dialect_is_used_both_ways() -> None:
    """Frames are read and written in the connection's dialect."""
    dialect = Dialect(field_delimiter="^")
    conn = AcsConnection(dialect, login_required=False)
    conn.receive_data(encode(STATUS_REQUEST, dialect))
    assert conn.next_event() == MessageReceived(STATUS_REQUEST, None)
    assert conn.send(STATUS_RESPONSE) == encode(STATUS_RESPONSE, dialect)
