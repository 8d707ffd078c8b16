"""Proving a loan against the ledger: the registry's loan, its receipts, the chain.

One job: given a loan id, decide whether what the registry holds now is what was
anchored.  For each stored receipt (one per loan event) the record is rebuilt from the
registry's loan with the receipt's salt and the consortium's record key
(``check_receipt``): its leaf must be the proven leaf, the proof must lead to the
receipt's root, and that root must be the one anchored on chain for the receipt's
member and batch (found through its ``Anchored`` event).

What comes from where when the record is rebuilt:

- kind, lender, home library, loan, item and patron key: always the registry's;
- a checkout's time: the registry's ``checked_out``; a checkin's: its ``returned`` (a
  checkin anchored for a loan the registry holds as active does not verify);
- a renewal's time: the record's own (the registry keeps no renewal times);
- the due date of the *last* event that carries one: the registry's ``due``, once
  every renewal the registry counts has its receipt; earlier due dates: the record's
  (the registry keeps only the latest).

So changing a stored record, or the registry's owner, home, item, patron, times or
due date after they were anchored, is detected.  Nothing here writes anything, and
nothing personal is read: the patron is the registry's keyed hash.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from adapters.ledger.base import LoanEvent, LoanEventKind
from adapters.ledger.chain import Anchor
from adapters.ledger.records import Receipt, RecordError, check_receipt, decode_record
from adapters.state.base import Loan

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from adapters.ledger.records import LoanRecord
    from adapters.state.base import Receipts, StateStore

__all__ = ["EventCheck", "LoanProof", "ProofStatus", "expected_events", "prove_loan"]


class ProofStatus(enum.Enum):
    """Where a loan's proof stands."""

    UNKNOWN = "unknown"
    """The registry does not hold the loan."""
    PENDING = "pending"
    """No event of the loan is anchored yet."""
    VERIFIED = "verified"
    """Every anchored event verifies (``complete`` says whether all are anchored)."""
    FAILED = "failed"
    """An anchored event does not verify: see its reason."""


@dataclass(frozen=True)
class EventCheck:
    """One receipt checked against the registry and the chain."""

    receipt: Receipt
    anchor: Anchor | None
    ok: bool
    reason: str

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form."""
        anchor = self.anchor
        return {
            "kind": self.receipt.kind,
            "verified": self.ok,
            "reason": self.reason,
            "receipt": self.receipt.to_json(),
            "anchor": None
            if anchor is None
            else {
                "member_id": anchor.member_id,
                "batch_seq": anchor.batch_seq,
                "merkle_root": "0x" + anchor.merkle_root.hex(),
                "prev_root": "0x" + anchor.prev_root.hex(),
                "gateway": anchor.gateway,
                "tx_hash": "0x" + anchor.tx_hash.hex(),
                "block_number": anchor.block_number,
                "block_hash": "0x" + anchor.block_hash.hex(),
            },
        }


@dataclass(frozen=True)
class LoanProof:
    """The verification of one loan."""

    loan_id: str
    loan: Loan | None
    checks: tuple[EventCheck, ...]
    complete: bool
    """Every event the registry implies (checkout, renewals, checkin) has a receipt."""

    @property
    def status(self) -> ProofStatus:
        """Unknown, pending, verified or failed."""
        if self.loan is None:
            return ProofStatus.UNKNOWN
        if not self.checks:
            return ProofStatus.PENDING
        if all(check.ok for check in self.checks):
            return ProofStatus.VERIFIED
        return ProofStatus.FAILED

    @property
    def ok(self) -> bool:
        """Whether every anchored event verifies (and there is at least one)."""
        return self.status is ProofStatus.VERIFIED

    @property
    def reason(self) -> str:
        """One sentence for a person."""
        match self.status:
            case ProofStatus.UNKNOWN:
                return f"the registry holds no loan {self.loan_id}"
            case ProofStatus.PENDING:
                return "no event of the loan is anchored yet"
            case ProofStatus.VERIFIED:
                anchored = f"{len(self.checks)} anchored event(s) verify"
                return anchored if self.complete else f"{anchored}; later events not yet anchored"
            case ProofStatus.FAILED:
                failed = next(check for check in self.checks if not check.ok)
                return f"{failed.receipt.kind} does not verify: {failed.reason}"

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form (the admin API's ``/api/loans/{id}/proof``)."""
        return {
            "loan_id": self.loan_id,
            "status": self.status.value,
            "verified": self.ok,
            "complete": self.complete,
            "reason": self.reason,
            "events": [check.to_json() for check in self.checks],
        }


def _at(record_at: int) -> datetime:
    return datetime.fromtimestamp(record_at, UTC)


def expected_events(loan: Loan, receipts: Sequence[Receipt]) -> list[LoanEvent | str]:
    """The event each receipt should prove, rebuilt from the registry's loan (see the
    module documentation); a reason instead where no event can be rebuilt."""
    records: list[LoanRecord | None] = []
    for receipt in receipts:
        try:
            records.append(decode_record(receipt.record))
        except RecordError:
            records.append(None)
    renewals = sum(1 for r in receipts if r.kind == LoanEventKind.RENEW.value)
    due_bearing = [i for i, r in enumerate(receipts) if r.kind != LoanEventKind.CHECKIN.value]
    last_due = due_bearing[-1] if due_bearing and renewals >= loan.renewals else None
    events: list[LoanEvent | str] = []
    for index, (receipt, record) in enumerate(zip(receipts, records, strict=True)):
        if record is None:
            events.append("the stored record is not a canonical loan record")
            continue
        try:
            kind = LoanEventKind(receipt.kind)
        except ValueError:
            events.append(f"unknown event kind {receipt.kind!r}")
            continue
        due: datetime | None = None
        if kind is LoanEventKind.CHECKIN:
            if loan.returned is None:
                events.append("a checkin is anchored but the registry holds the loan as active")
                continue
            at = loan.returned
        else:
            at = loan.checked_out if kind is LoanEventKind.CHECKOUT else _at(record.at)
            if index == last_due:
                due = loan.due
            elif record.due is not None:
                due = _at(record.due)
        events.append(
            LoanEvent(
                kind, loan.loan_id, loan.owner, loan.home, loan.item, loan.patron_key, at, due
            )
        )
    return events


def _complete(loan: Loan, receipts: Sequence[Receipt]) -> bool:
    kinds = [r.kind for r in receipts]
    return (
        LoanEventKind.CHECKOUT.value in kinds
        and kinds.count(LoanEventKind.RENEW.value) >= loan.renewals
        and (loan.returned is None or LoanEventKind.CHECKIN.value in kinds)
    )


async def prove_loan(
    store: StateStore,
    receipts_store: Receipts,
    loan_id: str,
    *,
    record_key: bytes,
    find_anchor: Callable[[str, int, int | None], Awaitable[Anchor | None]],
) -> LoanProof:
    """Verify one loan (see the module documentation).

    Args:
        store: The loan registry.
        receipts_store: Where the receipts are (the same state backend).
        loan_id: The loan.
        record_key: The consortium's record key.
        find_anchor: ``(member_id, batch_seq, block_hint)`` to that batch's anchor on
            chain, ``None`` if it is not anchored.

    Raises:
        StateUnavailable: The registry cannot be read.
        ChainError: The chain cannot be read.
    """
    loan = await store.loan(loan_id)
    if loan is None:
        return LoanProof(loan_id, None, (), False)
    receipts = await receipts_store.receipts(loan_id)
    anchors: dict[tuple[str, int], Anchor | None] = {}
    checks: list[EventCheck] = []
    for receipt, expected in zip(receipts, expected_events(loan, receipts), strict=True):
        where = (receipt.member_id, receipt.batch_seq)
        if where not in anchors:
            anchors[where] = await find_anchor(*where, receipt.block_number)
        anchor = anchors[where]
        if isinstance(expected, str):
            checks.append(EventCheck(receipt, anchor, False, expected))
            continue
        root = anchor.merkle_root if anchor is not None else None
        result = check_receipt(receipt, expected, key=record_key, anchored_root=root)
        checks.append(EventCheck(receipt, anchor, result.ok, result.reason))
    return LoanProof(loan_id, loan, tuple(checks), _complete(loan, receipts))
