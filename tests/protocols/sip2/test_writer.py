"""Compiled writers and message construction behave as the layouts say."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import UTC, datetime

import pytest

from protocols.sip2 import (
    CheckoutRequest,
    Dialect,
    Language,
    LocalProtocolError,
    LoginRequest,
    Message,
    PatronStatus,
    PatronStatusResponse,
    decode,
    encode,
)
from protocols.sip2.writer import writer_for

WHEN = datetime(2026, 11, 22, 23, 55, 13, tzinfo=UTC)


class Barcode(str):
    """A ``str`` subclass, as an application might pass for an identifier."""


def _checkout(**changes: object) -> CheckoutRequest:
    values: dict[str, object] = {
        "sc_renewal_policy": True,
        "no_block": False,
        "transaction_date": WHEN,
        "nb_due_date": WHEN,
        "institution_id": "beta",
        "patron_identifier": "21001000000001",
        "item_identifier": "31002000000001",
    }
    values.update(changes)
    return CheckoutRequest(**values)  # type: ignore[arg-type]


def test_a_str_subclass_is_written_as_text() -> None:
    """Text fields take any ``str``, subclasses too, and write their characters."""
    frame = encode(_checkout(item_identifier=Barcode("31002000000001")))
    assert decode(frame).message == _checkout()


def test_a_value_that_is_not_text_is_refused_with_its_field() -> None:
    """A number in a text field names the message and the field."""
    with pytest.raises(LocalProtocolError, match=r"11 CheckoutRequest\.item_identifier: expected"):
        encode(_checkout(item_identifier=42))
    with pytest.raises(LocalProtocolError, match=r"screen_messages: expected text"):
        encode(
            PatronStatusResponse(
                patron_status=PatronStatus(0),
                language=Language.ENGLISH,
                transaction_date=WHEN,
                patron_identifier="1",
                screen_messages=(7,),  # type: ignore[arg-type]
            )
        )


def test_writers_are_compiled_once_per_class() -> None:
    """The same class gets the same writer back."""
    assert writer_for(CheckoutRequest) is writer_for(CheckoutRequest)
    parts, fields, head_length = writer_for(LoginRequest)(
        LoginRequest(login_user_id="kiosk", login_password="pw").__dict__, Dialect()
    )
    assert "".join(parts) == "9300CNkiosk|COpw|"
    assert (fields, head_length) == (2, 4)


def test_messages_are_built_as_frozen_keyword_only_dataclasses() -> None:
    """The generated __init__ keeps the dataclass's signature, defaults and checks."""
    signature = inspect.signature(LoginRequest)
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in signature.parameters.values())
    assert signature.parameters["uid_algorithm"].default == "0"
    assert signature.parameters["login_user_id"].default is inspect.Parameter.empty
    login = LoginRequest(login_user_id="kiosk", login_password="pw")
    assert list(vars(login)) == [f.name for f in dataclasses.fields(login)]
    assert login == LoginRequest(login_user_id="kiosk", login_password="pw", location_code=None)
    assert hash(login) == hash(LoginRequest(login_user_id="kiosk", login_password="pw"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        login.login_user_id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError, match="login_password"):
        LoginRequest(login_user_id="kiosk")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        LoginRequest("kiosk", "pw")  # type: ignore[call-arg, arg-type]
    assert dataclasses.replace(login, location_code="main").location_code == "main"
    assert isinstance(login, Message)
