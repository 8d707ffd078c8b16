"""The one gate for patron PINs: every message that carries one passes through it.

A PIN can be guessed through any message whose answer tells whether it was right: 23
and 63 say so outright (``CQY``/``CQN``), and a checkout, renewal or hold refused for a
wrong PIN says so in its screen text.  So every request that names a patron and may
carry a PIN (23, 63, 11, 29, 15, 65, 25; NCIP services reach here as those) is
admitted by ``admit_patron`` before it is served:

1. **Locked patrons are refused whatever they send.**  After ``pin_attempts`` wrong
   PINs within ``pin_window_s`` (counted per patron in the shared state store, so
   across gateways: ``PinGuard``) the patron's requests get a refusal (23/63: ``CQN``
   with the reason) without the home ILS being asked, with the right PIN, a wrong one
   or none: a patron locked out cannot confirm a PIN on 23 and then borrow with an
   empty one either.
2. **A PIN whose answer cannot say it was wrong is checked first.**  A 11, 29, 15 or 65
   that goes to the patron's library as it is (its answer has no ``CQ``) carries the
   PIN to the home ILS as a 23 first, unless the PIN was already confirmed on this
   connection; a wrong one is counted and refused there.  Reciprocal loans and title
   holds check the PIN themselves (``verify_patron``), as part of their flow.
3. **23 and 63 are counted from their answer** (``record_answer``): a patron the home
   ILS knows, with ``CQN``, is a wrong PIN; ``CQY`` marks the patron verified on the
   connection.

A patron unknown to the home ILS is never counted: there is nobody to protect, and
counting would let anyone fill the store with made-up cards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.circulation.context import Outcome, Result
from gateway.sip2.responses import refusal, with_fields
from gateway.sip2.routing import RouteKind
from protocols.sip2 import (
    CheckoutRequest,
    HoldRequest,
    Message,
    PatronEnableRequest,
    PatronInformationRequest,
    PatronStatusRequest,
    RenewAllRequest,
    RenewRequest,
)

if TYPE_CHECKING:
    from adapters.ils.base import PatronRecord
    from gateway.circulation.context import RequestContext
    from gateway.sip2.routing import Route

__all__ = ["TOO_MANY_PINS", "WRONG_PIN", "admit_patron", "record_answer", "verify_patron"]

TOO_MANY_PINS = "Too many wrong PINs; please try again later or see the desk"
WRONG_PIN = "Incorrect PIN"

PatronRequest = (
    PatronStatusRequest
    | PatronInformationRequest
    | CheckoutRequest
    | RenewRequest
    | HoldRequest
    | RenewAllRequest
    | PatronEnableRequest
)
GUARDED = (
    PatronStatusRequest,
    PatronInformationRequest,
    CheckoutRequest,
    RenewRequest,
    HoldRequest,
    RenewAllRequest,
    PatronEnableRequest,
)
"""The requests the gate admits (35 ends a session: it is never refused)."""

_ANSWER_SAYS = (PatronStatusRequest, PatronInformationRequest)
"""Requests whose answer says whether the PIN was right (``CQ``)."""


def patron_home(where: Route) -> str | None:
    """The patron's home library for a routed patron request."""
    return where.home or where.target


def _locked_answer(ctx: RequestContext, request: Message, pkey: str) -> Outcome:
    answer = refusal(request, TOO_MANY_PINS, ctx.now)
    if isinstance(request, _ANSWER_SAYS):
        # The patron exists (only known patrons are ever counted); CQN whatever was sent.
        answer = with_fields(answer, valid_patron=True, valid_patron_password=False)
    return Outcome(answer, Result.REFUSED, TOO_MANY_PINS, patron=pkey)


async def admit_patron(ctx: RequestContext, where: Route, request: PatronRequest) -> Outcome | None:
    """Apply the gate (see the module documentation) to a routed patron request.

    Returns:
        ``None`` to serve the request, or the refusal to answer with.
    """
    home = patron_home(where)
    if home is None or not request.patron_identifier:
        return None
    runtime = ctx.runtime
    pkey = runtime.patron_key(home, request.patron_identifier)
    if await runtime.pin_guard.locked(runtime.store, pkey, attempts=runtime.settings.pin_attempts):
        ctx.session.verified.discard(pkey)
        runtime.pin_guard.counts["refused"] += 1
        return _locked_answer(ctx, request, pkey)
    pin = request.patron_password
    if (
        not pin
        or isinstance(request, _ANSWER_SAYS)
        or where.kind is RouteKind.RECIPROCAL
        or pkey in ctx.session.verified
        or _title_hold(request)
    ):
        return None
    record, problem = await verify_patron(ctx, home, request.patron_identifier, pin, pkey)
    if record is None and problem in (WRONG_PIN, TOO_MANY_PINS):
        answer = refusal(request, problem, ctx.now)
        return Outcome(answer, Result.REFUSED, problem, patron=pkey)
    return None  # unknown patrons and ILSs that do not check PINs: the ILS answers


def _title_hold(request: PatronRequest) -> bool:
    """A hold by title, which checks the patron in its own flow (``title_holds``)."""
    return (
        isinstance(request, HoldRequest)
        and not request.item_identifier
        and bool(request.title_identifier)
    )


async def record_answer(ctx: RequestContext, pkey: str, record: PatronRecord) -> None:
    """Count what a 24/64 said of the PIN it was asked about (see the module docs)."""
    if not record.found:
        return
    if record.pin_ok:
        ctx.session.verified.add(pkey)
        await ctx.runtime.pin_guard.succeeded(ctx.runtime.store, pkey)
    elif record.pin_ok is False:
        await _count_failure(ctx, pkey)


async def _count_failure(ctx: RequestContext, pkey: str) -> None:
    runtime = ctx.runtime
    guard = runtime.pin_guard
    ctx.session.verified.discard(pkey)
    count = await guard.failed(runtime.store, pkey, window_s=runtime.settings.pin_window_s)
    guard.counts["wrong"] += 1
    if count == runtime.settings.pin_attempts:
        guard.counts["locked"] += 1


async def verify_patron(
    ctx: RequestContext,
    home: str,
    barcode: str,
    pin: str | None,
    pkey: str,
) -> tuple[PatronRecord | None, str]:
    """Ask the home ILS about the patron, checking ``pin`` when one is given.

    Returns:
        The home ILS's record, or ``None`` and the reason to refuse with.
    """
    runtime = ctx.runtime
    if await runtime.pin_guard.locked(runtime.store, pkey, attempts=runtime.settings.pin_attempts):
        ctx.session.verified.discard(pkey)
        runtime.pin_guard.counts["refused"] += 1
        return None, TOO_MANY_PINS
    record = await ctx.member(home).patron_status(barcode, pin, timeout=ctx.budget(home))
    if not record.found:
        return None, f"Library card not recognised by {ctx.name(home)}"
    if pin is not None:
        await record_answer(ctx, pkey, record)
        if record.pin_ok is False:
            return None, WRONG_PIN
    return record, ""
