"""The NCIP Problem for each refusal: a table keyed by ``RefusalCode``.

The circulation flows say why they refused with a code; this table says which NCIP
ProblemType (and ProblemElement) a peer gets for it.  Every code is mapped (a test
checks it).  A few ProblemTypes are named per service in NCIP 2.02 ("User Ineligible
To Check Out / Renew / Request This Item"): those codes map to the service's own form.
The ProblemDetail is the refusal's reason, which never holds a host, a port or a store
command (``refusal_for_failure`` writes stable words for failures).
"""

from __future__ import annotations

from typing import Final

from gateway.circulation.outcomes import Refusal, RefusalCode
from protocols.ncip import Problem, ProblemResponse, ProblemType
from protocols.ncip.errors import GENERAL_SCHEME

__all__ = ["PROBLEMS", "problem", "problem_for"]

_INELIGIBLE: Final = "<ineligible>"
"""Stands for the service's own "User Ineligible To … This Item"."""

PROBLEMS: Final[dict[RefusalCode, tuple[str, str | None]]] = {
    RefusalCode.UNKNOWN_HOME: (ProblemType.UNKNOWN_USER, "UserId"),
    RefusalCode.UNKNOWN_OWNER: (ProblemType.UNKNOWN_ITEM, "ItemId"),
    RefusalCode.NOT_IN_NETWORK: (_INELIGIBLE, "UserId"),
    RefusalCode.NOT_RECIPROCAL: (_INELIGIBLE, "UserId"),
    RefusalCode.PATRON_TYPE: (_INELIGIBLE, "UserId"),
    RefusalCode.NO_PROXY: (_INELIGIBLE, "UserId"),
    RefusalCode.BLOCKED_AT_HOME: (ProblemType.USER_BLOCKED, "UserId"),
    RefusalCode.FINES: (ProblemType.USER_BLOCKED, "UserId"),
    RefusalCode.EXPIRED: (ProblemType.USER_BLOCKED, "UserId"),
    RefusalCode.ITEM_TYPE: (ProblemType.ITEM_DOES_NOT_CIRCULATE, "ItemId"),
    RefusalCode.LOCATION: (ProblemType.ITEM_DOES_NOT_CIRCULATE, "ItemId"),
    RefusalCode.RETENTION: (ProblemType.ITEM_DOES_NOT_CIRCULATE, "ItemId"),
    RefusalCode.RENEWALS: (ProblemType.MAXIMUM_RENEWALS_EXCEEDED, "ItemId"),
    RefusalCode.CAP_AT_OWNER: (ProblemType.MAXIMUM_CHECK_OUTS_EXCEEDED, "UserId"),
    RefusalCode.CAP_TOTAL: (ProblemType.MAXIMUM_CHECK_OUTS_EXCEEDED, "UserId"),
    RefusalCode.OWNER_QUOTA: (ProblemType.MAXIMUM_CHECK_OUTS_EXCEEDED, None),
    RefusalCode.PATRON_UNKNOWN: (ProblemType.UNKNOWN_USER, "UserId"),
    RefusalCode.PIN_REQUIRED: (ProblemType.USER_AUTHENTICATION_FAILED, "AuthenticationInput"),
    RefusalCode.PIN_WRONG: (ProblemType.USER_AUTHENTICATION_FAILED, "AuthenticationInput"),
    RefusalCode.PIN_LOCKED: (ProblemType.USER_AUTHENTICATION_FAILED, "AuthenticationInput"),
    RefusalCode.ITEM_UNKNOWN: (ProblemType.UNKNOWN_ITEM, "ItemId"),
    RefusalCode.ITEM_REQUIRED: (ProblemType.NEEDED_DATA_MISSING, "ItemId"),
    RefusalCode.NOT_ON_LOAN_TO_PATRON: (ProblemType.ITEM_NOT_CHECKED_OUT, "ItemId"),
    RefusalCode.LOAN_REFUSED: (ProblemType.RESOURCE_CANNOT_BE_PROVIDED, None),
    RefusalCode.RENEWAL_REFUSED: (ProblemType.ITEM_NOT_RENEWABLE, "ItemId"),
    RefusalCode.RETURN_REFUSED: (ProblemType.ITEM_NOT_CHECKED_OUT, "ItemId"),
    RefusalCode.HOLD_REFUSED: (ProblemType.USER_INELIGIBLE_TO_REQUEST, None),
    RefusalCode.CANCEL_REFUSED: (ProblemType.UNKNOWN_REQUEST, None),
    RefusalCode.ITEM_RECORD_REFUSED: (ProblemType.CANNOT_ACCEPT_ITEM, None),
    RefusalCode.NOT_SUPPORTED: (ProblemType.UNSUPPORTED_SERVICE, None),
    RefusalCode.REQUEST_INVALID: (ProblemType.ELEMENT_RULE_VIOLATED, None),
    RefusalCode.MEMBER_UNAVAILABLE: (ProblemType.TEMPORARY_PROCESSING_FAILURE, None),
    RefusalCode.MEMBER_TIMEOUT: (ProblemType.TEMPORARY_PROCESSING_FAILURE, None),
    RefusalCode.REGISTRY_UNAVAILABLE: (ProblemType.TEMPORARY_PROCESSING_FAILURE, None),
    RefusalCode.NOT_RECORDED: (ProblemType.TEMPORARY_PROCESSING_FAILURE, None),
    RefusalCode.GATEWAY_FAILURE: (ProblemType.TEMPORARY_PROCESSING_FAILURE, None),
    RefusalCode.ASK_AT_DESK: (ProblemType.USER_INELIGIBLE_TO_REQUEST, "ItemId"),
    RefusalCode.NO_LENDER: (ProblemType.RESOURCE_CANNOT_BE_PROVIDED, None),
    RefusalCode.NOT_ITS_LIBRARY: (ProblemType.UNAUTHORIZED_FOR_AGENCY, None),
}

_INELIGIBLE_BY_SERVICE: Final = {
    "CheckOutItem": ProblemType.USER_INELIGIBLE,
    "RenewItem": ProblemType.USER_INELIGIBLE_TO_RENEW,
    "RequestItem": ProblemType.USER_INELIGIBLE_TO_REQUEST,
}

_GENERAL: Final = frozenset(
    {
        ProblemType.AGENCY_AUTHENTICATION_FAILED,
        ProblemType.UNAUTHORIZED_FOR_AGENCY,
        ProblemType.UNKNOWN_AGENCY,
        ProblemType.UNSUPPORTED_SERVICE,
        ProblemType.NEEDED_DATA_MISSING,
        ProblemType.TEMPORARY_PROCESSING_FAILURE,
    }
)
"""The general processing errors (their own scheme); the others are the service's."""


def problem(
    service: str, kind: str, detail: str | None = None, element: str | None = None
) -> ProblemResponse:
    """A service Problem of ``kind`` (with the general scheme where it is one)."""
    scheme = GENERAL_SCHEME if kind in _GENERAL else None
    return ProblemResponse(service, (Problem(kind, detail, element, scheme=scheme),))


def problem_for(service: str, refusal: Refusal) -> ProblemResponse:
    """The Problem a peer gets for a flow's refusal (see the module documentation)."""
    kind, element = PROBLEMS[refusal.code]
    if kind == _INELIGIBLE:
        kind = _INELIGIBLE_BY_SERVICE.get(service, ProblemType.USER_INELIGIBLE)
    return problem(service, kind, refusal.reason or None, element)
