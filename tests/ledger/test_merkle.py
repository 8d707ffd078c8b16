"""The Merkle tree: RFC 6962's shape, proofs that verify, and proofs that must not."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from web3 import Web3

from adapters.ledger.merkle import (
    InclusionProof,
    MerkleTree,
    empty_root,
    leaf_hash,
    node_hash,
    root_from_proof,
    verify_inclusion,
)

if TYPE_CHECKING:
    from collections.abc import Sequence


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def reference_root(leaves: Sequence[bytes]) -> bytes:
    """MTH as RFC 6962 §2.1 defines it, recursively."""
    if not leaves:
        return bytes(Web3.keccak(b""))
    if len(leaves) == 1:
        return bytes(Web3.keccak(b"\x00" + leaves[0]))
    k = _split(len(leaves))
    return bytes(Web3.keccak(b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:])))


def reference_path(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) as RFC 6962 §2.1.1 defines it, recursively."""
    if len(leaves) <= 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*reference_path(index, leaves[:k]), reference_root(leaves[k:])]
    return [*reference_path(index - k, leaves[k:]), reference_root(leaves[:k])]


leaf_lists = st.lists(st.binary(min_size=0, max_size=40), min_size=1, max_size=70)


def test_hashes_are_domain_separated_keccak() -> None:
    """A leaf hashes with prefix 0x00 and a node with 0x01, both keccak256."""
    assert leaf_hash(b"abc") == bytes(Web3.keccak(b"\x00abc"))
    assert node_hash(b"L" * 32, b"R" * 32) == bytes(Web3.keccak(b"\x01" + b"L" * 32 + b"R" * 32))
    assert empty_root() == bytes(Web3.keccak(b""))
    # A node's two children, taken together as one leaf, do not hash to the node.
    left, right = leaf_hash(b"a"), leaf_hash(b"b")
    assert leaf_hash(left + right) != node_hash(left, right)


@pytest.mark.parametrize("size", [*range(130), 255, 256, 257, 1000])
def test_root_matches_the_rfc_definition(size: int) -> None:
    """The bottom-up tree has RFC 6962's root for every size (odd nodes rise, never doubled)."""
    leaves = [i.to_bytes(4, "big") for i in range(size)]
    assert MerkleTree(leaves).root == reference_root(leaves)


def test_no_duplicate_leaf_trick() -> None:
    """Repeating the last leaf changes the root (unlike trees that pad by duplication)."""
    leaves = [b"a", b"b", b"c"]
    assert MerkleTree(leaves).root != MerkleTree([*leaves, b"c"]).root


@pytest.mark.slow
@given(leaf_lists, st.data())
def test_proofs_are_the_rfc_paths(leaves: list[bytes], data: st.DataObject) -> None:
    """A proof's path is RFC 6962's PATH for that leaf."""
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = MerkleTree(leaves).proof(index)
    assert list(proof.path) == reference_path(index, leaves)
    assert (proof.index, proof.size) == (index, len(leaves))


@pytest.mark.slow
@given(leaf_lists)
def test_every_leaf_proof_verifies(leaves: list[bytes]) -> None:
    """Every leaf's proof leads to the root."""
    tree = MerkleTree(leaves)
    for index, data in enumerate(leaves):
        assert verify_inclusion(leaf_hash(data), tree.proof(index), tree.root)


@pytest.mark.slow
@given(leaf_lists, st.data())
def test_a_changed_leaf_fails(leaves: list[bytes], data: st.DataObject) -> None:
    """Another record's hash does not verify with a leaf's proof."""
    tree = MerkleTree(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    other = data.draw(st.binary(max_size=40))
    assume(other != leaves[index])
    assert not verify_inclusion(leaf_hash(other), tree.proof(index), tree.root)


@pytest.mark.slow
@given(leaf_lists.filter(lambda leaves: len(leaves) > 1), st.data())
def test_a_changed_proof_fails(leaves: list[bytes], data: st.DataObject) -> None:
    """Flipping any bit of any node of a proof, or dropping a node, breaks it."""
    tree = MerkleTree(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = tree.proof(index)
    leaf = leaf_hash(leaves[index])
    at = data.draw(st.integers(0, len(proof.path) - 1))
    bit = data.draw(st.integers(0, 255))
    flipped = bytearray(proof.path[at])
    flipped[bit // 8] ^= 1 << (bit % 8)
    path = list(proof.path)
    path[at] = bytes(flipped)
    assert not verify_inclusion(leaf, InclusionProof(index, proof.size, tuple(path)), tree.root)
    del path[at]
    assert not verify_inclusion(leaf, InclusionProof(index, proof.size, tuple(path)), tree.root)


@pytest.mark.slow
@given(leaf_lists.filter(lambda leaves: len(set(leaves)) > 1), st.data())
def test_another_leafs_proof_fails(leaves: list[bytes], data: st.DataObject) -> None:
    """A leaf does not verify with the proof of a different leaf."""
    tree = MerkleTree(leaves)
    i = data.draw(st.integers(0, len(leaves) - 1))
    j = data.draw(st.integers(0, len(leaves) - 1))
    assume(leaves[i] != leaves[j])
    assert not verify_inclusion(leaf_hash(leaves[i]), tree.proof(j), tree.root)


@pytest.mark.parametrize(
    ("index", "size", "path"),
    [
        (3, 3, ()),  # index out of range
        (0, 0, ()),  # empty tree
        (0, 2, ()),  # too short
        (0, 1, (b"\x00" * 32,)),  # too long
        (0, 2, (b"\x00" * 31,)),  # a node of the wrong size
    ],
)
def test_malformed_proofs_lead_nowhere(index: int, size: int, path: tuple[bytes, ...]) -> None:
    """A proof that cannot belong to a tree of its size yields no root."""
    assert root_from_proof(leaf_hash(b"x"), InclusionProof(index, size, path)) is None


def test_single_leaf_and_empty_tree() -> None:
    """One leaf: the root is its hash and the proof empty; no leaves: H() and no proofs."""
    tree = MerkleTree([b"only"])
    assert tree.root == leaf_hash(b"only")
    assert tree.proof(0).path == ()
    empty = MerkleTree([])
    assert empty.root == empty_root()
    assert len(empty) == 0
    with pytest.raises(IndexError):
        empty.proof(0)


def test_from_leaf_hashes_matches() -> None:
    """A tree built from known leaf hashes equals one built from the data."""
    leaves = [bytes([i]) * 3 for i in range(11)]
    by_data = MerkleTree(leaves)
    by_hash = MerkleTree.from_leaf_hashes([leaf_hash(x) for x in leaves])
    assert by_hash.root == by_data.root
    assert by_hash.proof(7) == by_data.proof(7)
    assert by_hash.leaf(7) == leaf_hash(leaves[7])


def test_proof_json_round_trip() -> None:
    """A proof survives JSON; a malformed one is refused."""
    proof = MerkleTree([b"a", b"b", b"c", b"d", b"e"]).proof(2)
    assert InclusionProof.from_json(proof.to_json()) == proof
    with pytest.raises(ValueError, match="32-byte"):
        InclusionProof.from_json({"index": 0, "size": 2, "path": ["0x00"]})
    with pytest.raises(ValueError, match="integer"):
        InclusionProof.from_json({"index": "0", "size": 2, "path": []})
