"""SIP2 answers for kiosks when the member's ILS does not speak SIP2 (NCIP members).

A kiosk always gets SIP2.  When the library it asks (the patron's home for 23/63, the
item's owner for 09) speaks NCIP, the gateway asks through the neutral ``MemberIls``
calls and writes the SIP2 answer itself from the outcome, with the fields a kiosk
needs (validity, PIN check, status, name, fines; checkin result and location).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocols.sip2 import (
    CheckinRequest,
    CheckinResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
)

if TYPE_CHECKING:
    from datetime import datetime

    from adapters.ils.base import CheckinOutcome, MemberIls, PatronRecord

__all__ = ["checkin_answer", "patron_answer", "speaks_sip2"]


def speaks_sip2(ils: MemberIls) -> bool:
    """Whether the member's client can forward a kiosk's SIP2 message as it is."""
    return getattr(ils, "forward", None) is not None


def patron_answer(
    request: PatronStatusRequest | PatronInformationRequest,
    record: PatronRecord,
    now: datetime,
) -> PatronStatusResponse | PatronInformationResponse:
    """The 24 or 64 a SIP2 ILS would have sent for this patron record."""
    fee = f"{record.fines:.2f}" if record.fines else None
    currency = record.currency if fee else None
    if isinstance(request, PatronInformationRequest):
        return PatronInformationResponse(
            patron_status=record.status,
            transaction_date=now,
            institution_id=request.institution_id,
            patron_identifier=request.patron_identifier,
            personal_name=record.name,
            valid_patron=record.found,
            valid_patron_password=record.pin_ok,
            currency_type=currency,
            fee_amount=fee,
            charged_items_count=len(record.charged_items),
            charged_items=record.charged_items,
            screen_messages=record.screen_messages,
        )
    return PatronStatusResponse(
        patron_status=record.status,
        transaction_date=now,
        institution_id=request.institution_id,
        patron_identifier=request.patron_identifier,
        personal_name=record.name,
        valid_patron=record.found,
        valid_patron_password=record.pin_ok,
        currency_type=currency,
        fee_amount=fee,
        screen_messages=record.screen_messages,
    )


def checkin_answer(
    request: CheckinRequest, outcome: CheckinOutcome, now: datetime
) -> CheckinResponse:
    """The 10 a SIP2 ILS would have sent for this checkin outcome."""
    return CheckinResponse(
        ok=outcome.ok,
        resensitize=outcome.ok,
        magnetic_media=None,
        alert=outcome.alert,
        transaction_date=now,
        institution_id=request.institution_id,
        item_identifier=request.item_identifier,
        permanent_location=outcome.permanent_location,
        title_identifier=outcome.title,
        sort_bin=outcome.sort_bin,
        patron_identifier=outcome.previous_patron,
        screen_messages=outcome.screen_messages,
        extensions=outcome.extensions,
    )
