"""What the circulation flows answer: typed results, or a refusal with a code.

Every flow the gateway runs itself (a patron's lookup and PIN check, a reciprocal
checkout, a loan to another library, a renewal, a return, a hold) returns either its
result (a dataclass with typed values: ``due`` is a ``datetime``) or a ``Refusal``: a
``RefusalCode`` saying why, and the reason written for a patron's screen.  The edges
render them: the SIP2 edge as a negative answer of the message's type with the reason
in ``AF``; the NCIP edge as a Problem whose type comes from a table keyed by the code
(``gateway/ncip/problems.py``, which maps every code).  No edge ever reads the reason
to decide anything.

A member ILS or the registry that cannot answer is an exception in the flows
(``IlsError``, ``StateUnavailable``); ``refusal_for_failure`` turns one into the
refusal both edges give for it, with a text that names the library, never a host.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters.errors import IlsError, IlsRequestInvalid, IlsTimeout
from adapters.ils.base import CheckinOutcome, CirculationOutcome, HoldOutcome
from config.policy import DecisionCode

if TYPE_CHECKING:
    from adapters.state.base import StateUnavailable
    from gateway.runtime.rules import Rules

__all__ = [
    "REGISTRY_UNAVAILABLE",
    "Refusal",
    "RefusalCode",
    "code_of_decision",
    "refusal_for_failure",
]

REGISTRY_UNAVAILABLE = "The consortium's loan registry is unavailable; please try again shortly"
"""The screen message while the state store cannot be reached."""


class RefusalCode(enum.Enum):
    """Why a flow refused (or could not do) what it was asked."""

    # The consortium's policy (``config.policy.Decision``).
    UNKNOWN_HOME = "unknown-home"
    UNKNOWN_OWNER = "unknown-owner"
    NOT_IN_NETWORK = "not-in-network"
    NOT_RECIPROCAL = "not-reciprocal"
    PATRON_TYPE = "patron-type"
    BLOCKED_AT_HOME = "blocked-at-home"
    FINES = "fines"
    EXPIRED = "expired"
    ITEM_TYPE = "item-type"
    LOCATION = "location"
    NO_PROXY = "no-proxy"
    RENEWALS = "renewals"
    RETENTION = "retention"
    """A jointly owned collection's last-copy commitment keeps the item in its consortium."""
    # The registry's caps (checked atomically when a slot is held).
    CAP_AT_OWNER = "cap-at-owner"
    CAP_TOTAL = "cap-total"
    OWNER_QUOTA = "owner-quota"
    # The patron and the PIN.
    PATRON_UNKNOWN = "patron-unknown"
    PIN_REQUIRED = "pin-required"
    PIN_WRONG = "pin-wrong"
    PIN_LOCKED = "pin-locked"
    # The item and the loan.
    ITEM_UNKNOWN = "item-unknown"
    ITEM_REQUIRED = "item-required"
    NOT_ON_LOAN_TO_PATRON = "not-on-loan-to-patron"
    # A member ILS's own refusal (its messages are the reason).
    LOAN_REFUSED = "loan-refused"
    RENEWAL_REFUSED = "renewal-refused"
    RETURN_REFUSED = "return-refused"
    HOLD_REFUSED = "hold-refused"
    CANCEL_REFUSED = "cancel-refused"
    ITEM_RECORD_REFUSED = "item-record-refused"
    # What a member's ILS cannot do or take.
    NOT_SUPPORTED = "not-supported"
    REQUEST_INVALID = "request-invalid"
    # A member, the registry or the gateway failing.
    MEMBER_UNAVAILABLE = "member-unavailable"
    MEMBER_TIMEOUT = "member-timeout"
    REGISTRY_UNAVAILABLE = "registry-unavailable"
    NOT_RECORDED = "not-recorded"
    GATEWAY_FAILURE = "gateway-failure"
    # The gateway's own rules for requests across libraries.
    ASK_AT_DESK = "ask-at-desk"
    NO_LENDER = "no-lender"
    NOT_ITS_LIBRARY = "not-its-library"

    @property
    def unavailable(self) -> bool:
        """The refusal is a failure to reach a member or the registry (try again later),
        not a decision."""
        return self in _UNAVAILABLE


_UNAVAILABLE = frozenset(
    {
        RefusalCode.MEMBER_UNAVAILABLE,
        RefusalCode.MEMBER_TIMEOUT,
        RefusalCode.REGISTRY_UNAVAILABLE,
        RefusalCode.NOT_RECORDED,
        RefusalCode.GATEWAY_FAILURE,
    }
)

_BY_DECISION = {
    DecisionCode.UNKNOWN_HOME: RefusalCode.UNKNOWN_HOME,
    DecisionCode.UNKNOWN_OWNER: RefusalCode.UNKNOWN_OWNER,
    DecisionCode.NOT_IN_NETWORK: RefusalCode.NOT_IN_NETWORK,
    DecisionCode.NOT_RECIPROCAL: RefusalCode.NOT_RECIPROCAL,
    DecisionCode.PATRON_TYPE: RefusalCode.PATRON_TYPE,
    DecisionCode.BLOCKED_AT_HOME: RefusalCode.BLOCKED_AT_HOME,
    DecisionCode.FINES: RefusalCode.FINES,
    DecisionCode.EXPIRED: RefusalCode.EXPIRED,
    DecisionCode.ITEM_TYPE: RefusalCode.ITEM_TYPE,
    DecisionCode.LOCATION: RefusalCode.LOCATION,
    DecisionCode.RETENTION: RefusalCode.RETENTION,
    DecisionCode.OWNER_CAP: RefusalCode.CAP_AT_OWNER,
    DecisionCode.TOTAL_CAP: RefusalCode.CAP_TOTAL,
    DecisionCode.RENEWALS: RefusalCode.RENEWALS,
    DecisionCode.NO_PROXY: RefusalCode.NO_PROXY,
}


def code_of_decision(code: DecisionCode) -> RefusalCode:
    """The refusal code of a policy decision's code (an allowed decision has none).

    Raises:
        ValueError: ``code`` allows (``ALLOWED``, ``LOCAL``).
    """
    try:
        return _BY_DECISION[code]
    except KeyError:
        raise ValueError(f"{code} is not a refusal") from None


@dataclass(frozen=True)
class Refusal:
    """A flow's refusal: its code, the reason for the patron's screen, and the member
    ILS's own answer when the refusal is the ILS's (a SIP2 edge passes it on)."""

    code: RefusalCode
    reason: str
    source: CirculationOutcome | CheckinOutcome | HoldOutcome | None = None


def refusal_for_failure(
    error: IlsError | IlsRequestInvalid | StateUnavailable, rules: Rules
) -> Refusal:
    """The refusal for a member ILS or the registry that could not answer, or for a
    request a member's ILS cannot take (the library named, never a host or a port)."""
    if isinstance(error, IlsError | IlsRequestInvalid):
        name = rules.name(error.member) if rules.known(error.member) else "A library"
        if isinstance(error, IlsRequestInvalid):
            return Refusal(
                RefusalCode.REQUEST_INVALID,
                f"{name} cannot take this request: a value is too long or has a character "
                "it cannot read",
            )
        if isinstance(error, IlsTimeout):
            return Refusal(
                RefusalCode.MEMBER_TIMEOUT, f"{name} is not answering; please try again later"
            )
        return Refusal(
            RefusalCode.MEMBER_UNAVAILABLE, f"{name} cannot be reached; please try again later"
        )
    return Refusal(RefusalCode.REGISTRY_UNAVAILABLE, REGISTRY_UNAVAILABLE)
