"""A hold by title (SIP2 15 with AJ and no item; NCIP RequestItem by bibliographic id)
that the patron's own library cannot fill: the gateway chooses the lender.

1. Discovery finds the members holding the title (or ISBN) and which have a copy on
   the shelf; the consortium's lender-selection strategy ranks them for the patron's
   home library (``gateway/lenders.py``).
2. If the home library holds the title itself, the hold is its business: the request
   goes home as it always did (local first).
3. Otherwise the hold is placed, in the ranked order, at the first lender whose ILS
   accepts it: a hold on its copy for the home library's proxy account, so the item
   travels to the home library.  The first lender to accept is counted as assigned in
   the lending counters.
4. No holder, or none that accepts: the kiosk is told so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from adapters.errors import IlsError
from config.policy import proxy_patron
from protocols.sip2 import HoldMode, HoldRequest, HoldResponse

from .discovery import normalize_isbn
from .forwarding import forward
from .lenders import rank_lenders
from .responses import refusal

if TYPE_CHECKING:
    from collections.abc import Callable

    from .context import RequestContext
    from .discovery import HoldingsIndex

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
    copies: dict[str, str] = {}
    for result in results:
        if result["available"] is not False:
            copies.setdefault(result["member"], result["item"])
    rota = [entry["member"] for entry in ranked["ranking"]["rota"]]
    for lender in (m for m in rota if m in copies):
        proxy = proxy_patron(runtime.consortium, lender, home)
        if proxy is None:
            continue
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
        except IlsError as exc:
            log.warning("lender could not be asked", lender=lender, detail=exc.detail)
            continue
        if isinstance(answer, HoldResponse) and answer.ok:
            await runtime.lending_counters.counters.record_requested(home, now=_now(ctx))
            await runtime.lending_counters.counters.record_assigned(lender, now=_now(ctx))
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
    response = refusal(request, NO_LENDER, ctx.now)
    assert isinstance(response, HoldResponse)
    return response


def _now(ctx: RequestContext) -> float:
    return ctx.now.timestamp()
