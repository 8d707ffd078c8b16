"""Frames and messages can be logged without showing AC, AD or CO values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from protocols.sip2 import (
    Charset,
    CheckoutRequest,
    Dialect,
    LoginRequest,
    PatronStatusRequest,
    encode,
    redact_frame,
)

WHEN = datetime(2026, 11, 22, 23, 55, 13, tzinfo=UTC)


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (b"9300CNkiosk|COs3cret|CPmain|AY0AZF00D\r", "9300CNkiosk|CO***|CPmain|AY0AZF00D"),
        (
            b"2300120261122    235513AObeta|AA21001|AC|AD1234|",
            "2300120261122    235513AObeta|AA21001|AC|AD***|",
        ),
        (
            b"11YN20261122    235513" + b" " * 18 + b"AO|AA1|AB2|ACterm|AD9999|XI7|\r\n",
            "11YN20261122    235513" + " " * 18 + "AO|AA1|AB2|AC***|AD***|XI7|",
        ),
    ],
)
def test_parsed_frames_are_masked_field_by_field(frame: bytes, expected: str) -> None:
    """Secret values become ***; an empty value stays empty; everything else is kept."""
    assert redact_frame(frame) == expected


def test_broken_frames_are_masked_conservatively() -> None:
    """An unknown or truncated frame still never shows a secret."""
    assert redact_frame(b"XX0ADpin|COpw") == "XX0AD***|CO***"
    assert redact_frame(b"23ADx") == "23AD***"
    assert redact_frame(b"9300CNa|COpw", Dialect(field_delimiter="^")) == "9300CNa|CO***"
    assert redact_frame("XX^ADpin^CC5", Dialect(field_delimiter="^")) == "XX^AD***^CC5"


def test_a_misconfigured_delimiter_does_not_leak() -> None:
    """A peer sending | to a gateway configured for ^ still has its secrets masked."""
    caret = Dialect(field_delimiter="^")
    assert redact_frame(b"9300CNkiosk|COs3cret|", caret) == "9300CNkiosk|CO***"
    assert "1234" not in redact_frame(b"2300120261122    235513AO|AA1|AC|AD1234|", caret)


def test_a_frame_that_does_not_decode_is_masked_everywhere() -> None:
    """A truncated fixed part that swallowed the PIN does not show it."""
    assert "1234" not in redact_frame(b"2300120261122AD1234AA1")
    assert "1234" not in redact_frame(b"2300120261122AD1234|AA1|")


def test_ordinary_text_is_kept() -> None:
    """Letters AC, AD or CO inside a value are not a field start and stay visible."""
    frame = b"1810040120261122    235513AB1|AJACCESS ADVANCED CODING|"
    assert redact_frame(frame) == frame.decode()


def test_control_characters_and_other_charsets_are_escaped() -> None:
    """Unprintable bytes are shown escaped, and text is read in the peer's charset."""
    assert redact_frame(b"99\x01\x0b") == "99\\x01\\x0b"
    utf8 = Dialect(charset=Charset.UTF8)
    frame = encode(LoginRequest(login_user_id="café", login_password="pässword"), utf8)
    assert redact_frame(frame, utf8) == "9300CNcafé|CO***|"


def test_message_repr_masks_secrets() -> None:
    """repr() of a message never shows a PIN or password, even in extensions."""
    request = CheckoutRequest(
        sc_renewal_policy=True,
        no_block=False,
        transaction_date=WHEN,
        nb_due_date=None,
        patron_identifier="21001000000001",
        item_identifier="31002000000001",
        terminal_password="t0p",
        patron_password="1234",
        extensions=(("AD", "5678"), ("XI", "7"), ("CO", "")),
    )
    text = repr(request)
    assert "1234" not in text
    assert "5678" not in text
    assert "t0p" not in text
    assert "patron_password='***'" in text
    assert "('XI', '7')" in text
    assert "('CO', '')" in text
    assert "21001000000001" in text


def test_empty_secret_is_shown_as_empty() -> None:
    """An empty PIN is worth seeing in a log and reveals nothing."""
    text = repr(PatronStatusRequest(transaction_date=WHEN, patron_identifier="1"))
    assert "patron_password=''" in text
