"""A settlement as plain-text tables for a terminal: statements, shares, payments.

Columns are padded to their widest cell; numbers are right-aligned; money is in major
units with its currency once in each heading, so the columns stay narrow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.reports.money import format_money
from gateway.reports.records import position, statement_records

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gateway.settlement.result import Settlement

__all__ = ["grid", "settlement_table"]


def grid(header: Sequence[str], rows: Sequence[Sequence[str]], *, right: set[int]) -> str:
    """Rows under a header and a rule; columns in ``right`` are right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = (
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def _amount(amount: int, currency: str) -> str:
    # The currency is in the heading: drop it from each cell.
    return format_money(amount, currency).removesuffix(f" {currency}")


def settlement_table(settlement: Settlement) -> str:
    """The settlement for a person at a terminal."""
    cur = settlement.currency
    records = statement_records(settlement)
    statements = grid(
        [
            "library",
            "lent",
            "borrowed",
            f"charges {cur}",
            f"credits {cur}",
            f"net {cur}",
            "position",
        ],
        [
            [
                r.statement.library,
                str(r.statement.loans_lent),
                str(r.statement.loans_borrowed),
                _amount(r.statement.charges, cur),
                _amount(r.statement.credits, cur),
                _amount(r.statement.net, cur),
                position(r.statement.net),
            ]
            for r in records
        ],
        right={1, 2, 3, 4, 5},
    )
    parts = [f"Settlement {settlement.period} ({cur})", "", statements]
    if settlement.allocations:
        libraries = [r.statement.library for r in records]
        shares = grid(
            ["cost", "formula", "side", f"total {cur}", *libraries],
            [
                [
                    a.cost,
                    a.formula,
                    a.side,
                    _amount(a.total, cur),
                    *(_amount(a.shares.get(lib, 0), cur) for lib in libraries),
                ]
                for a in settlement.allocations
            ],
            right=set(range(3, 4 + len(libraries))),
        )
        parts += ["", "Shares of each cost and pool", "", shares]
    parts += ["", "Payments after netting", ""]
    if settlement.transfers:
        parts.append(
            grid(
                ["payer", "payee", f"amount {cur}"],
                [[t.payer, t.payee, _amount(t.amount, cur)] for t in settlement.transfers],
                right={2},
            )
        )
    else:
        parts.append("none: every library is even")
    return "\n".join(parts) + "\n"
