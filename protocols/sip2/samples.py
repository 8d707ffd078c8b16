"""One realistic instance of every SIP2 message, for self-checks, tests and benchmarks.

The values follow the demo consortium (patrons ``21001…``, items ``31002…``) and what
real systems put in each field.  The PINs are the demo's public ``1234``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .enums import (
    CirculationStatus,
    FeeType,
    HoldMode,
    HoldType,
    Language,
    MediaType,
    PatronStatus,
    PaymentType,
    SecurityMarker,
    Summary,
    SupportedMessages,
)
from .messages import (
    AcsStatus,
    BlockPatron,
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    EndPatronSessionRequest,
    EndSessionResponse,
    FeePaidRequest,
    FeePaidResponse,
    HoldRequest,
    HoldResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    ItemStatusUpdateRequest,
    ItemStatusUpdateResponse,
    LoginRequest,
    LoginResponse,
    PatronEnableRequest,
    PatronEnableResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
    RenewAllRequest,
    RenewAllResponse,
    RenewRequest,
    RenewResponse,
    RequestAcsResend,
    RequestScResend,
    ScStatus,
)

if TYPE_CHECKING:
    from .spec import Message

__all__ = ["sample", "sample_messages"]

_WHEN = datetime(2026, 11, 22, 23, 55, 13, tzinfo=UTC)
_DUE = datetime(2026, 12, 13, 23, 59, 59, tzinfo=UTC)
_PATRON = "21001000000001"
_ITEM = "31002000000001"
_TITLE = "Les Misérables / Victor Hugo"


def sample_messages() -> list[Message]:
    """Return one instance of each of the 31 SIP2 2.00 messages."""
    everything = SupportedMessages(0xFFFF)
    return [
        LoginRequest(login_user_id="beta-kiosk", login_password="demo", location_code="main"),
        LoginResponse(ok=True),
        ScStatus(max_print_width=40),
        AcsStatus(
            online_status=True,
            checkin_ok=True,
            checkout_ok=True,
            acs_renewal_policy=True,
            status_update_ok=False,
            offline_ok=False,
            timeout_period=30,
            retries_allowed=3,
            date_time_sync=_WHEN,
            institution_id="beta",
            library_name="Beta Public Library",
            supported_messages=everything & ~SupportedMessages.BLOCK_PATRON,
            terminal_location="beta-kiosk",
            screen_messages=("Welcome to the consortium",),
        ),
        RequestAcsResend(),
        RequestScResend(),
        PatronStatusRequest(
            language=Language.ENGLISH,
            transaction_date=_WHEN,
            institution_id="beta",
            patron_identifier=_PATRON,
            patron_password="1234",
        ),
        PatronStatusResponse(
            language=Language.ENGLISH,
            transaction_date=_WHEN,
            institution_id="beta",
            patron_identifier=_PATRON,
            personal_name="Ada Lovelace",
            valid_patron=True,
            valid_patron_password=True,
            currency_type="USD",
            fee_amount="0.00",
        ),
        BlockPatron(
            card_retained=True,
            transaction_date=_WHEN,
            institution_id="beta",
            blocked_card_message="Card left in reader",
            patron_identifier=_PATRON,
        ),
        PatronEnableRequest(
            transaction_date=_WHEN, institution_id="beta", patron_identifier=_PATRON
        ),
        PatronEnableResponse(
            language=Language.ENGLISH,
            transaction_date=_WHEN,
            institution_id="beta",
            patron_identifier=_PATRON,
            personal_name="Ada Lovelace",
            valid_patron=True,
        ),
        PatronInformationRequest(
            language=Language.ENGLISH,
            transaction_date=_WHEN,
            summary=Summary.CHARGED_ITEMS,
            institution_id="beta",
            patron_identifier=_PATRON,
            terminal_password="",
            patron_password="1234",
            start_item=1,
            end_item=5,
        ),
        PatronInformationResponse(
            patron_status=PatronStatus.EXCESSIVE_OUTSTANDING_FINES,
            language=Language.ENGLISH,
            transaction_date=_WHEN,
            hold_items_count=0,
            overdue_items_count=1,
            charged_items_count=3,
            fine_items_count=1,
            recall_items_count=0,
            unavailable_holds_count=0,
            institution_id="alpha",
            patron_identifier=_PATRON,
            personal_name="Ada Lovelace",
            hold_items_limit=10,
            charged_items_limit=50,
            valid_patron=True,
            valid_patron_password=True,
            currency_type="USD",
            fee_amount="12.50",
            fee_limit="10.00",
            charged_items=(_ITEM, "31001000000007", "31003000000002"),
            email_address="ada@example.org",
            screen_messages=("Fines are over the limit",),
            extensions=(("PB", "19751210"), ("PC", "adult")),
        ),
        EndPatronSessionRequest(
            transaction_date=_WHEN, institution_id="beta", patron_identifier=_PATRON
        ),
        EndSessionResponse(
            end_session=True,
            transaction_date=_WHEN,
            institution_id="beta",
            patron_identifier=_PATRON,
            screen_messages=("Goodbye",),
        ),
        CheckoutRequest(
            sc_renewal_policy=True,
            no_block=False,
            transaction_date=_WHEN,
            nb_due_date=_DUE,
            institution_id="beta",
            patron_identifier=_PATRON,
            item_identifier=_ITEM,
            patron_password="1234",
            fee_acknowledged=False,
        ),
        CheckoutResponse(
            ok=True,
            renewal_ok=False,
            magnetic_media=False,
            desensitize=True,
            transaction_date=_WHEN,
            institution_id="beta",
            patron_identifier=_PATRON,
            item_identifier=_ITEM,
            title_identifier=_TITLE,
            due_date="20261213    235959",
            media_type=MediaType.BOOK,
            screen_messages=("Due 13 December 2026",),
            print_lines=("Interlend loan from Beta",),
        ),
        RenewRequest(
            third_party_allowed=False,
            no_block=False,
            transaction_date=_WHEN,
            nb_due_date=_DUE,
            institution_id="beta",
            patron_identifier=_PATRON,
            item_identifier=_ITEM,
        ),
        RenewResponse(
            ok=False,
            renewal_ok=False,
            magnetic_media=None,
            desensitize=False,
            transaction_date=_WHEN,
            institution_id="beta",
            patron_identifier=_PATRON,
            item_identifier=_ITEM,
            title_identifier=_TITLE,
            screen_messages=("Renewal limit reached",),
        ),
        RenewAllRequest(
            transaction_date=_WHEN,
            institution_id="beta",
            patron_identifier=_PATRON,
            patron_password="1234",
        ),
        RenewAllResponse(
            ok=True,
            renewed_count=1,
            unrenewed_count=1,
            transaction_date=_WHEN,
            institution_id="beta",
            renewed_items=(_ITEM,),
            unrenewed_items=("31001000000007 on hold for another patron",),
        ),
        CheckinRequest(
            no_block=False,
            transaction_date=_WHEN,
            return_date=_WHEN,
            current_location="gamma-desk",
            institution_id="gamma",
            item_identifier=_ITEM,
        ),
        CheckinResponse(
            ok=True,
            resensitize=True,
            magnetic_media=False,
            alert=True,
            transaction_date=_WHEN,
            institution_id="gamma",
            item_identifier=_ITEM,
            permanent_location="beta",
            title_identifier=_TITLE,
            sort_bin="TRANSIT-BETA",
            extensions=(("CT", "beta"), ("CV", "04")),
        ),
        FeePaidRequest(
            transaction_date=_WHEN,
            fee_type=FeeType.OVERDUE,
            payment_type=PaymentType.CREDIT_CARD,
            currency_type="USD",
            fee_amount="2.50",
            institution_id="alpha",
            patron_identifier=_PATRON,
            transaction_id="tx-0042",
        ),
        FeePaidResponse(
            payment_accepted=True,
            transaction_date=_WHEN,
            institution_id="alpha",
            patron_identifier=_PATRON,
            transaction_id="tx-0042",
        ),
        ItemInformationRequest(
            transaction_date=_WHEN, institution_id="beta", item_identifier=_ITEM
        ),
        ItemInformationResponse(
            circulation_status=CirculationStatus.CHARGED,
            security_marker=SecurityMarker.TATTLE_TAPE,
            fee_type=FeeType.OTHER,
            transaction_date=_WHEN,
            hold_queue_length=2,
            due_date="20261213    235959",
            item_identifier=_ITEM,
            title_identifier=_TITLE,
            owner="beta",
            media_type=MediaType.BOOK,
            permanent_location="beta",
            current_location="out",
            extensions=(("CR", "FIC"), ("CS", "FIC HUG")),
        ),
        ItemStatusUpdateRequest(
            transaction_date=_WHEN,
            institution_id="beta",
            item_identifier=_ITEM,
            item_properties="damaged cover",
        ),
        ItemStatusUpdateResponse(
            item_properties_ok=True,
            transaction_date=_WHEN,
            item_identifier=_ITEM,
            item_properties="damaged cover",
        ),
        HoldRequest(
            hold_mode=HoldMode.ADD,
            transaction_date=_WHEN,
            expiration_date=_DUE,
            pickup_location="beta",
            hold_type=HoldType.ANY_COPY_OF_TITLE,
            institution_id="beta",
            patron_identifier=_PATRON,
            title_identifier=_TITLE,
        ),
        HoldResponse(
            ok=True,
            available=False,
            transaction_date=_WHEN,
            expiration_date=_DUE,
            queue_position=3,
            pickup_location="beta",
            institution_id="beta",
            patron_identifier=_PATRON,
            title_identifier=_TITLE,
        ),
    ]


def sample(code: str) -> Message:
    """Return the sample of the message with this command code (``"98"``, ``"12"``…).

    Raises:
        KeyError: No SIP2 2.00 message has this code.
    """
    for message in sample_messages():
        if message.code == code:
            return message
    raise KeyError(code)
