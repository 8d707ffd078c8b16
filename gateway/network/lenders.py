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

**What the registry adds to discovery.** A member whose ILS gives no live status
(holdings only, or a lookup that missed discovery's time budget) still has one kind of
copy the gateway knows about: the ones it lent to another member itself.  The loan
registry holds each such loan and its due date, so before ranking, every copy that is
not on the shelf by its ILS's word is looked up there (``NetworkLoans``): a copy on a
loan the gateway made is out until that due date, whatever its ILS can say
(``lender_candidates``).  A member all of whose copies are out that way is a
checked-out candidate with a date, not an unknown one; one with a copy the gateway has
no word on stays unknown.  The registry being away costs only this knowledge: the
ranking goes on without it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, assert_never

import structlog
import trio

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
    from collections.abc import Iterable, Mapping

    from adapters.state.base import Loan, TitleHold, TitleHolds
    from gateway.network.discovery import Directory, HoldingsIndex
    from gateway.network.results import FoundCopy

__all__ = [
    "LendingCounters",
    "NetworkLoans",
    "candidate_availability",
    "lender_candidates",
    "network_loan_dues",
    "rank_lenders",
]

_DAY_S = 86400.0

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


class NetworkLoans(Protocol):
    """What lender ranking reads of the loan registry (the ``StateStore`` has it)."""

    async def active_loan(self, owner: str, item: str) -> Loan | None:
        """The gateway's active loan of ``owner``'s copy ``item``, if it made one."""
        ...


async def network_loan_dues(
    loans: NetworkLoans, copies: Iterable[FoundCopy]
) -> dict[tuple[str, str], datetime]:
    """The due date of every copy out on a loan the gateway made, by (member, item).

    Only copies whose ILS did not just say they are on the shelf are looked up (their
    owner's word on the shelf stands).  Raises ``StateUnavailable`` when the registry is
    away.
    """
    wanted = sorted(
        {(c.member, c.item) for c in copies if c.availability is not CopyAvailability.AVAILABLE}
    )
    dues: dict[tuple[str, str], datetime] = {}
    failed: list[StateUnavailable] = []

    async def look(member: str, item: str) -> None:
        try:
            loan = await loans.active_loan(member, item)
        except StateUnavailable as exc:
            failed.append(exc)
            return
        if loan is not None:
            dues[member, item] = loan.due

    async with trio.open_nursery() as nursery:
        for member, item in wanted:
            nursery.start_soon(look, member, item)
    if failed:
        raise failed[0]
    return dues


def lender_candidates(
    copies: Iterable[FoundCopy],
    lent: Mapping[tuple[str, str], datetime],
    *,
    now: datetime,
) -> tuple[Candidate, ...]:
    """One candidate per holding member, its status read from its copies.

    A member is ``AVAILABLE`` when its ILS just said a copy is on the shelf; else
    ``UNKNOWN`` when some copy has no live status and is not on a loan the gateway made
    (``lent``: due dates by (member, item)); else ``CHECKED_OUT``, due when its first
    copy is due back, if every copy's due date is known (a copy its ILS calls out
    without one leaves the date unknown).
    """
    by_member: dict[str, list[FoundCopy]] = {}
    for copy in copies:
        by_member.setdefault(copy.member, []).append(copy)
    candidates = []
    for member, held in sorted(by_member.items()):
        statuses = [candidate_availability(c.availability) for c in held]
        dues = [lent.get((member, c.item)) for c in held]
        if Availability.AVAILABLE in statuses:
            candidates.append(Candidate(member=member, availability=Availability.AVAILABLE))
        elif any(
            s is Availability.UNKNOWN and due is None for s, due in zip(statuses, dues, strict=True)
        ):
            candidates.append(Candidate(member=member, availability=Availability.UNKNOWN))
        else:
            known = [due for due in dues if due is not None]
            due_in_days = (
                (min(known) - now).total_seconds() / _DAY_S if len(known) == len(dues) else None
            )
            candidates.append(
                Candidate(
                    member=member, availability=Availability.CHECKED_OUT, due_in_days=due_in_days
                )
            )
    return tuple(candidates)


async def rank_lenders(
    runtime: Directory,
    index: HoldingsIndex,
    counters: LendingCounters,
    *,
    requester: str,
    title: str | None = None,
    isbn: str | None = None,
    strategy: str | None = None,
    loans: NetworkLoans | None = None,
) -> LenderRanking:
    """The holders of a title or ISBN, ranked for ``requester``.

    With ``loans`` (the registry), copies the gateway lent to another member count as
    checked out until their due date (see the module documentation).
    """
    found = await discover(runtime, index, title=title, isbn=isbn)
    lent: dict[tuple[str, str], datetime] = {}
    if loans is not None:
        try:
            lent = await network_loan_dues(loans, found.holdings)
        except StateUnavailable as exc:
            log.warning("network loans not read for lender ranking", detail=exc.detail)
    candidates = lender_candidates(found.holdings, lent, now=datetime.now(UTC))
    members = sorted({*(c.member for c in candidates), requester})
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
