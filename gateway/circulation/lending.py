"""Reciprocal loans: a patron of one library borrowing an item of another.

Checkout (11), in order; the first step that says no decides, and the kiosk shows why:

1. The PIN: checked at the home ILS when the kiosk sent one; otherwise the patron must
   have been verified earlier on this connection, unless the owner's policy has
   ``require_pin`` off.  After ``pin_attempts`` wrong PINs within ``pin_window_s``
   (counted in the shared state store, so across gateways: see ``pinguard``) the
   home ILS is not asked again until the window ends.
2. The home ILS's word on the patron (found, PIN right, blocks, fines, type, expiry).
3. The item at the owner, only when the owner's policy has non-circulating types or
   locations to check.
4. The policy engine (``may_borrow``): everything but the caps.
5. The registry's ``reserve``: the caps (the patron's at the owner and in all, the
   owner's quota of loans to visitors) checked and a slot held in one atomic step; a
   request it has already committed (the kiosk resent it after a lost answer) returns
   that loan, so nothing is lent twice, and one still held by a gateway that died is
   finished here.
6. The owner's ILS lends the item to the home library's proxy account.
7. The registry's ``commit`` makes the loan durable and queues its ledger event in the
   same step; only then does the kiosk hear "ok" (after, where the home library's ILS
   speaks NCIP and asks for it, a temporary item there: ``temporary``).  If the commit
   fails the owner's loan is undone with a checkin, so there is never a loan the
   registry does not know.

If the owner's ILS fails at step 6 before the request reached it, the slot is
released.  When the request may have reached it and no answer came (a time-out, a
connection lost while waiting: ``IlsError.reached``), or the gateway cuts the request
short (a drain at shutdown), the owner may have lent the item: the slot stays held as
unconfirmed (listed at ``/api/loans/unconfirmed`` once its hold time is over, and
finished by a resend of the same checkout) and an error names the item and proxy
account for the desk to check.

Renew (29) renews the registry's loan at the owner for the proxy account, within the
owner's ``visitor_renewals``.  Renew all (65) renews at home, then every reciprocal
loan of the patron.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog
import trio

from adapters.errors import IlsError
from adapters.state.base import CapExceeded, Loan, LoanRequest
from config.policy import PatronStanding, may_borrow, may_renew
from gateway.circulation.context import Outcome, RequestContext, Result
from gateway.circulation.pins import verify_patron
from gateway.circulation.temporary import accept_at_home
from gateway.sip2.forwarding import forward
from gateway.sip2.responses import readdress, refusal
from protocols.sip2 import (
    CheckoutRequest,
    CheckoutResponse,
    Dialect,
    Message,
    RenewAllRequest,
    RenewAllResponse,
    RenewRequest,
    RenewResponse,
)
from protocols.sip2.fieldtypes import Date

if TYPE_CHECKING:
    from adapters.ils.base import CirculationOutcome, PatronRecord
    from gateway.sip2.routing import Route

__all__ = ["Loan", "checkout", "renew", "renew_all"]

log = structlog.get_logger("interlend.lending")

DEFAULT_LOAN_DAYS = 21
UNDO_TIMEOUT_S = 5.0
_DATE = Date()
_DIALECT = Dialect()


def _refuse(ctx: RequestContext, where: Route, reason: str, patron: str | None = None) -> Outcome:
    return Outcome(refusal(ctx.message, reason, ctx.now), Result.REFUSED, reason, where, patron)


def _standing(record: PatronRecord) -> PatronStanding:
    return PatronStanding(
        patron_type=record.patron_type,
        fines=record.fines,
        expired=record.expired,
        blocked=record.blocked,
    )


def _due_text(outcome: CirculationOutcome) -> str:
    if outcome.due_text:
        return outcome.due_text
    return _DATE.encode(outcome.due, _DIALECT) if outcome.due else ""


async def checkout(ctx: RequestContext, where: Route, request: CheckoutRequest) -> Outcome:
    """A reciprocal checkout (see the module documentation)."""
    home, owner = where.home, where.owner
    assert home is not None
    assert owner is not None
    runtime = ctx.runtime
    pkey = runtime.patron_key(home, request.patron_identifier)
    rules = runtime.consortium.policy(owner).circulation
    pin = request.patron_password or None
    if pin is None and pkey not in ctx.session.verified and rules.require_pin:
        return _refuse(ctx, where, "Please enter your PIN", pkey)
    record, problem = await verify_patron(ctx, home, request.patron_identifier, pin, pkey)
    if record is None:
        return _refuse(ctx, where, problem, pkey)
    item_type = location = None
    if rules.non_circulating_item_types or rules.non_circulating_locations:
        item = await ctx.member(owner).item_information(
            request.item_identifier, timeout=ctx.budget(owner)
        )
        if not item.found:
            return _refuse(ctx, where, f"Item not recognised by {ctx.name(owner)}", pkey)
        item_type, location = item.media_type, item.permanent_location
    # The caps are left to the registry's reserve, which checks them atomically.
    decision = may_borrow(
        runtime.consortium,
        home,
        owner,
        standing=_standing(record),
        item_type=item_type,
        location=location,
    )
    if not decision.allowed or decision.proxy_patron is None:
        return _refuse(ctx, where, decision.reason, pkey)
    proxy = decision.proxy_patron
    sent = ctx.request_key or (
        request.transaction_date.isoformat() if request.transaction_date else ctx.now.isoformat()
    )
    reservation = await runtime.store.reserve(
        LoanRequest(
            owner=owner,
            home=home,
            item=request.item_identifier,
            patron_key=pkey,
            proxy_patron=proxy,
            terminal=ctx.session.name,
            idempotency_key=f"{ctx.session.name}\x1f{pkey}\x1f{request.item_identifier}\x1f{sent}",
            cap_at_owner=rules.loan_cap_per_owner,
            cap_total=runtime.consortium.policy(home).circulation.loan_cap_total,
            quota_at_owner=rules.visitor_loan_quota,
        ),
        now=ctx.now,
    )
    if isinstance(reservation, CapExceeded):
        reason = {
            "owner": f"Limit of {reservation.cap} loans from {ctx.name(owner)} reached",
            "total": f"Limit of {reservation.cap} loans from other libraries reached",
        }.get(reservation.scope, f"{ctx.name(owner)} has no more items to lend to visitors now")
        return _refuse(ctx, where, reason, pkey)
    if reservation.existing is not None:
        return Outcome(_already_lent(ctx, request, reservation.existing), patron=pkey)
    due = ctx.now + timedelta(days=decision.loan_days or DEFAULT_LOAN_DAYS)
    try:
        lent = await ctx.member(owner).checkout(
            proxy, request.item_identifier, due=due, timeout=ctx.budget(owner)
        )
    except BaseException as exc:
        if isinstance(exc, trio.Cancelled) or (isinstance(exc, IlsError) and exc.reached):
            # The owner may have lent the item: the slot stays held (it counts against
            # the caps and is listed at /api/loans/unconfirmed once its hold time is
            # over), and a resend of the same checkout finishes it.
            log.error(
                "checkout outcome unknown: check the proxy account at the owner",
                owner=owner,
                item=request.item_identifier,
                proxy=proxy,
                why="cancelled by the gateway"
                if isinstance(exc, trio.Cancelled)
                else "no answer from the owner",
                detail=exc.detail if isinstance(exc, IlsError) else None,
            )
        else:
            with trio.CancelScope(shield=True):
                await runtime.store.release(reservation)
        raise
    if not lent.ok:
        await runtime.store.release(reservation)
        reason = " ".join(lent.screen_messages) or f"{ctx.name(owner)} could not lend this item"
        answer = lent.response if isinstance(lent.response, CheckoutResponse) else None
        response = (
            readdress(answer, request, patron_identifier=request.patron_identifier)
            if answer is not None
            else refusal(request, reason, ctx.now)
        )
        return Outcome(response, Result.REFUSED, reason, where, pkey)
    try:
        # Lent at the owner: the commit (bounded by the store's own time-out) is not cut
        # short by a caller giving up, or the loan would be lent and not recorded.
        with trio.CancelScope(shield=True):
            recorded = _recorded_due(owner, request.item_identifier, due, lent)
            loan = await runtime.store.commit(reservation, due=recorded, now=ctx.now)
    except Exception:
        log.exception("the loan could not be recorded; undoing it at the owner", owner=owner)
        await _undo(ctx, owner, request.item_identifier)
        with trio.CancelScope(shield=True):
            await runtime.store.release(reservation)
        reason = "The loan could not be recorded; please see the desk"
        return Outcome(refusal(request, reason, ctx.now), Result.ERROR, reason, where, pkey)
    log.debug("loan recorded", loan=loan.loan_id, owner=owner, home=home)
    await accept_at_home(ctx, loan, request.patron_identifier, lent.title)
    return Outcome(_lent(ctx, request, lent, owner), patron=pkey)


def _recorded_due(owner: str, item: str, wanted: datetime, outcome: CirculationOutcome) -> datetime:
    """The due date the registry records: the one the owner's ILS set (the kiosk shows
    it), which differs from the consortium's ``wanted`` where the ILS applies its own
    loan period; the consortium's when the ILS's cannot be read."""
    if outcome.due is None:
        log.warning(
            "the owner's due date cannot be read: the consortium's is recorded",
            owner=owner,
            item=item,
            written=outcome.due_text,
            recorded=wanted.isoformat(),
        )
        return wanted
    if outcome.due.date() != wanted.date():
        log.info(
            "the owner's ILS set its own due date",
            owner=owner,
            item=item,
            due=outcome.due.isoformat(),
            policy=wanted.isoformat(),
        )
    return outcome.due


async def _undo(ctx: RequestContext, owner: str, item: str) -> None:
    with trio.CancelScope(shield=True):
        try:
            await ctx.member(owner).checkin(
                item, ctx.session.location or "", timeout=UNDO_TIMEOUT_S
            )
        except IlsError as exc:
            log.error(
                "the unrecorded loan could not be undone: check the item at the owner",
                owner=owner,
                item=item,
                detail=exc.detail,
            )


def _answer(
    kind: type[CheckoutResponse] | type[RenewResponse],
    ctx: RequestContext,
    request: CheckoutRequest | RenewRequest,
    outcome: CirculationOutcome,
    screen: tuple[str, ...],
) -> Message:
    """The kiosk's 12/30: the owner's own answer re-addressed, or one built from the
    outcome when the owner's adapter does not speak SIP2."""
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
        transaction_date=ctx.now,
        institution_id=request.institution_id,
        patron_identifier=request.patron_identifier,
        item_identifier=request.item_identifier or "",
        title_identifier=outcome.title,
        due_date=_due_text(outcome),
        screen_messages=screen,
    )


def _lent(
    ctx: RequestContext, request: CheckoutRequest, lent: CirculationOutcome, owner: str
) -> Message:
    screen = (*lent.screen_messages, f"Lent by {ctx.name(owner)}")
    return _answer(CheckoutResponse, ctx, request, lent, screen)


def _already_lent(ctx: RequestContext, request: CheckoutRequest, loan: Loan) -> Message:
    return CheckoutResponse(
        ok=True,
        renewal_ok=False,
        magnetic_media=None,
        desensitize=True,
        transaction_date=ctx.now,
        institution_id=request.institution_id,
        patron_identifier=request.patron_identifier,
        item_identifier=request.item_identifier,
        due_date=_DATE.encode(loan.due, _DIALECT),
        screen_messages=(f"Already on loan to you until {loan.due:%Y-%m-%d}",),
    )


async def _renew_loan(ctx: RequestContext, loan: Loan) -> tuple[CirculationOutcome | None, str]:
    """Renew one registry loan at its owner; returns the ILS's outcome or the reason not."""
    decision = may_renew(ctx.runtime.consortium, loan.home, loan.owner, loan.renewals)
    if not decision.allowed:
        return None, decision.reason
    wanted = ctx.now + timedelta(days=decision.loan_days or DEFAULT_LOAN_DAYS)
    renewed = await ctx.member(loan.owner).renew(
        loan.proxy_patron, loan.item, due=wanted, timeout=ctx.budget(loan.owner)
    )
    if not renewed.ok:
        return renewed, " ".join(renewed.screen_messages) or "Renewal refused"
    due = _recorded_due(loan.owner, loan.item, wanted, renewed)
    await ctx.runtime.store.renew(loan.owner, loan.item, due=due, now=ctx.now)
    return renewed, ""


async def renew(ctx: RequestContext, where: Route, request: RenewRequest) -> Outcome:
    """A renewal of a reciprocal loan (see the module documentation)."""
    home, owner = where.home, where.owner
    assert home is not None
    assert owner is not None
    pkey = ctx.runtime.patron_key(home, request.patron_identifier)
    if not request.item_identifier:
        return _refuse(ctx, where, "Please scan the item to renew it", pkey)
    loan = await ctx.runtime.store.active_loan(owner, request.item_identifier)
    if loan is None or loan.patron_key != pkey:
        return _refuse(ctx, where, "This item is not on loan to you", pkey)
    if request.patron_password:
        record, problem = await verify_patron(
            ctx, home, request.patron_identifier, request.patron_password, pkey
        )
        if record is None:
            return _refuse(ctx, where, problem, pkey)
    renewed, problem = await _renew_loan(ctx, loan)
    if problem or renewed is None:
        return _refuse(ctx, where, problem, pkey)
    response = _answer(RenewResponse, ctx, request, renewed, renewed.screen_messages)
    return Outcome(response, patron=pkey)


async def renew_all(ctx: RequestContext, where: Route, request: RenewAllRequest) -> Outcome:
    """Renew everything: at home (forwarded), then each reciprocal loan at its owner."""
    home = where.target
    assert home is not None
    answer = await forward(ctx, home, request)
    pkey = ctx.runtime.patron_key(home, request.patron_identifier)
    if not isinstance(answer, RenewAllResponse) or not answer.ok:
        return Outcome(answer, patron=pkey)
    loans = await ctx.runtime.store.active_loans(pkey)
    renewed: list[str] = []
    unrenewed: list[str] = []
    for loan in loans:
        try:
            outcome, problem = await _renew_loan(ctx, loan)
        except IlsError as exc:
            outcome, problem = None, f"{ctx.name(exc.member)} cannot be reached"
        if problem or outcome is None:
            unrenewed.append(f"{loan.item} {problem}")
        else:
            renewed.append(loan.item)
    if not loans:
        return Outcome(answer, patron=pkey)
    merged = replace(
        answer,
        renewed_count=answer.renewed_count + len(renewed),
        unrenewed_count=answer.unrenewed_count + len(unrenewed),
        renewed_items=answer.renewed_items + tuple(renewed),
        unrenewed_items=answer.unrenewed_items + tuple(unrenewed),
    )
    return Outcome(merged, patron=pkey)
