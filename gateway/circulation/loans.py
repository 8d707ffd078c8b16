"""Loans the gateway makes between libraries: one sequence, for kiosks and NCIP peers alike.

``lend`` is *the* loan sequence; every loan between members goes through it, whether a
visitor borrows at a kiosk (``checkout``) or a library's resource-sharing system has the
owner lend to another library's institutional account (``lend_to_library``):

1. The registry's ``reserve``: the caps (the patron's at the owner and in all, the
   owner's quota of loans to visitors) checked and a slot held in one atomic step.  A
   request it has already committed (the kiosk resent it after a lost answer, the peer
   retried its RequestId) returns that loan, so nothing is lent twice; one still held
   by a gateway that died is finished here.
2. The owner's ILS lends the item to the account (the home library's proxy patron),
   with the consortium's due date where the ILS takes one.
3. The registry's ``commit`` makes the loan durable and queues its ledger event in the
   same step; only then is the caller told "ok".  If the commit fails the owner's loan
   is undone with a checkin, so there is never a loan the registry does not know.

A loan of an item under a jointly owned collection's last-copy commitment to a library
beyond the consortium that declared it is refused before anything else (``RETENTION``).

If the owner refuses, or fails before the request reached it, the slot is released.
When the request may have reached it and no answer came (a time-out, a connection lost
while waiting: ``IlsError.reached``), or the gateway cuts the request short (a drain at
shutdown), the owner may have lent the item: the slot stays held as unconfirmed
(listed at ``/api/loans/unconfirmed`` once its hold time is over, and finished by a
resend of the same request) and an error names the item and account for the desk.

``checkout`` is a reciprocal checkout: the PIN (or one confirmed for the session, unless
the owner's policy does not require it; an NCIP peer vouches for its patrons), the
patron's standing at home, the item where the owner's policy has non-circulating types
or locations, and the consortium's policy (``may_borrow``) come first; then, where
the home library's ILS asks for it, a temporary item there (``temporary``).

``renew`` renews a registry loan at its owner within ``visitor_renewals``;
``renew_reciprocal`` renews every reciprocal loan of a patron (after their home renewed
its own).  ``check_in`` returns an item at its owner through the neutral call and
``record_return`` closes the registry's loan (and removes a temporary item at home).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

import structlog
import trio

from adapters.errors import IlsError, IlsRequestInvalid
from adapters.ils.base import CheckinOutcome, CirculationOutcome
from adapters.state.base import CapExceeded, Loan, LoanKind, LoanRequest, StateUnavailable
from config.policy import may_borrow, may_renew, retention_refusal
from gateway.circulation.outcomes import (
    Refusal,
    RefusalCode,
    code_of_decision,
    refusal_for_failure,
)
from gateway.circulation.patrons import check_patron, standing
from gateway.circulation.refusals import record_refusal
from gateway.circulation.temporary import accept_at_home, remove_at_home

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from adapters.state.base import Reservation
    from gateway.circulation.call import Call

__all__ = [
    "DEFAULT_LOAN_DAYS",
    "INSTITUTIONAL_LOAN_DAYS",
    "Checkout",
    "LoanMade",
    "Renewed",
    "Returned",
    "check_in",
    "checkout",
    "lend",
    "lend_to_library",
    "record_return",
    "renew",
    "renew_reciprocal",
]

log = structlog.get_logger("interlend.loans")

DEFAULT_LOAN_DAYS = 21
INSTITUTIONAL_LOAN_DAYS = 28
"""A loan to another library's account, when the peer asks for no date."""
UNDO_TIMEOUT_S = 5.0
NOT_RECORDED = "The loan could not be recorded; please see the desk"

T = TypeVar("T")


@dataclass(frozen=True)
class LoanOrder:
    """What ``lend`` needs: who lends what to which account, under which caps."""

    owner: str
    home: str
    item: str
    patron_key: str
    account: str
    """The account at the owner the item is lent to (a proxy patron)."""
    idempotency_key: str
    due: datetime
    """The due date the consortium wants (the owner's ILS may set its own)."""
    cap_at_owner: int | None
    cap_total: int | None
    quota_at_owner: int | None
    kind: LoanKind = LoanKind.WALK_IN


@dataclass(frozen=True)
class LoanMade:
    """A loan made (or found made: ``existing``).

    Attributes:
        loan: The registry's loan (``due`` is the date recorded); ``None`` for a
            library's loan to its own patron, which the registry does not keep.
        owner_answer: The owner's ILS's answer (``None`` for an existing loan).
        existing: An earlier identical request had already made it.
    """

    loan: Loan | None
    owner_answer: CirculationOutcome | None
    existing: bool = False

    @property
    def due(self) -> datetime | None:
        """When the item is due back (the registry's date, else the owner's)."""
        if self.loan is not None:
            return self.loan.due
        return self.owner_answer.due if self.owner_answer is not None else None

    @property
    def title(self) -> str:
        """The item's title, as the owner gave it."""
        return self.owner_answer.title if self.owner_answer is not None else ""


def _cap_refusal(call: Call, owner: str, cap: CapExceeded) -> Refusal:
    if cap.scope == "owner":
        return Refusal(
            RefusalCode.CAP_AT_OWNER, f"Limit of {cap.cap} loans from {call.name(owner)} reached"
        )
    if cap.scope == "total":
        return Refusal(
            RefusalCode.CAP_TOTAL, f"Limit of {cap.cap} loans from other libraries reached"
        )
    return Refusal(
        RefusalCode.OWNER_QUOTA, f"{call.name(owner)} has no more items to lend to visitors now"
    )


async def lend(call: Call, order: LoanOrder) -> LoanMade | Refusal:
    """The loan sequence (see the module documentation).

    Raises:
        IlsError: The owner's ILS could not answer (the slot is released, or kept as
            unconfirmed when the owner may have acted).
        StateUnavailable: The registry could not hold the slot.
    """
    # A last-copy commitment keeps the item in its consortium, whoever asks.
    kept = retention_refusal(call.rules.consortium, order.item, order.home)
    if kept is not None:
        return Refusal(code_of_decision(kept.code), kept.reason)
    store = call.services.store
    reservation = await store.reserve(
        LoanRequest(
            owner=order.owner,
            home=order.home,
            item=order.item,
            patron_key=order.patron_key,
            proxy_patron=order.account,
            terminal=call.session.name,
            idempotency_key=order.idempotency_key,
            cap_at_owner=order.cap_at_owner,
            cap_total=order.cap_total,
            quota_at_owner=order.quota_at_owner,
            kind=order.kind,
        ),
        now=call.now,
    )
    if isinstance(reservation, CapExceeded):
        return _cap_refusal(call, order.owner, reservation)
    if reservation.existing is not None:
        return LoanMade(reservation.existing, None, existing=True)
    lent = await _lend_at_owner(call, order, reservation)
    if not lent.ok:
        await store.release(reservation)
        reason = (
            " ".join(lent.screen_messages) or f"{call.name(order.owner)} could not lend this item"
        )
        return Refusal(RefusalCode.LOAN_REFUSED, reason, lent)
    try:
        # Lent at the owner: the commit (bounded by the store's own time-out) is not cut
        # short by a caller giving up, or the loan would be lent and not recorded.
        with trio.CancelScope(shield=True):
            recorded = _recorded_due(order.owner, order.item, order.due, lent)
            loan = await store.commit(reservation, due=recorded, now=call.now)
    except Exception:
        log.exception("the loan could not be recorded; undoing it at the owner", owner=order.owner)
        await _undo(call, order.owner, order.item)
        with trio.CancelScope(shield=True):
            await store.release(reservation)
        return Refusal(RefusalCode.NOT_RECORDED, NOT_RECORDED)
    log.debug("loan recorded", loan=loan.loan_id, owner=order.owner, home=order.home)
    return LoanMade(loan, lent)


async def _lend_at_owner(
    call: Call, order: LoanOrder, reservation: Reservation
) -> CirculationOutcome:
    try:
        return await call.member(order.owner).ils.checkout(
            order.account, order.item, due=order.due, timeout=call.budget(order.owner)
        )
    except BaseException as exc:
        if isinstance(exc, trio.Cancelled) or (isinstance(exc, IlsError) and exc.reached):
            # The owner may have lent the item: the slot stays held (it counts against
            # the caps and is listed at /api/loans/unconfirmed once its hold time is
            # over), and a resend of the same request finishes it.
            log.error(
                "checkout outcome unknown: check the proxy account at the owner",
                owner=order.owner,
                item=order.item,
                proxy=order.account,
                why="cancelled by the gateway"
                if isinstance(exc, trio.Cancelled)
                else "no answer from the owner",
                detail=exc.detail if isinstance(exc, IlsError) else None,
            )
        else:
            with trio.CancelScope(shield=True):
                await call.services.store.release(reservation)
        raise


def _recorded_due(owner: str, item: str, wanted: datetime, outcome: CirculationOutcome) -> datetime:
    """The due date the registry records: the one the owner's ILS set (the caller is
    told it), which differs from the consortium's ``wanted`` where the ILS applies its
    own loan period; the consortium's when the ILS's cannot be read."""
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


async def _undo(call: Call, owner: str, item: str) -> None:
    with trio.CancelScope(shield=True):
        try:
            await call.member(owner).ils.checkin(
                item, call.session.location or "", timeout=UNDO_TIMEOUT_S
            )
        except (IlsError, IlsRequestInvalid) as exc:
            log.error(
                "the unrecorded loan could not be undone: check the item at the owner",
                owner=owner,
                item=item,
                detail=exc.detail,
            )


@dataclass(frozen=True)
class Checkout:
    """A visitor's checkout at a kiosk, or a peer's CheckOutItem for a patron.

    Attributes:
        home: The patron's home library.
        owner: The item's owner.
        barcode: The patron's card.
        item: The item's barcode.
        pin: The PIN sent, if any.
        sent: What makes a resend recognisable: the kiosk's transaction date (or the
            request's time), or the peer's RequestId (``Call.request_key`` wins).
    """

    home: str
    owner: str
    barcode: str
    item: str
    pin: str | None
    sent: str


async def checkout(call: Call, request: Checkout) -> LoanMade | Refusal:
    """A reciprocal checkout (see the module documentation); a refusal is recorded in
    the refusal history (``refusals.py``).

    Raises:
        IlsError: The home or the owner ILS could not answer.
        StateUnavailable: The registry could not be used.
    """
    home, owner = request.home, request.owner
    if home == owner:
        return await _lend_own(call, owner, request.barcode, request.item)
    return await _recorded(call, "checkout", home, owner, _checkout(call, request))


async def _recorded(
    call: Call, flow: str, home: str, owner: str | None, run: Awaitable[T | Refusal]
) -> T | Refusal:
    """Run a flow between libraries and record its refusal, or the refusal for the
    member that could not answer (then raised as before)."""
    try:
        result = await run
    except (IlsError, IlsRequestInvalid) as exc:
        await record_refusal(
            call, refusal_for_failure(exc, call.rules), flow=flow, home=home, owner=owner
        )
        raise
    if isinstance(result, Refusal):
        await record_refusal(call, result, flow=flow, home=home, owner=owner)
    return result


async def _checkout(call: Call, request: Checkout) -> LoanMade | Refusal:
    home, owner = request.home, request.owner
    rules = call.rules
    circulation = rules.policy(owner).circulation
    record = await check_patron(
        call, home, request.barcode, request.pin, require_pin=circulation.require_pin
    )
    if isinstance(record, Refusal):
        return record
    item_type = location = None
    if circulation.non_circulating_item_types or circulation.non_circulating_locations:
        item = await call.member(owner).ils.item_information(
            request.item, timeout=call.budget(owner)
        )
        if not item.found:
            return Refusal(RefusalCode.ITEM_UNKNOWN, f"Item not recognised by {call.name(owner)}")
        item_type, location = item.media_type, item.permanent_location
    # The caps are left to the registry's reserve, which checks them atomically.
    decision = may_borrow(
        rules.consortium,
        home,
        owner,
        standing=standing(record),
        item_type=item_type,
        location=location,
        item=request.item,
    )
    if not decision.allowed or decision.proxy_patron is None:
        return Refusal(code_of_decision(decision.code), decision.reason)
    pkey = call.patron_key(home, request.barcode)
    sent = call.request_key or request.sent
    made = await lend(
        call,
        LoanOrder(
            owner=owner,
            home=home,
            item=request.item,
            patron_key=pkey,
            account=decision.proxy_patron,
            idempotency_key=f"{call.session.name}\x1f{pkey}\x1f{request.item}\x1f{sent}",
            due=call.now + timedelta(days=decision.loan_days or DEFAULT_LOAN_DAYS),
            cap_at_owner=circulation.loan_cap_per_owner,
            cap_total=rules.policy(home).circulation.loan_cap_total,
            quota_at_owner=circulation.visitor_loan_quota,
        ),
    )
    if isinstance(made, LoanMade) and made.loan is not None and not made.existing:
        await accept_at_home(call, made.loan, request.barcode, made.title)
    return made


async def _lend_own(call: Call, library: str, barcode: str, item: str) -> LoanMade | Refusal:
    """A library lends its item to its own patron (the ILS's own rules apply; the
    registry keeps only loans between libraries)."""
    lent = await call.member(library).ils.checkout(
        barcode, item, due=None, timeout=call.budget(library)
    )
    if not lent.ok:
        reason = " ".join(lent.screen_messages) or f"{call.name(library)} could not lend this item"
        return Refusal(RefusalCode.LOAN_REFUSED, reason, lent)
    return LoanMade(None, lent)


async def lend_to_library(
    call: Call,
    *,
    owner: str,
    borrower: str,
    item: str,
    account: str,
    request_id: str | None,
    due: datetime | None,
) -> LoanMade | Refusal:
    """The owner lends ``item`` to another library's institutional account (an
    inter-library loan asked by the owner's resource-sharing system).

    Without a ``request_id`` each request stands alone: no retry can be recognised.
    """
    key = request_id or f"{item}:{call.now.isoformat()}:{uuid.uuid4().hex}"
    made = lend(
        call,
        LoanOrder(
            owner=owner,
            home=borrower,
            item=item,
            patron_key=call.patron_key(borrower, account),
            account=account,
            idempotency_key=f"ncip\x1f{call.session.name}\x1f{key}",
            due=due or call.now + timedelta(days=INSTITUTIONAL_LOAN_DAYS),
            cap_at_owner=None,
            cap_total=None,
            quota_at_owner=call.rules.policy(owner).circulation.visitor_loan_quota,
            kind=LoanKind.LIBRARY_LOAN,
        ),
    )
    return await _recorded(call, "lend", borrower, owner, made)


@dataclass(frozen=True)
class Renewed:
    """A loan renewed at its owner (``loan`` is ``None`` for a library's own loan)."""

    loan: Loan | None
    due: datetime | None
    owner_answer: CirculationOutcome


async def _renew_loan(call: Call, loan: Loan) -> Renewed | Refusal:
    decision = may_renew(call.rules.consortium, loan.home, loan.owner, loan.renewals)
    if not decision.allowed:
        return Refusal(code_of_decision(decision.code), decision.reason)
    wanted = call.now + timedelta(days=decision.loan_days or DEFAULT_LOAN_DAYS)
    renewed = await call.member(loan.owner).ils.renew(
        loan.proxy_patron, loan.item, due=wanted, timeout=call.budget(loan.owner)
    )
    if not renewed.ok:
        reason = " ".join(renewed.screen_messages) or "Renewal refused"
        return Refusal(RefusalCode.RENEWAL_REFUSED, reason, renewed)
    due = _recorded_due(loan.owner, loan.item, wanted, renewed)
    await call.services.store.renew(loan.owner, loan.item, due=due, now=call.now)
    return Renewed(loan, due, renewed)


async def renew(
    call: Call, *, home: str, owner: str, barcode: str, item: str | None, pin: str | None
) -> Renewed | Refusal:
    """A renewal: of a visitor's reciprocal loan at its owner (the PIN checked when one
    is given), or of a library's own loan at its ILS.

    Raises:
        IlsError: The home or the owner ILS could not answer.
        StateUnavailable: The registry could not be used.
    """
    pkey = call.patron_key(home, barcode)
    if not item:
        return Refusal(RefusalCode.ITEM_REQUIRED, "Please scan the item to renew it")
    if home == owner:  # the library's own loan: its ILS's rules
        renewed = await call.member(owner).ils.renew(barcode, item, timeout=call.budget(owner))
        if not renewed.ok:
            reason = " ".join(renewed.screen_messages) or "Renewal refused"
            return Refusal(RefusalCode.RENEWAL_REFUSED, reason, renewed)
        return Renewed(None, renewed.due, renewed)
    return await _recorded(
        call, "renew", home, owner, _renew_visitor(call, home, owner, pkey, barcode, item, pin)
    )


async def _renew_visitor(
    call: Call, home: str, owner: str, pkey: str, barcode: str, item: str, pin: str | None
) -> Renewed | Refusal:
    loan = await call.services.store.active_loan(owner, item)
    if loan is None or loan.patron_key != pkey:
        return Refusal(RefusalCode.NOT_ON_LOAN_TO_PATRON, "This item is not on loan to you")
    if pin:
        record = await check_patron(call, home, barcode, pin, require_pin=True)
        if isinstance(record, Refusal):
            return record
    return await _renew_loan(call, loan)


@dataclass(frozen=True)
class RenewedAll:
    """The reciprocal loans of a patron renewed, and those not (with why)."""

    renewed: tuple[str, ...]
    unrenewed: tuple[tuple[str, str], ...]
    """Items not renewed, each with the reason."""


async def renew_reciprocal(call: Call, patron_key: str) -> RenewedAll:
    """Renew every reciprocal loan of a patron at its owner; a loan whose owner cannot
    be reached is listed as not renewed.

    Raises:
        StateUnavailable: The registry could not be read.
    """
    renewed: list[str] = []
    unrenewed: list[tuple[str, str]] = []
    for loan in await call.services.store.active_loans(patron_key):
        try:
            done = await _renew_loan(call, loan)
        except (IlsError, IlsRequestInvalid) as exc:
            unrenewed.append((loan.item, f"{call.name(exc.member)} cannot be reached"))
            continue
        if isinstance(done, Refusal):
            unrenewed.append((loan.item, done.reason))
        else:
            renewed.append(loan.item)
    return RenewedAll(tuple(renewed), tuple(unrenewed))


@dataclass(frozen=True)
class Returned:
    """An item back at its owner, and the registry's loan it closed (if any)."""

    owner_answer: CheckinOutcome
    loan: Loan | None


async def record_return(call: Call, owner: str, item: str) -> Loan | None:
    """Close the registry's loan of an item its owner took back (and remove the
    temporary item at the home library); a registry that cannot be reached leaves the
    loan open until the item's next checkin or checkout closes it (logged)."""
    try:
        loan = await call.services.store.close(owner, item, now=call.now)
    except StateUnavailable as exc:
        log.error("checkin not recorded in the registry", owner=owner, item=item, detail=exc.detail)
        return None
    if loan is not None:
        await remove_at_home(call, loan)
    return loan


async def check_in(call: Call, *, owner: str, item: str, location: str) -> Returned | Refusal:
    """Return ``item`` at its owner through the neutral call, and record it.

    Raises:
        IlsError: The owner's ILS could not answer.
    """
    answer = await call.member(owner).ils.checkin(item, location, timeout=call.budget(owner))
    if not answer.ok:
        reason = " ".join(answer.screen_messages) or "The item could not be checked in"
        return Refusal(RefusalCode.RETURN_REFUSED, reason, answer)
    return Returned(answer, await record_return(call, owner, item))
