"""Forwarding a kiosk's message to a member ILS, and naming a member that failed or a
request it cannot take.

The message loses the kiosk's terminal password (AC, a secret between the kiosk and
the gateway) and, when it goes to a library other than the kiosk's, gets that
library's institution id (AO); the answer gets the kiosk's AO back.  Every other
field, known to the codec or not, passes through untouched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from adapters.errors import (
    IlsError,
    IlsProtocolError,
    IlsRequestInvalid,
    IlsTimeout,
    IlsUnavailable,
)
from gateway.sip2.responses import readdress, with_fields
from protocols.sip2 import RESPONSE_CODES, AcsStatus

if TYPE_CHECKING:
    from adapters.ils.base import Sip2Forwarding
    from gateway.circulation.context import RequestContext
    from protocols.sip2 import Message

__all__ = ["forward", "invalid_reason", "unavailable_reason"]


def unavailable_reason(ctx: RequestContext, error: IlsError) -> str:
    """The kiosk's text for a member ILS that did not answer."""
    name = ctx.name(error.member) if error.member in ctx.runtime.consortium.nodes else "A library"
    if isinstance(error, IlsTimeout):
        return f"{name} is not answering; please try again later"
    return f"{name} cannot be reached; please try again later"


def invalid_reason(ctx: RequestContext, error: IlsRequestInvalid) -> str:
    """The kiosk's text for a request a member's ILS cannot be sent as it is."""
    name = ctx.name(error.member) if error.member in ctx.runtime.consortium.nodes else "A library"
    return f"{name} cannot take this request: a value is too long or has a character it cannot read"


async def forward(ctx: RequestContext, target: str, message: Message) -> Message:
    """Send a kiosk's message to ``target``'s ILS and return the answer, re-addressed.

    Raises:
        IlsError: The ILS could not answer, or answered with the wrong message.
        IlsRequestInvalid: The message cannot be written for the ILS (nothing was sent).
    """
    ils = ctx.member(target)
    # Not isinstance(ils, Sip2Forwarding): a runtime Protocol check costs more than the
    # rest of the hop on this per-message path.
    send: Sip2Forwarding | None = getattr(ils, "forward", None) and cast("Sip2Forwarding", ils)
    if send is None:
        raise IlsUnavailable(target, "this member's ILS does not take SIP2 messages")
    other = target != ctx.session.member
    changes: dict[str, object] = {}
    if getattr(message, "terminal_password", None):
        changes["terminal_password"] = ""
    if other and hasattr(message, "institution_id"):
        changes["institution_id"] = ctx.runtime.institution_id(target)
    answer = await send.forward(with_fields(message, **changes), timeout=ctx.budget(target))
    expected = RESPONSE_CODES[message.code]
    if answer.code != expected:
        if isinstance(answer, AcsStatus):
            raise IlsUnavailable(target, "the ILS answered with its status (98): off-line?")
        raise IlsProtocolError(target, f"{message.code} was answered with {answer.code}")
    return readdress(answer, message) if other else answer
