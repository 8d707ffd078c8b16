"""Every message of SIP2 2.00, both directions, as typed immutable models.

The classes below are the layout tables of reference §1.6: fixed fields first, in
wire order, then the identified fields the message defines.  Field names are the same
in every message (``patron_identifier`` is always AA, ``screen_messages`` always AF).

Conventions:

* A required field that the standard allows to be empty (``AO``, ``AC``, the AD of a
  23) defaults to ``""`` and is always written, as ``AO|``.
* Dates are aware ``datetime`` values; ``None`` means "no date" (written as blanks).
* Codes are enum members when the standard defines them, plain ints otherwise.
* ``extensions`` holds every field the layout does not name, untouched and in order.
"""

from __future__ import annotations

from datetime import datetime

from .enums import (
    CirculationStatus,
    FeeType,
    HoldMode,
    HoldType,
    Language,
    MediaType,
    PatronStatus,
    PaymentType,
    ScStatusCode,
    SecurityMarker,
    Summary,
    SupportedMessages,
)
from .fieldtypes import COUNT, OK, TEXT, YN, YNU, Choice, Code, Date, Flags, Number, Text
from .spec import Direction, Message, fixed, repeated, var

__all__ = [
    "RESPONSE_CODES",
    "AcsStatus",
    "BlockPatron",
    "CheckinRequest",
    "CheckinResponse",
    "CheckoutRequest",
    "CheckoutResponse",
    "EndPatronSessionRequest",
    "EndSessionResponse",
    "FeePaidRequest",
    "FeePaidResponse",
    "HoldRequest",
    "HoldResponse",
    "ItemInformationRequest",
    "ItemInformationResponse",
    "ItemStatusUpdateRequest",
    "ItemStatusUpdateResponse",
    "LoginRequest",
    "LoginResponse",
    "PatronEnableRequest",
    "PatronEnableResponse",
    "PatronInformationRequest",
    "PatronInformationResponse",
    "PatronStatusRequest",
    "PatronStatusResponse",
    "RenewAllRequest",
    "RenewAllResponse",
    "RenewRequest",
    "RenewResponse",
    "RequestAcsResend",
    "RequestScResend",
    "ScStatus",
]

SC = Direction.SC_TO_ACS
ACS = Direction.ACS_TO_SC

LANGUAGE = Code(3, Language)
DATE = Date()
FEE_TYPE = Code(2, FeeType)
MEDIA_TYPE = Code(3, MediaType)
CURRENCY = Text(3, pattern="[A-Z]{3}")
PROTOCOL_VERSION = Text(4, pattern=r"[0-9]\.[0-9]{2}")
LIMIT = Number(4)
ORDINAL = Number()


# --- 93/94 Login ---


class LoginRequest(Message, code="93", direction=SC):
    """93: the SC logs in to the ACS with its own account."""

    uid_algorithm: str = fixed(Text(1), default="0")
    pwd_algorithm: str = fixed(Text(1), default="0")
    login_user_id: str = var("CN", TEXT)
    login_password: str = var("CO", TEXT)
    location_code: str | None = var("CP", TEXT, default=None)


class LoginResponse(Message, code="94", direction=ACS):
    """94: whether the login was accepted."""

    ok: bool = fixed(OK)


# --- 99/98 Status ---


class ScStatus(Message, code="99", direction=SC):
    """99: the SC reports its status and asks for the ACS's."""

    status_code: ScStatusCode | int = fixed(Code(1, ScStatusCode), default=ScStatusCode.OK)
    max_print_width: int = fixed(Number(3))
    protocol_version: str = fixed(PROTOCOL_VERSION, default="2.00")


class AcsStatus(Message, code="98", direction=ACS):
    """98: what the ACS can do, and how it wants to be talked to."""

    online_status: bool = fixed(YN)
    checkin_ok: bool = fixed(YN)
    checkout_ok: bool = fixed(YN)
    acs_renewal_policy: bool = fixed(YN)
    status_update_ok: bool = fixed(YN)
    offline_ok: bool = fixed(YN)
    timeout_period: int = fixed(Number(3))
    retries_allowed: int = fixed(Number(3))
    date_time_sync: datetime | None = fixed(Date("0" * 18, nullable=True))
    protocol_version: str = fixed(PROTOCOL_VERSION, default="2.00")
    institution_id: str = var("AO", TEXT, required=True, default="")
    library_name: str | None = var("AM", TEXT, default=None)
    supported_messages: SupportedMessages = var("BX", Flags(16, SupportedMessages, "N"))
    terminal_location: str | None = var("AN", TEXT, default=None)
    screen_messages: tuple[str, ...] = repeated("AF", TEXT, default=())
    print_lines: tuple[str, ...] = repeated("AG", TEXT, default=())


# --- 97/96 Resend ---


class RequestAcsResend(Message, code="97", direction=SC):
    """97: the SC asks the ACS to send its last message again."""


class RequestScResend(Message, code="96", direction=ACS):
    """96: the ACS asks the SC to send its last message again."""


# --- 23/24 Patron status, 01 Block patron, 25/26 Patron enable ---


class PatronStatusRequest(Message, code="23", direction=SC):
    """23: is this patron in good standing (and is the PIN right)?"""

    language: Language | int = fixed(LANGUAGE, default=Language.UNKNOWN)
    transaction_date: datetime | None = fixed(DATE)
    institution_id: str = var("AO", TEXT, required=True, default="")
    patron_identifier: str = var("AA", TEXT)
    terminal_password: str = var("AC", TEXT, required=True, default="")
    patron_password: str = var("AD", TEXT, required=True, default="")


class PatronStatusResponse(Message, code="24", direction=ACS):
    """24: the patron's standing; also the answer to 01 Block Patron."""

    patron_status: PatronStatus = fixed(Flags(14, PatronStatus, " "), default=PatronStatus(0))
    language: Language | int = fixed(LANGUAGE, default=Language.UNKNOWN)
    transaction_date: datetime | None = fixed(DATE)
    institution_id: str = var("AO", TEXT, required=True, default="")
    patron_identifier: str = var("AA", TEXT)
    personal_name: str = var("AE", TEXT, required=True, default="")
    valid_patron: bool | None = var("BL", YN, default=None)
    valid_patron_password: bool | None = var("CQ", YN, default=None)
    currency_type: str | None = var("BH", CURRENCY, default=None)
    fee_amount: str | None = var("BV", TEXT, default=None)
    screen_messages: tuple[str, ...] = repeated("AF", TEXT, default=())
    print_lines: tuple[str, ...] = repeated("AG", TEXT, default=())


class BlockPatron(Message, code="01", direction=SC):
    """01: block the patron's card (answered with 24)."""

    card_retained: bool = fixed(YN)
    transaction_date: datetime | None = fixed(DATE)
    institution_id: str = var("AO", TEXT, required=True, default="")
    blocked_card_message: str = var("AL", TEXT, required=True, default="")
    patron_identifier: str = var("AA", TEXT)
    terminal_password: str = var("AC", TEXT, required=True, default="")


class PatronEnableRequest(Message, code="25", direction=SC):
    """25: lift a block the SC placed on the patron."""

    transaction_date: datetime | None = fixed(DATE)
    institution_id: str = var("AO", TEXT, required=True, default="")
    patron_identifier: str = var("AA", TEXT)
    terminal_password: str | None = var("AC", TEXT, default=None)
    patron_password: str | None = var("AD", TEXT, default=None)


class PatronEnableResponse(Message, code="26", direction=ACS):
    """26: the patron's standing after the enable."""

    patron_status: PatronStatus = fixed(Flags(14, PatronStatus, " "), default=PatronStatus(0))
    language: Language | int = fixed(LANGUAGE, default=Language.UNKNOWN)
    transaction_date: datetime | None = fixed(DATE)
    institution_id: str = var("AO", TEXT, required=True, default="")
    patron_identifier: str = var("AA", TEXT)
    personal_name: str = var("AE", TEXT, required=True, default="")
    valid_patron: bool | None = var("BL", YN, default=None)
    valid_patron_password: bool | None = var("CQ", YN, default=None)
    screen_messages: tuple[str, ...] = repeated("AF", TEXT, default=())
    print_lines: tuple[str, ...] = repeated("AG", TEXT, default=())


# --- 63/64 Patron information ---


class PatronInformationRequest(Message, code="63", direction=SC):
    """63: the patron's details, and one category of items (``summary``)."""

    language: Language | int = fixed(LANGUAGE, default=Language.UNKNOWN)
    transaction_date: datetime | None = fixed(DATE)
    summary: Summary = fixed(Flags(10, Summary, " "), default=Summary(0))
    institution_id: str = var("AO", TEXT, required=True, default="")
    patron_identifier: str = var("AA", TEXT)
    terminal_password: str | None = var("AC", TEXT, default=None)
    patron_password: str | None = var("AD", TEXT, default=None)
    start_item: int | None = var("BP", ORDINAL, default=None)
    end_item: int | None = var("BQ", ORDINAL, default=None)


class PatronInformationResponse(Message, code="64", direction=ACS):
    """64: the patron's details, counts, and the items asked for."""

    patron_status: PatronStatus = fixed(Flags(14, PatronStatus, " "), default=PatronStatus(0))
    language: Language | int = fixed(LANGUAGE, default=Language.UNKNOWN)
    transaction_date: datetime | None = fixed(DATE)
    hold_items_count: int | None = fixed(COUNT, default=None)
    overdue_items_count: int | None = fixed(COUNT, default=None)
    charged_items_count: int | None = fixed(COUNT, default=None)
    fine_items_count: int | None = fixed(COUNT, default=None)
    recall_items_count: int | None = fixed(COUNT, default=None)
    unavailable_holds_count: int | None = fixed(COUNT, default=None)
    institution_id: str = var("AO", TEXT, required=True, default="")
    patron_identifier: str = var("AA", TEXT)
    personal_name: str = var("AE", TEXT, required=True, default="")
    hold_items_limit: int | None = var("BZ", LIMIT, default=None)
    overdue_items_limit: int | None = var("CA", LIMIT, default=None)
    charged_items_limit: int | None = var("CB", LIMIT, default=None)
    valid_patron: bool | None = var("BL", YN, default=None)
    valid_patron_password: bool | None = var("CQ", YN, default=None)
    currency_type: str | None = var("BH", CURRENCY, default=None)
    fee_amount: str | None = var("BV", TEXT, default=None)
    fee_limit: str | None = var("CC", TEXT, default=None)
    hold_items: tuple[str, ...] = repeated("AS", TEXT, default=())
    overdue_items: tuple[str, ...] = repeated("AT", TEXT, default=())
    charged_items: tuple[str, ...] = repeated("AU", TEXT, default=())
    fine_items: tuple[str, ...] = repeated("AV", TEXT, default=())
    recall_items: tuple[str, ...] = repeated("BU", TEXT, default=())
    unavailable_hold_items: tuple[str, ...] = repeated("CD", TEXT, default=())
    home_address: str | None = var("BD", TEXT, default=None)
    email_address: str | None = var("BE", TEXT, default=None)
    home_phone_number: str | None = var("BF", TEXT, default=None)
    screen_messages: tuple[str, ...] = repeated("AF", TEXT, default=())
    print_lines: tuple[str, ...] = repeated("AG", TEXT, default=())


# --- 35/36 End patron session ---


class EndPatronSessionRequest(Message, code="35", direction=SC):
    """35: the patron is done at this terminal."""

    transaction_date: datetime | None = fixed(DATE)
    institution_id: str = var("AO", TEXT, required=True, default="")
    patron_identifier: str = var("AA", TEXT)
    terminal_password: str | None = var("AC", TEXT, default=None)
    patron_password: str | None = var("AD", TEXT, default=None)


class EndSessionResponse(Message, code="36", direction=ACS):
    """36: whether the session ended cleanly."""

    end_session: bool = fixed(YN)
    transaction_date: datetime | None = fixed(DATE)
    institution_id: str = var("AO", TEXT, required=True, default="")
    patron_identifier: str = var("AA", TEXT)
    screen_messages: tuple[str, ...] = repeated("AF", TEXT, default=())
    print_lines: tuple[str, ...] = repeated("AG", TEXT, default=())


# --- 11/12 Checkout, 29/30 Renew ---


class CheckoutRequest(Message, code="11", direction=SC):
    """11: lend an item to a patron (``cancel``: undo a failed checkin)."""

    sc_renewal_policy: bool = fixed(YN)
    no_block: bool = fixed(YN)
    transaction_date: datetime | None = fixed(DATE)
    nb_due_date: datetime | None = fixed(DATE)
    institution_id: str = var("AO", TEXT, required=True, default="")
    patron_identifier: str = var("AA", TEXT)
    item_identifier: str = var("AB", TEXT)
    terminal_password: str = var("AC", TEXT, required=True, default="")
    item_properties: str | None = var("CH", TEXT, default=None)
    patron_password: str | None = var("AD", TEXT, default=None)
    fee_acknowledged: bool | None = var("BO", YN, default=None)
    cancel: bool | None = var("BI", YN, default=None)


class _ChargeResponse(Message):
    """The layout 12 and 30 share (a renewal is answered like a checkout)."""

    ok: bool = fixed(OK)
    renewal_ok: bool = fixed(YN)
    magnetic_media: bool | None = fixed(YNU)
    desensitize: bool | None = fixed(YNU)
    transaction_date: datetime | None = fixed(DATE)
    institution_id: str = var("AO", TEXT, required=True, default="")
    patron_identifier: str = var("AA", TEXT)
    item_identifier: str = var("AB", TEXT)
    title_identifier: str = var("AJ", TEXT, required=True, default="")
    due_date: str = var("AH", TEXT, required=True, default="")
    fee_type: FeeType | int | None = var("BT", FEE_TYPE, default=None)
    security_inhibit: bool | None = var("CI", YN, default=None)
    currency_type: str | None = var("BH", CURRENCY, default=None)
    fee_amount: str | None = var("BV", TEXT, default=None)
    media_type: MediaType | int | None = var("CK", MEDIA_TYPE, default=None)
    item_properties: str | None = var("CH", TEXT, default=None)
    transaction_id: str | None = var("BK", TEXT, default=None)
    screen_messages: tuple[str, ...] = repeated("AF", TEXT, default=())
    print_lines: tuple[str, ...] = repeated("AG", TEXT, default=())


class CheckoutResponse(_ChargeResponse, code="12", direction=ACS):
    """12: the outcome of a checkout; ``due_date`` is free text chosen by the ACS."""


class RenewRequest(Message, code="29", direction=SC):
    """29: renew one item (by item or title identifier)."""

    third_party_allowed: bool = fixed(YN)
    no_block: bool = fixed(YN)
    transaction_date: datetime | None = fixed(DATE)
    nb_due_date: datetime | None = fixed(DATE)
    institution_id: str = var("AO", TEXT, required=True, default="")
    patron_identifier: str = var("AA", TEXT)
    patron_password: str | None = var("AD", TEXT, default=None)
    item_identifier: str | None = var("AB", TEXT, default=None)
    title_identifier: str | None = var("AJ", TEXT, default=None)
    terminal_password: str | None = var("AC", TEXT, default=None)
    item_properties: str | None = var("CH", TEXT, default=None)
    fee_acknowledged: bool | None = var("BO", YN, default=None)


class RenewResponse(_ChargeResponse, code="30", direction=ACS):
    """30: the outcome of a renewal (same layout as 12)."""


class RenewAllRequest(Message, code="65", direction=SC):
    """65: renew everything the patron has."""

    transaction_date: datetime | None = fixed(DATE)
    institution_id: str = var("AO", TEXT, required=True, default="")
    patron_identifier: str = var("AA", TEXT)
    patron_password: str | None = var("AD", TEXT, default=None)
    terminal_password: str | None = var("AC", TEXT, default=None)
    fee_acknowledged: bool | None = var("BO", YN, default=None)


class RenewAllResponse(Message, code="66", direction=ACS):
    """66: which items were renewed and which were not (BN may carry a reason)."""

    ok: bool = fixed(OK)
    renewed_count: int = fixed(Number(4))
    unrenewed_count: int = fixed(Number(4))
    transaction_date: datetime | None = fixed(DATE)
    institution_id: str = var("AO", TEXT, required=True, default="")
    renewed_items: tuple[str, ...] = repeated("BM", TEXT, default=())
    unrenewed_items: tuple[str, ...] = repeated("BN", TEXT, default=())
    screen_messages: tuple[str, ...] = repeated("AF", TEXT, default=())
    print_lines: tuple[str, ...] = repeated("AG", TEXT, default=())


# --- 09/10 Checkin ---


class CheckinRequest(Message, code="09", direction=SC):
    """09: return an item (``cancel``: undo a failed checkout)."""

    no_block: bool = fixed(YN)
    transaction_date: datetime | None = fixed(DATE)
    return_date: datetime | None = fixed(DATE)
    current_location: str = var("AP", TEXT, required=True, default="")
    institution_id: str = var("AO", TEXT, required=True, default="")
    item_identifier: str = var("AB", TEXT)
    terminal_password: str = var("AC", TEXT, required=True, default="")
    item_properties: str | None = var("CH", TEXT, default=None)
    cancel: bool | None = var("BI", YN, default=None)


class CheckinResponse(Message, code="10", direction=ACS):
    """10: the outcome of a return, and where the item goes (AQ, CL, CT)."""

    ok: bool = fixed(OK)
    resensitize: bool = fixed(YN)
    magnetic_media: bool | None = fixed(YNU)
    alert: bool = fixed(YN)
    transaction_date: datetime | None = fixed(DATE)
    institution_id: str = var("AO", TEXT, required=True, default="")
    item_identifier: str = var("AB", TEXT)
    permanent_location: str = var("AQ", TEXT, required=True, default="")
    title_identifier: str | None = var("AJ", TEXT, default=None)
    sort_bin: str | None = var("CL", TEXT, default=None)
    patron_identifier: str | None = var("AA", TEXT, default=None)
    media_type: MediaType | int | None = var("CK", MEDIA_TYPE, default=None)
    item_properties: str | None = var("CH", TEXT, default=None)
    screen_messages: tuple[str, ...] = repeated("AF", TEXT, default=())
    print_lines: tuple[str, ...] = repeated("AG", TEXT, default=())


# --- 37/38 Fee paid ---


class FeePaidRequest(Message, code="37", direction=SC):
    """37: a payment toward the patron's fees."""

    transaction_date: datetime | None = fixed(DATE)
    fee_type: FeeType | int = fixed(FEE_TYPE)
    payment_type: PaymentType | int = fixed(Code(2, PaymentType))
    currency_type: str = fixed(CURRENCY)
    fee_amount: str = var("BV", TEXT)
    institution_id: str = var("AO", TEXT, required=True, default="")
    patron_identifier: str = var("AA", TEXT)
    terminal_password: str | None = var("AC", TEXT, default=None)
    patron_password: str | None = var("AD", TEXT, default=None)
    fee_identifier: str | None = var("CG", TEXT, default=None)
    transaction_id: str | None = var("BK", TEXT, default=None)


class FeePaidResponse(Message, code="38", direction=ACS):
    """38: whether the payment was accepted."""

    payment_accepted: bool = fixed(YN)
    transaction_date: datetime | None = fixed(DATE)
    institution_id: str = var("AO", TEXT, required=True, default="")
    patron_identifier: str = var("AA", TEXT)
    transaction_id: str | None = var("BK", TEXT, default=None)
    screen_messages: tuple[str, ...] = repeated("AF", TEXT, default=())
    print_lines: tuple[str, ...] = repeated("AG", TEXT, default=())


# --- 17/18 Item information, 19/20 Item status update ---


class ItemInformationRequest(Message, code="17", direction=SC):
    """17: what is known of an item."""

    transaction_date: datetime | None = fixed(DATE)
    institution_id: str = var("AO", TEXT, required=True, default="")
    item_identifier: str = var("AB", TEXT)
    terminal_password: str | None = var("AC", TEXT, default=None)


class ItemInformationResponse(Message, code="18", direction=ACS):
    """18: the item's status, title, locations and dates (no AO in this message)."""

    circulation_status: CirculationStatus | int = fixed(Code(2, CirculationStatus))
    security_marker: SecurityMarker | int = fixed(Code(2, SecurityMarker))
    fee_type: FeeType | int = fixed(FEE_TYPE)
    transaction_date: datetime | None = fixed(DATE)
    hold_queue_length: int | None = var("CF", ORDINAL, default=None)
    due_date: str | None = var("AH", TEXT, default=None)
    recall_date: datetime | None = var("CJ", DATE, default=None)
    hold_pickup_date: datetime | None = var("CM", DATE, default=None)
    item_identifier: str = var("AB", TEXT)
    title_identifier: str = var("AJ", TEXT, required=True, default="")
    owner: str | None = var("BG", TEXT, default=None)
    currency_type: str | None = var("BH", CURRENCY, default=None)
    fee_amount: str | None = var("BV", TEXT, default=None)
    media_type: MediaType | int | None = var("CK", MEDIA_TYPE, default=None)
    permanent_location: str | None = var("AQ", TEXT, default=None)
    current_location: str | None = var("AP", TEXT, default=None)
    item_properties: str | None = var("CH", TEXT, default=None)
    screen_messages: tuple[str, ...] = repeated("AF", TEXT, default=())
    print_lines: tuple[str, ...] = repeated("AG", TEXT, default=())


class ItemStatusUpdateRequest(Message, code="19", direction=SC):
    """19: store new item properties (CH is required)."""

    transaction_date: datetime | None = fixed(DATE)
    institution_id: str = var("AO", TEXT, required=True, default="")
    item_identifier: str = var("AB", TEXT)
    terminal_password: str | None = var("AC", TEXT, default=None)
    item_properties: str = var("CH", TEXT)


class ItemStatusUpdateResponse(Message, code="20", direction=ACS):
    """20: whether the properties were stored (no AO in this message)."""

    item_properties_ok: bool = fixed(OK)
    transaction_date: datetime | None = fixed(DATE)
    item_identifier: str = var("AB", TEXT)
    title_identifier: str | None = var("AJ", TEXT, default=None)
    item_properties: str | None = var("CH", TEXT, default=None)
    screen_messages: tuple[str, ...] = repeated("AF", TEXT, default=())
    print_lines: tuple[str, ...] = repeated("AG", TEXT, default=())


# --- 15/16 Hold ---


class HoldRequest(Message, code="15", direction=SC):
    """15: place, change or delete a hold (AB and/or AJ names the item)."""

    hold_mode: HoldMode = fixed(Choice(HoldMode))
    transaction_date: datetime | None = fixed(DATE)
    expiration_date: datetime | None = var("BW", DATE, default=None)
    pickup_location: str | None = var("BS", TEXT, default=None)
    hold_type: HoldType | int | None = var("BY", Code(1, HoldType), default=None)
    institution_id: str = var("AO", TEXT, required=True, default="")
    patron_identifier: str = var("AA", TEXT)
    patron_password: str | None = var("AD", TEXT, default=None)
    item_identifier: str | None = var("AB", TEXT, default=None)
    title_identifier: str | None = var("AJ", TEXT, default=None)
    terminal_password: str | None = var("AC", TEXT, default=None)
    fee_acknowledged: bool | None = var("BO", YN, default=None)


class HoldResponse(Message, code="16", direction=ACS):
    """16: whether the hold was placed, and the patron's place in the queue."""

    ok: bool = fixed(OK)
    available: bool = fixed(YN)
    transaction_date: datetime | None = fixed(DATE)
    expiration_date: datetime | None = var("BW", DATE, default=None)
    queue_position: int | None = var("BR", ORDINAL, default=None)
    pickup_location: str | None = var("BS", TEXT, default=None)
    institution_id: str = var("AO", TEXT, required=True, default="")
    patron_identifier: str = var("AA", TEXT)
    item_identifier: str | None = var("AB", TEXT, default=None)
    title_identifier: str | None = var("AJ", TEXT, default=None)
    screen_messages: tuple[str, ...] = repeated("AF", TEXT, default=())
    print_lines: tuple[str, ...] = repeated("AG", TEXT, default=())


RESPONSE_CODES: dict[str, str] = {
    "93": "94",
    "99": "98",
    "23": "24",
    "01": "24",
    "25": "26",
    "63": "64",
    "35": "36",
    "11": "12",
    "29": "30",
    "65": "66",
    "09": "10",
    "37": "38",
    "17": "18",
    "19": "20",
    "15": "16",
}
"""The response code each request is answered with (besides 96, and 98 at any time)."""
