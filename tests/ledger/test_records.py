"""Loan records: canonical bytes, no personal data, salts that shred, receipts that check."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.ledger.base import LoanEvent, LoanEventKind
from adapters.ledger.merkle import InclusionProof, leaf_hash, verify_inclusion
from adapters.ledger.records import (
    SALT_SIZE,
    Receipt,
    RecordError,
    check_receipt,
    decode_record,
    encode_record,
    keyed_ref,
    seal,
    seal_batch,
)
from tests.ledger.conftest import RECORD_KEY, loan_events

SALT = bytes(range(SALT_SIZE))

codes = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=20)
times = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
events = st.builds(
    LoanEvent,
    kind=st.sampled_from(LoanEventKind),
    loan_id=st.text(min_size=1, max_size=40),
    owner=codes,
    home=codes,
    item=st.text(st.characters(codec="ascii"), min_size=1, max_size=20),
    patron_key=st.text(min_size=1, max_size=40),
    at=times,
    due=st.none() | times,
)


def _event() -> LoanEvent:
    return loan_events(1)[0]


@pytest.mark.slow
@given(events, st.binary(min_size=SALT_SIZE, max_size=SALT_SIZE))
def test_encoding_round_trips(event: LoanEvent, salt: bytes) -> None:
    """A record decodes to the event's libraries, keyed references and whole seconds."""
    record = decode_record(encode_record(event, key=RECORD_KEY, salt=salt))
    assert (record.kind, record.lender, record.borrower) == (
        event.kind.value,
        event.owner,
        event.home,
    )
    assert record.item_ref == keyed_ref(RECORD_KEY, b"item", salt, event.item)
    assert record.patron_ref == keyed_ref(RECORD_KEY, b"patron", salt, event.patron_key)
    assert record.loan_ref == keyed_ref(RECORD_KEY, b"loan", salt, event.loan_id)
    assert record.at_datetime == event.at.replace(microsecond=0)
    assert record.due == (None if event.due is None else int(event.due.timestamp() // 1))


@pytest.mark.slow
@given(events)
def test_no_personal_data_in_the_record(event: LoanEvent) -> None:
    """Neither the item, the patron key nor the loan id appears in the record's bytes."""
    record = seal(event, key=RECORD_KEY).record
    for secret in {event.item, event.patron_key, event.loan_id} - {event.owner, event.home}:
        if len(secret) >= 4:
            assert secret.encode() not in record


def test_each_record_has_its_own_salt() -> None:
    """Two seals of one event differ (unlinkable to each other); the salt reproduces one."""
    event = _event()
    first, second = seal(event, key=RECORD_KEY), seal(event, key=RECORD_KEY)
    assert first.salt != second.salt
    assert first.record != second.record
    assert encode_record(event, key=RECORD_KEY, salt=first.salt) == first.record
    assert first.leaf == leaf_hash(first.record)


def test_the_key_matters() -> None:
    """Without the consortium's key the references cannot be recomputed."""
    event = _event()
    assert encode_record(event, key=RECORD_KEY, salt=SALT) != encode_record(
        event, key=b"another key", salt=SALT
    )


def test_times_are_whole_utc_seconds_and_must_be_aware() -> None:
    """The same instant in any zone gives the same record; a naive time is refused."""
    event = _event()
    shifted = dataclasses.replace(
        event, at=event.at.astimezone(datetime.now().astimezone().tzinfo) + timedelta(0)
    )
    assert encode_record(shifted, key=RECORD_KEY, salt=SALT) == encode_record(
        event, key=RECORD_KEY, salt=SALT
    )
    with pytest.raises(RecordError, match="timezone-aware"):
        encode_record(
            dataclasses.replace(event, at=datetime(2026, 1, 1)), key=RECORD_KEY, salt=SALT
        )


def test_bad_inputs_are_refused() -> None:
    """A salt of the wrong size, an overlong code and an empty batch are refused."""
    event = _event()
    with pytest.raises(RecordError, match="salt"):
        encode_record(event, key=RECORD_KEY, salt=b"short")
    with pytest.raises(RecordError, match="255"):
        encode_record(dataclasses.replace(event, owner="x" * 256), key=RECORD_KEY, salt=SALT)
    with pytest.raises(RecordError, match="at least one"):
        seal_batch([], key=RECORD_KEY)


def test_only_canonical_bytes_decode() -> None:
    """Trailing bytes, a bad due flag, truncation, a wrong magic or bad UTF-8 are refused."""
    event = dataclasses.replace(_event(), due=None)
    record = encode_record(event, key=RECORD_KEY, salt=SALT)
    with pytest.raises(RecordError, match="trailing"):
        decode_record(record + b"\x00")
    with pytest.raises(RecordError, match="flag"):
        decode_record(record[:-1] + b"\x02")
    with pytest.raises(RecordError, match="truncated"):
        decode_record(record[:-2])
    with pytest.raises(RecordError, match="layout"):
        decode_record(b"XYZ\x01" + record[4:])
    bad_utf8 = record[:4] + b"\x01\xff" + record[4 + 1 + record[4] :]
    with pytest.raises(RecordError, match="UTF-8"):
        decode_record(bad_utf8)


def test_batch_receipts_check_and_tampering_is_detected() -> None:
    """Each receipt checks against its event; a changed loan, proof or root does not."""
    items = loan_events(5)
    batch = seal_batch(items, key=RECORD_KEY)
    receipts = batch.receipts("beta", 1, tx_hash=b"\x11" * 32, block_number=7)
    for receipt, event in zip(receipts, items, strict=True):
        verdict = check_receipt(receipt, event, key=RECORD_KEY, anchored_root=batch.root)
        assert verdict.ok, verdict.reason
    receipt, event = receipts[2], items[2]

    tampered = dataclasses.replace(event, item="31002999999999")
    verdict = check_receipt(receipt, tampered, key=RECORD_KEY, anchored_root=batch.root)
    assert not verdict.ok
    assert "does not match" in verdict.reason

    wrong_proof = dataclasses.replace(receipt, proof=receipts[3].proof)
    verdict = check_receipt(wrong_proof, event, key=RECORD_KEY, anchored_root=batch.root)
    assert not verdict.ok
    assert "does not lead" in verdict.reason

    verdict = check_receipt(receipt, event, key=RECORD_KEY, anchored_root=b"\x22" * 32)
    assert not verdict.ok
    assert "differs" in verdict.reason

    verdict = check_receipt(receipt, event, key=RECORD_KEY, anchored_root=None)
    assert not verdict.ok
    assert "not anchored" in verdict.reason

    bad_time = dataclasses.replace(event, at=datetime(2026, 1, 1))
    assert not check_receipt(receipt, bad_time, key=RECORD_KEY, anchored_root=batch.root).ok


def test_shredding_unlinks_but_the_proof_stands() -> None:
    """Without its salt a receipt cannot be tied to the loan; its proof still holds."""
    items = loan_events(3)
    batch = seal_batch(items, key=RECORD_KEY)
    receipt = batch.receipts("beta", 1)[1].shredded()
    assert receipt.salt is None
    verdict = check_receipt(receipt, items[1], key=RECORD_KEY, anchored_root=batch.root)
    assert not verdict.ok
    assert "shredded" in verdict.reason
    assert verify_inclusion(receipt.leaf, receipt.proof, batch.root)


def test_receipt_json_round_trip() -> None:
    """A receipt survives JSON, shredded or not; a malformed one is refused."""
    batch = seal_batch(loan_events(4), key=RECORD_KEY)
    receipt = batch.receipts("beta", 9, tx_hash=b"\x01" * 32, block_number=12)[3]
    assert Receipt.from_json(receipt.to_json()) == receipt
    assert Receipt.from_json(receipt.shredded().to_json()) == receipt.shredded()
    bare = batch.receipts("beta", 9)[0]
    assert Receipt.from_json(bare.to_json()) == bare
    data = receipt.to_json()
    del data["record"]
    with pytest.raises(ValueError, match="record"):
        Receipt.from_json(data)
    with pytest.raises(ValueError, match="hex"):
        Receipt.from_json({**receipt.to_json(), "merkle_root": "abc"})
    with pytest.raises(ValueError, match="malformed"):
        Receipt.from_json({**receipt.to_json(), "proof": "nope"})
    assert isinstance(receipt.proof, InclusionProof)
