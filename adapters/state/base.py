"""The loan registry's interface: reserve, commit, renew, close, and queries.

A reciprocal checkout touches the registry twice around the owner's ILS::

    reserve(request)   -> Reservation | CapExceeded     # caps checked, slot held
    … the owner's ILS lends the item …
    commit(reservation) -> Loan                          # or release(reservation)

``reserve`` checks the caps (loans per patron at the owner, per patron in all, and the
owner's quota of loans out to visitors, counting held reservations) and holds a slot
*in one atomic step*, so two gateways racing for a patron's last slot cannot both get
it.  It is idempotent: a request whose idempotency key (terminal, patron, item, and the
kiosk's AY/AZ or the NCIP RequestId) was already committed returns that loan *while the
loan is active*, and one still held (a gateway died between the owner's answer and the
commit) is handed back to be finished, so a retry never lends twice.  Once the loan is
returned the key answers no more: the same request is a new checkout (a kiosk that
sends the same date again after the checkin) and gets a new reservation.

A held slot counts for ``hold_ttl`` only; after that it is listed by ``unconfirmed``
for the desk, because the owner may have lent the item, for ``UNCONFIRMED_KEPT_S``
more, and then expires: a hold that is never committed nor released (its gateway died,
or gave up waiting for a reserve that Redis ran later) leaves nothing for ever.

``commit``, ``renew`` and ``close`` append the loan event to the outbox *in the same
atomic step* as the registry write, so the ledger sees every loan exactly when the
registry does (at least once; consumers acknowledge what they have recorded).

The ledger worker keeps its own state here too (``Receipts``): the batch it sealed
and is anchoring, saved *before* the anchor is sent so that a crash re-anchors the
same root, and each anchored event's receipt, by loan.  Salts are kept apart from
the receipts so that deleting them (crypto-shredding) is one step.

Patrons are stored only as keyed hashes (``patron_key``): the registry can count and
list a patron's loans without holding the barcode.

The store also keeps the members' lending counters for lender selection
(``SelectionCounterStore``): raw sums and counts that each event changes atomically, so
that every gateway on a shared store counts the same loans.  Their meaning (the
half-life, how a reading is made) is ``gateway/network/selection``'s.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from adapters.ledger.base import LoanEvent
from adapters.ledger.merkle import MerkleTree
from adapters.ledger.records import Receipt, SealedBatch, SealedRecord

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "UNCONFIRMED_KEPT_S",
    "BatchEntry",
    "Breakers",
    "CapExceeded",
    "ClosedHold",
    "Loan",
    "LoanKind",
    "LoanRequest",
    "LoanState",
    "Outbox",
    "OutboxEntry",
    "PendingBatch",
    "Receipts",
    "RefusalHistory",
    "RefusalRecord",
    "Reservation",
    "SelectionCounterStore",
    "SelectionEvent",
    "SelectionTallies",
    "SelectionTally",
    "Sessions",
    "StateBackend",
    "StateStore",
    "StateUnavailable",
    "Throttle",
    "TitleHold",
    "TitleHolds",
    "entry_order",
    "patron_key",
]


UNCONFIRMED_KEPT_S = 7 * 24 * 3600.0
"""How long a slot held past ``hold_ttl`` stays listed by ``unconfirmed`` before it
expires: a week, time for the desk to check the owner's proxy account over a holiday,
and as long as Redis remembers a committed request's idempotency key."""


class StateUnavailable(Exception):
    """The state store cannot be reached or did not answer in time.

    Requests that need the registry are refused with a clear message meanwhile; the
    store reconnects by itself when the server returns.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def patron_key(secret: bytes, home: str, barcode: str) -> str:
    """The keyed hash that stands for a patron in the registry and in logs."""
    digest = hmac.new(secret, f"{home}\x1f{barcode}".encode(), hashlib.sha256).hexdigest()
    return digest[:32]


class LoanState(enum.Enum):
    """Where a loan stands."""

    ACTIVE = "active"
    RETURNED = "returned"


class LoanKind(enum.Enum):
    """How a loan between libraries came about (for reports and cost sharing)."""

    WALK_IN = "walk-in"
    """A visitor borrowed an item of another library (at a kiosk or through a peer)."""
    LIBRARY_LOAN = "library-loan"
    """A library lent an item to another library's institutional account (ILL)."""


@dataclass(frozen=True)
class Loan:
    """A reciprocal loan in the registry (no personal data: the patron is a keyed hash)."""

    loan_id: str
    owner: str
    home: str
    item: str
    patron_key: str
    proxy_patron: str
    terminal: str
    checked_out: datetime
    due: datetime
    renewals: int = 0
    state: LoanState = LoanState.ACTIVE
    returned: datetime | None = None
    kind: LoanKind = LoanKind.WALK_IN


@dataclass(frozen=True)
class LoanRequest:
    """What a reciprocal checkout asks the registry to hold a slot for."""

    owner: str
    home: str
    item: str
    patron_key: str
    proxy_patron: str
    terminal: str
    idempotency_key: str
    cap_at_owner: int | None
    cap_total: int | None
    quota_at_owner: int | None = None
    kind: LoanKind = LoanKind.WALK_IN
    """The owner's limit on loans out to visitors from all libraries at once."""


@dataclass(frozen=True)
class Reservation:
    """A held slot (``existing`` set: the request was already committed as that loan)."""

    token: str
    request: LoanRequest
    existing: Loan | None = None


@dataclass(frozen=True)
class CapExceeded:
    """The reservation was refused: the patron is at a cap."""

    scope: str
    """``"owner"`` (the patron's loans from this library), ``"total"`` (the patron's
    loans in all) or ``"quota"`` (the owner's loans out to visitors)."""
    cap: int
    count: int


class StateStore(Protocol):
    """The consortium loan registry."""

    async def reserve(self, request: LoanRequest, *, now: datetime) -> Reservation | CapExceeded:
        """Check the caps and hold a slot, atomically (see the module documentation)."""
        ...

    async def commit(self, reservation: Reservation, *, due: datetime, now: datetime) -> Loan:
        """Turn a held slot into an active loan; returns the loan."""
        ...

    async def release(self, reservation: Reservation) -> None:
        """Give a held slot back (the owner's ILS refused or failed)."""
        ...

    async def renew(self, owner: str, item: str, *, due: datetime, now: datetime) -> Loan | None:
        """Record a renewal of the active loan of ``item``; ``None`` if there is none."""
        ...

    async def close(
        self, owner: str, item: str, *, now: datetime, loan_id: str | None = None
    ) -> Loan | None:
        """Close the active loan of ``item``; ``None`` if there is none (with
        ``loan_id``: unless that is the active loan, so a loan made since the caller
        looked is left alone)."""
        ...

    async def active_loan(self, owner: str, item: str) -> Loan | None:
        """The active loan of ``item``, if any."""
        ...

    async def active_loans(self, patron_key: str) -> list[Loan]:
        """A patron's active loans, oldest first."""
        ...

    async def owner_active_loans(self, owner: str) -> list[Loan]:
        """The active loans of ``owner``'s items, oldest first (reconciliation reads
        them to compare with the owner's ILS)."""
        ...

    async def recent_loans(self, limit: int) -> list[Loan]:
        """The most recent loans (active or returned), newest first."""
        ...

    async def loans_between(self, start: datetime, end: datetime) -> list[Loan]:
        """The loans checked out from ``start`` (included) to ``end`` (excluded), oldest
        first, as far as the history keeps them (reports read a period with it)."""
        ...

    async def loan(self, loan_id: str) -> Loan | None:
        """One loan by its id (active or returned, while history keeps it)."""
        ...

    async def unconfirmed(self, *, now: datetime) -> list[LoanRequest]:
        """Held slots older than ``hold_ttl`` and not yet expired (``UNCONFIRMED_KEPT_S``
        later): the owner may have lent these items."""
        ...


@dataclass(frozen=True)
class OutboxEntry:
    """A loan event waiting in the outbox, with the id used to acknowledge it."""

    entry_id: str
    event: LoanEvent


class Outbox(Protocol):
    """Loan events for the ledger, delivered at least once to a consumer group."""

    async def outbox_read(self, consumer: str, count: int, *, wait_s: float) -> list[OutboxEntry]:
        """New events for ``consumer`` (waits up to ``wait_s`` when there are none)."""
        ...

    async def outbox_reclaim(
        self, consumer: str, count: int, *, min_idle_s: float
    ) -> list[OutboxEntry]:
        """Events read by a consumer that died without acknowledging them."""
        ...

    async def outbox_ack(self, entry_ids: Sequence[str]) -> None:
        """The events are recorded: drop them from the outbox."""
        ...

    async def outbox_pending(self) -> int:
        """Events not yet acknowledged (new or read)."""
        ...

    async def outbox_touch(self, consumer: str, entry_ids: Sequence[str]) -> list[str]:
        """Keep events read but not yet acknowledged from being reclaimed by others.

        Each event still unacknowledged becomes ``consumer``'s, idle since now (a worker
        holding a batch while the chain is down calls this now and then).

        Returns:
            The ids still unacknowledged (the others were acknowledged meanwhile).
        """
        ...


@dataclass(frozen=True)
class BatchEntry:
    """One outbox event sealed into a batch: its entry id and its record."""

    entry_id: str
    sealed: SealedRecord


@dataclass(frozen=True)
class PendingBatch:
    """A sealed batch not yet finished (anchored, receipts stored, events acknowledged).

    ``batch_seq`` 0 means "not yet sequenced": the worker reads the member's head on
    chain, then saves the batch again with its sequence before sending the anchor.
    """

    member_id: str
    batch_seq: int
    prev_root: bytes
    entries: tuple[BatchEntry, ...]

    def sealed(self) -> SealedBatch:
        """The batch with its Merkle tree (rebuilt from the records)."""
        records = tuple(e.sealed for e in self.entries)
        return SealedBatch(records, MerkleTree.from_leaf_hashes([r.leaf for r in records]))

    @property
    def root(self) -> bytes:
        """The batch's Merkle root."""
        return self.sealed().root

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form (bytes as hex)."""
        return {
            "member_id": self.member_id,
            "batch_seq": self.batch_seq,
            "prev_root": self.prev_root.hex(),
            "entries": [
                [
                    e.entry_id,
                    e.sealed.loan_id,
                    e.sealed.kind,
                    e.sealed.salt.hex(),
                    e.sealed.record.hex(),
                ]
                for e in self.entries
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PendingBatch:
        """The inverse of ``to_json``."""
        return cls(
            str(data["member_id"]),
            int(data["batch_seq"]),
            bytes.fromhex(data["prev_root"]),
            tuple(
                BatchEntry(
                    str(entry),
                    SealedRecord(str(loan), str(kind), bytes.fromhex(salt), bytes.fromhex(rec)),
                )
                for entry, loan, kind, salt, rec in data["entries"]
            ),
        )


def entry_order(entry_id: str) -> tuple[int, int]:
    """Sort key of outbox entry ids (``<ms>-<seq>``, as Redis streams number them)."""
    first, _, second = entry_id.partition("-")
    try:
        return int(first), int(second or 0)
    except ValueError:
        return 0, 0


class Receipts(Protocol):
    """The ledger worker's batches and the receipts of anchored events.

    Batches are kept per member (each member's gateway writes its own chain); receipts
    per loan, one per event (by its outbox entry id, so an event delivered twice keeps
    one receipt).  Nothing here expires.
    """

    async def save_batch(self, batch: PendingBatch) -> None:
        """Keep ``batch`` as its member's pending batch (replacing any earlier one)."""
        ...

    async def pending_batch(self, member_id: str) -> PendingBatch | None:
        """The member's pending batch, if any."""
        ...

    async def clear_batch(self, member_id: str, root: bytes) -> None:
        """Forget the member's pending batch, if it is still the one with ``root``."""
        ...

    async def put_receipts(self, receipts: Sequence[tuple[str, Receipt]]) -> None:
        """Store each ``(entry id, receipt)`` under its loan (a repeat replaces it)."""
        ...

    async def receipts(self, loan_id: str) -> list[Receipt]:
        """A loan's receipts in event order (empty before any is anchored)."""
        ...

    async def shred_receipts(self, loan_id: str) -> int:
        """Delete the salts of a loan's receipts (crypto-shredding); how many there were."""
        ...


class Throttle(Protocol):
    """Counters that expire: wrong PIN attempts per patron, and the like."""

    async def count(self, bucket: str) -> int:
        """The count in ``bucket`` (0 when it has expired)."""
        ...

    async def hit(self, bucket: str, *, window_s: float) -> int:
        """Add one to ``bucket``; it expires ``window_s`` after its first hit."""
        ...

    async def reset(self, bucket: str) -> None:
        """Forget ``bucket``."""
        ...


class Sessions(Protocol):
    """Who is connected, across every gateway: kiosk sessions with a time to live.

    Each gateway opens a session at a kiosk's login, touches it while the kiosk is
    active and closes it at disconnection; a gateway that dies leaves its sessions to
    expire.  ``info`` holds no personal data (terminal, library, gateway, address).
    """

    async def session_open(self, session_id: str, info: Mapping[str, str], *, ttl_s: float) -> None:
        """Record a session (replacing one with the same id)."""
        ...

    async def session_touch(self, session_id: str, *, ttl_s: float) -> bool:
        """Keep a session alive for ``ttl_s`` more; ``False`` if it had expired."""
        ...

    async def session_close(self, session_id: str) -> None:
        """Forget a session."""
        ...

    async def sessions(self) -> list[dict[str, str]]:
        """The live sessions, soonest to expire first (each with its ``id``)."""
        ...


class Breakers(Protocol):
    """Circuit-breaker state shared by the gateways: "this endpoint is down" with a TTL.

    A gateway whose breaker for an endpoint opens marks it for the cool-down; the
    others read the marks now and then and open theirs, so one gateway's discovery
    spares the rest their own failed attempts.
    """

    async def breaker_open(self, member: str, endpoint: str, *, ttl_s: float, by: str) -> None:
        """Mark ``endpoint`` of ``member`` down for ``ttl_s`` seconds, as gateway ``by``."""
        ...

    async def breakers(self, member: str, *, besides: str) -> dict[str, float]:
        """The endpoints of ``member`` marked down by gateways other than ``besides``,
        with the seconds left on each mark."""
        ...


class SelectionEvent(enum.Enum):
    """A lending event, as the lending counters count it (``SelectionCounterStore``)."""

    REQUESTED = "requested"
    ASSIGNED = "assigned"
    DECLINED = "declined"
    FILLED = "filled"
    RETURNED = "returned"
    UNFILLED = "unfilled"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class SelectionTally:
    """One member's lending counters as the store keeps them (none: never counted)."""

    sums: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    """Each decayed sum by name: its value when last changed, and when (seconds)."""
    counts: Mapping[str, int] = field(default_factory=dict)
    """Each plain count by name."""
    turnarounds: tuple[float, ...] = ()
    """Its recent turnarounds in hours, newest first."""


@dataclass(frozen=True)
class SelectionTallies:
    """The lending counters of the members asked for, and the consortium's turnarounds."""

    members: Mapping[str, SelectionTally]
    """Every member asked for (an empty tally for one never counted)."""
    consortium_turnarounds: tuple[float, ...]
    """The consortium's recent turnarounds in hours, newest first."""


class SelectionCounterStore(Protocol):
    """The members' lending counters, shared by every gateway on the store.

    Each ``selection_update`` is one atomic step.  A decayed sum is kept as a value and
    the time it was last changed; adding ``a`` at ``now`` makes it
    ``max(0, value * exp(-max(0, now - stamp) / tau) + a)`` stamped
    ``max(stamp, now)``.  A plain count taken down never goes below zero.  What each
    event changes:

    * ``REQUESTED``: the borrower's ``active_borrows`` + 1.
    * ``ASSIGNED``: the lender's sum ``assigned`` + 1, ``open_assigned`` and
      ``active_lends`` + 1.
    * ``DECLINED``: the lender's ``open_assigned`` and ``active_lends`` - 1.
    * ``FILLED``: the lender's ``open_assigned`` - 1, sums ``lends`` and ``filled`` + 1,
      ``lifetime_lends`` + 1, ``turnaround_hours`` first in its turnarounds (the newest
      ``window`` kept) and in the consortium's (``consortium_window`` kept); the
      borrower's sum ``borrows`` + 1 and ``lifetime_borrows`` + 1.
    * ``RETURNED``: the lender's ``active_lends`` - 1, the borrower's ``active_borrows`` - 1.
    * ``UNFILLED``: the borrower's ``active_borrows`` - 1.
    * ``WITHDRAWN``: the borrower's ``active_borrows`` - 1; with a lender, the lender as
      ``DECLINED`` and its sum ``assigned`` - 1.
    """

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
        """Apply one event (``tau``: the sums' time constant in seconds; windows of at
        least 1)."""
        ...

    async def selection_read(self, members: Sequence[str]) -> SelectionTallies:
        """The counters of ``members`` and the consortium's turnarounds, as stored."""
        ...


@dataclass(frozen=True)
class RefusalRecord:
    """One refused request, as analytics count them (no personal data).

    Attributes:
        at: When it was refused (UTC).
        flow: Which flow refused: ``checkout`` (a visitor at a kiosk or a peer's
            patron), ``lend`` (a loan to another library's account), ``hold`` (a title
            hold sent to a lender), ``renew``.
        code: The refusal code's value (``gateway.circulation.outcomes.RefusalCode``),
            or how a title hold ended unfilled (``hold-withdrawn``, ``hold-expired``).
        home: The requesting library (the patron's, or the borrowing library).
        owner: The library asked to lend, when one was (``None``: no lender found).
    """

    at: datetime
    flow: str
    code: str
    home: str
    owner: str | None = None

    def to_json(self) -> dict[str, str | None]:
        """A JSON-ready form (``at`` in ISO 8601)."""
        return {
            "at": self.at.isoformat(),
            "flow": self.flow,
            "code": self.code,
            "home": self.home,
            "owner": self.owner,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RefusalRecord:
        """The inverse of ``to_json``."""
        return cls(
            datetime.fromisoformat(str(data["at"])),
            str(data["flow"]),
            str(data["code"]),
            str(data["home"]),
            None if data.get("owner") is None else str(data["owner"]),
        )


class RefusalHistory(Protocol):
    """The refusals of the circulation flows, by time, for analytics (refusals by
    reason and library, fill rate).

    The history is bounded: the store keeps the newest ``refusal_history`` records and
    drops the oldest first, so a busy network never grows it without end.
    """

    async def refusal_record(self, record: RefusalRecord) -> None:
        """Keep one refusal (the oldest record is dropped past the bound)."""
        ...

    async def refusals_between(self, start: datetime, end: datetime) -> list[RefusalRecord]:
        """The refusals from ``start`` (included) to ``end`` (excluded), oldest first,
        as far as the history keeps them."""
        ...


@dataclass(frozen=True)
class TitleHold:
    """A hold by title the gateway placed at a lender for a home library, open until it
    is filled (the copy lent to the home library), withdrawn (gone at the lender) or
    expired.  No personal data: the account is the home library's proxy at the lender.

    Attributes:
        hold_id: The gateway's id of the hold.
        home: The requesting library.
        lender: The library holding the copy.
        item: The copy the hold is on, at the lender.
        account: The account the hold is for at the lender (the home's proxy).
        placed: When it was placed (UTC).
        expires: When it is given up if not filled (UTC).
    """

    hold_id: str
    home: str
    lender: str
    item: str
    account: str
    placed: datetime
    expires: datetime

    def to_json(self) -> dict[str, str]:
        """A JSON-ready form (times in ISO 8601)."""
        return {
            "hold_id": self.hold_id,
            "home": self.home,
            "lender": self.lender,
            "item": self.item,
            "account": self.account,
            "placed": self.placed.isoformat(),
            "expires": self.expires.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TitleHold:
        """The inverse of ``to_json``."""
        return cls(
            str(data["hold_id"]),
            str(data["home"]),
            str(data["lender"]),
            str(data["item"]),
            str(data["account"]),
            datetime.fromisoformat(str(data["placed"])),
            datetime.fromisoformat(str(data["expires"])),
        )


@dataclass(frozen=True)
class ClosedHold:
    """A title hold that ended: ``filled``, ``withdrawn`` or ``expired``, and when."""

    hold: TitleHold
    outcome: str
    ended: datetime

    def to_json(self) -> dict[str, str]:
        """A JSON-ready form: the hold's, with ``outcome`` and ``ended``."""
        return {**self.hold.to_json(), "outcome": self.outcome, "ended": self.ended.isoformat()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClosedHold:
        """The inverse of ``to_json``."""
        return cls(
            TitleHold.from_json(data),
            str(data["outcome"]),
            datetime.fromisoformat(str(data["ended"])),
        )


class TitleHolds(Protocol):
    """The open title holds placed at lenders (``gateway/circulation/holdwatch.py``
    follows them to their end).

    Closing is atomic and happens once: of two gateways that see the same hold end,
    one gets it back and counts it, the other gets ``None``.  A closed hold is kept in
    a bounded history (the oldest dropped first) for analytics.
    """

    async def title_hold_open(self, hold: TitleHold) -> None:
        """Keep a hold just placed as open."""
        ...

    async def title_hold_fill(
        self, lender: str, item: str, home: str, *, at: datetime
    ) -> TitleHold | None:
        """Close the oldest open hold on ``item`` at ``lender`` for ``home`` as filled at
        ``at`` (the copy was lent to that library); ``None`` if there is none."""
        ...

    async def title_hold_end(self, hold_id: str, *, outcome: str, at: datetime) -> TitleHold | None:
        """Close one open hold with ``outcome`` at ``at``; ``None`` if it is not open."""
        ...

    async def title_holds_open(self) -> list[TitleHold]:
        """Every open hold, oldest placed first."""
        ...

    async def title_holds_closed_between(self, start: datetime, end: datetime) -> list[ClosedHold]:
        """The holds that ended from ``start`` (included) to ``end`` (excluded), oldest
        ended first, as far as the history keeps them."""
        ...


class StateBackend(
    StateStore,
    Outbox,
    Receipts,
    Throttle,
    Sessions,
    Breakers,
    SelectionCounterStore,
    RefusalHistory,
    TitleHolds,
    Protocol,
):
    """Everything the gateway keeps outside its process."""

    async def check(self) -> None:
        """Raise ``StateUnavailable`` unless the store answers now."""
        ...
