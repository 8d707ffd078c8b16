"""The in-memory state store: the embedded default (one process, nothing kept).

Under trio one task runs at a time and no method awaits inside its critical section,
so each method is atomic with respect to every other task, as the protocol requires.
It follows the same contract as the Redis store (one test suite runs against both);
the lending counters' arithmetic is in ``selection.py``.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import trio

from adapters.ledger.base import LoanEvent, LoanEventKind

from .base import (
    UNCONFIRMED_KEPT_S,
    CapExceeded,
    ClosedHold,
    Loan,
    LoanRequest,
    LoanState,
    OutboxEntry,
    PendingBatch,
    RefusalRecord,
    Reservation,
    SelectionEvent,
    SelectionTallies,
    TitleHold,
    entry_order,
)
from .selection import SelectionCounters

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from adapters.ledger.records import Receipt

__all__ = ["MemoryStateStore"]


@dataclass
class _Held:
    request: LoanRequest
    since: datetime


@dataclass
class _Pending:
    event: LoanEvent
    consumer: str | None = None
    read_at: float = 0.0


class MemoryStateStore:
    """A ``StateBackend`` in the process's memory.

    Args:
        history: Returned loans kept for ``recent_loans`` (oldest dropped first).
        hold_ttl_s: How long a held slot counts against the caps.
        unconfirmed_kept_s: How long a slot held past ``hold_ttl_s`` is listed by
            ``unconfirmed`` before it expires (see ``UNCONFIRMED_KEPT_S``).
        refusal_history: Refusals, and closed title holds, kept for analytics (the
            oldest dropped first).
    """

    def __init__(
        self,
        history: int = 10_000,
        *,
        hold_ttl_s: float = 300.0,
        unconfirmed_kept_s: float = UNCONFIRMED_KEPT_S,
        refusal_history: int = 10_000,
    ) -> None:
        self._loans: OrderedDict[str, Loan] = OrderedDict()
        self._active_by_item: dict[tuple[str, str], str] = {}
        self._held: dict[str, _Held] = {}
        self._held_by_key: dict[str, str] = {}
        self._by_key: dict[str, str] = {}
        self._key_of: dict[str, str] = {}
        self._history = history
        self._hold_ttl = timedelta(seconds=hold_ttl_s)
        self._hold_life = self._hold_ttl + timedelta(seconds=unconfirmed_kept_s)
        self._outbox: OrderedDict[str, _Pending] = OrderedDict()
        self._sequence = itertools.count(1)
        self._arrived = trio.Event()
        self._buckets: dict[str, tuple[int, float]] = {}
        self._batches: dict[str, PendingBatch] = {}
        self._receipts: dict[str, dict[str, Receipt]] = {}
        self._salts: dict[str, dict[str, bytes]] = {}
        self._sessions: dict[str, tuple[dict[str, str], float]] = {}
        self._breakers: dict[tuple[str, str], tuple[float, str]] = {}
        self._selection = SelectionCounters()
        self._refusals: list[tuple[datetime, int, RefusalRecord]] = []
        self._refusal_history = refusal_history
        self._refusal_seq = itertools.count()
        self._title_holds: dict[str, TitleHold] = {}
        self._closed_holds: list[tuple[datetime, int, ClosedHold]] = []

    # --- the registry --------------------------------------------------------------------

    def _expire_holds(self, now: datetime) -> None:
        """Forget holds listed as unconfirmed for long enough (as Redis expires them)."""
        for token in [t for t, h in self._held.items() if now - h.since >= self._hold_life]:
            key = self._held.pop(token).request.idempotency_key
            if self._held_by_key.get(key) == token:
                del self._held_by_key[key]

    def _live_holds(self, now: datetime) -> list[LoanRequest]:
        return [h.request for h in self._held.values() if now - h.since < self._hold_ttl]

    def _counts(self, request: LoanRequest, now: datetime) -> tuple[int, int, int]:
        active = [self._loans[i] for i in self._active_by_item.values()]
        held = self._live_holds(now)
        mine = [x for x in active if x.patron_key == request.patron_key]
        mine_held = [r for r in held if r.patron_key == request.patron_key]
        at_owner = sum(1 for x in mine if x.owner == request.owner) + sum(
            1 for r in mine_held if r.owner == request.owner
        )
        out = sum(1 for x in active if x.owner == request.owner) + sum(
            1 for r in held if r.owner == request.owner
        )
        return at_owner, len(mine) + len(mine_held), out

    async def reserve(self, request: LoanRequest, *, now: datetime) -> Reservation | CapExceeded:
        """Check caps and hold a slot (idempotent by ``request.idempotency_key``)."""
        self._expire_holds(now)
        done = self._by_key.get(request.idempotency_key)
        if done is not None and self._is_active(done):
            # A resend answers with its loan while the loan is open only.
            return Reservation("", request, existing=self._loans[done])
        token = self._held_by_key.get(request.idempotency_key)
        if token is not None and token in self._held:
            # A retry of a request still held: hand the slot back to be finished.
            self._held[token].since = now
            return Reservation(token, self._held[token].request)
        current = self._active_by_item.get((request.owner, request.item))
        if current is not None and self._loans[current].patron_key == request.patron_key:
            # Checking out an item the patron already has renews it at the ILS.
            return Reservation("", request, existing=self._loans[current])
        at_owner, total, out = self._counts(request, now)
        if request.cap_at_owner is not None and at_owner >= request.cap_at_owner:
            return CapExceeded("owner", request.cap_at_owner, at_owner)
        if request.cap_total is not None and total >= request.cap_total:
            return CapExceeded("total", request.cap_total, total)
        if request.quota_at_owner is not None and out >= request.quota_at_owner:
            return CapExceeded("quota", request.quota_at_owner, out)
        token = uuid.uuid4().hex
        self._held[token] = _Held(request, now)
        self._held_by_key[request.idempotency_key] = token
        self._by_key.pop(request.idempotency_key, None)  # the key now names this hold
        return Reservation(token, request)

    def _is_active(self, loan_id: str) -> bool:
        loan = self._loans.get(loan_id)
        return loan is not None and loan.state is LoanState.ACTIVE

    async def commit(self, reservation: Reservation, *, due: datetime, now: datetime) -> Loan:
        """Make the held slot an active loan (a repeat commit returns the same loan)."""
        if reservation.existing is not None:
            return reservation.existing
        done = self._by_key.get(reservation.request.idempotency_key)
        if done is not None and done in self._loans:
            return self._loans[done]
        held = self._held.pop(reservation.token, None)
        request = held.request if held is not None else reservation.request
        self._held_by_key.pop(request.idempotency_key, None)
        previous = self._active_by_item.get((request.owner, request.item))
        if previous is not None:
            # The item was still registered to someone else (a missed checkin): close it.
            self._loans[previous] = dataclasses.replace(
                self._loans[previous], state=LoanState.RETURNED, returned=now
            )
            self._append(LoanEventKind.CHECKIN, self._loans[previous], now)
        loan = Loan(
            loan_id=uuid.uuid4().hex,
            owner=request.owner,
            home=request.home,
            item=request.item,
            patron_key=request.patron_key,
            proxy_patron=request.proxy_patron,
            terminal=request.terminal,
            checked_out=now,
            due=due,
            kind=request.kind,
        )
        self._loans[loan.loan_id] = loan
        self._active_by_item[(loan.owner, loan.item)] = loan.loan_id
        self._by_key[request.idempotency_key] = loan.loan_id
        self._key_of[loan.loan_id] = request.idempotency_key
        self._append(LoanEventKind.CHECKOUT, loan, now)
        self._trim()
        return loan

    async def release(self, reservation: Reservation) -> None:
        """Give the held slot back."""
        held = self._held.pop(reservation.token, None)
        if held is not None:
            self._held_by_key.pop(held.request.idempotency_key, None)

    async def renew(self, owner: str, item: str, *, due: datetime, now: datetime) -> Loan | None:
        """Record a renewal."""
        loan_id = self._active_by_item.get((owner, item))
        if loan_id is None:
            return None
        loan = dataclasses.replace(
            self._loans[loan_id], due=due, renewals=self._loans[loan_id].renewals + 1
        )
        self._loans[loan_id] = loan
        self._append(LoanEventKind.RENEW, loan, now)
        return loan

    async def close(
        self, owner: str, item: str, *, now: datetime, loan_id: str | None = None
    ) -> Loan | None:
        """Close the active loan of the item (only ``loan_id``, when given)."""
        active = self._active_by_item.get((owner, item))
        if active is None or (loan_id is not None and active != loan_id):
            return None
        loan_id = self._active_by_item.pop((owner, item))
        loan = dataclasses.replace(self._loans[loan_id], state=LoanState.RETURNED, returned=now)
        self._loans[loan_id] = loan
        self._append(LoanEventKind.CHECKIN, loan, now)
        self._trim()
        return loan

    async def active_loan(self, owner: str, item: str) -> Loan | None:
        """The active loan of the item."""
        loan_id = self._active_by_item.get((owner, item))
        return self._loans[loan_id] if loan_id is not None else None

    async def active_loans(self, patron_key: str) -> list[Loan]:
        """The patron's active loans, oldest first."""
        loans = (self._loans[i] for i in self._active_by_item.values())
        return sorted((x for x in loans if x.patron_key == patron_key), key=lambda x: x.checked_out)

    async def owner_active_loans(self, owner: str) -> list[Loan]:
        """The owner's active loans, oldest first."""
        loans = (self._loans[i] for (o, _), i in self._active_by_item.items() if o == owner)
        return sorted(loans, key=lambda x: x.checked_out)

    async def recent_loans(self, limit: int) -> list[Loan]:
        """The newest loans first."""
        return list(reversed(self._loans.values()))[:limit]

    async def loans_between(self, start: datetime, end: datetime) -> list[Loan]:
        """The loans checked out from ``start`` to ``end`` (excluded), oldest first."""
        found = (x for x in self._loans.values() if start <= x.checked_out < end)
        return sorted(found, key=lambda x: x.checked_out)

    async def loan(self, loan_id: str) -> Loan | None:
        """One loan by its id."""
        return self._loans.get(loan_id)

    async def unconfirmed(self, *, now: datetime) -> list[LoanRequest]:
        """Held slots older than the hold time and not yet expired, oldest first."""
        self._expire_holds(now)
        old = sorted(
            (h for h in self._held.values() if now - h.since >= self._hold_ttl),
            key=lambda h: h.since,
        )
        return [h.request for h in old]

    def _trim(self) -> None:
        while len(self._loans) > self._history + len(self._active_by_item):
            oldest = next(
                (i for i, x in self._loans.items() if x.state is LoanState.RETURNED), None
            )
            if oldest is None:
                return
            del self._loans[oldest]
            key = self._key_of.pop(oldest, "")
            if self._by_key.get(key) == oldest:  # not when the key has moved on to a new loan
                del self._by_key[key]
            # Memory is bounded: a loan's receipts go with it.
            self._receipts.pop(oldest, None)
            self._salts.pop(oldest, None)

    # --- the outbox ----------------------------------------------------------------------

    def _append(self, kind: LoanEventKind, loan: Loan, now: datetime) -> None:
        due = None if kind is LoanEventKind.CHECKIN else loan.due
        event = LoanEvent(
            kind, loan.loan_id, loan.owner, loan.home, loan.item, loan.patron_key, now, due
        )
        self._outbox[f"{next(self._sequence)}-0"] = _Pending(event)
        self._arrived.set()

    async def outbox_read(self, consumer: str, count: int, *, wait_s: float) -> list[OutboxEntry]:
        """New events for ``consumer``, waiting up to ``wait_s`` for one."""
        fresh = self._take(consumer, count)
        if fresh or wait_s <= 0:
            return fresh
        self._arrived = trio.Event()
        with trio.move_on_after(wait_s):
            await self._arrived.wait()
        return self._take(consumer, count)

    def _take(self, consumer: str, count: int) -> list[OutboxEntry]:
        taken: list[OutboxEntry] = []
        for entry_id, pending in self._outbox.items():
            if len(taken) >= count:
                break
            if pending.consumer is None:
                pending.consumer, pending.read_at = consumer, time.monotonic()
                taken.append(OutboxEntry(entry_id, pending.event))
        return taken

    async def outbox_reclaim(
        self, consumer: str, count: int, *, min_idle_s: float
    ) -> list[OutboxEntry]:
        """Events another consumer read but did not acknowledge within ``min_idle_s``."""
        cutoff = time.monotonic() - min_idle_s
        taken: list[OutboxEntry] = []
        for entry_id, pending in self._outbox.items():
            if len(taken) >= count:
                break
            if pending.consumer is not None and pending.read_at <= cutoff:
                pending.consumer, pending.read_at = consumer, time.monotonic()
                taken.append(OutboxEntry(entry_id, pending.event))
        return taken

    async def outbox_ack(self, entry_ids: Sequence[str]) -> None:
        """Drop recorded events."""
        for entry_id in entry_ids:
            self._outbox.pop(entry_id, None)

    async def outbox_pending(self) -> int:
        """Events not yet acknowledged."""
        return len(self._outbox)

    async def outbox_touch(self, consumer: str, entry_ids: Sequence[str]) -> list[str]:
        """Make the still unacknowledged events ``consumer``'s, idle from now."""
        kept: list[str] = []
        for entry_id in entry_ids:
            pending = self._outbox.get(entry_id)
            if pending is not None:
                pending.consumer, pending.read_at = consumer, time.monotonic()
                kept.append(entry_id)
        return kept

    # --- ledger batches and receipts -----------------------------------------------------

    async def save_batch(self, batch: PendingBatch) -> None:
        """Keep the member's pending batch."""
        self._batches[batch.member_id] = batch

    async def pending_batch(self, member_id: str) -> PendingBatch | None:
        """The member's pending batch."""
        return self._batches.get(member_id)

    async def clear_batch(self, member_id: str, root: bytes) -> None:
        """Forget the member's pending batch if it is the one with ``root``."""
        found = self._batches.get(member_id)
        if found is not None and found.root == root:
            del self._batches[member_id]

    async def put_receipts(self, receipts: Sequence[tuple[str, Receipt]]) -> None:
        """Store receipts by loan and event; salts apart."""
        for entry_id, receipt in receipts:
            self._receipts.setdefault(receipt.loan_id, {})[entry_id] = receipt.shredded()
            if receipt.salt is not None:
                self._salts.setdefault(receipt.loan_id, {})[entry_id] = receipt.salt

    async def receipts(self, loan_id: str) -> list[Receipt]:
        """The loan's receipts in event order, with their salts where kept."""
        found = self._receipts.get(loan_id, {})
        salts = self._salts.get(loan_id, {})
        return [
            dataclasses.replace(found[entry_id], salt=salts.get(entry_id))
            for entry_id in sorted(found, key=entry_order)
        ]

    async def shred_receipts(self, loan_id: str) -> int:
        """Delete the loan's salts."""
        return len(self._salts.pop(loan_id, {}))

    # --- throttles -----------------------------------------------------------------------

    async def count(self, bucket: str) -> int:
        """The live count of ``bucket``."""
        found = self._buckets.get(bucket)
        if found is None or found[1] <= time.monotonic():
            return 0
        return found[0]

    async def hit(self, bucket: str, *, window_s: float) -> int:
        """Add one to ``bucket`` (a fresh bucket expires ``window_s`` from now)."""
        clock = time.monotonic()
        found = self._buckets.get(bucket)
        if found is None or found[1] <= clock:
            found = (0, clock + window_s)
        self._buckets[bucket] = (found[0] + 1, found[1])
        if len(self._buckets) > 100_000:
            self._buckets = {k: v for k, v in self._buckets.items() if v[1] > clock}
        return found[0] + 1

    async def reset(self, bucket: str) -> None:
        """Forget ``bucket``."""
        self._buckets.pop(bucket, None)

    # --- sessions -------------------------------------------------------------------------

    def _live_sessions(self) -> dict[str, tuple[dict[str, str], float]]:
        clock = time.monotonic()
        self._sessions = {k: v for k, v in self._sessions.items() if v[1] > clock}
        return self._sessions

    async def session_open(self, session_id: str, info: Mapping[str, str], *, ttl_s: float) -> None:
        """Record a session."""
        self._live_sessions()[session_id] = (dict(info), time.monotonic() + ttl_s)

    async def session_touch(self, session_id: str, *, ttl_s: float) -> bool:
        """Keep a session alive."""
        found = self._live_sessions().get(session_id)
        if found is None:
            return False
        self._sessions[session_id] = (found[0], time.monotonic() + ttl_s)
        return True

    async def session_close(self, session_id: str) -> None:
        """Forget a session."""
        self._sessions.pop(session_id, None)

    async def sessions(self) -> list[dict[str, str]]:
        """The live sessions, soonest to expire first."""
        live = sorted(self._live_sessions().items(), key=lambda kv: kv[1][1])
        return [{**info, "id": sid} for sid, (info, _) in live]

    # --- shared breaker marks -----------------------------------------------------------

    async def breaker_open(self, member: str, endpoint: str, *, ttl_s: float, by: str) -> None:
        """Mark an endpoint down for ``ttl_s``."""
        self._breakers[(member, endpoint)] = (time.monotonic() + ttl_s, by)

    async def breakers(self, member: str, *, besides: str) -> dict[str, float]:
        """The live marks of ``member``'s endpoints set by other gateways."""
        clock = time.monotonic()
        self._breakers = {k: v for k, v in self._breakers.items() if v[0] > clock}
        return {
            e: until - clock
            for (m, e), (until, by) in self._breakers.items()
            if m == member and by != besides
        }

    # --- lending counters ------------------------------------------------------------------

    async def selection_update(
        self,
        event: SelectionEvent,
        *,
        lender: str | None,
        borrower: str | None,
        now: float,
        tau: float,
        turnaround_hours: float = 0.0,
        window: int = 20,
        consortium_window: int = 500,
    ) -> None:
        """Apply one lending event to the counters."""
        self._selection.update(
            event,
            lender=lender,
            borrower=borrower,
            now=now,
            tau=tau,
            turnaround_hours=turnaround_hours,
            window=window,
            consortium_window=consortium_window,
        )

    async def selection_read(self, members: Sequence[str]) -> SelectionTallies:
        """The counters of ``members`` and the consortium's turnarounds."""
        return self._selection.read(members)

    # --- refusal history -------------------------------------------------------------------

    async def refusal_record(self, record: RefusalRecord) -> None:
        """Keep a refusal in time order; past the bound the oldest goes."""
        bisect.insort(self._refusals, (record.at, next(self._refusal_seq), record))
        if len(self._refusals) > self._refusal_history:
            del self._refusals[: len(self._refusals) - self._refusal_history]

    async def refusals_between(self, start: datetime, end: datetime) -> list[RefusalRecord]:
        """The refusals kept from ``start`` to ``end`` (excluded), oldest first."""
        return [r for at, _, r in self._refusals if start <= at < end]

    # --- title holds -----------------------------------------------------------------------

    async def title_hold_open(self, hold: TitleHold) -> None:
        """Keep an open hold."""
        self._title_holds[hold.hold_id] = hold

    def _close_hold(self, hold_id: str, outcome: str, at: datetime) -> TitleHold | None:
        hold = self._title_holds.pop(hold_id, None)
        if hold is None:
            return None
        entry = (at, next(self._refusal_seq), ClosedHold(hold, outcome, at))
        bisect.insort(self._closed_holds, entry)
        if len(self._closed_holds) > self._refusal_history:
            del self._closed_holds[: len(self._closed_holds) - self._refusal_history]
        return hold

    async def title_hold_fill(
        self, lender: str, item: str, home: str, *, at: datetime
    ) -> TitleHold | None:
        """Close the oldest open hold on the copy for ``home`` as filled."""
        for hold in sorted(self._title_holds.values(), key=lambda h: (h.placed, h.hold_id)):
            if (hold.lender, hold.item, hold.home) == (lender, item, home):
                return self._close_hold(hold.hold_id, "filled", at)
        return None

    async def title_hold_end(self, hold_id: str, *, outcome: str, at: datetime) -> TitleHold | None:
        """Close one open hold."""
        return self._close_hold(hold_id, outcome, at)

    async def title_holds_open(self) -> list[TitleHold]:
        """The open holds, oldest placed first."""
        return sorted(self._title_holds.values(), key=lambda h: (h.placed, h.hold_id))

    async def title_holds_closed_between(self, start: datetime, end: datetime) -> list[ClosedHold]:
        """The holds that ended from ``start`` to ``end`` (excluded), oldest first."""
        return [c for at, _, c in self._closed_holds if start <= at < end]

    async def check(self) -> None:
        """Always answers: the store is this process."""
