"""Reconciliation: the loan registry compared with each owner's ILS (``interlend reconcile``).

The registry and the owners' ILSs can drift apart: an item returned through the
library's own desk (the gateway never heard of it), a checkin that reached the owner
while Redis was down, a checkout whose answer was lost (its slot stays held as
unconfirmed).  Each active loan and each unconfirmed hold is checked against the
owner's ILS through the neutral ``item_information`` (SIP2 17, NCIP LookupItem):

* an active loan whose item the ILS shows **charged** agrees; one it shows back in
  the library (available, on the hold shelf, waiting to be reshelved, in transit, in
  process) was **returned**: with ``fix`` the registry closes it (appending the
  checkin to the outbox, as any checkin does);
* an unconfirmed hold whose item the ILS shows **charged** was **lent** (the answer
  was lost): with ``fix`` the held slot is committed as a loan, due when the ILS says
  (else after the owner's ``visitor_loan_days``); one the ILS shows on the shelf was
  **not lent**: with ``fix`` the slot is released;
* anything else (an item the ILS does not know, lost, missing, claimed returned, a
  status it does not give, an ILS that does not answer) is listed for a person and
  never changed.

Limits: SIP2's item information does not say *who* holds an item, so a charged item
is taken to be charged to the loan's account.  A held slot is finished through
``reserve`` with its own request, which hands back the held slot (the registry's
idempotency), so a gateway finishing the same slot at the same moment cannot make a
second loan.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog
import trio

from adapters.errors import IlsError
from adapters.ils.base import ItemRecord
from adapters.state.base import Loan, LoanRequest, Reservation
from protocols.sip2 import CirculationStatus

if TYPE_CHECKING:
    from collections.abc import Mapping

    from adapters.ils.base import MemberIls
    from adapters.state.base import StateStore

__all__ = [
    "Finding",
    "HoldCheck",
    "LoanCheck",
    "Reconciliation",
    "reconcile",
]

log = structlog.get_logger("interlend.reconcile")

CHARGED = frozenset(
    {
        CirculationStatus.CHARGED,
        CirculationStatus.CHARGED_NOT_TO_BE_RECALLED,
        CirculationStatus.RECALLED,
    }
)
"""Statuses saying the item is out on loan."""
IN_LIBRARY = frozenset(
    {
        CirculationStatus.AVAILABLE,
        CirculationStatus.WAITING_ON_HOLD_SHELF,
        CirculationStatus.WAITING_TO_BE_RESHELVED,
        CirculationStatus.IN_TRANSIT,
        CirculationStatus.IN_PROCESS,
    }
)
"""Statuses saying the item is back with the library (not on loan to anyone)."""

CONCURRENCY = 8
"""Items asked about at once, over all owners (each client keeps its own bulkhead too)."""


class Finding(enum.Enum):
    """What the owner's ILS says about a registry loan or an unconfirmed hold."""

    AGREES = "agrees"
    RETURNED = "returned at the owner"
    LENT = "lent at the owner"
    NOT_LENT = "not lent at the owner"
    UNKNOWN_ITEM = "unknown to the owner"
    UNCLEAR = "unclear: check by hand"
    UNREACHABLE = "the owner's ILS did not answer"

    @property
    def fixable(self) -> bool:
        """``--fix`` acts on it."""
        return self in (Finding.RETURNED, Finding.LENT, Finding.NOT_LENT)


@dataclass(frozen=True)
class LoanCheck:
    """An active registry loan and what its owner's ILS says."""

    loan: Loan
    finding: Finding
    status: int | None = None
    detail: str = ""
    fixed: bool = False


@dataclass(frozen=True)
class HoldCheck:
    """An unconfirmed held slot and what its owner's ILS says."""

    request: LoanRequest
    finding: Finding
    status: int | None = None
    detail: str = ""
    fixed: bool = False
    loan: Loan | None = None
    """The loan the slot was committed as (``LENT`` with ``fix``)."""


@dataclass
class Reconciliation:
    """Every check, in the registry's order (owner, then oldest first)."""

    loans: list[LoanCheck] = field(default_factory=list)
    holds: list[HoldCheck] = field(default_factory=list)

    @property
    def disagreements(self) -> list[LoanCheck | HoldCheck]:
        """Checks that did not agree and were not fixed."""
        checks: list[LoanCheck | HoldCheck] = [*self.loans, *self.holds]
        return [c for c in checks if c.finding is not Finding.AGREES and not c.fixed]


@dataclass(frozen=True)
class _Asked:
    record: ItemRecord | None
    error: str = ""


async def _ask(ils: MemberIls | None, owner: str, item: str, timeout: float) -> _Asked:
    if ils is None:
        return _Asked(None, f"{owner} is not a library of this configuration")
    try:
        return _Asked(await ils.item_information(item, timeout=timeout))
    except IlsError as exc:
        return _Asked(None, exc.detail)


def _status(record: ItemRecord) -> CirculationStatus | None:
    if record.circulation_status is None:
        return None
    try:
        return CirculationStatus(record.circulation_status)
    except ValueError:
        return None


def _classify(asked: _Asked, *, for_hold: bool) -> tuple[Finding, int | None, str]:
    record = asked.record
    if record is None:
        return Finding.UNREACHABLE, None, asked.error
    if not record.found:
        return Finding.UNKNOWN_ITEM, None, "the ILS does not know the item"
    status = _status(record)
    number = record.circulation_status
    if status in CHARGED:
        return (Finding.LENT if for_hold else Finding.AGREES), number, ""
    if status in IN_LIBRARY:
        name = status.name.lower().replace("_", " ") if status is not None else ""
        return (Finding.NOT_LENT if for_hold else Finding.RETURNED), number, name
    shown = f"status {number:02d}" if number is not None else "no circulation status"
    if status is not None:
        shown += f" ({status.name.lower().replace('_', ' ')})"
    return Finding.UNCLEAR, number, shown


async def _check_loan(
    store: StateStore,
    loan: Loan,
    ils: MemberIls | None,
    *,
    fix: bool,
    now: datetime,
    timeout: float,
) -> LoanCheck:
    finding, status, detail = _classify(
        await _ask(ils, loan.owner, loan.item, timeout), for_hold=False
    )
    fixed = False
    if fix and finding is Finding.RETURNED:
        # Only this loan: the item may have been returned and lent again through the
        # gateway while its owner was being asked.
        closed = await store.close(loan.owner, loan.item, now=now, loan_id=loan.loan_id)
        fixed = closed is not None
        if fixed:
            log.info(
                "reconcile closed a loan the owner shows returned",
                loan=loan.loan_id,
                owner=loan.owner,
                item=loan.item,
                status=status,
            )
        else:
            detail = "closed meanwhile: not changed"
    return LoanCheck(loan, finding, status, detail, fixed)


async def _check_hold(
    store: StateStore,
    request: LoanRequest,
    ils: MemberIls | None,
    *,
    fix: bool,
    now: datetime,
    timeout: float,
    loan_days: int,
) -> HoldCheck:
    asked = await _ask(ils, request.owner, request.item, timeout)
    finding, status, detail = _classify(asked, for_hold=True)
    if not fix or finding not in (Finding.LENT, Finding.NOT_LENT):
        return HoldCheck(request, finding, status, detail)
    # The held slot comes back from reserve with the request's own idempotency key.
    reservation = await store.reserve(request, now=now)
    if not isinstance(reservation, Reservation):  # pragma: no cover - a key's hold wins
        return HoldCheck(request, finding, status, "the registry refused the slot")
    if reservation.existing is not None:
        # Its gateway finished the slot while the owner was being asked (a resend).
        if finding is Finding.LENT:
            return HoldCheck(request, Finding.AGREES, status, loan=reservation.existing)
        detail = "finished as a loan meanwhile: not changed"
        return HoldCheck(request, finding, status, detail, loan=reservation.existing)
    if finding is Finding.NOT_LENT:
        await store.release(reservation)
        log.info(
            "reconcile released a slot the owner never lent",
            owner=request.owner,
            item=request.item,
        )
        return HoldCheck(request, finding, status, detail, fixed=True)
    record = asked.record
    due = record.due if record is not None and record.due is not None else None
    due = due or now + timedelta(days=loan_days)
    loan = await store.commit(reservation, due=due, now=now)
    log.info(
        "reconcile committed a slot the owner lent",
        loan=loan.loan_id,
        owner=request.owner,
        item=request.item,
    )
    return HoldCheck(request, finding, status, detail, fixed=True, loan=loan)


async def reconcile(
    store: StateStore,
    members: Mapping[str, MemberIls],
    *,
    owners: tuple[str, ...],
    fix: bool,
    now: datetime,
    timeouts: Mapping[str, float],
    loan_days: Mapping[str, int],
) -> Reconciliation:
    """Check every active loan and unconfirmed hold of ``owners`` against their ILS.

    Args:
        store: The registry.
        members: Each library's ILS client, by member id.
        owners: The owners whose loans and holds are checked.
        fix: Close returned loans, commit lent slots and release slots not lent.
        now: The time written on what ``fix`` changes.
        timeouts: Each owner's time allowed for one item lookup.
        loan_days: Each owner's loan period for visitors (a lent slot's due date when
            its ILS gives none).

    Raises:
        StateUnavailable: The registry cannot be read or written.
    """
    loans = [loan for owner in owners for loan in await store.owner_active_loans(owner)]
    wanted = set(owners)
    holds = [r for r in await store.unconfirmed(now=now) if r.owner in wanted]
    result = Reconciliation(
        loans=[LoanCheck(x, Finding.AGREES) for x in loans],
        holds=[HoldCheck(r, Finding.AGREES) for r in holds],
    )
    limiter = trio.CapacityLimiter(CONCURRENCY)

    async def loan_task(index: int, loan: Loan) -> None:
        async with limiter:
            result.loans[index] = await _check_loan(
                store,
                loan,
                members.get(loan.owner),
                fix=fix,
                now=now,
                timeout=timeouts.get(loan.owner, 10.0),
            )

    async def hold_task(index: int, request: LoanRequest) -> None:
        async with limiter:
            result.holds[index] = await _check_hold(
                store,
                request,
                members.get(request.owner),
                fix=fix,
                now=now,
                timeout=timeouts.get(request.owner, 10.0),
                loan_days=loan_days.get(request.owner, 21),
            )

    async with trio.open_nursery() as nursery:
        for index, loan in enumerate(loans):
            nursery.start_soon(loan_task, index, loan)
        for index, request in enumerate(holds):
            nursery.start_soon(hold_task, index, request)
    return result
