"""Settlement rounds from the gateway's side: statements in, the round on chain out.

The settlement engine writes one ``Statement`` per library (``gateway/settlement``);
the report's JSON export writes them to a file; here they become the round's leaves
(``adapters/ledger/rounds.py`` fixes the encoding), and a round's state on chain
becomes a ``RoundStatus`` for the command line and ``GET /api/settlements``.

The statements file is a JSON list of objects with exactly the ``Statement`` fields::

    [{"period": "2026-11", "library": "alpha", "currency": "EUR",
      "loans_lent": 12, "loans_borrowed": 4, "charges": 30500, "credits": 52250}, …]

Everything here but ``read_statements``' file read and the ``RoundPlan`` arithmetic
blocks on the chain (web3 is synchronous): trio callers run it in a worker thread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from adapters.ledger.merkle import InclusionProof, verify_inclusion
from adapters.ledger.rounds import (
    Answer,
    DisputeReason,
    RoundInfo,
    RoundPlan,
    RoundState,
    StatementLeaf,
)
from gateway.settlement.statement import Statement

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from adapters.ledger.rounds import SettlementRounds

__all__ = [
    "STATEMENT_FIELDS",
    "LibraryAnswer",
    "RoundStatus",
    "StatementsFileError",
    "leaf_of",
    "parse_statements",
    "plan_for",
    "read_statements",
    "round_status",
]

STATEMENT_FIELDS = tuple(f.name for f in fields(Statement))
_INTEGER_FIELDS = {"loans_lent", "loans_borrowed", "charges", "credits"}


class StatementsFileError(ValueError):
    """A statements file that cannot be read (the message says where and why)."""


def leaf_of(statement: Statement) -> StatementLeaf:
    """A statement as the round's leaf.

    Raises:
        ValueError: It cannot go on chain (a code over 32 bytes, an amount too large).
    """
    return StatementLeaf(
        library=statement.library,
        period=statement.period,
        currency=statement.currency,
        loans_lent=statement.loans_lent,
        loans_borrowed=statement.loans_borrowed,
        charges=statement.charges,
        credits=statement.credits,
    )


def parse_statements(text: str, *, source: str = "the statements") -> list[Statement]:
    """Statements from the file's JSON text (see the module documentation).

    Raises:
        StatementsFileError: Not JSON, not a list of objects, a field missing, extra or
            of the wrong type, or a statement the ``Statement`` type refuses.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StatementsFileError(
            f"{source} are not JSON: {exc.msg} at line {exc.lineno}"
        ) from None
    if not isinstance(data, list):
        raise StatementsFileError(f"{source} must be a JSON list of statements")
    statements = []
    for index, item in enumerate(data):
        where = f"{source}, statement {index + 1}"
        if not isinstance(item, dict):
            raise StatementsFileError(f"{where}: not an object")
        missing = [name for name in STATEMENT_FIELDS if name not in item]
        extra = sorted(set(item) - set(STATEMENT_FIELDS))
        if missing or extra:
            detail = "; ".join(
                part
                for part in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"unknown {', '.join(extra)}" if extra else "",
                )
                if part
            )
            raise StatementsFileError(f"{where}: {detail}")
        for name in STATEMENT_FIELDS:
            value = item[name]
            wanted = int if name in _INTEGER_FIELDS else str
            if not isinstance(value, wanted) or isinstance(value, bool):
                kind = "an integer" if wanted is int else "a string"
                raise StatementsFileError(f"{where}: {name} must be {kind}, not {value!r}")
        try:
            statements.append(Statement(**item))
        except ValueError as exc:
            raise StatementsFileError(f"{where}: {exc}") from None
    return statements


def read_statements(path: Path) -> list[Statement]:
    """The statements in the file at ``path``.

    Raises:
        StatementsFileError: It cannot be read, or is not a statements file.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise StatementsFileError(f"cannot read {path}: {reason}") from None
    return parse_statements(text, source=str(path))


def plan_for(statements: Iterable[Statement], period: str) -> RoundPlan:
    """The round plan of ``period`` from its statements.

    Raises:
        StatementsFileError: A statement of another period, none at all, two of one
            library, or one that cannot go on chain.
    """
    chosen = list(statements)
    other = sorted({s.period for s in chosen} - {period})
    if other:
        raise StatementsFileError(
            f"the statements are for {', '.join(other)}, not only for --period {period}"
        )
    try:
        return RoundPlan.of(leaf_of(s) for s in chosen)
    except ValueError as exc:
        raise StatementsFileError(str(exc)) from None


@dataclass(frozen=True)
class LibraryAnswer:
    """One library's answer in a round, and what its statement proves."""

    library: str
    answer: Answer
    reason: DisputeReason | None = None
    proven: bool | None = None
    """With the statements at hand: whether the library's statement proves against the
    round's root, checked off chain and by the contract (``None``: not checked)."""
    leaf: StatementLeaf | None = None
    proof: InclusionProof | None = None
    """With the statements at hand: the statement and its inclusion proof, which anyone
    can check against the root on chain (``verifyStatement``) or off it."""

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form."""
        data: dict[str, object] = {"answer": self.answer.name.lower()}
        if self.reason is not None:
            data["reason"] = self.reason.name.lower()
        if self.proven is not None:
            data["proven"] = self.proven
        if self.leaf is not None and self.proof is not None:
            data["leaf_hash"] = "0x" + self.leaf.leaf_hash.hex()
            data["proof"] = self.proof.to_json()
        return data


@dataclass(frozen=True)
class RoundStatus:
    """A period's latest round with each library's answer."""

    round: RoundInfo
    answers: tuple[LibraryAnswer, ...]
    matches: bool | None = None
    """With the statements at hand: whether they give the round's root."""

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form (times in UTC, hashes as ``0x`` hex)."""
        r = self.round
        data: dict[str, object] = {
            "period": r.period,
            "state": r.state.name.lower(),
            "revision": r.revision,
            "root": "0x" + r.root.hex(),
            "statements": r.size,
            "acknowledged": r.acknowledged,
            "disputed": r.disputed,
            "deadline": datetime.fromtimestamp(r.deadline, UTC).isoformat().replace("+00:00", "Z")
            if r.deadline
            else None,
            "libraries": {a.library: a.to_json() for a in self.answers},
        }
        if self.matches is not None:
            data["statements_match"] = self.matches
        return data


def round_status(
    rounds: SettlementRounds,
    period: str,
    libraries: Sequence[str],
    plan: RoundPlan | None = None,
) -> RoundStatus:
    """The round of ``period`` with the answers of ``libraries`` (blocking).

    With ``plan`` (the statements at hand) each of its statements is also proven
    against the round's root, off chain and by the contract, and the plan's libraries
    are the ones listed.
    """
    info = rounds.round(period)
    if info.state is RoundState.NONE:
        return RoundStatus(info, ())
    reasons = rounds.reasons(period, info.revision) if info.disputed else {}
    listed = plan.libraries() if plan is not None else list(libraries)
    answers = []
    for library in listed:
        proven = leaf = proof = None
        if plan is not None:
            leaf, proof = plan.statement(library)
            proven = verify_inclusion(leaf.leaf_hash, proof, info.root) and rounds.verify_statement(
                leaf, proof
            )
        answer = rounds.answer(period, library)
        answers.append(LibraryAnswer(library, answer, reasons.get(library), proven, leaf, proof))
    matches = None if plan is None else plan.root == info.root and len(plan.leaves) == info.size
    return RoundStatus(info, tuple(answers), matches)


ROUNDS_LISTED = 24
"""``GET /api/settlements`` lists this many periods at most, the latest first."""


def settlements_overview(rounds: SettlementRounds, limit: int = ROUNDS_LISTED) -> dict[str, object]:
    """Every recent round with each current member's answer, JSON-ready (blocking).

    On a registry that predates settlement rounds: ``supported`` false and the reason.
    """
    from adapters.ledger.chain import SettlementUnsupported

    client = rounds.client
    try:
        periods = rounds.periods()
    except SettlementUnsupported as exc:
        return {"supported": False, "reason": str(exc), "rounds": []}
    members = [m.member_id for m in client.members() if m.gateway is not None]
    return {
        "supported": True,
        "contract": client.address,
        "dispute_window_s": client.dispute_window(),
        "proposers": [m for m in members if client.is_proposer(m)],
        "rounds": [
            round_status(rounds, period, members).to_json() for period in reversed(periods[-limit:])
        ],
    }
