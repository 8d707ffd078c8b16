"""One invoice per library per period, and the netting statement (who pays whom).

An invoice shows a library what it is charged and credited for the period (its
statement), how its shares came about (each cost or pool, its formula, the total and
the library's share), and the single payment or receipt it settles with after netting.
Charges and credits are the statement's; the share lines, each marked ``charge`` or
``credit``, show how they came about.

Names are stable like the settlement's (``docs/reports.md``); amounts are integer minor
units under keys ending in ``_minor``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from gateway.reports.records import (
    TRANSFER_COLUMNS,
    parties,
    position,
    statement_fields,
    transfer_rows,
)
from gateway.reports.tabular import to_csv, to_json
from gateway.settlement.statement import Statement

if TYPE_CHECKING:
    from gateway.settlement.result import Settlement

__all__ = [
    "INVOICE_COLUMNS",
    "INVOICE_SCHEMA",
    "NETTING_SCHEMA",
    "Invoice",
    "invoices",
    "netting_csv",
    "netting_json",
    "statements_file",
]

INVOICE_SCHEMA = "interlend.invoice/1"
NETTING_SCHEMA = "interlend.netting/1"
INVOICE_COLUMNS = (
    "invoice",
    "period",
    "library",
    "currency",
    "line",
    "cost",
    "formula",
    "side",
    "counterparty",
    "amount_minor",
)
"""CSV columns; ``line`` is one of ``loans_lent``, ``loans_borrowed`` (counts in
``amount_minor``), ``share``, ``charges``, ``credits``, ``net``, ``pay``, ``receive``."""


@dataclass(frozen=True)
class Invoice:
    """What one library is billed and credited for one period."""

    statement: Statement
    shares: tuple[tuple[str, str, str, int, int], ...]
    """(cost, formula, side, total, the library's share) for each cost or pool."""
    pay: tuple[tuple[str, int], ...]
    """(payee, amount) of each payment the library makes after netting."""
    receive: tuple[tuple[str, int], ...]
    """(payer, amount) of each payment the library receives after netting."""

    @property
    def number(self) -> str:
        """The invoice's number: ``<period>/<library>``, unique in the consortium."""
        return f"{self.statement.period}/{self.statement.library}"

    def to_document(self) -> dict[str, object]:
        """The invoice as a JSON-ready document (``INVOICE_SCHEMA``)."""
        return {
            "schema": INVOICE_SCHEMA,
            "invoice": self.number,
            **statement_fields(self.statement),
            "shares": [
                {"cost": c, "formula": f, "side": side, "total_minor": t, "share_minor": share}
                for c, f, side, t, share in self.shares
            ],
            "pay": [{"payee": who, "amount_minor": amount} for who, amount in self.pay],
            "receive": [{"payer": who, "amount_minor": amount} for who, amount in self.receive],
        }

    def to_json(self) -> str:
        """The invoice as canonical JSON text."""
        return to_json(self.to_document())

    def to_csv(self) -> str:
        """The invoice as CSV lines (``INVOICE_COLUMNS``)."""
        s = self.statement

        def line(kind: str, amount: int, **more: str) -> dict[str, object]:
            base = {"invoice": self.number, "period": s.period, "library": s.library}
            return {**base, "currency": s.currency, "line": kind, "amount_minor": amount, **more}

        rows = [
            line("loans_lent", s.loans_lent),
            line("loans_borrowed", s.loans_borrowed),
            *(
                line("share", share, cost=c, formula=f, side=side)
                for c, f, side, _, share in self.shares
            ),
            line("charges", s.charges),
            line("credits", s.credits),
            line("net", s.net),
            *(line("pay", amount, counterparty=who) for who, amount in self.pay),
            *(line("receive", amount, counterparty=who) for who, amount in self.receive),
        ]
        return to_csv(INVOICE_COLUMNS, rows)


def invoices(settlement: Settlement) -> list[Invoice]:
    """One invoice per library, in the settlement's order."""
    found = []
    for statement in settlement.statements:
        library = statement.library
        found.append(
            Invoice(
                statement=statement,
                shares=tuple(
                    (a.cost, a.formula, a.side, a.total, a.shares[library])
                    for a in settlement.allocations
                    if library in a.shares
                ),
                pay=tuple((t.payee, t.amount) for t in settlement.transfers if t.payer == library),
                receive=tuple(
                    (t.payer, t.amount) for t in settlement.transfers if t.payee == library
                ),
            )
        )
    return found


def netting_csv(settlement: Settlement) -> str:
    """The netting statement as CSV: one row per payment."""
    return to_csv(TRANSFER_COLUMNS, transfer_rows(settlement))


def netting_json(settlement: Settlement) -> str:
    """The netting statement as JSON: the payments and each library's balance."""
    return to_json(
        {
            "schema": NETTING_SCHEMA,
            "period": settlement.period,
            "currency": settlement.currency,
            "transfers": [
                {"payer": t.payer, "payee": t.payee, "amount_minor": t.amount}
                for t in settlement.transfers
            ],
            "balances": [
                {"library": s.library, "net_minor": s.net, "position": position(s.net)}
                for s in settlement.statements
            ],
            "parties": [
                {"party": p.name, "pays_minor": p.pays, "receives_minor": p.receives}
                for p in parties(settlement)
            ],
        }
    )


def statements_file(settlement: Settlement) -> str:
    """The statements as the chain's settlement round reads them (``interlend ledger
    settle … --statements FILE``): a JSON list of objects with exactly the
    ``Statement`` fields, amounts in minor units (docs/settlement-rounds.md)."""
    return to_json([asdict(statement) for statement in settlement.statements])
