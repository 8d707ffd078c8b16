"""Settlement rounds on the registry: statements as Merkle leaves, and the round's client.

A period's settlement is agreed on chain in one round (the contract's documentation
says how it opens and closes).  This module holds the two things the chain fixes:

* ``StatementLeaf``: one library's statement in its canonical encoding, the leaf data
  of the round's tree.  It is the ABI encoding (``abi.encode``) of::

      (bytes32 "interlend.statement.v1", bytes32 library, bytes32 period,
       bytes32 currency, uint64 loans_lent, uint64 loans_borrowed,
       uint128 charges, uint128 credits)

  the three codes as UTF-8, zero-padded on the right to 32 bytes, the amounts in minor
  units: 256 bytes, hashed as an RFC 6962 leaf (``keccak256(0x00 || data)``, see
  ``merkle.py``).  ABI encoding is fixed-width and unambiguous, and the contract decodes
  the same bytes to check that a library acknowledges only its own statement.  Nothing
  in it is personal: library codes, a period, counts and amounts.
* ``RoundPlan``: the leaves of one period in their canonical order (by library code,
  as UTF-8 bytes), the root and each library's inclusion proof, so that whoever holds
  the same statements computes the same root.
* ``SettlementRounds``: the round's calls on a ``RegistryClient`` (synchronous, like
  it; trio callers run them in a worker thread).

Refusals come back as ``ChainRejected`` with the contract's error name:
``NotAProposer``, ``RoundExists``, ``NoRound``, ``RoundClosed``, ``AlreadyAnswered``,
``NotYourStatement``, ``NotInRound``, ``BadReason``, ``NotAGateway``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_abi.abi import encode as abi_encode
from web3.logs import DISCARD

from .chain import ChainError, member_id_bytes, member_id_text
from .merkle import InclusionProof, MerkleTree, leaf_hash

if TYPE_CHECKING:
    from collections.abc import Iterable

    from web3.contract.contract import ContractFunction
    from web3.types import TxReceipt

    from .chain import RegistryClient

__all__ = [
    "STATEMENT_DOMAIN",
    "Answer",
    "DisputeReason",
    "RoundInfo",
    "RoundPlan",
    "RoundState",
    "SettlementRounds",
    "StatementLeaf",
    "code_bytes",
]

STATEMENT_DOMAIN = b"interlend.statement.v1".ljust(32, b"\x00")
"""The first word of every statement leaf: a leaf of another kind can never pass as one."""

_LEAF_TYPES = [
    "bytes32",
    "bytes32",
    "bytes32",
    "bytes32",
    "uint64",
    "uint64",
    "uint128",
    "uint128",
]
_MAX_COUNT = 2**64 - 1
_MAX_AMOUNT = 2**128 - 1


class RoundState(enum.IntEnum):
    """A round's state (the contract's ``RoundState``)."""

    NONE = 0
    """Never proposed."""
    OPEN = 1
    """Proposed, its window running, not every statement acknowledged yet."""
    AGREED = 2
    """Every statement acknowledged: closed."""
    DISPUTED = 3
    """The window ended with at least one dispute: closed; may be proposed again."""
    LAPSED = 4
    """The window ended without dispute, some libraries silent: closed, accepted."""


class Answer(enum.IntEnum):
    """A library's answer in a round (the contract's ``Answer``)."""

    NONE = 0
    ACKNOWLEDGED = 1
    DISPUTED = 2


class DisputeReason(enum.IntEnum):
    """Why a library disputes its statement (the contract stores the code only)."""

    COUNTS = 1
    """The loan counts are wrong."""
    AMOUNTS = 2
    """The charges or credits are wrong."""
    MEMBERSHIP = 3
    """A statement is missing or should not be there (joined, left, co-owned…)."""
    OTHER = 4
    """Anything else (said off chain)."""


def code_bytes(code: str, what: str) -> bytes:
    """A library code, period label or currency as a ``bytes32`` (UTF-8, zero-padded).

    Raises:
        ValueError: Empty, over 32 bytes, or containing NUL (``what`` names it).
    """
    try:
        return member_id_bytes(code)
    except ValueError:
        raise ValueError(f"a {what} is 1 to 32 bytes of UTF-8 without NUL: {code!r}") from None


@dataclass(frozen=True)
class StatementLeaf:
    """One library's statement as the chain sees it (see the module documentation)."""

    library: str
    period: str
    currency: str
    loans_lent: int
    loans_borrowed: int
    charges: int
    credits: int

    def __post_init__(self) -> None:
        code_bytes(self.library, "library code")
        code_bytes(self.period, "period")
        code = self.currency
        if len(code) != 3 or not (code.isascii() and code.isalpha() and code.isupper()):
            raise ValueError(f"{self.currency!r} is not an ISO 4217 currency code")
        for name, most in (
            ("loans_lent", _MAX_COUNT),
            ("loans_borrowed", _MAX_COUNT),
            ("charges", _MAX_AMOUNT),
            ("credits", _MAX_AMOUNT),
        ):
            value = getattr(self, name)
            if not 0 <= value <= most:
                raise ValueError(f"{name} {value} is outside 0..{most}")

    def words(self) -> tuple[bytes, bytes, bytes, int, int, int, int]:
        """The statement as the contract's ``Statement`` struct."""
        return (
            member_id_bytes(self.library),
            member_id_bytes(self.period),
            member_id_bytes(self.currency),
            self.loans_lent,
            self.loans_borrowed,
            self.charges,
            self.credits,
        )

    def encode(self) -> bytes:
        """The canonical encoding: the leaf's data (256 bytes)."""
        return abi_encode(_LEAF_TYPES, [STATEMENT_DOMAIN, *self.words()])

    @property
    def leaf_hash(self) -> bytes:
        """``keccak256(0x00 || encode())``, as the contract's ``statementLeaf``."""
        return leaf_hash(self.encode())


@dataclass(frozen=True)
class RoundPlan:
    """A period's statements in canonical order, their tree's root and proofs."""

    period: str
    leaves: tuple[StatementLeaf, ...]
    root: bytes

    @classmethod
    def of(cls, statements: Iterable[StatementLeaf]) -> RoundPlan:
        """The plan for one period's statements (any order in, canonical order out).

        Raises:
            ValueError: No statement, statements of several periods, or two of one
                library.
        """
        leaves = tuple(sorted(statements, key=lambda s: s.library.encode()))
        if not leaves:
            raise ValueError("a settlement round needs at least one statement")
        periods = sorted({leaf.period for leaf in leaves})
        if len(periods) > 1:
            raise ValueError(f"the statements are of several periods: {', '.join(periods)}")
        libraries = [leaf.library for leaf in leaves]
        twice = sorted({code for code in libraries if libraries.count(code) > 1})
        if twice:
            raise ValueError(f"more than one statement for {', '.join(twice)}")
        root = MerkleTree([leaf.encode() for leaf in leaves]).root
        return cls(periods[0], leaves, root)

    def _tree(self) -> MerkleTree:
        return MerkleTree([leaf.encode() for leaf in self.leaves])

    def libraries(self) -> list[str]:
        """The libraries with a statement, in leaf order."""
        return [leaf.library for leaf in self.leaves]

    def statement(self, library: str) -> tuple[StatementLeaf, InclusionProof]:
        """``library``'s statement and its inclusion proof.

        Raises:
            KeyError: ``library`` has no statement in this round.
        """
        for index, leaf in enumerate(self.leaves):
            if leaf.library == library:
                return leaf, self._tree().proof(index)
        raise KeyError(library)


@dataclass(frozen=True)
class RoundInfo:
    """A period's latest round on chain."""

    period: str
    state: RoundState
    root: bytes
    size: int
    acknowledged: int
    disputed: int
    deadline: int
    """When the window ends (Unix seconds, the chain's clock)."""
    revision: int
    """1 for the first proposal of the period, 2 after a disputed one is proposed again."""


class SettlementRounds:
    """Settlement rounds through ``client`` (its key acts for its own member only)."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client

    def _read(self, name: str, *args: object) -> Any:
        self.client.require_settlement()
        return self.client.read(name, *args)

    def _send(self, call: ContractFunction) -> TxReceipt:
        self.client.require_settlement()
        return self.client.transact(call)

    # ---- reads ----------------------------------------------------------------------

    def round(self, period: str) -> RoundInfo:
        """The latest round of ``period`` (state ``NONE`` if never proposed)."""
        state, root, size, acked, disputed, deadline, revision = self._read(
            "settlement", code_bytes(period, "period")
        )
        return RoundInfo(
            period,
            RoundState(state),
            bytes(root),
            int(size),
            int(acked),
            int(disputed),
            int(deadline),
            int(revision),
        )

    def answer(self, period: str, library: str) -> Answer:
        """``library``'s answer in the latest round of ``period``."""
        raw = self._read(
            "answerOf", code_bytes(period, "period"), code_bytes(library, "library code")
        )
        return Answer(raw)

    def periods(self) -> list[str]:
        """Every period ever proposed, in order of first proposal."""
        return [member_id_text(bytes(raw)) for raw in self._read("settlementPeriods")]

    def reasons(self, period: str, revision: int) -> dict[str, DisputeReason]:
        """The dispute reason of each library that disputed the round's ``revision``."""
        self.client.require_settlement()
        logs = self.client.events("Disputed", {"period": code_bytes(period, "period")})
        found: dict[str, DisputeReason] = {}
        for log in logs:
            args = log["args"]
            if int(args["revision"]) == revision:
                reason = int(args["reason"])
                known = reason in DisputeReason._value2member_map_
                found[member_id_text(bytes(args["libraryId"]))] = (
                    DisputeReason(reason) if known else DisputeReason.OTHER
                )
        return found

    def statement_leaf_on_chain(self, leaf: StatementLeaf) -> bytes:
        """The contract's own ``statementLeaf`` of ``leaf`` (to cross-check the encoding)."""
        return bytes(self._read("statementLeaf", leaf.words()))

    def verify_statement(self, leaf: StatementLeaf, proof: InclusionProof) -> bool:
        """Whether the contract finds ``leaf`` in the latest round of its period."""
        return bool(self._read("verifyStatement", leaf.words(), proof.index, list(proof.path)))

    # ---- writes ---------------------------------------------------------------------

    def propose(self, plan: RoundPlan) -> RoundInfo:
        """Open ``plan``'s round (the key's member must be a proposer); the round after."""
        f = self.client.contract.functions.proposeSettlement
        self._send(f(code_bytes(plan.period, "period"), plan.root, len(plan.leaves)))
        return self.round(plan.period)

    def acknowledge(self, leaf: StatementLeaf, proof: InclusionProof) -> int:
        """Acknowledge the key's member's own statement; the gas it used."""
        f = self.client.contract.functions.acknowledge
        receipt = self._send(f(leaf.words(), proof.index, list(proof.path)))
        events = self.client.contract.events.Acknowledged().process_receipt(receipt, errors=DISCARD)
        if not events:
            raise ChainError("the acknowledgement was mined without its event")
        return int(receipt["gasUsed"])

    def dispute(self, period: str, reason: DisputeReason) -> int:
        """Dispute the key's member's statement in ``period``'s round; the gas it used."""
        f = self.client.contract.functions.dispute
        receipt = self._send(f(code_bytes(period, "period"), int(reason)))
        return int(receipt["gasUsed"])
