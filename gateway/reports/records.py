"""A settlement flattened into records with stable names: what CSV, JSON, the table,
the HTML page and the webhook all print.

The names are a public contract (``docs/reports.md``): a consortium office loads these
files into spreadsheets and accounting systems for years.  Add keys; never rename one.
Amounts are integer minor units, and their keys end in ``_minor``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.settlement.statement import Statement

if TYPE_CHECKING:
    from gateway.settlement.result import Settlement, Transfer

__all__ = [
    "ALLOCATION_COLUMNS",
    "SCHEMA",
    "STATEMENT_COLUMNS",
    "TRANSFER_COLUMNS",
    "Party",
    "StatementRecord",
    "allocation_rows",
    "parties",
    "position",
    "settlement_document",
    "statement_fields",
    "statement_records",
    "transfer_rows",
]

SCHEMA = "interlend.settlement/1"
"""The JSON document's ``schema``: bumped only if a key changes meaning."""

STATEMENT_COLUMNS = (
    "period",
    "library",
    "currency",
    "loans_lent",
    "loans_borrowed",
    "charges_minor",
    "credits_minor",
    "net_minor",
    "position",
    "pays_minor",
    "receives_minor",
)
ALLOCATION_COLUMNS = (
    "period",
    "currency",
    "cost",
    "formula",
    "side",
    "total_minor",
    "library",
    "share_minor",
)
TRANSFER_COLUMNS = ("period", "currency", "payer", "payee", "amount_minor")


def position(net: int) -> str:
    """``receivable`` (owed money), ``payable`` (owes money) or ``even``."""
    return "receivable" if net > 0 else "payable" if net < 0 else "even"


@dataclass(frozen=True)
class StatementRecord:
    """One library's statement with what netting makes of it."""

    statement: Statement
    pays: int
    """What the library pays in all after netting (its transfers as payer)."""
    receives: int
    """What the library receives in all after netting (its transfers as payee)."""

    def row(self) -> dict[str, str | int]:
        """The record under ``STATEMENT_COLUMNS``."""
        return {
            **statement_fields(self.statement),
            "pays_minor": self.pays,
            "receives_minor": self.receives,
        }


def statement_fields(s: Statement) -> dict[str, str | int]:
    """A statement's figures under their report names (statements and invoices)."""
    return {
        "period": s.period,
        "library": s.library,
        "currency": s.currency,
        "loans_lent": s.loans_lent,
        "loans_borrowed": s.loans_borrowed,
        "charges_minor": s.charges,
        "credits_minor": s.credits,
        "net_minor": s.net,
        "position": position(s.net),
    }


def _paid(transfers: tuple[Transfer, ...], library: str) -> tuple[int, int]:
    pays = sum(t.amount for t in transfers if t.payer == library)
    receives = sum(t.amount for t in transfers if t.payee == library)
    return pays, receives


def statement_records(settlement: Settlement) -> list[StatementRecord]:
    """Every library's statement, in the settlement's order."""
    return [
        StatementRecord(s, *_paid(settlement.transfers, s.library)) for s in settlement.statements
    ]


@dataclass(frozen=True)
class Party:
    """Someone who pays or receives after netting: a library, or a party that has no
    statement (the consortium office that collects the shared costs)."""

    name: str
    pays: int
    receives: int


def parties(settlement: Settlement) -> list[Party]:
    """Every payer and payee: the libraries in the settlement's order, then the others
    in the order they first appear in the transfers."""
    names = [s.library for s in settlement.statements]
    for transfer in settlement.transfers:
        for name in (transfer.payer, transfer.payee):
            if name not in names:
                names.append(name)
    return [Party(name, *_paid(settlement.transfers, name)) for name in names]


def allocation_rows(settlement: Settlement) -> list[dict[str, str | int]]:
    """One row per (allocation, library) under ``ALLOCATION_COLUMNS``, in order;
    ``side`` is ``charge`` (the library pays its share) or ``credit`` (it is paid it)."""
    return [
        {
            "period": settlement.period,
            "currency": settlement.currency,
            "cost": allocation.cost,
            "formula": allocation.formula,
            "side": allocation.side,
            "total_minor": allocation.total,
            "library": library,
            "share_minor": share,
        }
        for allocation in settlement.allocations
        for library, share in allocation.shares.items()
    ]


def transfer_rows(settlement: Settlement) -> list[dict[str, str | int]]:
    """One row per payment under ``TRANSFER_COLUMNS``, in order."""
    return [
        {
            "period": settlement.period,
            "currency": settlement.currency,
            "payer": t.payer,
            "payee": t.payee,
            "amount_minor": t.amount,
        }
        for t in settlement.transfers
    ]


def settlement_document(settlement: Settlement) -> dict[str, object]:
    """The whole settlement as one JSON-ready document (``SCHEMA``)."""
    return {
        "schema": SCHEMA,
        "period": settlement.period,
        "currency": settlement.currency,
        "statements": [record.row() for record in statement_records(settlement)],
        "allocations": [
            {
                "cost": a.cost,
                "formula": a.formula,
                "side": a.side,
                "total_minor": a.total,
                "shares_minor": dict(a.shares),
            }
            for a in settlement.allocations
        ],
        "transfers": [
            {"payer": t.payer, "payee": t.payee, "amount_minor": t.amount}
            for t in settlement.transfers
        ],
    }
