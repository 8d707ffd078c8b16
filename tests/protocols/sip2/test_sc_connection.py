"""The SC end of a connection numbers its requests and recovers from bad answers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from protocols.sip2 import (
    NEED_DATA,
    AcsStatus,
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
    RequestAcsResend,
    ScConnection,
    ScState,
    SendReply,
    SupportedMessages,
    encode,
    encode_request,
)

from .wire import frame, receive, state_of

WHEN = datetime(2026, 11, 22, 23, 55, 13, tzinfo=UTC)
REQUEST = PatronStatusRequest(transaction_date=WHEN, patron_identifier="1", patron_password="1234")
ANSWER = PatronStatusResponse(transaction_date=WHEN, patron_identifier="1", personal_name="Ada")


def test_requests_are_numbered_and_wrap() -> None:
    """Each new request takes the next AY, 0 to 9 and round again."""
    conn = ScConnection()
    for n in range(12):
        data = conn.send(REQUEST)
        assert data == encode(REQUEST, sequence=n % 10, error_detection=True)
        assert state_of(conn) is ScState.AWAITING_RESPONSE
        assert receive(conn, frame(ANSWER, n % 10)) == MessageReceived(ANSWER, n % 10)
        assert state_of(conn) is ScState.IDLE


def test_error_detection_off_sends_no_trailer() -> None:
    """With error detection off requests carry no AY/AZ and answers are not checked."""
    conn = ScConnection(error_detection=ErrorDetection.OFF)
    assert conn.send(REQUEST) == encode(REQUEST)
    assert receive(conn, frame(ANSWER, 5)) == MessageReceived(ANSWER, None)


def test_an_answer_without_trailer_is_accepted_in_auto_mode() -> None:
    """Auto mode sends trailers but accepts an ACS that answers without one."""
    conn = ScConnection()
    conn.send(REQUEST)
    assert receive(conn, frame(ANSWER)) == MessageReceived(ANSWER, None)


def test_required_mode_refuses_an_answer_without_trailer() -> None:
    """With error detection required, an answer without a trailer gets a 97."""
    conn = ScConnection(error_detection=ErrorDetection.REQUIRED)
    conn.send(REQUEST)
    event = receive(conn, frame(ANSWER))
    assert isinstance(event, SendReply)
    assert event.data == b"97AZFEF5\r"
    assert event.error is not None
    assert event.error.reason is FrameError.MISSING_TRAILER


def test_bad_checksum_gets_97_then_the_resent_answer_is_accepted() -> None:
    """A corrupted answer is asked for again with 97."""
    conn = ScConnection()
    conn.send(REQUEST)
    good = frame(ANSWER, 0)
    event = receive(conn, good[:-2] + (b"0" if good[-2:-1] != b"0" else b"1") + b"\r")
    assert isinstance(event, SendReply)
    assert event.cause is ReplyCause.BAD_FRAME
    assert event.data == b"97AZFEF5\r"
    assert state_of(conn) is ScState.AWAITING_RESEND
    assert receive(conn, good) == MessageReceived(ANSWER, 0)


def test_96_makes_the_sc_resend_its_request() -> None:
    """A 96 gets the original request again, with the same AY."""
    conn = ScConnection()
    request = conn.send(REQUEST)
    assert receive(conn, b"96AZFEF6\r") == SendReply(request, ReplyCause.RESEND_REQUESTED)
    assert receive(conn, frame(ANSWER, 0)) == MessageReceived(ANSWER, 0)


def test_96_after_our_97_means_the_link_is_broken() -> None:
    """If the ACS asks for a resend of our 97, the exchange has failed."""
    conn = ScConnection()
    conn.send(REQUEST)
    assert isinstance(receive(conn, b"24garbled\r"), SendReply)
    event = receive(conn, b"96AZFEF6\r")
    assert isinstance(event, ConnectionFailed)
    assert state_of(conn) is ScState.FAILED
    with pytest.raises(LocalProtocolError, match="failed"):
        conn.next_event()


def test_retries_are_bounded() -> None:
    """After max_retries resends the connection gives up."""
    conn = ScConnection(max_retries=2)
    conn.send(REQUEST)
    assert isinstance(receive(conn, b"96AZFEF6\r"), SendReply)
    assert isinstance(receive(conn, b"96AZFEF6\r"), SendReply)
    event = receive(conn, b"96AZFEF6\r")
    assert isinstance(event, ConnectionFailed)
    assert event.error.reason is FrameError.RETRIES_EXHAUSTED


def test_timeouts_resend_what_was_sent_last() -> None:
    """On a timeout the request (or our 97) goes out again, within the retry limit."""
    conn = ScConnection(max_retries=2)
    request = conn.send(REQUEST)
    assert conn.timeout() == SendReply(request, ReplyCause.TIMEOUT)
    assert isinstance(receive(conn, b"24garbled\r"), SendReply)
    assert isinstance(conn.timeout(), ConnectionFailed)


def test_timeout_after_97_sends_97_again() -> None:
    """Waiting for the answer to our 97, a timeout sends the 97 again."""
    conn = ScConnection(max_retries=3)
    conn.send(REQUEST)
    receive(conn, b"24garbled\r")
    assert conn.timeout() == SendReply(b"97AZFEF5\r", ReplyCause.TIMEOUT)


def test_timeout_with_nothing_outstanding_is_our_bug() -> None:
    """timeout() without a request in flight is a local error."""
    conn = ScConnection()
    with pytest.raises(LocalProtocolError):
        conn.timeout()


def test_wrong_sequence_and_wrong_type_are_discarded() -> None:
    """An answer with another AY, or of the wrong type, is dropped and we keep waiting."""
    conn = ScConnection()
    conn.send(REQUEST)
    event = receive(conn, frame(ANSWER, 3))
    assert isinstance(event, FrameDiscarded)
    assert "AY3" in str(event.error)
    event = receive(conn, frame(LoginResponse(ok=True), 0))
    assert isinstance(event, FrameDiscarded)
    assert state_of(conn) is ScState.AWAITING_RESPONSE
    assert receive(conn, frame(ANSWER, 0)) == MessageReceived(ANSWER, 0)


def test_98_may_answer_any_request() -> None:
    """An ACS announcing a status change with 98 is delivered to the caller."""
    status = AcsStatus(
        online_status=False,
        checkin_ok=False,
        checkout_ok=False,
        acs_renewal_policy=False,
        status_update_ok=False,
        offline_ok=False,
        timeout_period=0,
        retries_allowed=999,
        date_time_sync=None,
        supported_messages=SupportedMessages(0),
    )
    conn = ScConnection()
    conn.send(REQUEST)
    event = receive(conn, frame(status, 0))
    assert event == MessageReceived(status, 0)


def test_frames_with_nothing_outstanding_are_discarded() -> None:
    """Unsolicited answers, 96s and garbage while idle are dropped."""
    conn = ScConnection()
    for data in (frame(ANSWER, 0), b"96AZFEF6\r", b"24garbled\r", b"XS0\r"):
        assert isinstance(receive(conn, data), FrameDiscarded)
    assert state_of(conn) is ScState.IDLE
    assert conn.next_event() is NEED_DATA


def test_requests_from_the_acs_are_discarded() -> None:
    """A request-type frame arriving at the SC is not an answer."""
    conn = ScConnection()
    conn.send(REQUEST)
    event = receive(conn, frame(REQUEST, 0))
    assert isinstance(event, FrameDiscarded)
    assert event.error.reason is FrameError.WRONG_DIRECTION


@pytest.mark.parametrize("message", [ANSWER, RequestAcsResend()])
def test_the_sc_sends_only_its_own_requests(message: Message) -> None:
    """Responses and 97 (which the connection sends itself) cannot be sent by hand."""
    with pytest.raises(LocalProtocolError, match="not a request"):
        ScConnection().send(message)


def test_one_request_at_a_time() -> None:
    """A second request before the first is answered is a local error."""
    conn = ScConnection()
    conn.send(LoginRequest(login_user_id="a", login_password="b"))
    with pytest.raises(LocalProtocolError):
        conn.send(REQUEST)


def test_a_request_written_beforehand_is_sent_as_the_message_would_be() -> None:
    """A request written once by ``encode_request`` goes out with the connection's own
    sequence number, byte for byte as the message itself would."""
    written = encode_request(REQUEST)
    by_message, by_written = ScConnection(), ScConnection()
    for n in range(3):
        assert by_written.send(written) == by_message.send(REQUEST)
        for conn in (by_message, by_written):
            assert receive(conn, frame(ANSWER, n)) == MessageReceived(ANSWER, n)
    equal_dialect = ScConnection(Dialect())  # equal to the default, not the same object
    assert equal_dialect.send(written) == encode(REQUEST, sequence=0, error_detection=True)


def test_a_request_that_cannot_be_written_is_refused_before_any_connection() -> None:
    """A value longer than the dialect allows (or with the delimiter in it) is found
    when the request is written, with no connection involved."""
    too_long = PatronStatusRequest(transaction_date=WHEN, patron_identifier="2" * 300)
    with pytest.raises(LocalProtocolError, match="longer than 255"):
        encode_request(too_long)
    with pytest.raises(LocalProtocolError, match="delimiter"):
        encode_request(PatronStatusRequest(transaction_date=WHEN, patron_identifier="a|b"))
    with pytest.raises(LocalProtocolError, match="not a request"):
        encode_request(ANSWER)


def test_a_request_written_for_another_dialect_is_refused() -> None:
    """Bytes written for one dialect are never sent on a connection that speaks another;
    the connection can still send its next request."""
    conn = ScConnection(Dialect(field_delimiter="^"))
    with pytest.raises(LocalProtocolError, match="another dialect"):
        conn.send(encode_request(REQUEST))
    assert state_of(conn) is ScState.IDLE
    assert b"AA1^" in conn.send(REQUEST)
