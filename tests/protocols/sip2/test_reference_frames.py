"""Table tests from the SIP2 reference: published checksum vectors and frames real
systems send (Koha, Evergreen, FOLIO, invenio-sip2, Palace, php-sip2 reports)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from protocols.sip2 import (
    AcsStatus,
    Charset,
    CheckoutRequest,
    CheckoutResponse,
    Dialect,
    FrameError,
    LoginRequest,
    PatronInformationResponse,
    PatronStatus,
    PatronStatusResponse,
    RemoteProtocolError,
    RequestAcsResend,
    RequestScResend,
    ScStatus,
    changed,
    checksum,
    checksum_ok,
    decode,
    encode,
    next_sequence,
)

STRICT = Dialect(strict=True)
LENIENT = Dialect(strict=False)
WHEN = datetime(2026, 11, 22, 23, 55, 13, tzinfo=UTC)


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (b"9900302.00AY1AZ", b"FCA5"),
        (b"97AZ", b"FEF5"),
        (b"96AZ", b"FEF6"),
        (b"9900802.00AY1AZ", b"FCA0"),
        (b"9300CNuser|COpassAY0AZ", b"F8BA"),
    ],
)
def test_published_checksum_vectors(prefix: bytes, expected: bytes) -> None:
    """The checksum of the published prefixes is the published value (§1.3)."""
    assert checksum(prefix) == expected
    assert checksum_ok(prefix, expected)
    assert not checksum_ok(prefix, b"%04X" % ((int(expected, 16) + 1) & 0xFFFF))


def test_checksum_is_zero_padded_to_four_digits() -> None:
    """A small checksum is written with leading zeros, unlike invenio-sip2."""
    prefix = b"\xff" * 255 + b"\xf6" + b"AZ"
    assert checksum(prefix) == b"%04X" % (-sum(prefix) & 0xFFFF)
    assert len(checksum(b"AZ")) == 4


def test_sequence_numbers_wrap_from_nine_to_zero() -> None:
    """AY counts 0-9 and wraps, as Sirsi insists (SIP2.NET #4)."""
    assert [next_sequence(n) for n in range(10)] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]


def test_sc_status_golden_frame() -> None:
    """9900302.00AY1AZFCA5 is status OK, width 30, version 2.00, sequence 1."""
    frame = decode(b"9900302.00AY1AZFCA5\r", STRICT)
    assert frame.message == ScStatus(status_code=0, max_print_width=30, protocol_version="2.00")
    assert (frame.sequence, frame.checksum) == (1, "FCA5")
    assert encode(frame.message, STRICT, sequence=1, error_detection=True) == (
        b"9900302.00AY1AZFCA5\r"
    )


@pytest.mark.parametrize(
    ("frame", "message"), [(b"97AZFEF5", RequestAcsResend()), (b"96AZFEF6", RequestScResend())]
)
def test_resend_requests_carry_a_checksum_but_no_sequence(frame: bytes, message: object) -> None:
    """96 and 97 never carry AY; with error detection they are exactly these bytes."""
    decoded = decode(frame, STRICT)
    assert decoded.message == message
    assert decoded.sequence is None
    assert encode(decoded.message, error_detection=True, sequence=4) == frame + b"\r"


def test_koha_failed_checkout_reply() -> None:
    """Koha's 120NUN... failure reply: not ok, magnetic media unknown, empty AH."""
    frame = b"120NUN20261122    235513AOalpha|AA21001000000001|AB31001000000001|AJ|AH|AFBlocked|"
    message = decode(frame, STRICT).message
    assert isinstance(message, CheckoutResponse)
    assert (message.ok, message.renewal_ok, message.magnetic_media, message.desensitize) == (
        False,
        False,
        None,
        False,
    )
    assert message.due_date == ""
    assert message.screen_messages == ("Blocked",)


def test_koha_unknown_patron_status() -> None:
    """Koha answers an unknown patron with YYYY and ten blanks, empty AE and BLN."""
    frame = b"24YYYY          00120261122    235513AOalpha|AA99999|AE|BLN|"
    message = decode(frame, STRICT).message
    assert isinstance(message, PatronStatusResponse)
    assert message.patron_status == (
        PatronStatus.CHARGE_PRIVILEGES_DENIED
        | PatronStatus.RENEWAL_PRIVILEGES_DENIED
        | PatronStatus.RECALL_PRIVILEGES_DENIED
        | PatronStatus.HOLD_PRIVILEGES_DENIED
    )
    assert message.valid_patron is False
    assert message.personal_name == ""


def test_space_padded_numbers_are_lenient_only() -> None:
    """invenio-sip2 sends ' 10' for timeout and retries: lenient reads it, strict refuses."""
    frame = b"98YYYYNN 10 1020261122    2355132.00AOinst|BXYYYYYYYYYYYYYYYY|"
    message = decode(frame, LENIENT).message
    assert isinstance(message, AcsStatus)
    assert (message.timeout_period, message.retries_allowed) == (10, 10)
    with pytest.raises(RemoteProtocolError) as info:
        decode(frame, STRICT)
    assert info.value.reason is FrameError.MALFORMED
    assert "timeout_period" in str(info.value)


def test_unpadded_limits_are_lenient_only() -> None:
    """php-sip2 #6 shows BZ5|CA30|CB20; lenient reads them as numbers, strict refuses."""
    frame = (
        b"64              00120261122    235513000000000000000000000000"
        b"AOinst|AA21001000000001|AEAda|BZ5|CA30|CB20|"
    )
    message = decode(frame, LENIENT).message
    assert isinstance(message, PatronInformationResponse)
    assert (message.hold_items_limit, message.overdue_items_limit, message.charged_items_limit) == (
        5,
        30,
        20,
    )
    assert b"BZ0005|CA0030|CB0020|" in encode(message)
    with pytest.raises(RemoteProtocolError, match="BZ"):
        decode(frame, STRICT)


def test_last_field_without_delimiter_before_trailer() -> None:
    """Palace's client writes 9300CNuser|COpassAY0AZF8BA: lenient accepts, strict refuses."""
    frame = b"9300CNuser|COpassAY0AZF8BA\r"
    decoded = decode(frame, LENIENT)
    assert decoded.message == LoginRequest(login_user_id="user", login_password="pass")
    assert decoded.sequence == 0
    with pytest.raises(RemoteProtocolError, match="no delimiter"):
        decode(frame, STRICT)


def test_blank_nb_due_date_is_lenient_only() -> None:
    """Clients send 18 blanks for 'no due date'; strict pysip2-style parsing refuses."""
    frame = b"11YN20261122    235513" + b" " * 18 + b"AO|AA1|AB2|AC|"
    message = decode(frame, LENIENT).message
    assert isinstance(message, CheckoutRequest)
    assert message.nb_due_date is None
    with pytest.raises(RemoteProtocolError, match="nb_due_date"):
        decode(frame, STRICT)


def test_invenio_unpadded_checksum_is_lenient_only() -> None:
    """invenio-sip2 drops leading zeros of the checksum; lenient still verifies it."""
    prefix = b"9300CNuser|COpass|AY0AZ"
    digits = b"%X" % (-sum(prefix) & 0xFFFF)
    assert decode(prefix + digits.lstrip(b"0").lower(), LENIENT).sequence == 0
    with pytest.raises(RemoteProtocolError):
        decode(prefix + b"ABC", STRICT)


def test_military_time_zones() -> None:
    """A letter in the last zone position is a military zone; Z is UTC, Q is UTC-4."""
    base = b"11NN20261122   %s120000" + b"20261213    235959" + b"AO|AA1|AB2|AC|"
    utc = decode(base % b"Z", STRICT).message
    atlantic = decode(base % b"Q", STRICT).message
    assert isinstance(utc, CheckoutRequest)
    assert isinstance(atlantic, CheckoutRequest)
    assert utc.transaction_date == datetime(2026, 11, 22, 12, tzinfo=UTC)
    assert atlantic.transaction_date == datetime(
        2026, 11, 22, 12, tzinfo=timezone(timedelta(hours=-4))
    )


def test_cp850_is_not_latin1() -> None:
    """'ë' is 0x89 in cp850 and 0xEB in latin-1; each checksum covers its own bytes."""
    response = PatronStatusResponse(
        transaction_date=WHEN, patron_identifier="1", personal_name="Zoë"
    )
    cp850 = encode(response, Dialect(charset=Charset.CP850), sequence=1, error_detection=True)
    latin1 = encode(response, Dialect(charset=Charset.LATIN1), sequence=1, error_detection=True)
    assert b"AEZo\x89|" in cp850
    assert b"AEZo\xeb|" in latin1
    assert cp850[-6:] != latin1[-6:]
    assert decode(cp850, Dialect(charset=Charset.CP850)).message == response
    assert decode(latin1, Dialect(charset=Charset.LATIN1)).message == response


def test_checksum_is_over_bytes_not_code_points() -> None:
    """php-sip2 #8: an ILS summing code points is wrong for 'ċ' in UTF-8; we sum bytes."""
    utf8 = Dialect(charset=Charset.UTF8)
    frame = encode(
        PatronStatusResponse(transaction_date=WHEN, patron_identifier="1", personal_name="ċ"),
        utf8,
        sequence=0,
        error_detection=True,
    )
    body = frame[:-5]
    assert frame[-5:-1] == checksum(body)
    code_points = b"%04X" % (-sum(map(ord, body.decode("utf-8"))) & 0xFFFF)
    with pytest.raises(RemoteProtocolError) as info:
        decode(body + code_points, utf8)
    assert info.value.reason is FrameError.BAD_CHECKSUM


def test_crlf_terminated_frame() -> None:
    """Koha's CRLF terminator is accepted by decode."""
    assert decode(b"9900302.00AY1AZFCA5\r\n").message == decode(b"9900302.00AY1AZFCA5").message


def test_as_read_keeps_the_senders_body_in_its_own_dialect_only() -> None:
    """Written ``as_read`` in the dialect it was read in, a decoded message is the body
    its sender wrote (unpadded limits and all); in another dialect, or once changed, or
    without ``as_read``, it is the codec's own writing."""
    body = (
        b"64              00120261122    235513000000000000000000000000"
        b"AOinst|AA21001000000001|AEAda|BZ5|CA30|CB20|"
    )
    message = decode(body + b"AY3AZ" + checksum(body + b"AY3AZ") + b"\r", LENIENT).message
    assert isinstance(message, PatronInformationResponse)
    repaired = b"BZ0005|CA0030|CB0020|"
    as_read = encode(message, LENIENT, sequence=7, error_detection=True, as_read=True)
    assert as_read == body + b"AY7AZ" + checksum(body + b"AY7AZ") + b"\r"
    assert repaired in encode(message, LENIENT)
    other = Dialect(charset=Charset.UTF8)
    assert repaired in encode(message, other, as_read=True)
    unlimited = Dialect(strict=False, max_field_length=None)  # a listener's default
    assert encode(message, unlimited, as_read=True) == body + b"\r"
    assert encode(message, Dialect(max_field_length=len(body)), as_read=True) == body + b"\r"
    # A limit shorter than the body: a lenient reading did not check its fields.
    assert repaired in encode(message, Dialect(max_field_length=50), as_read=True)
    copy = changed(message, {"personal_name": "Ada L."})
    assert repaired in encode(copy, LENIENT, as_read=True)
    assert b"AEAda L.|" in encode(copy, LENIENT, as_read=True)
    assert "_read" not in vars(dataclasses.replace(message, personal_name="x"))
