"""decode(encode(m)) == m for every message type, in every dialect."""

from __future__ import annotations

from datetime import datetime, tzinfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from protocols.sip2 import Dialect, Message, PatronInformationResponse, decode, encode
from protocols.sip2.samples import sample, sample_messages

from .strategies import ALL_MESSAGE_TYPES, dialects, messages


def _ambiguous_locally(message: Message, zone: tzinfo) -> bool:
    """Whether a date falls in a DST fold or gap, of ``zone`` or of its own zone.

    SIP2 local time cannot say which reading of a repeated hour it means; and a date in
    a fold or gap of its own zone never compares equal to one in another zone (PEP 495),
    which is what a date written in UTC reads back as.
    """
    for value in vars(message).values():
        if isinstance(value, datetime):
            for local in (value, value.astimezone(zone)):
                if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
                    return True
    return False


@pytest.mark.parametrize("cls", ALL_MESSAGE_TYPES, ids=lambda cls: f"{cls.code}-{cls.__name__}")
@settings(max_examples=60)
@given(data=st.data())
def test_round_trip(cls: type[Message], data: st.DataObject) -> None:
    """Any valid message survives encoding and decoding, with and without a trailer."""
    dialect = data.draw(dialects())
    message = data.draw(messages(cls, dialect))
    assume(not _ambiguous_locally(message, dialect.timezone))
    for error_detection, sequence in ((False, None), (True, data.draw(st.integers(0, 9)))):
        frame = encode(message, dialect, sequence=sequence, error_detection=error_detection)
        assert frame.endswith(dialect.terminator.value)
        decoded = decode(frame, dialect)
        assert decoded.message == message
        assert type(decoded.message) is cls
        if error_detection:
            assert decoded.checksum is not None
            assert decoded.sequence == (None if cls.code in ("96", "97") else sequence)
        else:
            assert decoded.checksum is None


@pytest.mark.parametrize("message", sample_messages(), ids=lambda m: m.code)
def test_samples_round_trip_in_the_default_dialect(message: Message) -> None:
    """The shipped samples (used by the demo and the bench) are valid strict SIP2."""
    strict = Dialect(strict=True)
    frame = encode(message, strict, sequence=3, error_detection=True)
    assert decode(frame, strict).message == message
    assert decode(frame).message == message


def test_unknown_fields_pass_through_untouched_and_in_order() -> None:
    """Vendor fields and standard fields foreign to a message are kept as sent."""
    frame = (
        b"101YNN20261122    235513AObeta|AB31002000000001|AQbeta|CTgamma|CV04|"
        b"AJLes Mis|CY21003000000004|DADoe, Jane|XYvendor value|"
    )
    message = decode(frame).message
    assert message.extensions == (
        ("CT", "gamma"),
        ("CV", "04"),
        ("CY", "21003000000004"),
        ("DA", "Doe, Jane"),
        ("XY", "vendor value"),
    )
    again = encode(message)
    for field in (b"CTgamma|", b"CV04|", b"CY21003000000004|", b"DADoe, Jane|", b"XYvendor value|"):
        assert field in again
    assert again.index(b"CTgamma") < again.index(b"CV04") < again.index(b"XYvendor")
    assert decode(again).message == message


def test_repeatable_fields_keep_their_order() -> None:
    """Consecutive AF lines and 64's item lists come back in the order sent."""
    frame = (
        b"64              00120261122    235513000000020000000000000000AOa|AA1|AE|"
        b"AUitem-2|AFfirst line|AUitem-1|AFsecond line|AFthird line|"
    )
    message = decode(frame).message
    assert isinstance(message, PatronInformationResponse)
    assert message.charged_items == ("item-2", "item-1")
    assert message.screen_messages == ("first line", "second line", "third line")


def test_samples_cover_every_message_once() -> None:
    """There is exactly one sample per message, found by its code."""
    samples = sample_messages()
    assert sorted(m.code for m in samples) == sorted(Message.registry)
    assert type(sample("98")).__name__ == "AcsStatus"
    with pytest.raises(KeyError):
        sample("00")
