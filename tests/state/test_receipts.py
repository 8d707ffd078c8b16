"""Ledger receipts as the Redis store keeps them (``adapters.state.receipts``): compact
bytes that give back exactly what was stored, and receipts of the first format (hex
JSON) still read, and proven, by a gateway started again on the same Redis."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import coredis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.ledger.base import LoanEvent, LoanEventKind
from adapters.ledger.chain import Anchor
from adapters.ledger.records import Receipt, check_receipt, seal_batch
from adapters.state.base import LoanRequest, Reservation
from adapters.state.connect import open_state
from adapters.state.receipts import (
    decode_receipt,
    decode_salt,
    encode_receipt,
    whole_trees,
    with_path,
)
from config.models import StateSettings
from gateway.ledger.proof import prove_loan

if TYPE_CHECKING:
    from collections.abc import Sequence

    from adapters.state.base import OutboxEntry, StateBackend

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
RECORD_KEY = b"receipts-test-record-key"


def _event(n: int) -> LoanEvent:
    return LoanEvent(
        kind=LoanEventKind.CHECKOUT,
        loan_id=f"loan-{n}",
        owner="beta",
        home="alpha",
        item=f"31002{n:09d}",
        patron_key="p" * 32,
        at=T0,
        due=T0 + timedelta(days=21),
    )


def _batch(size: int, *, tx: bool = True, block: bool = True, seq: int = 7) -> list[Receipt]:
    """Receipts of one sealed batch of ``size`` synthetic checkout events."""
    events = [_event(n) for n in range(size)]
    sealed = seal_batch(events, key=RECORD_KEY)
    return sealed.receipts(
        "beta",
        seq,
        tx_hash=b"\x11" * 32 if tx else None,
        block_number=4242 if block else None,
    )


def _round_trip(receipts: Sequence[Receipt], *, whole: bool) -> list[Receipt]:
    trees = whole_trees(receipts) if whole else {}
    stored = [
        decode_receipt(r.loan_id, encode_receipt(r, path_in_tree=r.merkle_root in trees), r.salt)
        for r in receipts
    ]
    return [with_path(x, trees) for x in stored]


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(1, 70),
    tx=st.booleans(),
    block=st.booleans(),
    seq=st.integers(0, 2**40),
    whole=st.booleans(),
)
def test_compact_receipts_give_back_what_was_stored(
    size: int, tx: bool, block: bool, seq: int, whole: bool
) -> None:
    """Every field, the proof's path included, whether the path was kept in the
    receipt or computed again from the batch's leaves."""
    receipts = _batch(size, tx=tx, block=block, seq=seq)
    assert _round_trip(receipts, whole=whole) == receipts


def test_a_whole_batch_s_receipts_do_not_grow_with_the_batch() -> None:
    """Kept with its batch's leaves, a receipt's size does not follow its proof's
    length (1 hash in a batch of 2, 10 in a batch of 1,000: only the batch's size
    takes a byte more); kept with its path it would; and it is under a quarter of the
    first format's hex JSON."""
    small, large = _batch(2)[0], _batch(1000)[0]
    [compact_small, compact_large] = (
        len(encode_receipt(r, path_in_tree=True)) for r in (small, large)
    )
    assert compact_large - compact_small == 1
    with_paths = [len(encode_receipt(r, path_in_tree=False)) for r in (small, large)]
    assert with_paths[1] - with_paths[0] == 9 * 32 + 1
    first_format = len(json.dumps(large.shredded().to_json()))
    assert compact_large * 4 < first_format


def test_whole_trees_only_for_batches_given_whole() -> None:
    """A batch with a receipt missing, or whose leaves do not hash to its root, keeps
    its paths in its receipts."""
    whole, part = _batch(5, seq=1), _batch(6, seq=2)[:-1]
    forged = _batch(3, seq=3)
    forged[1] = replace(forged[1], record=forged[1].record + b"x")
    trees = whole_trees([*whole, *part, *forged])
    assert list(trees) == [whole[0].merkle_root]
    assert trees[whole[0].merkle_root] == b"".join(r.leaf for r in whole)


def test_a_missing_or_foreign_tree_leaves_a_proof_that_fails() -> None:
    """Without its batch's leaves (or with leaves that do not hold its record) the
    receipt comes back with an empty path, which does not verify: never a proof of
    something else."""
    [receipt, other] = _batch(2)
    stored = decode_receipt(receipt.loan_id, encode_receipt(receipt, path_in_tree=True), None)
    assert with_path(stored, {}).proof.path == ()
    wrong = {receipt.merkle_root: other.leaf * 2}
    assert with_path(stored, wrong).proof.path == ()
    salted = replace(with_path(stored, {}), salt=receipt.salt)
    check = check_receipt(salted, _event(0), key=RECORD_KEY, anchored_root=receipt.merkle_root)
    assert (check.ok, check.reason) == (False, "the proof does not lead to the receipt's root")
    whole = replace(with_path(stored, whole_trees([receipt, other])), salt=receipt.salt)
    assert check_receipt(whole, _event(0), key=RECORD_KEY, anchored_root=whole.merkle_root).ok


@pytest.mark.parametrize(
    "data", [b"\x01", b"\x02\x00", b"\x01\x00\x03abc", b"", b"\x01\x00" + b"\x00" * 80]
)
def test_damaged_receipts_are_refused(data: bytes) -> None:
    receipt = _batch(1)[0]
    good = encode_receipt(receipt, path_in_tree=False)
    with pytest.raises(ValueError, match="receipt"):
        decode_receipt("x", data or good + b"\x00", None)


def test_salts_of_both_formats_are_read() -> None:
    salt = bytes(range(16))
    assert decode_salt(salt) == salt
    assert decode_salt(salt.hex().encode()) == salt
    with pytest.raises(ValueError, match="16 bytes"):
        decode_salt(b"short")


# --- a Redis that already holds receipts of the first format ------------------------------


async def _first_format(
    client: coredis.Redis[str], namespace: str, pairs: Sequence[tuple[str, Receipt]]
) -> None:
    """Store receipts exactly as the first format did (``put_receipts`` before the
    compact format): hex JSON without the salt, and the salt as hex, by loan."""
    for entry_id, receipt in pairs:
        doc = json.dumps(receipt.shredded().to_json())
        await client.hset(f"{{{namespace}}}:receipts:{receipt.loan_id}", {entry_id: doc})
        if receipt.salt is not None:
            await client.hset(
                f"{{{namespace}}}:salts:{receipt.loan_id}", {entry_id: receipt.salt.hex()}
            )


async def _lend_and_return(store: StateBackend, item: str) -> str:
    request = LoanRequest(
        owner="beta",
        home="alpha",
        item=item,
        patron_key="a" * 32,
        proxy_patron="ILL-alpha",
        terminal="beta-kiosk",
        idempotency_key=f"receipts-{uuid.uuid4().hex}",
        cap_at_owner=None,
        cap_total=None,
    )
    held = await store.reserve(request, now=T0)
    assert isinstance(held, Reservation)
    loan = await store.commit(held, due=T0 + timedelta(days=21), now=T0)
    return loan.loan_id


def _anchors(receipts: Sequence[Receipt]) -> dict[tuple[str, int], Anchor]:
    return {
        (r.member_id, r.batch_seq): Anchor(
            r.member_id, r.batch_seq, r.merkle_root, b"\x00" * 32, "0xgw", b"\x11" * 32, 1,
            b"\x22" * 32, 0,
        )
        for r in receipts
    }  # fmt: skip


async def test_a_gateway_started_again_reads_and_proves_old_and_new_receipts(
    redis_url: str,
) -> None:
    """Loans whose checkouts were anchored before the upgrade (first-format receipts,
    written as the old code wrote them) and whose checkins after it (compact): a store
    opened again on the same Redis reads every receipt as it was made, and each loan
    proves end to end; shredding still deletes both kinds of salt."""
    namespace = f"rcpt-{uuid.uuid4().hex[:8]}"
    settings = StateSettings(backend="redis", url=redis_url, namespace=namespace)
    made: list[Receipt] = []
    async with open_state(settings, None) as store:
        loans = [await _lend_and_return(store, f"3100200000{n:04d}") for n in range(3)]
        checkouts: list[OutboxEntry] = await store.outbox_read("w", 10, wait_s=0)
        sealed = seal_batch([e.event for e in checkouts], key=RECORD_KEY)
        first = sealed.receipts("beta", 1, tx_hash=b"\x11" * 32, block_number=10)
        client = coredis.Redis.from_url(redis_url, decode_responses=True)
        async with client:
            ids = [e.entry_id for e in checkouts]
            await _first_format(client, namespace, list(zip(ids, first, strict=True)))
        await store.outbox_ack(ids)
        made += first
    async with open_state(settings, None) as store:  # the upgraded gateway
        for n in range(3):
            await store.close("beta", f"3100200000{n:04d}", now=T0 + timedelta(days=2))
        checkins = await store.outbox_read("w", 10, wait_s=0)
        sealed = seal_batch([e.event for e in checkins], key=RECORD_KEY)
        second = sealed.receipts("beta", 2, tx_hash=b"\x11" * 32, block_number=11)
        await store.put_receipts([(e.entry_id, r) for e, r in zip(checkins, second, strict=True)])
        await store.outbox_ack([e.entry_id for e in checkins])
        made += second
        anchors = _anchors(made)

        async def find_anchor(member: str, seq: int, _block: int | None) -> Anchor | None:
            return anchors.get((member, seq))

        for loan_id in loans:
            expected = [r for r in made if r.loan_id == loan_id]
            assert await store.receipts(loan_id) == expected
            proof = await prove_loan(
                store, store, loan_id, record_key=RECORD_KEY, find_anchor=find_anchor
            )
            assert proof.complete
            assert [c.ok for c in proof.checks] == [True, True], proof.checks
        assert await store.shred_receipts(loans[0]) == 2
        shredded = await store.receipts(loans[0])
        assert [r.salt for r in shredded] == [None, None]
