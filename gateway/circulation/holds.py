"""Holds: a title the patron's own library cannot fill goes to the lender the gateway
chooses; a hold on an item goes to the patron's library.

**By title** (``place_title_hold``: SIP2 15 with AJ and no item; NCIP RequestItem by
bibliographic id):

1. Discovery finds the members holding the title (or ISBN) and which have a copy on
   the shelf; the consortium's lender-selection strategy ranks them for the patron's
   home library (``gateway/network/lenders.py``).  A copy under a last-copy commitment
   its consortium keeps from the home library is never asked for.
2. If the home library holds a copy that may be on its shelf, the hold is its
   business: ``None`` is returned and the caller places it at home (local first).  A
   title the home library holds only on loan (its ILS just said every copy is out) goes
   to a lender; only when no lender takes it does it wait at home (``None`` again).
3. Otherwise the patron is checked at home first, as for a checkout (the PIN, or a
   patron verified earlier in the session; found; standing), and the hold is placed,
   in the ranked order, at the first lender that the policy lets this patron borrow
   from, whose ILS has a copy on the shelf (just confirmed live) and accepts the hold:
   a hold on that copy for the home library's proxy account, so the item travels to the
   home library.  The first lender to accept is counted as assigned in the lending
   counters, and the hold is kept open in the registry until it is filled, withdrawn
   or expired (``holdwatch.py``).  Lenders are asked through their ILS's holds (SIP2 15 or NCIP
   RequestItem); a lender whose client places no holds is passed over.
4. No holder, or none that accepts: the refusal says so (with the one reason every
   holder gave, when they all gave the same).

**On an item, or at home** (``place_hold_at_home``, ``cancel_hold_at_home``: an NCIP
peer's RequestItem and CancelRequestItem): the hold is placed at the patron's home
library for the patron; an item of another library is refused with a pointer to the
desk, as a kiosk's is.  A kiosk's own holds at its library pass through as SIP2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from adapters.errors import IlsError, IlsRequestInvalid
from adapters.ils.base import HoldOutcome
from adapters.state.base import StateUnavailable
from config.policy import may_borrow, retention_refusal
from gateway.circulation.holdwatch import new_title_hold
from gateway.circulation.outcomes import Refusal, RefusalCode, code_of_decision
from gateway.circulation.patrons import check_patron, standing
from gateway.circulation.refusals import record_refusal
from gateway.network.discovery import normalize_isbn
from gateway.network.lenders import rank_lenders
from gateway.network.results import CopyAvailability, FoundCopy, Lookup
from gateway.runtime.directory import MemberDirectory

if TYPE_CHECKING:
    from gateway.circulation.call import Call

__all__ = [
    "ASK_AT_DESK",
    "NO_LENDER",
    "HoldPlaced",
    "cancel_hold_at_home",
    "place_hold_at_home",
    "place_title_hold",
]

log = structlog.get_logger("interlend.holds")

NO_LENDER = "No library in the consortium can lend this title now"
ASK_AT_DESK = "Ask at the desk to request items from other libraries"


@dataclass(frozen=True)
class HoldPlaced:
    """A hold placed for a patron.

    Attributes:
        library: Where it was placed (a lender, or the patron's home).
        item: The copy it is on, if the ILS names one.
        title: The title asked for.
        message: What to tell the patron.
        answer: The ILS's answer.
    """

    library: str
    item: str | None
    title: str | None
    message: str
    answer: HoldOutcome


async def place_title_hold(
    call: Call,
    *,
    home: str,
    barcode: str,
    pin: str | None,
    title: str,
    pickup_location: str | None,
) -> HoldPlaced | Refusal | None:
    """A hold by title the patron's library cannot fill (see the module documentation);
    ``None`` when the home library holds the title itself.  A refusal is recorded in
    the refusal history, with no lender (several may have been asked).

    Raises:
        IlsError: The home library's ILS could not answer.
    """
    placed = await _place_title_hold(
        call, home=home, barcode=barcode, pin=pin, title=title, pickup_location=pickup_location
    )
    if isinstance(placed, Refusal):
        await record_refusal(call, placed, flow="hold", home=home, owner=None)
    return placed


async def _place_title_hold(
    call: Call,
    *,
    home: str,
    barcode: str,
    pin: str | None,
    title: str,
    pickup_location: str | None,
) -> HoldPlaced | Refusal | None:
    rules, services = call.rules, call.services
    require_pin = rules.policy(home).circulation.require_pin
    record = await check_patron(call, home, barcode, pin, require_pin=require_pin)
    if isinstance(record, Refusal):
        return record
    isbn = normalize_isbn(title)
    ranked = await rank_lenders(
        MemberDirectory(call.rules, call.services),
        services.holdings,
        services.counters,
        requester=home,
        title=None if isbn else title,
        isbn=isbn,
        loans=services.store,
    )
    found = ranked.discovery.holdings
    at_home = [copy for copy in found if copy.member == home]
    if any(_may_be_on_the_shelf(copy) for copy in at_home):
        return None  # the home library may have it on the shelf: its own ILS takes it
    # Only copies the owner's ILS has just confirmed on the shelf are asked for, and
    # never a last copy its consortium keeps from this patron's library (the lender
    # would send it there).
    copies: dict[str, str] = {}
    refusals: list[Refusal] = []
    for copy in found:
        if copy.availability is not CopyAvailability.AVAILABLE:
            continue
        kept = retention_refusal(rules.consortium, copy.item, home)
        if kept is not None:
            refusals.append(Refusal(code_of_decision(kept.code), kept.reason))
            continue
        copies.setdefault(copy.member, copy.item)
    rota = ranked.ranking.members
    for lender in (m for m in rota if m in copies):
        decision = may_borrow(rules.consortium, home, lender, standing=standing(record))
        if not decision.allowed or decision.proxy_patron is None:
            refusals.append(Refusal(code_of_decision(decision.code), decision.reason))
            continue
        holds = call.member(lender).holds
        if holds is None:
            continue
        try:
            answer = await holds.place_hold(
                decision.proxy_patron,
                item=copies[lender],
                title=title,
                pickup_location=pickup_location,
                timeout=call.budget(lender),
            )
        except (IlsError, IlsRequestInvalid) as exc:
            log.warning("lender could not be asked", lender=lender, detail=exc.detail)
            continue
        if answer.ok:
            await services.counters.record_request(home, lender)
            await _follow(call, home, lender, copies[lender], decision.proxy_patron)
            return HoldPlaced(
                lender,
                copies[lender],
                title,
                f"Requested from {call.name(lender)}; it will be sent to {call.name(home)}",
                answer,
            )
        log.info("lender declined a title hold", lender=lender)
    if at_home:
        return None  # no lender can send it: the hold waits at home for a copy there
    # With one reason for every holder (blocked, fines…), that reason is the answer.
    if len(set(refusals)) == 1:
        return refusals[0]
    return Refusal(RefusalCode.NO_LENDER, NO_LENDER)


async def _follow(call: Call, home: str, lender: str, item: str, account: str) -> None:
    """Keep the hold open in the registry, to be followed to its end (``holdwatch``);
    a registry that cannot take it is logged (the hold stands at the lender)."""
    hold = new_title_hold(home=home, lender=lender, item=item, account=account, placed=call.now)
    try:
        await call.services.store.title_hold_open(hold)
    except StateUnavailable as exc:
        log.warning("title hold not followed", lender=lender, detail=exc.detail)


def _may_be_on_the_shelf(copy: FoundCopy) -> bool:
    """A copy at home keeps the hold there unless its ILS just said it is out (or no
    longer knows it)."""
    if copy.lookup is Lookup.NOT_FOUND:
        return False
    return copy.availability is not CopyAvailability.UNAVAILABLE


async def place_hold_at_home(
    call: Call,
    *,
    home: str,
    barcode: str,
    item: str | None,
    title: str | None,
    pickup_location: str | None,
) -> HoldPlaced | Refusal:
    """A hold for a patron at their own library, on one of its items (or a title).

    Raises:
        IlsError: The home library's ILS could not answer.
        IlsRequestInvalid: A value the home ILS cannot take.
    """
    if item is not None and call.rules.consortium.owner_of(item) not in (None, home):
        return Refusal(RefusalCode.ASK_AT_DESK, ASK_AT_DESK)
    holds = call.member(home).holds
    if holds is None:
        return Refusal(
            RefusalCode.NOT_SUPPORTED, f"{call.name(home)}'s system does not take holds here"
        )
    answer = await holds.place_hold(
        barcode, item=item, title=title, pickup_location=pickup_location, timeout=call.budget(home)
    )
    if not answer.ok:
        reason = " ".join(answer.screen_messages) or "The hold was not placed"
        return Refusal(RefusalCode.HOLD_REFUSED, reason, answer)
    return HoldPlaced(home, answer.item or item, title, "Hold placed", answer)


async def cancel_hold_at_home(
    call: Call, *, home: str, barcode: str, item: str
) -> HoldOutcome | Refusal:
    """Cancel a patron's hold on an item at their own library.

    Raises:
        IlsError: The home library's ILS could not answer.
        IlsRequestInvalid: A value the home ILS cannot take.
    """
    holds = call.member(home).holds
    if holds is None:
        return Refusal(
            RefusalCode.NOT_SUPPORTED, f"{call.name(home)}'s system does not take holds here"
        )
    answer = await holds.cancel_hold(barcode, item=item, timeout=call.budget(home))
    if not answer.ok:
        reason = " ".join(answer.screen_messages) or "The hold was not cancelled"
        return Refusal(RefusalCode.CANCEL_REFUSED, reason, answer)
    return answer
