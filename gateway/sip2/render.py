"""SIP2 answers written from the circulation flows' results: the edge where a typed
result or a ``Refusal`` becomes what a kiosk reads.

* A refusal is a negative answer of the request's type with the reason on screen
  (``AF``); when the refusal is a member ILS's own answer that came over SIP2, that
  answer is passed on, re-addressed to the kiosk (its vendor fields intact).  A patron
  locked out of PINs gets ``CQN`` on 23/63.
* A loan, a renewal, a hold: the owner's own answer re-addressed when it came over
  SIP2, else one built from the typed result (an NCIP owner), due dates written as SIP2
  dates.
* A patron lookup (24/64): the home ILS's answer (or one built from an NCIP home's
  record), with what the viewer may not see removed, the patron's reciprocal loans
  added, and a visitor's refusal shown as "charge privileges denied" with its reason.
* A checkin away from the owner tells the kiosk where the item goes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from gateway.circulation.outcomes import RefusalCode
from gateway.sip2.responses import readdress, refusal, with_fields
from protocols.sip2 import (
    RESPONSE_CODES,
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    Dialect,
    HoldRequest,
    HoldResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatus,
    PatronStatusRequest,
    PatronStatusResponse,
    RenewAllResponse,
    RenewRequest,
    RenewResponse,
    Summary,
)
from protocols.sip2.fieldtypes import Date

if TYPE_CHECKING:
    from datetime import datetime

    from adapters.ils.base import CheckinOutcome, CirculationOutcome, PatronRecord
    from gateway.circulation.holds import HoldPlaced
    from gateway.circulation.loans import LoanMade, Renewed, RenewedAll
    from gateway.circulation.outcomes import Refusal
    from gateway.circulation.patrons import PatronView
    from protocols.sip2 import Message

__all__ = [
    "checkin_answer",
    "hold_answer",
    "in_transit",
    "loan_answer",
    "patron_answer",
    "patron_view",
    "refused",
    "renew_all_answer",
    "renewal_answer",
    "without_lists",
    "without_patron",
]

_DATE = Date()
_DIALECT = Dialect()
M = TypeVar("M", bound="Message")


def refused(request: Message, why: Refusal, now: datetime) -> Message:
    """The kiosk's answer to a refusal (see the module documentation)."""
    source = why.source.response if why.source is not None else None
    if source is not None and source.code == RESPONSE_CODES[request.code]:
        changes: dict[str, object] = {}
        patron = getattr(request, "patron_identifier", None)
        if patron is not None:
            changes["patron_identifier"] = patron  # not the proxy account at the owner
        return readdress(source, request, **changes)
    answer = refusal(request, why.reason, now)
    if why.code is RefusalCode.PIN_LOCKED and isinstance(
        request, PatronStatusRequest | PatronInformationRequest
    ):
        # The patron exists (only known patrons are ever counted); CQN whatever was sent.
        answer = with_fields(answer, valid_patron=True, valid_patron_password=False)
    return answer


def _due_text(outcome: CirculationOutcome) -> str:
    if outcome.due_text:
        return outcome.due_text
    return _DATE.encode(outcome.due, _DIALECT) if outcome.due else ""


def _circulation(
    kind: type[CheckoutResponse] | type[RenewResponse],
    request: CheckoutRequest | RenewRequest,
    outcome: CirculationOutcome,
    screen: tuple[str, ...],
    now: datetime,
) -> Message:
    """A 12/30: the owner's own answer re-addressed, or one built from the outcome when
    the owner's client does not speak SIP2."""
    if isinstance(outcome.response, kind):
        return readdress(
            outcome.response,
            request,
            patron_identifier=request.patron_identifier,
            screen_messages=screen,
        )
    return kind(
        ok=True,
        renewal_ok=outcome.renewal or kind is RenewResponse,
        magnetic_media=None,
        desensitize=True,
        transaction_date=now,
        institution_id=request.institution_id,
        patron_identifier=request.patron_identifier,
        item_identifier=request.item_identifier or "",
        title_identifier=outcome.title,
        due_date=_due_text(outcome),
        screen_messages=screen,
    )


def loan_answer(
    request: CheckoutRequest, made: LoanMade, owner_name: str, now: datetime
) -> Message:
    """The kiosk's 12 for a reciprocal loan made (or found made by a resend)."""
    if made.owner_answer is None:
        assert made.loan is not None  # an earlier request's loan, found in the registry
        return CheckoutResponse(
            ok=True,
            renewal_ok=False,
            magnetic_media=None,
            desensitize=True,
            transaction_date=now,
            institution_id=request.institution_id,
            patron_identifier=request.patron_identifier,
            item_identifier=request.item_identifier,
            due_date=_DATE.encode(made.loan.due, _DIALECT),
            screen_messages=(f"Already on loan to you until {made.loan.due:%Y-%m-%d}",),
        )
    lent = made.owner_answer
    screen = (*lent.screen_messages, f"Lent by {owner_name}")
    return _circulation(CheckoutResponse, request, lent, screen, now)


def renewal_answer(request: RenewRequest, renewed: Renewed, now: datetime) -> Message:
    """The kiosk's 30 for a reciprocal loan renewed."""
    answer = renewed.owner_answer
    return _circulation(RenewResponse, request, answer, answer.screen_messages, now)


def renew_all_answer(answer: RenewAllResponse, done: RenewedAll) -> RenewAllResponse:
    """The home library's 66 with the patron's reciprocal loans renewed (and not) added."""
    return replace(
        answer,
        renewed_count=answer.renewed_count + len(done.renewed),
        unrenewed_count=answer.unrenewed_count + len(done.unrenewed),
        renewed_items=answer.renewed_items + done.renewed,
        unrenewed_items=answer.unrenewed_items + tuple(f"{i} {why}" for i, why in done.unrenewed),
    )


def hold_answer(request: HoldRequest, placed: HoldPlaced, now: datetime) -> HoldResponse:
    """The kiosk's 16 for a hold the gateway placed at a lender."""
    queue = placed.answer.response
    return HoldResponse(
        ok=True,
        available=False,
        transaction_date=now,
        queue_position=queue.queue_position if isinstance(queue, HoldResponse) else None,
        pickup_location=request.pickup_location,
        institution_id=request.institution_id,
        patron_identifier=request.patron_identifier,
        item_identifier=placed.item,
        title_identifier=placed.title,
        screen_messages=(placed.message,),
    )


def patron_answer(
    request: PatronStatusRequest | PatronInformationRequest,
    record: PatronRecord,
    now: datetime,
) -> PatronStatusResponse | PatronInformationResponse:
    """The 24 or 64 a SIP2 ILS would have sent for this patron record (an NCIP home)."""
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


def without_lists(answer: PatronInformationResponse) -> PatronInformationResponse:
    """A 64 without what only the patron (or a desk) may read: the items on loan, overdue,
    on hold, fined or recalled, and the patron's address, e-mail and telephone."""
    return replace(
        answer,
        hold_items=(),
        overdue_items=(),
        charged_items=(),
        fine_items=(),
        recall_items=(),
        unavailable_hold_items=(),
        home_address=None,
        email_address=None,
        home_phone_number=None,
    )


def patron_view(
    answer: PatronStatusResponse | PatronInformationResponse,
    request: PatronStatusRequest | PatronInformationRequest,
    view: PatronView,
    now: datetime,
) -> PatronStatusResponse | PatronInformationResponse:
    """The lookup's answer as this viewer may see it (see the module documentation)."""
    if isinstance(answer, PatronInformationResponse):
        if view.private:
            answer = without_lists(answer)
        elif view.loans:
            assert isinstance(request, PatronInformationRequest)
            items = tuple(loan.item for loan in view.loans)
            overdue = tuple(loan.item for loan in view.loans if loan.due < now)
            answer = replace(
                answer,
                charged_items_count=(answer.charged_items_count or 0) + len(items),
                overdue_items_count=(answer.overdue_items_count or 0) + len(overdue),
                charged_items=answer.charged_items + items
                if request.summary & Summary.CHARGED_ITEMS
                else answer.charged_items,
                overdue_items=answer.overdue_items + overdue
                if request.summary & Summary.OVERDUE_ITEMS
                else answer.overdue_items,
            )
    if view.refusal is not None:
        answer = with_fields(
            answer,
            patron_status=answer.patron_status | PatronStatus.CHARGE_PRIVILEGES_DENIED,
            screen_messages=(*answer.screen_messages, view.refusal.reason),
        )
    return answer


def checkin_answer(
    request: CheckinRequest, outcome: CheckinOutcome, now: datetime
) -> CheckinResponse:
    """The 10 a SIP2 ILS would have sent for this checkin outcome (an NCIP owner)."""
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


def without_patron(answer: CheckinResponse) -> CheckinResponse:
    """A 10 without the account the owner names (for a reciprocal loan, the home
    library's proxy account: the visitor's card is not the kiosk's business)."""
    return replace(answer, patron_identifier=None)


def in_transit(
    answer: CheckinResponse, owner: str, owner_name: str, owner_institution: str
) -> CheckinResponse:
    """Tell the kiosk that the item goes back to ``owner`` (3M extension fields)."""
    hold = any(fid == "CV" and value in ("01", "02") for fid, value in answer.extensions)
    kept = tuple((fid, v) for fid, v in answer.extensions if fid not in ("CT", "CV"))
    return replace(
        answer,
        alert=True,
        sort_bin=answer.sort_bin or f"transit-{owner}",
        screen_messages=(*answer.screen_messages, f"Return to {owner_name}"),
        # CT: where the item goes; CV 02 = hold for another branch, 04 = send it home.
        extensions=(*kept, ("CT", owner_institution), ("CV", "02" if hold else "04")),
    )
