"""NCIP codec errors and the standard Problem types (NISO's v1_0 scheme lists, reused
by NCIP 2.x implementations)."""

from __future__ import annotations

__all__ = [
    "GENERAL_SCHEME",
    "MESSAGING_SCHEME",
    "NcipError",
    "NcipSyntaxError",
    "NcipUnsupported",
    "ProblemType",
    "service_scheme",
]

_SCHEMES = "http://www.niso.org/ncip/v1_0/schemes"
MESSAGING_SCHEME = f"{_SCHEMES}/messagingerrortype/messagingerrortype.scm"
GENERAL_SCHEME = f"{_SCHEMES}/processingerrortype/generalprocessingerror.scm"


def service_scheme(service: str) -> str:
    """The processing-error scheme of one service (``LookupUser`` → …lookupuser…)."""
    return f"{_SCHEMES}/processingerrortype/{service.lower()}processingerror.scm"


class ProblemType:
    """ProblemType values the gateway writes (and reads, case-insensitively)."""

    # Messaging errors (message-level Problems).
    INVALID_MESSAGE_SYNTAX = "Invalid Message Syntax Error"
    UNKNOWN_SERVICE = "Unknown Service"
    # General processing errors.
    AGENCY_AUTHENTICATION_FAILED = "Agency Authentication Failed"
    NEEDED_DATA_MISSING = "Needed Data Missing"
    TEMPORARY_PROCESSING_FAILURE = "Temporary Processing Failure"
    UNKNOWN_AGENCY = "Unknown Agency"
    UNSUPPORTED_SERVICE = "Unsupported Service"
    INVALID_DATE = "Invalid Date"
    UNAUTHORIZED_FOR_AGENCY = "Unauthorized Combination Of Element Values For Agency"
    """The calling agency may use the service, but not for these values (another
    library's patron or item)."""
    # Service processing errors.
    UNKNOWN_USER = "Unknown User"
    USER_AUTHENTICATION_FAILED = "User Authentication Failed"
    USER_BLOCKED = "User Blocked"
    USER_INELIGIBLE = "User Ineligible To Check Out This Item"
    UNKNOWN_ITEM = "Unknown Item"
    ITEM_DOES_NOT_CIRCULATE = "Item Does Not Circulate"
    MAXIMUM_CHECK_OUTS_EXCEEDED = "Maximum Check Outs Exceeded"
    RESOURCE_CANNOT_BE_PROVIDED = "Resource Cannot Be Provided"
    ITEM_NOT_CHECKED_OUT = "Item Not Checked Out"
    ITEM_NOT_RENEWABLE = "Item Not Renewable"
    MAXIMUM_RENEWALS_EXCEEDED = "Maximum Renewals Exceeded"
    USER_INELIGIBLE_TO_RENEW = "User Ineligible To Renew This Item"
    USER_INELIGIBLE_TO_REQUEST = "User Ineligible To Request This Item"
    CANNOT_ACCEPT_ITEM = "Cannot Accept Item"
    UNKNOWN_REQUEST = "Unknown Request"
    ELEMENT_RULE_VIOLATED = "Element Rule Violated"
    """A value the service cannot take as it is (too long, a character it cannot carry)."""


class NcipError(Exception):
    """An NCIP message that cannot be read or answered."""


class NcipSyntaxError(NcipError):
    """Not NCIP the gateway can read: too big, not well-formed, too deep, no service."""


class NcipUnsupported(NcipError):
    """A well-formed message for a service the gateway does not offer."""

    def __init__(self, service: str) -> None:
        super().__init__(f"the {service} service is not offered")
        self.service = service
