"""How the Redis store keeps ledger receipts: compact bytes, proofs rebuilt from the batch.

A receipt proves one loan event is in an anchored batch.  The first format kept each
as JSON with every hash in ``0x`` hex, the Merkle proof's path included: about 1.4 KB
an event, most of a returned loan's memory.  This format keeps the same facts in
about a sixth of that:

- bytes, not hex; no field names; the loan id left out (it is in the key);
- the proof's path left out when the whole batch is stored at once (as the ledger
  worker stores it): the batch's leaf hashes are kept once, 32 bytes an event, under
  ``{ns}:tree:<root>``, and the path is computed again from them when a proof is asked
  for.  The key is named by the root the leaves hash to, so it is written the same by
  any retry and cannot be mistaken for another batch's.

Nothing is lost: decoding gives back the ``Receipt`` that was stored, path included
(tested).  A batch stored in parts (not every leaf in one call) keeps its paths in its
receipts, since its tree cannot be rebuilt from what was given.

Records of the first format (a JSON object, which starts with ``{``) are still read;
this format's start with a version byte, ``0x01``.  Salts are kept apart (deleting
them is crypto-shredding), now as their 16 raw bytes rather than 32 hex characters;
both are read.

Layout of a receipt (after the version byte)::

    flags       1 byte   1: tx hash kept, 2: block number kept, 4: path in the tree key
    kind        short    a length byte, then UTF-8
    member_id   short
    batch_seq   varint   (unsigned LEB128)
    root        32 bytes
    index       varint
    size        varint
    path        1 byte count, then 32 bytes each (absent with flag 4)
    record      varint length, then the record's bytes
    tx_hash     32 bytes (flag 1)
    block       varint   (flag 2)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from adapters.ledger.merkle import InclusionProof, MerkleTree, leaf_hash
from adapters.ledger.records import SALT_SIZE, Receipt

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "VERSION",
    "Stored",
    "decode_receipt",
    "decode_salt",
    "encode_receipt",
    "whole_trees",
    "with_path",
]

VERSION = 1
_HASH = 32
_TX, _BLOCK, _IN_TREE = 1, 2, 4


class _Reader:
    """Reads the layout's parts off a bytes value, failing with ``ValueError``."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, count: int) -> bytes:
        end = self.at + count
        if end > len(self.data):
            raise ValueError("the receipt is cut short")
        part, self.at = self.data[self.at : end], end
        return part

    def varint(self) -> int:
        value, shift = 0, 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 63:
                raise ValueError("a number in the receipt is too long")

    def short(self) -> str:
        return self.take(self.take(1)[0]).decode()


def _varint(value: int) -> bytes:
    if value < 0:
        raise ValueError("the receipt's numbers are not negative")
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _short(text: str) -> bytes:
    data = text.encode()
    if len(data) > 255:
        raise ValueError(f"{text[:20]!r}… is longer than 255 bytes")
    return bytes([len(data)]) + data


def encode_receipt(receipt: Receipt, *, path_in_tree: bool) -> bytes:
    """A receipt's compact form, without its loan id and salt (kept elsewhere).

    Args:
        receipt: The receipt (its salt is ignored).
        path_in_tree: Leave the proof's path out: the batch's leaves are kept under
            its root (``whole_trees``).

    Raises:
        ValueError: A code is longer than 255 bytes or a hash is not 32 bytes.
    """
    proof = receipt.proof
    hashes = [receipt.merkle_root, *proof.path]
    if receipt.tx_hash is not None:
        hashes.append(receipt.tx_hash)
    if any(len(value) != _HASH for value in hashes):
        raise ValueError("the receipt's hashes are 32 bytes each")
    flags = (
        (_TX if receipt.tx_hash is not None else 0)
        | (_BLOCK if receipt.block_number is not None else 0)
        | (_IN_TREE if path_in_tree else 0)
    )
    parts = [
        bytes([VERSION, flags]),
        _short(receipt.kind),
        _short(receipt.member_id),
        _varint(receipt.batch_seq),
        receipt.merkle_root,
        _varint(proof.index),
        _varint(proof.size),
    ]
    if not path_in_tree:
        parts += [bytes([len(proof.path)]), *proof.path]
    parts += [_varint(len(receipt.record)), receipt.record]
    if receipt.tx_hash is not None:
        parts.append(receipt.tx_hash)
    if receipt.block_number is not None:
        parts.append(_varint(receipt.block_number))
    return b"".join(parts)


@dataclass(frozen=True)
class Stored:
    """A stored receipt read back, before its proof's path is filled in."""

    receipt: Receipt
    path_in_tree: bool


def decode_receipt(loan_id: str, data: bytes, salt: bytes | None) -> Stored:
    """A stored receipt of either format (``path_in_tree``: its path is still empty).

    Raises:
        ValueError: The value is neither format, or is cut short.
    """
    if data[:1] == b"{":
        doc = json.loads(data)
        doc["salt"] = None
        return Stored(replace(Receipt.from_json(doc), salt=salt), path_in_tree=False)
    read = _Reader(data)
    version, flags = read.take(1)[0], read.take(1)[0]
    if version != VERSION:
        raise ValueError(f"receipt format {version} is not known here")
    kind, member_id, batch_seq = read.short(), read.short(), read.varint()
    root, index, size = read.take(_HASH), read.varint(), read.varint()
    path: tuple[bytes, ...] = ()
    if not flags & _IN_TREE:
        path = tuple(read.take(_HASH) for _ in range(read.take(1)[0]))
    record = read.take(read.varint())
    tx_hash = read.take(_HASH) if flags & _TX else None
    block = read.varint() if flags & _BLOCK else None
    if read.at != len(data):
        raise ValueError("the receipt has bytes after its end")
    receipt = Receipt(
        loan_id,
        kind,
        member_id,
        batch_seq,
        root,
        InclusionProof(index, size, path),
        record,
        salt,
        tx_hash,
        block,
    )
    return Stored(receipt, path_in_tree=bool(flags & _IN_TREE))


def decode_salt(value: bytes) -> bytes:
    """A stored salt: its raw bytes, or the first format's hex.

    Raises:
        ValueError: Neither form.
    """
    if len(value) == SALT_SIZE:
        return value
    if len(value) == 2 * SALT_SIZE:
        return bytes.fromhex(value.decode())
    raise ValueError(f"a stored salt is {SALT_SIZE} bytes or {2 * SALT_SIZE} hex digits")


def whole_trees(receipts: Sequence[Receipt]) -> dict[bytes, bytes]:
    """The leaf hashes (joined, in leaf order) of every batch all of whose receipts
    are in ``receipts``, by root; only those whose leaves hash to that root."""
    by_root: dict[bytes, dict[int, bytes]] = {}
    sizes: dict[bytes, set[int]] = {}
    for receipt in receipts:
        by_root.setdefault(receipt.merkle_root, {})[receipt.proof.index] = receipt.leaf
        sizes.setdefault(receipt.merkle_root, set()).add(receipt.proof.size)
    trees: dict[bytes, bytes] = {}
    for root, leaves in by_root.items():
        size = next(iter(sizes[root]))
        if len(sizes[root]) != 1 or sorted(leaves) != list(range(size)):
            continue
        ordered = [leaves[i] for i in range(size)]
        if MerkleTree.from_leaf_hashes(ordered).root == root:
            trees[root] = b"".join(ordered)
    return trees


def with_path(stored: Stored, trees: Mapping[bytes, bytes]) -> Receipt:
    """The receipt with its proof's path computed from its batch's leaves (as kept),
    or left empty when they are missing or do not hold its leaf: the proof then fails
    to check, as a damaged one would."""
    receipt = stored.receipt
    if not stored.path_in_tree:
        return receipt
    joined = trees.get(receipt.merkle_root, b"")
    proof = receipt.proof
    leaves = [joined[i : i + _HASH] for i in range(0, len(joined), _HASH)]
    if len(leaves) != proof.size or not 0 <= proof.index < proof.size:
        return receipt
    if leaves[proof.index] != leaf_hash(receipt.record):
        return receipt
    return replace(receipt, proof=MerkleTree.from_leaf_hashes(leaves).proof(proof.index))
