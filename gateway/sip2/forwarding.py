"""Forwarding a kiosk's message to a member ILS as it is (a library's own traffic).

The message loses the kiosk's terminal password (AC, a secret between the kiosk and
the gateway) and, when it goes to a library other than the kiosk's, gets that
library's institution id (AO); the answer gets the kiosk's AO back.  Every other
field, known to the codec or not, passes through untouched, except a field the
kiosk repeated (the first one is the one the gateway routed and checked).  A message to the kiosk's
own library that needed no change goes as the kiosk wrote it (its ILS got it so
before the gateway); one to another library is the codec's own writing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.errors import IlsProtocolError, IlsUnavailable
from gateway.sip2.responses import readdress, with_fields
from protocols.sip2 import RESPONSE_CODES, AcsStatus

if TYPE_CHECKING:
    from gateway.circulation.call import Call
    from protocols.sip2 import Message

__all__ = ["forward"]


async def forward(call: Call, target: str, message: Message) -> Message:
    """Send a kiosk's message to ``target``'s ILS and return the answer, re-addressed.

    Raises:
        IlsError: The ILS could not answer, answered with the wrong message, or does
            not take SIP2 messages (its client has no ``Sip2Forwarding``).
        IlsRequestInvalid: The message cannot be written for the ILS (nothing was sent).
    """
    send = call.member(target).forwarding
    if send is None:
        raise IlsUnavailable(target, "this member's ILS does not take SIP2 messages")
    other = target != call.session.member
    changes: dict[str, object] = {}
    if getattr(message, "terminal_password", None):
        changes["terminal_password"] = ""
    if other and "institution_id" in message.__dataclass_fields__:
        changes["institution_id"] = call.rules.institution_id(target)
    if message.extensions:
        # A repeated field (AA, AD, AC…) is kept as unknown by a lenient reading: the
        # gateway routed and counted the first, so the ILS must not see another.
        layout = message.spec.by_id
        kept = tuple(e for e in message.extensions if e[0] not in layout)
        if len(kept) != len(message.extensions):
            changes["extensions"] = kept
    # A kiosk's message to its own library goes as the kiosk wrote it (what that ILS
    # got before the gateway); to another library, in the codec's own writing.
    answer = await send.forward(
        with_fields(message, **changes), timeout=call.budget(target), as_read=not other
    )
    expected = RESPONSE_CODES[message.code]
    if answer.code != expected:
        if isinstance(answer, AcsStatus):
            raise IlsUnavailable(target, "the ILS answered with its status (98): off-line?")
        raise IlsProtocolError(target, f"{message.code} was answered with {answer.code}")
    return readdress(answer, message) if other else answer
