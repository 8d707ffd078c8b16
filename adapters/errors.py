"""Errors raised by adapters, translated at the edge from transport and library errors.

The tree::

    AdapterError                  base class
    ├── IlsError                  a member ILS could not answer
    │   ├── IlsUnavailable        it cannot be reached (refused, reset, every endpoint down)
    │   ├── IlsTimeout            it did not answer within the time the caller allowed
    │   ├── IlsProtocolError      it answered with something that is not valid SIP2/NCIP
    │   └── IlsLoginRefused       it refused the gateway's own credentials
    └── IlsRequestInvalid         the request cannot be put to that ILS as it is

A *business* refusal (patron blocked, item not found, checkout refused) is not an
exception: it comes back as an outcome with ``ok`` false and the ILS's messages, so the
gateway can pass the reason to the kiosk.  Exceptions are for "no answer to trust".
Each carries the member id, so callers can name the library in a refusal, and
``reached``: whether the request may have reached the ILS before the failure, so a
flow knows when the outcome of a checkout at the ILS is unknown (a time-out after the
request was sent, a connection lost while waiting for the answer).

``IlsRequestInvalid`` is the caller's fault, not the library's: a value longer than the
member's protocol allows, or a character its dialect or charset cannot carry.  It is
raised before anything is sent or any endpoint is chosen, so it never counts against
the member's health, and it is deliberately not an ``IlsError``: a clause that treats
an ``IlsError`` as "the library cannot be reached" must not catch it.  Callers answer
it as a refused request.
"""

from __future__ import annotations

__all__ = [
    "AdapterError",
    "IlsError",
    "IlsLoginRefused",
    "IlsProtocolError",
    "IlsRequestInvalid",
    "IlsTimeout",
    "IlsUnavailable",
]


class AdapterError(Exception):
    """Base class of adapter errors."""


class IlsError(AdapterError):
    """A member ILS could not give an answer.

    Args:
        member: The member whose ILS failed.
        detail: What happened, for logs (never shown to patrons).
        reached: The request may have reached the ILS before the failure (it was
            sent whole, and no answer came back): a checkout's outcome there is unknown.
    """

    def __init__(self, member: str, detail: str, *, reached: bool = False) -> None:
        super().__init__(f"{member}: {detail}")
        self.member = member
        self.detail = detail
        self.reached = reached


class IlsUnavailable(IlsError):
    """The ILS cannot be reached."""


class IlsTimeout(IlsError):
    """The ILS did not answer in time."""


class IlsProtocolError(IlsError):
    """The ILS answered with something that cannot be understood."""


class IlsLoginRefused(IlsError):
    """The ILS refused the gateway's login."""


class IlsRequestInvalid(AdapterError):
    """The request cannot be sent to this member's ILS as it is (the caller's fault).

    Args:
        member: The member whose ILS the request was for.
        detail: What cannot be written, for logs (it names the field, and at most the
            one character that cannot be written, never a whole value).
    """

    def __init__(self, member: str, detail: str) -> None:
        super().__init__(f"{member}: {detail}")
        self.member = member
        self.detail = detail
