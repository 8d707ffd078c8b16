"""The kiosk's answers: refusals of every request type, and re-addressed ILS answers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.sip2.responses import DENIED, readdress, refusal, with_fields
from protocols.sip2 import (
    RESPONSE_CODES,
    BlockPatron,
    CheckinRequest,
    CheckoutRequest,
    CheckoutResponse,
    CirculationStatus,
    Direction,
    EndPatronSessionRequest,
    FeePaidRequest,
    HoldMode,
    HoldRequest,
    ItemInformationRequest,
    ItemInformationResponse,
    ItemStatusUpdateRequest,
    Language,
    Message,
    PatronEnableRequest,
    PatronInformationRequest,
    PatronStatus,
    PatronStatusRequest,
    RenewAllRequest,
    RenewRequest,
    ScStatus,
    decode,
    encode,
)

NOW = datetime(2026, 3, 1, 10, 0, 5, tzinfo=UTC)
SENT = datetime(2026, 3, 1, 9, 59, 58, tzinfo=UTC)
AO = "kiosk-ao"
PATRON = "21002000000001"
ITEM = "31001000000001"
REASON = "Please see the desk"

GATEWAY_ANSWERED = {"93", "99", "97"}
"""Requests the gateway or the codec answer themselves: never refused this way."""

REQUESTS: dict[str, Message] = {
    "23": PatronStatusRequest(
        language=Language.ENGLISH,
        transaction_date=SENT,
        institution_id=AO,
        patron_identifier=PATRON,
    ),
    "01": BlockPatron(
        card_retained=False,
        transaction_date=SENT,
        institution_id=AO,
        blocked_card_message="lost",
        patron_identifier=PATRON,
    ),
    "25": PatronEnableRequest(transaction_date=SENT, institution_id=AO, patron_identifier=PATRON),
    "63": PatronInformationRequest(
        language=Language.ENGLISH,
        transaction_date=SENT,
        institution_id=AO,
        patron_identifier=PATRON,
    ),
    "35": EndPatronSessionRequest(
        transaction_date=SENT, institution_id=AO, patron_identifier=PATRON
    ),
    "11": CheckoutRequest(
        sc_renewal_policy=True,
        no_block=False,
        transaction_date=SENT,
        nb_due_date=None,
        institution_id=AO,
        patron_identifier=PATRON,
        item_identifier=ITEM,
    ),
    "29": RenewRequest(
        third_party_allowed=False,
        no_block=False,
        transaction_date=SENT,
        nb_due_date=None,
        institution_id=AO,
        patron_identifier=PATRON,
        item_identifier=ITEM,
        title_identifier="A Title",
    ),
    "65": RenewAllRequest(transaction_date=SENT, institution_id=AO, patron_identifier=PATRON),
    "09": CheckinRequest(
        no_block=False,
        transaction_date=SENT,
        return_date=SENT,
        institution_id=AO,
        item_identifier=ITEM,
    ),
    "37": FeePaidRequest(
        transaction_date=SENT,
        fee_type=1,
        payment_type=0,
        currency_type="USD",
        fee_amount="2.50",
        institution_id=AO,
        patron_identifier=PATRON,
        transaction_id="tx-42",
    ),
    "17": ItemInformationRequest(transaction_date=SENT, institution_id=AO, item_identifier=ITEM),
    "19": ItemStatusUpdateRequest(
        transaction_date=SENT, institution_id=AO, item_identifier=ITEM, item_properties="p"
    ),
    "15": HoldRequest(
        hold_mode=HoldMode.ADD,
        transaction_date=SENT,
        institution_id=AO,
        patron_identifier=PATRON,
        item_identifier=ITEM,
        title_identifier="A Title",
    ),
}


def value(message: Message, name: str) -> object:
    """A field of a message whose type is known only at run time."""
    return getattr(message, name)


def negative(response: Message) -> bool:
    """Whether the response's own flag says no (each type has its own)."""
    match response.code:
        case "24" | "26" | "64":
            status = value(response, "patron_status")
            assert isinstance(status, PatronStatus)
            return status & DENIED == DENIED
        case "12" | "30":
            return not value(response, "ok") and not value(response, "renewal_ok")
        case "10" | "16" | "66":
            return not value(response, "ok")
        case "38":
            return not value(response, "payment_accepted")
        case "20":
            return not value(response, "item_properties_ok")
        case "18":
            return value(response, "circulation_status") == CirculationStatus.OTHER
    raise AssertionError(f"no negative flag known for {response.code}")


def test_every_sc_request_has_a_sample() -> None:
    """The samples cover every request the SC sends, except those answered by the gateway."""
    sc_codes = {
        code for code, cls in Message.registry.items() if cls.direction is Direction.SC_TO_ACS
    }
    assert set(REQUESTS) == sc_codes - GATEWAY_ANSWERED
    for code, request in REQUESTS.items():
        assert request.code == code


@pytest.mark.parametrize("code", sorted(REQUESTS))
def test_refusal_is_the_right_response_type(code: str) -> None:
    """The refusal of a request is the response type the request is answered with."""
    response = refusal(REQUESTS[code], REASON, NOW)
    assert response.code == RESPONSE_CODES[code]
    assert type(response) is Message.registry[RESPONSE_CODES[code]]


@pytest.mark.parametrize("code", sorted(REQUESTS))
def test_refusal_shows_the_reason_and_says_no(code: str) -> None:
    """The reason is the screen message, the date is ``now``, and the flag is negative."""
    response = refusal(REQUESTS[code], REASON, NOW)
    assert value(response, "screen_messages") == (REASON,)
    assert value(response, "transaction_date") == NOW
    if code == "35":
        # Ending a session cannot fail: the gateway forgets the patron anyway.
        assert value(response, "end_session") is True
    else:
        assert negative(response)


@pytest.mark.parametrize("code", sorted(REQUESTS))
def test_refusal_echoes_the_request_identifiers(code: str) -> None:
    """AO, AA and AB come back as the kiosk sent them, where the response has them."""
    request = REQUESTS[code]
    response = refusal(request, REASON, NOW)
    fields = response.__dataclass_fields__
    for name in ("institution_id", "patron_identifier", "item_identifier"):
        if name in fields and name in request.__dataclass_fields__:
            assert getattr(response, name) == getattr(request, name), name
    assert ("institution_id" in fields) == (code not in {"17", "19"})


@pytest.mark.parametrize("code", sorted(REQUESTS))
def test_refusal_encodes_and_decodes(code: str) -> None:
    """Every refusal is valid SIP2: it encodes, and decodes back to the same answer."""
    response = refusal(REQUESTS[code], REASON, NOW)
    frame = encode(response)
    assert frame.startswith(RESPONSE_CODES[code].encode())
    assert b"AF" + REASON.encode() in frame
    assert decode(frame).message == response
    assert encode(response, sequence=3, error_detection=True).endswith(b"\r")


@pytest.mark.parametrize("code", sorted(REQUESTS))
def test_refusal_without_a_reason_has_no_screen_message(code: str) -> None:
    """An empty reason adds no empty AF field."""
    response = refusal(REQUESTS[code], "", NOW)
    assert value(response, "screen_messages") == ()
    assert b"|AF" not in encode(response)


def test_refusal_keeps_details_that_help_the_kiosk() -> None:
    """A renewal keeps the title, a fee payment its transaction id, a 23 its language."""
    renewal = refusal(REQUESTS["29"], REASON, NOW)
    assert value(renewal, "title_identifier") == "A Title"
    payment = refusal(REQUESTS["37"], REASON, NOW)
    assert value(payment, "transaction_id") == "tx-42"
    status = refusal(REQUESTS["23"], REASON, NOW)
    assert value(status, "language") == Language.ENGLISH
    blocked = refusal(REQUESTS["01"], REASON, NOW)
    assert value(blocked, "language") == Language.UNKNOWN


# --- readdress and with_fields --------------------------------------------------------------


def ils_checkout_answer() -> CheckoutResponse:
    """What an owner's ILS says to the gateway's proxy account."""
    return CheckoutResponse(
        ok=True,
        renewal_ok=False,
        magnetic_media=False,
        desensitize=True,
        transaction_date=NOW,
        institution_id="alpha",
        patron_identifier="ILL-beta",
        item_identifier=ITEM,
        title_identifier="Alpha Book 1",
        due_date="20260322    235959",
        extensions=(("ZZ", "vendor"),),
    )


def test_readdress_restores_the_kiosks_institution_id() -> None:
    """The ILS's AO is replaced by the one the kiosk sent; the rest is untouched."""
    answer = ils_checkout_answer()
    readdressed = readdress(answer, REQUESTS["11"])
    assert readdressed.institution_id == AO
    assert readdressed.patron_identifier == "ILL-beta"
    assert readdressed.title_identifier == "Alpha Book 1"
    assert readdressed.extensions == (("ZZ", "vendor"),)
    assert answer.institution_id == "alpha"


def test_readdress_applies_changes_only_to_fields_the_message_has() -> None:
    """The visitor's card replaces the proxy account; unknown names are ignored."""
    readdressed = readdress(
        ils_checkout_answer(),
        REQUESTS["11"],
        patron_identifier=PATRON,
        queue_position=3,
        personal_name="Nobody",
    )
    assert readdressed.patron_identifier == PATRON
    assert readdressed.institution_id == AO
    assert readdressed == readdress(ils_checkout_answer(), REQUESTS["11"], patron_identifier=PATRON)
    assert decode(encode(readdressed)).message == readdressed


def test_readdress_with_an_explicit_institution_id_keeps_it() -> None:
    """A change naming institution_id wins over the request's AO."""
    readdressed = readdress(ils_checkout_answer(), REQUESTS["11"], institution_id="beta")
    assert readdressed.institution_id == "beta"


def test_readdress_from_a_request_without_ao_keeps_the_answers() -> None:
    """A request with no institution id leaves the answer's AO as it was."""
    readdressed = readdress(ils_checkout_answer(), ScStatus(max_print_width=40))
    assert readdressed.institution_id == "alpha"


def test_readdress_of_an_answer_without_ao_is_unchanged() -> None:
    """18 has no AO: re-addressing it changes nothing."""
    answer = ItemInformationResponse(
        circulation_status=CirculationStatus.AVAILABLE,
        security_marker=2,
        fee_type=1,
        transaction_date=NOW,
        item_identifier=ITEM,
        title_identifier="Alpha Book 1",
    )
    assert readdress(answer, REQUESTS["17"]) == answer
    changed = readdress(answer, REQUESTS["17"], title_identifier="Renamed")
    assert changed.title_identifier == "Renamed"
    assert changed.item_identifier == ITEM


def test_with_fields_changes_known_fields_and_ignores_unknown_names() -> None:
    """Known names are replaced; unknown names are dropped without error."""
    answer = ils_checkout_answer()
    changed = with_fields(answer, title_identifier="Renamed", no_such_field=1, hold_mode="x")
    assert changed.title_identifier == "Renamed"
    assert changed.due_date == answer.due_date
    assert type(changed) is CheckoutResponse
    assert answer.title_identifier == "Alpha Book 1"


def test_with_fields_of_only_unknown_names_returns_the_message_itself() -> None:
    """Nothing to change: the very same message comes back."""
    answer = ils_checkout_answer()
    assert with_fields(answer, bogus="x") is answer
    assert with_fields(answer) is answer


def _written(message: Message) -> bytes | str:
    """The frame, or why it cannot be written (a fixed-width field given a longer value)."""
    from protocols.sip2 import LocalProtocolError, encode

    try:
        return encode(message)
    except LocalProtocolError as exc:
        return str(exc)


@pytest.mark.parametrize("cls", list(Message.registry.values()), ids=lambda c: c.code)
def test_with_fields_makes_what_dataclasses_replace_makes(cls: type[Message]) -> None:
    """For every message type: the same fields, the same order, the original untouched,
    and a copy that encodes as the original with the change would."""
    import dataclasses

    from protocols.sip2.samples import sample

    message = sample(cls.code)
    names = [
        f.name for f in dataclasses.fields(message) if isinstance(getattr(message, f.name), str)
    ]
    if not names:
        assert with_fields(message, no_such_field="x") is message
        return
    name = names[-1]
    changed = with_fields(message, **{name: "changed"})
    expected = dataclasses.replace(message, **{name: "changed"})  # type: ignore[arg-type]
    assert changed == expected
    assert list(vars(changed)) == list(vars(expected))
    assert message == sample(cls.code)  # the original is untouched
    assert _written(changed) == _written(expected)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(changed, name, "again")
