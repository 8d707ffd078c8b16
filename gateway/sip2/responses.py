"""Building the kiosk's answers: refusals with a reason, and re-addressed ILS answers.

Every request the gateway cannot serve still gets a well-formed answer of the right
type: ``refusal(request, reason)`` returns it with ``ok`` false (or the equivalent
flag) and the reason as a screen message (AF), which the kiosk shows the patron.

Answers that come from another library's ILS are re-addressed to the kiosk: the
institution id goes back to the one the kiosk sent, and a visitor's proxy account is
replaced by the visitor's own card number.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from protocols.sip2 import (
    BlockPatron,
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    CirculationStatus,
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
    Language,
    Message,
    PatronEnableRequest,
    PatronEnableResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatus,
    PatronStatusRequest,
    PatronStatusResponse,
    RenewAllRequest,
    RenewAllResponse,
    RenewRequest,
    RenewResponse,
    SecurityMarker,
    changed,
)

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["DENIED", "REGISTRY_UNAVAILABLE", "readdress", "refusal", "with_fields"]

REGISTRY_UNAVAILABLE = "The consortium's loan registry is unavailable; please try again shortly"
"""The screen message while the state store cannot be reached."""

M = TypeVar("M", bound=Message)

DENIED = (
    PatronStatus.CHARGE_PRIVILEGES_DENIED
    | PatronStatus.RENEWAL_PRIVILEGES_DENIED
    | PatronStatus.RECALL_PRIVILEGES_DENIED
    | PatronStatus.HOLD_PRIVILEGES_DENIED
)


def with_fields(message: M, **changes: object) -> M:
    """A copy of ``message`` with the given fields changed, where it has them (the
    codec's ``changed``: a kiosk's terminal password is taken off every message it
    sends, so this is on every request's path)."""
    fields = message.__dataclass_fields__
    present = {k: v for k, v in changes.items() if k in fields}
    return changed(message, present) if present else message


def readdress(answer: M, request: Message, **changes: object) -> M:
    """An ILS's answer re-addressed to the kiosk's institution id, plus ``changes``."""
    institution = getattr(request, "institution_id", None)
    if institution is not None:
        changes.setdefault("institution_id", institution)
    return with_fields(answer, **changes)


def _lines(reason: str) -> tuple[str, ...]:
    return (reason,) if reason else ()


def refusal(request: Message, reason: str, now: datetime) -> Message:
    """A well-formed negative answer to ``request`` showing ``reason``."""
    ao = getattr(request, "institution_id", "")
    af = _lines(reason)
    match request:
        case PatronStatusRequest() | BlockPatron():
            return PatronStatusResponse(
                patron_status=DENIED,
                language=getattr(request, "language", Language.UNKNOWN),
                transaction_date=now,
                institution_id=ao,
                patron_identifier=request.patron_identifier,
                screen_messages=af,
            )
        case PatronInformationRequest():
            return PatronInformationResponse(
                patron_status=DENIED,
                language=request.language,
                transaction_date=now,
                institution_id=ao,
                patron_identifier=request.patron_identifier,
                screen_messages=af,
            )
        case CheckoutRequest():
            return CheckoutResponse(
                ok=False,
                renewal_ok=False,
                magnetic_media=None,
                desensitize=False,
                transaction_date=now,
                institution_id=ao,
                patron_identifier=request.patron_identifier,
                item_identifier=request.item_identifier,
                screen_messages=af,
            )
        case RenewRequest():
            return RenewResponse(
                ok=False,
                renewal_ok=False,
                magnetic_media=None,
                desensitize=False,
                transaction_date=now,
                institution_id=ao,
                patron_identifier=request.patron_identifier,
                item_identifier=request.item_identifier or "",
                title_identifier=request.title_identifier or "",
                screen_messages=af,
            )
        case CheckinRequest():
            return CheckinResponse(
                ok=False,
                resensitize=False,
                magnetic_media=None,
                alert=False,
                transaction_date=now,
                institution_id=ao,
                item_identifier=request.item_identifier,
                screen_messages=af,
            )
        case RenewAllRequest():
            return RenewAllResponse(
                ok=False,
                renewed_count=0,
                unrenewed_count=0,
                transaction_date=now,
                institution_id=ao,
                screen_messages=af,
            )
        case ItemInformationRequest():
            return ItemInformationResponse(
                circulation_status=CirculationStatus.OTHER,
                security_marker=SecurityMarker.OTHER,
                fee_type=1,
                transaction_date=now,
                item_identifier=request.item_identifier,
                screen_messages=af,
            )
        case ItemStatusUpdateRequest():
            return ItemStatusUpdateResponse(
                item_properties_ok=False,
                transaction_date=now,
                item_identifier=request.item_identifier,
                screen_messages=af,
            )
        case HoldRequest():
            return HoldResponse(
                ok=False,
                available=False,
                transaction_date=now,
                institution_id=ao,
                patron_identifier=request.patron_identifier,
                item_identifier=request.item_identifier,
                title_identifier=request.title_identifier,
                screen_messages=af,
            )
        case EndPatronSessionRequest():
            # Ending a session cannot really fail: the gateway forgets the patron.
            return EndSessionResponse(
                end_session=True,
                transaction_date=now,
                institution_id=ao,
                patron_identifier=request.patron_identifier,
                screen_messages=af,
            )
        case FeePaidRequest():
            return FeePaidResponse(
                payment_accepted=False,
                transaction_date=now,
                institution_id=ao,
                patron_identifier=request.patron_identifier,
                transaction_id=request.transaction_id,
                screen_messages=af,
            )
        case PatronEnableRequest():
            return PatronEnableResponse(
                patron_status=DENIED,
                transaction_date=now,
                institution_id=ao,
                patron_identifier=request.patron_identifier,
                screen_messages=af,
            )
    raise AssertionError(f"no refusal for {request.code}")  # pragma: no cover - routed earlier
