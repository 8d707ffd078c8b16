"""Who should lend: discovery's holders of a title ranked by a lender-selection strategy.

``rank_lenders`` asks discovery (the holdings index and the members' ILSs, live) which
members hold the title and whether a copy is on the shelf, reads the lending counters,
and ranks the holders with the consortium's strategy (``fair-share`` by default, B8 in
``gateway/network/selection``), with each candidate's explanation: a
``LenderRanking`` (``gateway/network/results.py``).

The counters are fed by the loans made between members, as the registry's outbox
reports them to its consumer (``record_events``, called by the ledger worker or the
pump, so the request path pays nothing): a reciprocal or inter-library checkout counts
as a request of the home library assigned to, and filled by, the owner; its checkin as
the loan's return.  Events are counted when first read; one read by a gateway that died
before counting it is not counted again.  With the Redis state store every gateway of
the consortium shares the counters (``selection.shared.StoreSelectionCounters``); in
memory they are this gateway's own.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, assert_never

import structlog

from adapters.ledger.base import LoanEvent, LoanEventKind
from adapters.state.base import StateUnavailable
from gateway.network.discovery import discover
from gateway.network.results import CopyAvailability, LenderRanking
from gateway.network.selection import (
    Availability,
    Candidate,
    LendingRequest,
    MemorySelectionCounters,
    SelectionCounters,
    Snapshot,
    make_strategy,
    profiles_from_consortium,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from adapters.state.base import TitleHold, TitleHolds
    from gateway.network.discovery import Directory, HoldingsIndex

__all__ = ["LendingCounters", "candidate_availability", "rank_lenders"]

log = structlog.get_logger("interlend.lenders")


class LendingCounters:
    """The gateway's lending counters and the two events circulation reports."""

    def __init__(self, counters: SelectionCounters | None = None) -> None:
        self.counters: SelectionCounters = counters or MemorySelectionCounters()

    # The counters inform later choices; a loan or a return already made is never
    # reported as failed because they could not be updated (the store was away).

    async def record_loan(self, owner: str, home: str) -> None:
        """A loan from ``owner`` to a patron (or the library) ``home`` was made."""
        now = time.time()
        try:
            await self.counters.record_requested(home, now=now)
            await self.counters.record_assigned(owner, now=now)
            await self.counters.record_filled(owner, home, turnaround_hours=0.0, now=now)
        except StateUnavailable as exc:
            log.warning("lending counters not updated", owner=owner, home=home, detail=exc.detail)

    async def record_return(self, owner: str, home: str) -> None:
        """That loan came back."""
        try:
            await self.counters.record_returned(owner, home, now=time.time())
        except StateUnavailable as exc:
            log.warning("lending counters not updated", owner=owner, home=home, detail=exc.detail)

    async def record_events(
        self, events: Iterable[LoanEvent], *, holds: TitleHolds | None = None
    ) -> None:
        """Loans made and returned, as the outbox reports them: the counters are fed by
        the outbox's consumer (the ledger worker or the pump), off the request path.

        With ``holds``, a checkout of a copy held at its owner for the borrowing library
        fills that title hold: the request was counted when the hold was placed, so
        only its filling is counted now, with the hold's turnaround.
        """
        for event in events:
            if event.owner == event.home:
                continue  # a library's own loan is not lending between members
            if event.kind is LoanEventKind.CHECKOUT:
                hold = await self._filled_hold(holds, event)
                if hold is None:
                    await self.record_loan(event.owner, event.home)
                else:
                    hours = max(0.0, (event.at - hold.placed).total_seconds() / 3600)
                    await self.record_hold_filled(hold.lender, hold.home, hours)
            elif event.kind is LoanEventKind.CHECKIN:
                await self.record_return(event.owner, event.home)

    async def _filled_hold(self, holds: TitleHolds | None, event: LoanEvent) -> TitleHold | None:
        if holds is None:
            return None
        try:
            return await holds.title_hold_fill(event.owner, event.item, event.home, at=event.at)
        except StateUnavailable as exc:
            log.warning("title hold not followed", item=event.item, detail=exc.detail)
            return None

    async def record_hold_filled(self, lender: str, home: str, turnaround_hours: float) -> None:
        """A title hold placed at ``lender`` for ``home`` was filled."""
        try:
            await self.counters.record_filled(
                lender, home, turnaround_hours=turnaround_hours, now=time.time()
            )
        except StateUnavailable as exc:
            log.warning("lending counters not updated", lender=lender, home=home, detail=exc.detail)

    async def record_hold_ended(self, lender: str, home: str, *, expired: bool) -> None:
        """A title hold placed at ``lender`` for ``home`` ended unfilled: it expired (the
        lender did not fill it: as declined, and the request unfilled), or it was
        withdrawn at the lender."""
        now = time.time()
        try:
            if expired:
                await self.counters.record_declined(lender, now=now)
                await self.counters.record_unfilled(home, now=now)
            else:
                await self.counters.record_withdrawn(home, lender, now=now)
        except StateUnavailable as exc:
            log.warning("lending counters not updated", lender=lender, home=home, detail=exc.detail)

    async def record_request(self, home: str, lender: str) -> None:
        """A request of ``home``'s patron was sent to ``lender`` (a hold by title)."""
        now = time.time()
        try:
            await self.counters.record_requested(home, now=now)
            await self.counters.record_assigned(lender, now=now)
        except StateUnavailable as exc:
            log.warning("lending counters not updated", lender=lender, home=home, detail=exc.detail)


async def rank_lenders(
    runtime: Directory,
    index: HoldingsIndex,
    counters: LendingCounters,
    *,
    requester: str,
    title: str | None = None,
    isbn: str | None = None,
    strategy: str | None = None,
) -> LenderRanking:
    """The holders of a title or ISBN, ranked for ``requester``."""
    found = await discover(runtime, index, title=title, isbn=isbn)
    best: dict[str, Availability] = {}
    for copy in found.holdings:
        if best.get(copy.member) is not Availability.AVAILABLE:
            best[copy.member] = candidate_availability(copy.availability)
    candidates = tuple(Candidate(member=m, availability=a) for m, a in sorted(best.items()))
    members = sorted({*best, requester})
    now = time.time()
    reading = await counters.counters.read(members, now=now)
    snapshot = Snapshot(
        now=now,
        profiles=profiles_from_consortium(runtime.consortium),
        reading=reading,
        offline=frozenset(u.member for u in found.unreachable),
    )
    request = LendingRequest(
        id=f"{requester}:{title or isbn}", requester=requester, candidates=candidates
    )
    ranking = make_strategy(strategy or "fair-share").rank(request, snapshot)
    return LenderRanking(found, ranking)


def candidate_availability(copy: CopyAvailability) -> Availability:
    """A found copy's availability as lender selection reads it: a copy its ILS gave
    any status but on the shelf counts as checked out (no due date known)."""
    match copy:
        case CopyAvailability.AVAILABLE:
            return Availability.AVAILABLE
        case CopyAvailability.UNAVAILABLE:
            return Availability.CHECKED_OUT
        case CopyAvailability.UNKNOWN:
            return Availability.UNKNOWN
    assert_never(copy)
