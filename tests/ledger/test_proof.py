"""Proving a loan from the registry and its receipts (no chain: anchors are given), and
the ``[gateway.ledger]`` settings."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from adapters.ledger.chain import Anchor
from adapters.ledger.records import seal_batch
from adapters.state.base import LoanRequest, Reservation
from adapters.state.memory import MemoryStateStore
from config.models import LedgerSettings, SecretRef
from gateway.ledger.proof import LoanProof, ProofStatus, prove_loan
from tests.ledger.conftest import RECORD_KEY

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


async def _store_with_loan(
    *, renew: bool = True, close: bool = True
) -> tuple[MemoryStateStore, str]:
    """A registry with one loan whose events all have receipts (batch 1 of "beta")."""
    store = MemoryStateStore()
    request = LoanRequest("beta", "alpha", "31002", "f" * 32, "ILL-alpha", "k", "idem", None, None)
    held = await store.reserve(request, now=T0)
    assert isinstance(held, Reservation)
    loan = await store.commit(held, due=T0 + timedelta(days=14), now=T0)
    if renew:
        await store.renew("beta", "31002", due=T0 + timedelta(days=28), now=T0 + timedelta(days=3))
    if close:
        await store.close("beta", "31002", now=T0 + timedelta(days=5, seconds=7))
    entries = await store.outbox_read("w", 10, wait_s=0)
    batch = seal_batch([e.event for e in entries], key=RECORD_KEY)
    receipts = batch.receipts("beta", 1, tx_hash=b"\x01" * 32, block_number=9)
    await store.put_receipts([(e.entry_id, r) for e, r in zip(entries, receipts, strict=True)])
    return store, loan.loan_id


async def _prove(store: MemoryStateStore, loan_id: str, *, root: bytes | None = None) -> LoanProof:
    async def find(member: str, seq: int, hint: int | None) -> Anchor | None:
        receipts = await store.receipts(loan_id)
        anchored = root if root is not None else receipts[0].merkle_root
        return Anchor(
            member, seq, anchored, b"\x00" * 32, "0x" + "11" * 20, b"\x01" * 32, 9, b"\x02" * 32, 0
        )

    return await prove_loan(store, store, loan_id, record_key=RECORD_KEY, find_anchor=find)


async def test_every_event_of_a_loan_verifies() -> None:
    """Checkout, renewal and checkin are rebuilt from the registry and verify."""
    store, loan_id = await _store_with_loan()
    proof = await _prove(store, loan_id)
    assert proof.status is ProofStatus.VERIFIED
    assert proof.complete
    assert [c.receipt.kind for c in proof.checks] == ["checkout", "renew", "checkin"]
    assert proof.to_json()["reason"] == "3 anchored event(s) verify"


async def test_an_active_loan_with_a_renewal_not_yet_anchored_is_incomplete() -> None:
    """A renewal still in the outbox: the checkout verifies, the proof is not complete."""
    store, loan_id = await _store_with_loan(renew=False, close=False)
    await store.renew("beta", "31002", due=T0 + timedelta(days=28), now=T0 + timedelta(days=1))
    proof = await _prove(store, loan_id)
    assert proof.ok
    assert not proof.complete
    assert "later events not yet anchored" in proof.reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"due": T0 + timedelta(days=99)}, "does not match the proven record"),
        ({"checked_out": T0 + timedelta(hours=1)}, "does not match the proven record"),
        ({"home": "gamma"}, "does not match the proven record"),
        ({"returned": None}, "the registry holds the loan as active"),
    ],
)
async def test_a_changed_registry_loan_does_not_verify(
    change: dict[str, object], reason: str
) -> None:
    """Changing what the registry holds after it was anchored is detected."""
    store, loan_id = await _store_with_loan()
    store._loans[loan_id] = dataclasses.replace(store._loans[loan_id], **change)  # type: ignore[arg-type]
    proof = await _prove(store, loan_id)
    assert proof.status is ProofStatus.FAILED
    assert reason in proof.reason


async def test_damaged_receipts_and_other_roots_do_not_verify() -> None:
    """A record that is not canonical, an unknown kind, a root the chain does not hold,
    and a shredded salt each fail with their reason."""
    store, loan_id = await _store_with_loan(renew=False, close=False)
    [(entry_id, receipt)] = store._receipts[loan_id].items()
    store._receipts[loan_id][entry_id] = dataclasses.replace(receipt, record=b"junk")
    assert "not a canonical loan record" in (await _prove(store, loan_id)).reason
    store._receipts[loan_id][entry_id] = dataclasses.replace(receipt, kind="lost")
    assert "unknown event kind" in (await _prove(store, loan_id)).reason
    store._receipts[loan_id][entry_id] = receipt
    assert "differs from the receipt's" in (await _prove(store, loan_id, root=b"\x09" * 32)).reason
    await store.shred_receipts(loan_id)
    assert "shredded" in (await _prove(store, loan_id)).reason


async def test_unknown_and_pending_loans() -> None:
    """A loan the registry does not hold is unknown; one without receipts is pending."""
    store = MemoryStateStore()
    assert (await _prove(store, "nope")).status is ProofStatus.UNKNOWN
    request = LoanRequest("beta", "alpha", "3", "e" * 32, "ILL-alpha", "k", "i2", None, None)
    held = await store.reserve(request, now=T0)
    assert isinstance(held, Reservation)
    loan = await store.commit(held, due=T0, now=T0)
    pending = await _prove(store, loan.loan_id)
    assert pending.status is ProofStatus.PENDING
    assert pending.to_json()["verified"] is False


def test_ledger_settings_are_checked() -> None:
    """evm needs a node, a contract and a key; addresses and member ids are checked."""
    assert LedgerSettings().backend == "embedded"
    with pytest.raises(ValidationError, match="needs rpc_url, contract, key"):
        LedgerSettings(backend="evm")
    with pytest.raises(ValidationError, match="40 hex digits"):
        LedgerSettings(contract="0x1234")
    with pytest.raises(ValidationError, match="at most 32 bytes"):
        LedgerSettings(member_id="x" * 33)
    ok = LedgerSettings(
        backend="evm", rpc_url="http://node", contract="0x" + "ab" * 20, key=SecretRef(env="K")
    )
    assert ok.batch_size == 1000
