"""A hold by title (SIP2 15 with AJ and no item; NCIP RequestItem by bibliographic id)
that the patron's own library cannot fill: the gateway chooses the lender.

1. Discovery finds the members holding the title (or ISBN) and which have a copy on
   the shelf; the consortium's lender-selection strategy ranks them for the patron's
   home library (``gateway/network/lenders.py``).
2. If the home library holds the title itself, the hold is its business: the request
   goes home as it always did (local first).
3. Otherwise the patron is checked at home first, as for a checkout (the PIN, or a
   patron verified earlier on the connection; found; standing), and the hold is
   placed, in the ranked order, at the first lender that the policy lets this patron
   borrow from, whose ILS has a copy on the shelf (just confirmed live) and accepts
   the hold: a hold on that copy for the home library's proxy account, so the item
   travels to the home library.  Lenders are asked over SIP2 (15); a lender whose ILS
   speaks NCIP is skipped for now.  The first lender to accept is counted as assigned
   in the lending counters.
4. No holder, or none that accepts: the kiosk is told so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from adapters.errors import IlsError, IlsRequestInvalid
from config.policy import PatronStanding, may_borrow
from gateway.circulation.pins import verify_patron
from gateway.network.discovery import normalize_isbn
from gateway.network.lenders import rank_lenders
from gateway.sip2.forwarding import forward
from gateway.sip2.responses import refusal
from protocols.sip2 import HoldMode, HoldRequest, HoldResponse

if TYPE_CHECKING:
    from collections.abc import Callable

    from gateway.circulation.context import RequestContext
    from gateway.network.discovery import HoldingsIndex

__all__ = ["hold_by_title"]

log = structlog.get_logger("interlend.holds")

NO_LENDER = "No library in the consortium can lend this title now"


async def hold_by_title(
    ctx: RequestContext, home: str, request: HoldRequest, holdings: Callable[[], HoldingsIndex]
) -> HoldResponse | None:
    """The answer to a title hold the gateway placed or refused; ``None`` when the
    request is not a title hold for another library (normal routing applies)."""
    title = (request.title_identifier or "").strip()
    if request.item_identifier or not title or request.hold_mode is not HoldMode.ADD:
        return None
    runtime = ctx.runtime
    barcode, pin = request.patron_identifier, request.patron_password or None
    pkey = runtime.patron_key(home, barcode)
    require_pin = runtime.consortium.policy(home).circulation.require_pin
    if pin is None and pkey not in ctx.session.verified and require_pin:
        return _refused(ctx, request, "Please enter your PIN")
    record, problem = await verify_patron(ctx, home, barcode, pin, pkey)
    if record is None:
        return _refused(ctx, request, problem)
    standing = PatronStanding(
        patron_type=record.patron_type,
        fines=record.fines,
        expired=record.expired,
        blocked=record.blocked,
    )
    isbn = normalize_isbn(title)
    ranked = await rank_lenders(
        runtime,
        holdings(),
        runtime.lending_counters,
        requester=home,
        title=None if isbn else title,
        isbn=isbn,
    )
    results = ranked["discovery"]["results"]
    if any(r["member"] == home for r in results):
        return None  # the home library holds it: its own ILS takes the hold
    # Only copies the owner's ILS has just confirmed on the shelf are asked for.
    copies: dict[str, str] = {}
    for result in results:
        if result["source"] == "live" and result["available"] is True:
            copies.setdefault(result["member"], result["item"])
    rota = [entry["member"] for entry in ranked["ranking"]["rota"]]
    refusals: list[str] = []
    for lender in (m for m in rota if m in copies):
        decision = may_borrow(runtime.consortium, home, lender, standing=standing)
        if not decision.allowed or decision.proxy_patron is None:
            refusals.append(decision.reason)
            continue
        proxy = decision.proxy_patron
        placed = HoldRequest(
            hold_mode=HoldMode.ADD,
            transaction_date=ctx.now,
            pickup_location=request.pickup_location,
            patron_identifier=proxy,
            item_identifier=copies[lender],
            title_identifier=title,
        )
        try:
            answer = await forward(ctx, lender, placed)
        except (IlsError, IlsRequestInvalid) as exc:
            log.warning("lender could not be asked", lender=lender, detail=exc.detail)
            continue
        if isinstance(answer, HoldResponse) and answer.ok:
            await runtime.lending_counters.record_request(home, lender)
            return HoldResponse(
                ok=True,
                available=False,
                transaction_date=ctx.now,
                queue_position=answer.queue_position,
                pickup_location=request.pickup_location,
                institution_id=request.institution_id,
                patron_identifier=request.patron_identifier,
                item_identifier=copies[lender],
                title_identifier=title,
                screen_messages=(
                    f"Requested from {runtime.name(lender)}; "
                    f"it will be sent to {runtime.name(home)}",
                ),
            )
        log.info("lender declined a title hold", lender=lender)
    # With one reason for every holder (blocked, fines…), that reason is the answer.
    return _refused(ctx, request, refusals[0] if len(set(refusals)) == 1 else NO_LENDER)


def _refused(ctx: RequestContext, request: HoldRequest, reason: str) -> HoldResponse:
    response = refusal(request, reason, ctx.now)
    assert isinstance(response, HoldResponse)
    return response
