"""Bad frames give RemoteProtocolError with the right reason and hint; unwritable
messages give LocalProtocolError naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from protocols.sip2 import (
    AcsStatus,
    Charset,
    CheckoutRequest,
    Dialect,
    FrameError,
    HoldRequest,
    LocalProtocolError,
    PatronStatusResponse,
    RemoteProtocolError,
    ResponseHint,
    ScStatus,
    Unencodable,
    checksum,
    decode,
    encode,
)

STRICT = Dialect(strict=True)
WHEN = datetime(2026, 11, 22, 23, 55, 13, tzinfo=UTC)
CHECKOUT = b"11YN20261122    23551320261213    235959AOx|AA1|AB2|AC|"


def _wrong_checksum(body: bytes) -> bytes:
    prefix = body + b"AY1AZ"
    return prefix + b"%04X" % ((int(checksum(prefix), 16) + 1) & 0xFFFF)


BAD_FRAMES: list[tuple[str, bytes, Dialect, FrameError, ResponseHint]] = [
    (
        "bad checksum",
        b"9900302.00AY1AZFCA6",
        STRICT,
        FrameError.BAD_CHECKSUM,
        ResponseHint.REQUEST_RESEND,
    ),
    ("NUL byte", b"99003\x002.00", STRICT, FrameError.FORBIDDEN_BYTE, ResponseHint.REQUEST_RESEND),
    ("inner CR", b"9900\r302.00", STRICT, FrameError.FORBIDDEN_BYTE, ResponseHint.REQUEST_RESEND),
    ("unknown command", b"XS00", STRICT, FrameError.UNKNOWN_COMMAND, ResponseHint.IGNORE),
    ("too short", b"9", STRICT, FrameError.MALFORMED, ResponseHint.REQUEST_RESEND),
    ("empty", b"", STRICT, FrameError.MALFORMED, ResponseHint.REQUEST_RESEND),
    ("truncated fixed part", b"99003", STRICT, FrameError.MALFORMED, ResponseHint.REQUEST_RESEND),
    ("bad flag", b"11XN" + CHECKOUT[4:], STRICT, FrameError.MALFORMED, ResponseHint.REQUEST_RESEND),
    (
        "bad date",
        b"11YN2026132" + CHECKOUT[11:],
        STRICT,
        FrameError.MALFORMED,
        ResponseHint.REQUEST_RESEND,
    ),
    (
        "missing required",
        b"11YN20261122    23551320261213    235959AOx|AA1|AC|",
        STRICT,
        FrameError.MALFORMED,
        ResponseHint.REQUEST_RESEND,
    ),
    (
        "duplicate field",
        CHECKOUT + b"AA1|",
        STRICT,
        FrameError.MALFORMED,
        ResponseHint.REQUEST_RESEND,
    ),
    ("empty field", CHECKOUT + b"|", STRICT, FrameError.MALFORMED, ResponseHint.REQUEST_RESEND),
    (
        "one-character field",
        CHECKOUT + b"X|",
        Dialect(),
        FrameError.MALFORMED,
        ResponseHint.REQUEST_RESEND,
    ),
    (
        "field too long",
        CHECKOUT + b"AF" + b"x" * 256 + b"|",
        STRICT,
        FrameError.MALFORMED,
        ResponseHint.REQUEST_RESEND,
    ),
    (
        "bad typed field",
        CHECKOUT + b"BOX|",
        STRICT,
        FrameError.MALFORMED,
        ResponseHint.REQUEST_RESEND,
    ),
    (
        "bad typed field, lenient",
        CHECKOUT + b"BOX|",
        Dialect(),
        FrameError.MALFORMED,
        ResponseHint.REQUEST_RESEND,
    ),
    (
        "required typed field missing",
        b"98YYYYNN03000300000000000000000002.00AOx|",
        Dialect(),
        FrameError.MALFORMED,
        ResponseHint.REQUEST_RESEND,
    ),
    (
        "not UTF-8",
        b"9300CN\xff\xfe|CO|",
        Dialect(charset=Charset.UTF8),
        FrameError.UNDECODABLE,
        ResponseHint.REQUEST_RESEND,
    ),
    (
        "not ASCII",
        b"9300CN\xe9|CO|",
        Dialect(charset=Charset.ASCII),
        FrameError.UNDECODABLE,
        ResponseHint.REQUEST_RESEND,
    ),
    (
        "bad checksum after a body",
        _wrong_checksum(CHECKOUT),
        STRICT,
        FrameError.BAD_CHECKSUM,
        ResponseHint.REQUEST_RESEND,
    ),
]


@pytest.mark.parametrize(
    ("frame", "dialect", "reason", "hint"),
    [case[1:] for case in BAD_FRAMES],
    ids=[case[0] for case in BAD_FRAMES],
)
def test_bad_frames(frame: bytes, dialect: Dialect, reason: FrameError, hint: ResponseHint) -> None:
    """Each bad frame is refused with its reason and the answer SIP2 expects."""
    with pytest.raises(RemoteProtocolError) as info:
        decode(frame, dialect)
    assert info.value.reason is reason
    assert info.value.response_hint is hint
    assert str(info.value)


def test_lenient_parsing_keeps_what_strict_refuses() -> None:
    """Lenient parsing skips empty fields, keeps a repeated field as an extension and
    fills a missing required text field with the empty string: nothing is dropped."""
    frame = b"11YN20261122    235513" + b" " * 18 + b"AOx||AA1|AA2|AB3|"
    message = decode(frame).message
    assert isinstance(message, CheckoutRequest)
    assert message.patron_identifier == "1"
    assert message.extensions == (("AA", "2"),)
    assert message.terminal_password == ""
    assert message.nb_due_date is None


def test_lenient_empty_optional_typed_field_is_absent() -> None:
    """An empty BO| (fee acknowledged) means "not given" in lenient parsing."""
    message = decode(CHECKOUT + b"BO|").message
    assert isinstance(message, CheckoutRequest)
    assert message.fee_acknowledged is None


def test_unverified_checksum_is_not_checked() -> None:
    """With verify=False (error detection off) a wrong checksum is stripped, not checked."""
    decoded = decode(b"9900302.00AY1AZ0000", verify=False)
    assert decoded.message == ScStatus(max_print_width=30)
    assert decoded.checksum == "0000"


def _checkout(**changes: object) -> CheckoutRequest:
    values: dict[str, object] = {
        "sc_renewal_policy": True,
        "no_block": False,
        "transaction_date": WHEN,
        "nb_due_date": None,
        "patron_identifier": "21001000000001",
        "item_identifier": "31002000000001",
    }
    values.update(changes)
    return CheckoutRequest(**values)  # type: ignore[arg-type]


UNWRITABLE: list[tuple[str, object, Dialect, str]] = [
    ("delimiter in a value", _checkout(item_identifier="a|b"), Dialect(), "delimiter"),
    ("CR in a value", _checkout(item_identifier="a\rb"), Dialect(), "CR"),
    ("NUL in a value", _checkout(item_identifier="a\x00b"), Dialect(), "NUL"),
    ("unencodable character", _checkout(item_identifier="€"), Dialect(), "cannot be written"),
    ("too long", _checkout(item_identifier="x" * 256), Dialect(), "longer than 255"),
    ("naive date", _checkout(transaction_date=datetime(2026, 1, 1)), Dialect(), "timezone-aware"),
    ("not a date", _checkout(transaction_date="today"), Dialect(), "expected a datetime"),
    ("not a bool", _checkout(no_block="N"), Dialect(), "expected a bool"),
    ("not text", _checkout(item_identifier=42), Dialect(), "expected text"),
    ("typed optional", _checkout(fee_acknowledged="Y"), Dialect(), "fee_acknowledged"),
    ("required is None", _checkout(patron_identifier=None), Dialect(), "is required"),
    ("bad extension id", _checkout(extensions=(("X", "1"),)), Dialect(), "extension"),
    ("delimiter in extension", _checkout(extensions=(("XY", "a|b"),)), Dialect(), "delimiter"),
]


@pytest.mark.parametrize(
    ("message", "dialect", "match"),
    [case[1:] for case in UNWRITABLE],
    ids=[case[0] for case in UNWRITABLE],
)
def test_unwritable_messages(message: CheckoutRequest, dialect: Dialect, match: str) -> None:
    """A message that cannot be written raises LocalProtocolError with a useful text."""
    with pytest.raises(LocalProtocolError, match=match):
        encode(message, dialect)


def test_unwritable_fixed_and_typed_values() -> None:
    """Fixed fields are checked for width, type and range; so are typed variable fields."""
    with pytest.raises(LocalProtocolError, match="max_print_width"):
        encode(ScStatus(max_print_width=1000))
    with pytest.raises(LocalProtocolError, match="max_print_width"):
        encode(ScStatus(max_print_width=-1))
    with pytest.raises(LocalProtocolError, match="protocol_version"):
        encode(ScStatus(max_print_width=40, protocol_version="2.0"))
    with pytest.raises(LocalProtocolError, match="expected text"):
        encode(ScStatus(max_print_width=40, protocol_version=2.0))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="ASCII"):
        encode(ScStatus(max_print_width=40, protocol_version="2.0é"))
    with pytest.raises(LocalProtocolError, match="hold_mode"):
        encode(HoldRequest(hold_mode="+", transaction_date=WHEN, patron_identifier="1"))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="supported_messages"):
        encode(
            AcsStatus(
                online_status=True,
                checkin_ok=True,
                checkout_ok=True,
                acs_renewal_policy=True,
                status_update_ok=True,
                offline_ok=True,
                timeout_period=0,
                retries_allowed=0,
                date_time_sync=None,
                supported_messages=0xFFFF,  # type: ignore[arg-type]
            )
        )
    assert encode(ScStatus(max_print_width=40), Dialect(max_field_length=None))


def test_sequence_rules() -> None:
    """A sequence needs error detection; error detection needs a sequence 0-9."""
    with pytest.raises(LocalProtocolError, match="only sent with error detection"):
        encode(ScStatus(max_print_width=40), sequence=1)
    with pytest.raises(LocalProtocolError, match="needs a sequence"):
        encode(ScStatus(max_print_width=40), error_detection=True)
    with pytest.raises(LocalProtocolError, match="needs a sequence"):
        encode(ScStatus(max_print_width=40), error_detection=True, sequence=10)


def test_transliteration_is_an_explicit_choice() -> None:
    """With transliteration chosen, '€' becomes 'EUR' and 'ő' becomes 'o'; CJK becomes '?'."""
    dialect = Dialect(charset=Charset.ASCII, unencodable=Unencodable.TRANSLITERATE)
    frame = encode(
        PatronStatusResponse(
            transaction_date=WHEN, patron_identifier="1", personal_name="Erdős Pál 5€ 山"
        ),
        dialect,
    )
    assert b"AEErdos Pal 5EUR ?|" in frame
