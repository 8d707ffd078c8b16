"""Patrons: the PIN gate, the check at home, and what a lookup may show.

**The PIN gate.**  A PIN can be guessed through any message whose answer tells whether
it was right: SIP2 23 and 63 say so outright (``CQY``/``CQN``), and a checkout,
renewal or hold refused for a wrong PIN says so in its screen text.  So every request
that names a patron and may carry a PIN passes ``admit`` before it is served (the SIP2
edge for 23, 63, 11, 29, 15, 65 and 25; the NCIP edge for the services carried out as
them):

1. **Locked patrons are refused whatever they send.**  After ``pin_attempts`` wrong
   PINs within ``pin_window_s`` (counted per patron in the shared state store, so
   across gateways: ``PinGuard``) the patron's requests are refused without the home
   ILS being asked, with the right PIN, a wrong one or none: a patron locked out cannot
   confirm a PIN on 23 and then borrow with an empty one either.
2. **A PIN whose answer cannot say it was wrong is checked first.**  A request that
   goes to the patron's library as it is and whose answer has no ``CQ`` carries the PIN
   to the home ILS as a patron lookup first, unless the PIN was already confirmed for
   this session; a wrong one is counted and refused there.  The flows that check the
   patron themselves (reciprocal loans, renewals, title holds: ``verify``) skip this.
3. **Lookups are counted from their answer** (``record_answer``): a patron the home ILS
   knows, with a wrong PIN, is counted; a right one marks the patron verified for the
   session and clears earlier wrong ones.

A patron unknown to the home ILS is never counted: there is nobody to protect, and
counting would let anyone fill the store with made-up cards.

**Lookups** (``after_lookup``): what a patron's lookup may show, and whether a visitor
may borrow here.  The items a patron has out (and the contact details) are shown only
to the patron (PIN verified) or a staff desk; a visitor's standing at home meets the
consortium's policy (``may_borrow``) with the reciprocal loans they hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters.ils.base import PatronRecord
from adapters.state.base import Loan
from config.policy import PatronStanding, may_borrow
from gateway.circulation.outcomes import Refusal, RefusalCode, code_of_decision

if TYPE_CHECKING:
    from gateway.circulation.call import Call

__all__ = [
    "PIN_REQUIRED",
    "TOO_MANY_PINS",
    "WRONG_PIN",
    "PatronView",
    "admit",
    "after_lookup",
    "look_up",
    "record_answer",
    "standing",
    "verify",
]

TOO_MANY_PINS = "Too many wrong PINs; please try again later or see the desk"
WRONG_PIN = "Incorrect PIN"
PIN_REQUIRED = "Please enter your PIN"

_LOCKED = Refusal(RefusalCode.PIN_LOCKED, TOO_MANY_PINS)


def standing(record: PatronRecord) -> PatronStanding:
    """What the policy engine needs of a home library's record."""
    return PatronStanding(
        patron_type=record.patron_type,
        fines=record.fines,
        expired=record.expired,
        blocked=record.blocked,
    )


async def _locked(call: Call, pkey: str) -> bool:
    services, settings = call.services, call.rules.settings
    if not await services.pins.locked(services.store, pkey, attempts=settings.pin_attempts):
        return False
    call.session.verified.discard(pkey)
    services.pins.counts["refused"] += 1
    return True


async def admit(
    call: Call, home: str, barcode: str, pin: str | None, *, checked_by_answer: bool
) -> Refusal | None:
    """Apply the PIN gate to a request naming ``barcode`` of ``home``.

    Args:
        pin: The PIN sent with the request, if any.
        checked_by_answer: The request's answer says whether the PIN was right (a
            lookup), or its flow checks the patron itself: no check first.

    Returns:
        ``None`` to serve the request, or the refusal to answer with.
    """
    pkey = call.patron_key(home, barcode)
    if await _locked(call, pkey):
        return _LOCKED
    if not pin or checked_by_answer or pkey in call.session.verified:
        return None
    found = await verify(call, home, barcode, pin)
    if isinstance(found, Refusal) and found.code in (RefusalCode.PIN_WRONG, RefusalCode.PIN_LOCKED):
        return found
    return None  # unknown patrons and ILSs that do not check PINs: the ILS answers


async def record_answer(call: Call, pkey: str, record: PatronRecord) -> None:
    """Count what a lookup said of the PIN it was asked about (see the module docs)."""
    if not record.found:
        return
    services = call.services
    if record.pin_ok:
        call.session.verified.add(pkey)
        await services.pins.succeeded(services.store, pkey)
    elif record.pin_ok is False:
        call.session.verified.discard(pkey)
        settings = call.rules.settings
        count = await services.pins.failed(services.store, pkey, window_s=settings.pin_window_s)
        services.pins.counts["wrong"] += 1
        if count == settings.pin_attempts:
            services.pins.counts["locked"] += 1


async def verify(call: Call, home: str, barcode: str, pin: str | None) -> PatronRecord | Refusal:
    """Ask the home ILS about the patron, checking ``pin`` when one is given.

    Raises:
        IlsError: The home ILS could not answer.
    """
    pkey = call.patron_key(home, barcode)
    if await _locked(call, pkey):
        return _LOCKED
    ils = call.member(home).ils
    record = await ils.patron_status(barcode, pin, timeout=call.budget(home))
    if not record.found:
        return Refusal(
            RefusalCode.PATRON_UNKNOWN, f"Library card not recognised by {call.name(home)}"
        )
    if pin is not None:
        await record_answer(call, pkey, record)
        if record.pin_ok is False:
            return Refusal(RefusalCode.PIN_WRONG, WRONG_PIN)
    return record


async def check_patron(
    call: Call, home: str, barcode: str, pin: str | None, *, require_pin: bool
) -> PatronRecord | Refusal:
    """The check a flow makes before it acts for a patron: a PIN, or one confirmed for
    this session (unless the policy does not require one), and the home ILS's record."""
    pkey = call.patron_key(home, barcode)
    if pin is None and require_pin and pkey not in call.session.verified:
        if await _locked(call, pkey):
            return _LOCKED
        return Refusal(RefusalCode.PIN_REQUIRED, PIN_REQUIRED)
    return await verify(call, home, barcode, pin)


@dataclass(frozen=True)
class PatronView:
    """What a patron's lookup may show, and the visitor's standing here.

    Attributes:
        record: The home ILS's record.
        patron_key: The patron's keyed hash.
        private: The items out and contact details must not be shown (the PIN was
            not verified, and the asker is not a staff desk).
        loans: The patron's reciprocal loans in the registry (read only when shown or
            counted).
        refusal: Why a visitor may not borrow at the asker's library, if so.
    """

    record: PatronRecord
    patron_key: str
    private: bool
    loans: tuple[Loan, ...]
    refusal: Refusal | None


async def after_lookup(
    call: Call, home: str, barcode: str, record: PatronRecord, *, pin_given: bool, lists: bool
) -> PatronView:
    """Count the PIN (when one was given), and decide what the lookup may show and
    whether a visitor may borrow at the session's library.

    Args:
        record: The home ILS's answer.
        pin_given: A PIN was sent with the lookup.
        lists: The lookup shows the patron's items (63, not 23): the registry's
            reciprocal loans are read for it.
    """
    pkey = call.patron_key(home, barcode)
    if pin_given:
        await record_answer(call, pkey, record)
    private = not (pkey in call.session.verified or call.session.staff)
    member = call.session.member
    visiting = member is not None and home != member
    wants_loans = lists and not private
    loans = tuple(await call.services.store.active_loans(pkey)) if wants_loans or visiting else ()
    refusal = None
    if visiting:
        assert member is not None
        decision = may_borrow(
            call.rules.consortium,
            home,
            member,
            standing=standing(record),
            loans_at_owner=sum(1 for loan in loans if loan.owner == member),
            loans_total=len(loans),
        )
        if not decision.allowed:
            refusal = Refusal(code_of_decision(decision.code), decision.reason)
    return PatronView(record, pkey, private, loans if wants_loans else (), refusal)


async def look_up(
    call: Call, home: str, barcode: str, pin: str | None, *, lists: bool = False
) -> PatronView | Refusal:
    """A patron's lookup at their home ILS through its neutral calls (the NCIP edge's
    LookupUser; a kiosk's 23/63 for a home whose ILS speaks NCIP), PIN gate included.

    Raises:
        IlsError: The home ILS could not answer.
        StateUnavailable: The registry could not be read.
    """
    refused = await admit(call, home, barcode, pin, checked_by_answer=True)
    if refused is not None:
        return refused
    ils = call.member(home).ils
    record = await ils.patron_status(barcode, pin, timeout=call.budget(home))
    if not record.found:
        return Refusal(
            RefusalCode.PATRON_UNKNOWN, f"Library card not recognised by {call.name(home)}"
        )
    return await after_lookup(call, home, barcode, record, pin_given=pin is not None, lists=lists)
