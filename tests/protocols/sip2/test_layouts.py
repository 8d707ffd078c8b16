"""The message classes match the SIP2 2.00 layout tables of the reference (§1.6).

The tables here are restated from the reference document, independently of the
classes: fixed-part length, and every identified field as R (required), O (optional)
or O* (repeatable).
"""

from __future__ import annotations

import pytest

from protocols.sip2 import RESPONSE_CODES, Direction, Message

LAYOUTS: dict[str, tuple[int, str]] = {
    "93": (2, "CN:R CO:R CP:O"),
    "94": (1, ""),
    "99": (8, ""),
    "98": (34, "AO:R AM:O BX:R AN:O AF:O* AG:O*"),
    "97": (0, ""),
    "96": (0, ""),
    "23": (21, "AO:R AA:R AC:R AD:R"),
    "24": (35, "AO:R AA:R AE:R BL:O CQ:O BH:O BV:O AF:O* AG:O*"),
    "63": (31, "AO:R AA:R AC:O AD:O BP:O BQ:O"),
    "64": (
        59,
        "AO:R AA:R AE:R BZ:O CA:O CB:O BL:O CQ:O BH:O BV:O CC:O AS:O* AT:O* AU:O* AV:O* "
        "BU:O* CD:O* BD:O BE:O BF:O AF:O* AG:O*",
    ),
    "11": (38, "AO:R AA:R AB:R AC:R CH:O AD:O BO:O BI:O"),
    "12": (
        22,
        "AO:R AA:R AB:R AJ:R AH:R BT:O CI:O BH:O BV:O CK:O CH:O BK:O AF:O* AG:O*",
    ),
    "09": (37, "AP:R AO:R AB:R AC:R CH:O BI:O"),
    "10": (22, "AO:R AB:R AQ:R AJ:O CL:O AA:O CK:O CH:O AF:O* AG:O*"),
    "01": (19, "AO:R AL:R AA:R AC:R"),
    "35": (18, "AO:R AA:R AC:O AD:O"),
    "36": (19, "AO:R AA:R AF:O* AG:O*"),
    "37": (25, "BV:R AO:R AA:R AC:O AD:O CG:O BK:O"),
    "38": (19, "AO:R AA:R BK:O AF:O* AG:O*"),
    "17": (18, "AO:R AB:R AC:O"),
    "18": (
        24,
        "CF:O AH:O CJ:O CM:O AB:R AJ:R BG:O BH:O BV:O CK:O AQ:O AP:O CH:O AF:O* AG:O*",
    ),
    "19": (18, "AO:R AB:R AC:O CH:R"),
    "20": (19, "AB:R AJ:O CH:O AF:O* AG:O*"),
    "25": (18, "AO:R AA:R AC:O AD:O"),
    "26": (35, "AO:R AA:R AE:R BL:O CQ:O AF:O* AG:O*"),
    "15": (19, "BW:O BS:O BY:O AO:R AA:R AD:O AB:O AJ:O AC:O BO:O"),
    "16": (20, "BW:O BR:O BS:O AO:R AA:R AB:O AJ:O AF:O* AG:O*"),
    "29": (38, "AO:R AA:R AD:O AB:O AJ:O AC:O CH:O BO:O"),
    "30": (
        22,
        "AO:R AA:R AB:R AJ:R AH:R BT:O CI:O BH:O BV:O CK:O CH:O BK:O AF:O* AG:O*",
    ),
    "65": (18, "AO:R AA:R AD:O AC:O BO:O"),
    "66": (27, "AO:R BM:O* BN:O* AF:O* AG:O*"),
}

REQUESTS = {
    "93",
    "99",
    "97",
    "23",
    "63",
    "11",
    "09",
    "01",
    "35",
    "37",
    "17",
    "19",
    "25",
    "15",
    "29",
    "65",
}


def test_every_message_of_sip2_200_is_modelled() -> None:
    """All 31 messages (16 request/response pairs) exist, and no others."""
    assert set(Message.registry) == set(LAYOUTS)
    assert len(Message.registry) == 31


@pytest.mark.parametrize("code", sorted(LAYOUTS))
def test_layout_matches_reference(code: str) -> None:
    """Fixed length and identified fields (with required/repeatable) are as in §1.6."""
    spec = Message.registry[code].spec
    fixed_length, fields = LAYOUTS[code]
    assert spec.fixed_length == fixed_length
    expected = dict(item.split(":") for item in fields.split())
    actual = {
        v.field_id: "O*" if v.repeatable else "R" if v.required else "O" for v in spec.variable
    }
    assert actual == expected
    assert [v.field_id for v in spec.variable] == list(expected)


@pytest.mark.parametrize("code", sorted(LAYOUTS))
def test_direction(code: str) -> None:
    """Requests go from SC to ACS, responses (and 96) from ACS to SC."""
    expected = Direction.SC_TO_ACS if code in REQUESTS else Direction.ACS_TO_SC
    assert Message.registry[code].direction is expected


def test_each_request_has_its_response() -> None:
    """Every request except 97 names its response, which is an ACS message."""
    assert set(RESPONSE_CODES) == REQUESTS - {"97"}
    for request, response in RESPONSE_CODES.items():
        assert Message.registry[response].direction is Direction.ACS_TO_SC, request
    assert RESPONSE_CODES["01"] == "24"


def test_checkout_and_renew_responses_are_distinct_types() -> None:
    """12 and 30 share a layout but are different types, so matching cannot mix them."""
    checkout, renew = Message.registry["12"], Message.registry["30"]
    assert checkout.spec.variable == renew.spec.variable
    assert not issubclass(checkout, renew)
    assert not issubclass(renew, checkout)


def test_a_layout_error_is_caught_at_declaration() -> None:
    """Declaring a message twice, or a fixed field after a variable one, fails at import."""
    from protocols.sip2.fieldtypes import TEXT as TEXT_KIND
    from protocols.sip2.fieldtypes import YN
    from protocols.sip2.spec import fixed, var

    with pytest.raises(TypeError, match="declared twice"):

        class Again(Message, code="94", direction=Direction.ACS_TO_SC):
            pass

    with pytest.raises(TypeError, match="fixed fields come first"):

        class Disordered(Message, code="X1", direction=Direction.ACS_TO_SC):
            name: str = var("AA", TEXT_KIND)
            flag: bool = fixed(YN)

    with pytest.raises(TypeError, match="declared twice"):

        class Twice(Message, code="X2", direction=Direction.ACS_TO_SC):
            first: str = var("AA", TEXT_KIND)
            second: str = var("AA", TEXT_KIND)

    with pytest.raises(TypeError, match="needs a kind with a width"):
        fixed(TEXT_KIND)
    assert "X1" not in Message.registry
    assert "X2" not in Message.registry
