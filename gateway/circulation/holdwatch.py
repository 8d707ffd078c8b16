"""Title holds followed to their end: filled, withdrawn or expired.

A title hold the gateway places at a lender (``holds.place_title_hold``) is kept open
in the registry (``TitleHolds``) until one of:

* **Filled**: the copy is lent to the home library (a checkout through the gateway,
  seen by the outbox's consumer: ``LendingCounters.record_events``), counted as the
  request's filling with its turnaround.
  A periodic check here also asks the lender's ILS about the copy: out on loan with no
  hold queued any more means the lender lent it at its own desk (the hold was first in
  its queue, the copy on the shelf when it was placed, so no one else could borrow it):
  filled too, and counted returned at once, as its return will not pass through the
  gateway either (the registry has no loan for it: analytics' fill rate counts the
  gateway's loans only).
* **Withdrawn**: the lender no longer holds it (the copy gone from its catalogue, or back
  on the shelf with no hold queued), counted as withdrawn.
* **Expired**: not filled within ``HOLD_LIFETIME`` of being placed; the hold is
  closed, then cancelled at the lender (best effort) by the gateway that closed it,
  and counted as declined by the lender and unfilled for the home library.

A withdrawn or expired hold is also recorded in the refusal history (flow ``hold``,
code ``hold-withdrawn`` or ``hold-expired``), so the fill rate counts every title hold
that ended unfilled.  Closing a hold in the registry is atomic and happens once, so two
gateways checking the same holds count each end once.

``watch_title_holds`` runs the check every ``interval_s`` in the daemon's nursery; each
call to a lender is bounded by that lender's time-out, and a lender that cannot answer
leaves its holds open until the next check (or their expiry).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog
import trio

from adapters.errors import IlsError, IlsRequestInvalid
from adapters.state.base import RefusalRecord, StateUnavailable, TitleHold
from gateway.runtime.clock import utc_now
from protocols.sip2 import CirculationStatus, ItemInformationResponse

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from adapters.ils.base import ItemRecord
    from gateway.runtime.rules import Rules
    from gateway.runtime.services import Services

__all__ = [
    "CHECK_INTERVAL_S",
    "HOLD_LIFETIME",
    "HoldCheck",
    "check_title_holds",
    "new_title_hold",
    "watch_title_holds",
]

log = structlog.get_logger("interlend.holds")

HOLD_LIFETIME = timedelta(days=30)
"""How long a title hold may wait at a lender before it is given up (WorldShare ILL
lets lending requests expire after 30 days)."""
CHECK_INTERVAL_S = 900.0
"""How often the open holds are checked at their lenders."""
PARALLEL_CHECKS = 8
"""Lenders asked at once."""
WITHDRAWN = "hold-withdrawn"
EXPIRED = "hold-expired"
FILLED = "hold-filled"


def new_title_hold(
    *, home: str, lender: str, item: str, account: str, placed: datetime
) -> TitleHold:
    """A hold just placed, with its expiry."""
    return TitleHold(uuid.uuid4().hex, home, lender, item, account, placed, placed + HOLD_LIFETIME)


@dataclass
class HoldCheck:
    """What one check found: holds left open, filled at the lender's desk, withdrawn,
    expired, and not asked about (their lender could not answer)."""

    still_open: int = 0
    filled: int = 0
    withdrawn: int = 0
    expired: int = 0
    unanswered: int = 0


def seen_at_lender(record: ItemRecord) -> str | None:
    """How the lender's answer about the held copy ends the hold, if it does:
    ``withdrawn`` (unknown to its ILS, or on the shelf with no hold queued), ``filled``
    (out on loan with no hold queued: lent at the lender's desk), or ``None`` (anything
    else: on the hold shelf, in transit, still queued, or an ILS that does not say its
    queue, as NCIP's LookupItem here)."""
    if not record.found:
        return WITHDRAWN
    answer = record.response
    if not isinstance(answer, ItemInformationResponse) or answer.hold_queue_length != 0:
        return None
    if record.circulation_status == CirculationStatus.AVAILABLE:
        return WITHDRAWN
    if record.circulation_status == CirculationStatus.CHARGED:
        return FILLED
    return None


async def check_title_holds(rules: Rules, services: Services, *, now: datetime) -> HoldCheck:
    """Check every open title hold once (see the module documentation).

    Raises:
        StateUnavailable: The registry cannot be read.
    """
    found = HoldCheck()
    limiter = trio.CapacityLimiter(PARALLEL_CHECKS)

    async def check(hold: TitleHold) -> None:
        async with limiter:
            outcome = await _check_one(rules, services, hold, now)
        setattr(found, outcome, getattr(found, outcome) + 1)

    holds = await services.store.title_holds_open()
    async with trio.open_nursery() as nursery:
        for hold in holds:
            nursery.start_soon(check, hold)
    return found


async def _check_one(rules: Rules, services: Services, hold: TitleHold, now: datetime) -> str:
    """One hold's check; the name of the ``HoldCheck`` count it adds to."""
    handle = services.members.get(hold.lender)
    if now >= hold.expires:
        # Ended first: of the gateways checking the same holds, only the one that ends
        # it cancels it at the lender.
        closed = await _end(services, hold, EXPIRED, now)
        if closed and handle is not None and handle.holds is not None:
            timeout = rules.policy(hold.lender).ils.timeout_s
            try:
                await handle.holds.cancel_hold(hold.account, item=hold.item, timeout=timeout)
            except (IlsError, IlsRequestInvalid) as exc:
                log.warning(
                    "expired hold not cancelled at the lender",
                    lender=hold.lender,
                    item=hold.item,
                    detail=exc.detail,
                )
        return "expired"
    if handle is None:
        return "unanswered"  # the lender left the configuration: its holds wait to expire
    timeout = rules.policy(hold.lender).ils.timeout_s
    try:
        record = await handle.ils.item_information(hold.item, timeout=timeout)
    except (IlsError, IlsRequestInvalid) as exc:
        log.info("title hold not checked", lender=hold.lender, detail=exc.detail)
        return "unanswered"
    ended = seen_at_lender(record)
    if ended is None:
        return "still_open"
    await _end(services, hold, ended, now)
    return "filled" if ended == FILLED else "withdrawn"


async def _end(services: Services, hold: TitleHold, code: str, now: datetime) -> bool:
    """Close the hold once, count it and, unfilled, record it in the refusal history;
    whether this call closed it (another gateway may have closed it first: then nothing
    is counted here)."""
    outcome = {FILLED: "filled", WITHDRAWN: "withdrawn", EXPIRED: "expired"}[code]
    ended = await services.store.title_hold_end(hold.hold_id, outcome=outcome, at=now)
    if ended is None:
        return False
    log.info("title hold ended", lender=hold.lender, home=hold.home, outcome=code)
    if code == FILLED:
        # Lent at the lender's desk: its return will not pass through the gateway
        # either, so it is counted returned at once (no loan the counters cannot close).
        hours = max(0.0, (now - hold.placed).total_seconds() / 3600)
        await services.counters.record_hold_filled(hold.lender, hold.home, hours)
        await services.counters.record_return(hold.lender, hold.home)
        return True
    await services.counters.record_hold_ended(hold.lender, hold.home, expired=code == EXPIRED)
    try:
        await services.store.refusal_record(
            RefusalRecord(now, "hold", code, hold.home, hold.lender)
        )
    except StateUnavailable as exc:
        log.warning("refusal not recorded", code=code, detail=exc.detail)
    return True


async def watch_title_holds(
    current: Callable[[], tuple[Rules, Services]], *, interval_s: float = CHECK_INTERVAL_S
) -> None:
    """Check the open title holds every ``interval_s`` until cancelled (the rules and
    services in force are read at each check)."""
    while True:
        rules, services = current()
        try:
            found = await check_title_holds(rules, services, now=utc_now())
        except StateUnavailable as exc:
            log.warning("title holds not checked", detail=exc.detail)
        else:
            if found.withdrawn or found.expired:
                log.info("title holds checked", **vars(found))
        await trio.sleep(interval_s)
