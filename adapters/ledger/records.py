"""Canonical loan records for the ledger: what a Merkle leaf commits to, with no personal data.

Pure functions and values; no I/O.  A loan event becomes a record whose bytes are fixed
by this module alone, so any member can recompute them years later:

- the lending library (``lender``) and the borrower's home library (``borrower``) are
  consortium codes, in clear: they are what cost sharing counts;
- the loan, the item and the patron appear only as keyed hashes,
  ``HMAC-SHA256(key, label || 0x1f || salt || value)``, with the consortium's record
  ``key`` and a random ``salt`` of 16 bytes drawn for each record.  The patron's value is
  already the registry's keyed hash (``patron_key``), never a barcode;
- times are whole seconds since the Unix epoch, UTC (sub-second detail proves nothing
  in a dispute and narrows who stood at a kiosk).

The salt is kept off chain, in the record's receipt.  Deleting it is crypto-shredding:
the record, its proof and the anchored root stay valid, but nothing can link the
hashes to an item, a patron or a loan any more, even with the key (the retention rule
of library-privacy laws, and the EDPB's advice on blockchains).  Only the Merkle root
of a batch goes on chain; records and salts never do.

Layout (all integers big-endian)::

    "ILR" 0x01                     magic and layout version
    u8 n, n bytes                  event kind ("checkout", "renew", "checkin", …), ASCII
    u8 n, n bytes                  lender code, UTF-8
    u8 n, n bytes                  borrower's home library code, UTF-8
    32 bytes                       loan reference (keyed hash of the loan id)
    32 bytes                       item reference (keyed hash of the item barcode)
    32 bytes                       patron reference (keyed hash of the patron key)
    i64                            when the event happened (seconds, UTC)
    u8 0 | u8 1 + i64              the due date, when the event has one

A record has exactly one encoding: ``decode_record`` rejects anything else (trailing
bytes, a due flag other than 0 or 1).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from .merkle import InclusionProof, MerkleTree, leaf_hash, verify_inclusion

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .base import LoanEvent

__all__ = [
    "SALT_SIZE",
    "LoanRecord",
    "Receipt",
    "ReceiptCheck",
    "RecordError",
    "SealedBatch",
    "SealedRecord",
    "check_receipt",
    "decode_record",
    "encode_record",
    "keyed_ref",
    "seal",
    "seal_batch",
]

MAGIC = b"ILR\x01"
SALT_SIZE = 16
REF_SIZE = 32
_I64 = struct.Struct(">q")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


class RecordError(ValueError):
    """Bytes that are not a canonical loan record, or an event that cannot become one."""


def keyed_ref(key: bytes, label: bytes, salt: bytes, value: str) -> bytes:
    """``HMAC-SHA256(key, label || 0x1f || salt || value)``: one field's reference."""
    return hmac.new(key, label + b"\x1f" + salt + value.encode(), hashlib.sha256).digest()


def _seconds(when: datetime) -> int:
    if when.tzinfo is None:
        raise RecordError("loan event times must be timezone-aware (UTC)")
    return (when - _EPOCH) // _SECOND


@dataclass(frozen=True)
class LoanRecord:
    """A decoded record: what the leaf commits to."""

    kind: str
    lender: str
    borrower: str
    loan_ref: bytes
    item_ref: bytes
    patron_ref: bytes
    at: int
    """Seconds since the Unix epoch, UTC."""
    due: int | None

    @property
    def at_datetime(self) -> datetime:
        """``at`` as an aware datetime."""
        return datetime.fromtimestamp(self.at, UTC)


def _short(text: str, what: str) -> bytes:
    data = text.encode()
    if len(data) > 255:
        raise RecordError(f"{what} is longer than 255 bytes")
    return bytes([len(data)]) + data


def encode_record(event: LoanEvent, *, key: bytes, salt: bytes) -> bytes:
    """The canonical bytes of ``event``'s record under ``key`` and ``salt``.

    Raises:
        RecordError: The salt is not ``SALT_SIZE`` bytes, a time is naive, or a code is
            too long.
    """
    if len(salt) != SALT_SIZE:
        raise RecordError(f"a record salt is {SALT_SIZE} bytes")
    parts = [
        MAGIC,
        _short(event.kind.value, "the event kind"),
        _short(event.owner, "the lender's code"),
        _short(event.home, "the borrower's library code"),
        keyed_ref(key, b"loan", salt, event.loan_id),
        keyed_ref(key, b"item", salt, event.item),
        keyed_ref(key, b"patron", salt, event.patron_key),
        _I64.pack(_seconds(event.at)),
        b"\x00" if event.due is None else b"\x01" + _I64.pack(_seconds(event.due)),
    ]
    return b"".join(parts)


def decode_record(data: bytes) -> LoanRecord:
    """Read a record's bytes.

    Raises:
        RecordError: The bytes are not exactly one canonical record.
    """
    view = memoryview(data)
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(view):
            raise RecordError("the record is truncated")
        chunk = bytes(view[pos : pos + n])
        pos += n
        return chunk

    def text() -> str:
        raw = take(take(1)[0])
        try:
            return raw.decode()
        except UnicodeDecodeError as exc:
            raise RecordError("a code in the record is not UTF-8") from exc

    if take(len(MAGIC)) != MAGIC:
        raise RecordError("not a loan record of layout 1")
    kind, lender, borrower = text(), text(), text()
    loan_ref, item_ref, patron_ref = take(REF_SIZE), take(REF_SIZE), take(REF_SIZE)
    at = _I64.unpack(take(8))[0]
    flag = take(1)[0]
    if flag not in (0, 1):
        raise RecordError("the due-date flag must be 0 or 1")
    due = _I64.unpack(take(8))[0] if flag else None
    if pos != len(view):
        raise RecordError("trailing bytes after the record")
    return LoanRecord(kind, lender, borrower, loan_ref, item_ref, patron_ref, at, due)


@dataclass(frozen=True)
class SealedRecord:
    """One event's record with the salt that links it back (keep the salt off chain)."""

    loan_id: str
    kind: str
    salt: bytes
    record: bytes

    @property
    def leaf(self) -> bytes:
        """The record's Merkle leaf hash."""
        return leaf_hash(self.record)


def seal(event: LoanEvent, *, key: bytes, salt: bytes | None = None) -> SealedRecord:
    """The record of ``event`` under a fresh random salt (or the one given)."""
    salt = secrets.token_bytes(SALT_SIZE) if salt is None else salt
    record = encode_record(event, key=key, salt=salt)
    return SealedRecord(event.loan_id, event.kind.value, salt, record)


@dataclass(frozen=True)
class Receipt:
    """What proves one loan event is in an anchored batch; kept off chain, per event.

    ``salt`` is ``None`` once the record has been shredded: the proof still holds, but
    the record can no longer be tied to a loan.
    """

    loan_id: str
    kind: str
    member_id: str
    """The member whose gateway anchored the batch (whose hash chain it is on)."""
    batch_seq: int
    merkle_root: bytes
    proof: InclusionProof
    record: bytes
    salt: bytes | None
    tx_hash: bytes | None = None
    block_number: int | None = None

    @property
    def leaf(self) -> bytes:
        """The leaf hash the proof proves."""
        return leaf_hash(self.record)

    def shredded(self) -> Receipt:
        """This receipt without its salt."""
        return replace(self, salt=None)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form (bytes as ``0x`` hex)."""
        return {
            "loan_id": self.loan_id,
            "kind": self.kind,
            "member_id": self.member_id,
            "batch_seq": self.batch_seq,
            "merkle_root": "0x" + self.merkle_root.hex(),
            "proof": self.proof.to_json(),
            "record": "0x" + self.record.hex(),
            "salt": None if self.salt is None else "0x" + self.salt.hex(),
            "tx_hash": None if self.tx_hash is None else "0x" + self.tx_hash.hex(),
            "block_number": self.block_number,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Receipt:
        """The inverse of ``to_json``.

        Raises:
            ValueError: A field is missing or malformed.
        """
        try:
            proof = data["proof"]
            block = data.get("block_number")
            if not isinstance(proof, dict) or not (block is None or isinstance(block, int)):
                raise ValueError("malformed proof or block number")
            return cls(
                loan_id=str(data["loan_id"]),
                kind=str(data["kind"]),
                member_id=str(data["member_id"]),
                batch_seq=int(str(data["batch_seq"])),
                merkle_root=_hex(data["merkle_root"]),
                proof=InclusionProof.from_json(proof),
                record=_hex(data["record"]),
                salt=None if data.get("salt") is None else _hex(data["salt"]),
                tx_hash=None if data.get("tx_hash") is None else _hex(data["tx_hash"]),
                block_number=block,
            )
        except KeyError as exc:
            raise ValueError(f"the receipt has no {exc.args[0]!r}") from exc


def _hex(value: object) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"not 0x hex: {value!r}")
    return bytes.fromhex(value[2:])


@dataclass(frozen=True)
class SealedBatch:
    """A batch of sealed records and its Merkle tree, ready to anchor."""

    records: tuple[SealedRecord, ...]
    tree: MerkleTree

    @property
    def root(self) -> bytes:
        """The root to anchor."""
        return self.tree.root

    def receipts(
        self,
        member_id: str,
        batch_seq: int,
        *,
        tx_hash: bytes | None = None,
        block_number: int | None = None,
    ) -> list[Receipt]:
        """One receipt per record, in batch order."""
        root = self.tree.root
        return [
            Receipt(
                sealed.loan_id,
                sealed.kind,
                member_id,
                batch_seq,
                root,
                self.tree.proof(index),
                sealed.record,
                sealed.salt,
                tx_hash,
                block_number,
            )
            for index, sealed in enumerate(self.records)
        ]


def seal_batch(events: Sequence[LoanEvent], *, key: bytes) -> SealedBatch:
    """Seal each event (fresh salts) and build the batch's tree.

    Raises:
        RecordError: There are no events, or one cannot be sealed.
    """
    if not events:
        raise RecordError("a batch needs at least one event")
    records = tuple(seal(event, key=key) for event in events)
    return SealedBatch(records, MerkleTree.from_leaf_hashes([r.leaf for r in records]))


@dataclass(frozen=True)
class ReceiptCheck:
    """The off-chain half of a verification (the chain supplies the anchored root)."""

    ok: bool
    reason: str


def check_receipt(
    receipt: Receipt, event: LoanEvent, *, key: bytes, anchored_root: bytes | None
) -> ReceiptCheck:
    """Check a receipt against the registry's event and the root anchored on chain.

    The leaf is recomputed from ``event`` (as the registry holds it now) with the
    receipt's salt; it must equal the leaf the proof proves, the proof must lead to the
    receipt's root, and that root must be the one anchored for the batch.

    Args:
        receipt: The stored receipt.
        event: The loan event rebuilt from the registry.
        key: The consortium's record key.
        anchored_root: The root on chain for ``(receipt.member_id, receipt.batch_seq)``,
            ``None`` if no anchor was found.
    """
    if receipt.salt is None:
        return ReceiptCheck(False, "the record was shredded (no salt): it cannot be linked")
    try:
        recomputed = encode_record(event, key=key, salt=receipt.salt)
    except RecordError as exc:
        return ReceiptCheck(False, f"the registry's loan cannot be encoded: {exc}")
    if leaf_hash(recomputed) != receipt.leaf:
        return ReceiptCheck(False, "the registry's loan does not match the proven record")
    if not verify_inclusion(receipt.leaf, receipt.proof, receipt.merkle_root):
        return ReceiptCheck(False, "the proof does not lead to the receipt's root")
    if anchored_root is None:
        return ReceiptCheck(False, f"batch {receipt.batch_seq} is not anchored on chain")
    if anchored_root != receipt.merkle_root:
        return ReceiptCheck(False, "the root anchored on chain differs from the receipt's")
    return ReceiptCheck(True, "the loan event is in an anchored batch")
