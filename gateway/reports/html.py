"""The settlement report as one self-contained, accessible HTML page.

Self-contained: the styles are inline and the charts are inline SVG (drawn by
matplotlib on the server, text kept as text), so the file opens from a mail
attachment or a shared drive with no network at all: no scripts, fonts, images or
style sheets are fetched.

Accessible: one ``h1`` and a ``h2`` per part, each chart a ``figure`` with a caption
and an accessible name, the same numbers in a table with a ``caption`` and scoped
headers right after it, text contrast above 7:1, and nothing told by colour alone.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from gateway.reports.charts import allocation_chart, net_position_chart, netting_chart
from gateway.reports.money import format_money
from gateway.reports.records import parties, position, statement_records

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gateway.settlement.result import Settlement

__all__ = ["settlement_html"]

_STYLE = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color: #1a1a1a; background: #ffffff; margin: 0; line-height: 1.45; }
header, main, footer { max-width: 60rem; margin: 0 auto; padding: 0 1.25rem; }
header { border-bottom: 3px solid #0072B2; padding-top: 1rem; }
h1 { font-size: 1.7rem; margin: 0.4rem 0; }
h2 { font-size: 1.3rem; margin: 2rem 0 0.6rem; }
figure { margin: 0.5rem 0 1rem; }
figure svg { max-width: 100%; height: auto; }
figcaption { font-size: 0.9rem; color: #3a3a3a; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: 0.3rem 0; white-space: nowrap; }
th, td { border-bottom: 1px solid #c8c8c8; padding: 0.3rem 0.7rem; text-align: left; }
thead th { border-bottom: 2px solid #1a1a1a; }
td.num, th.num { text-align: right; }
.payable { color: #8a2e00; }
.receivable { color: #004f7c; }
footer { font-size: 0.85rem; color: #3a3a3a; border-top: 1px solid #c8c8c8;
  margin-top: 2rem; padding-bottom: 1rem; }
"""


def _table(
    caption: str, header: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: set[int]
) -> str:
    """A table whose first column heads each row; the cells are already escaped."""

    def cls(index: int) -> str:
        return ' class="num"' if index in numeric else ""

    head = "".join(f'<th scope="col"{cls(i)}>{escape(text)}</th>' for i, text in enumerate(header))
    body = "".join(
        "<tr>"
        + "".join(
            f'<th scope="row">{cell}</th>' if i == 0 else f"<td{cls(i)}>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return (
        f"<table><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>"


def _position(net: int) -> str:
    word = position(net)
    return f'<span class="{word}">{word}</span>'


def settlement_html(settlement: Settlement, *, consortium: str | None = None) -> str:
    """The whole report page for ``settlement`` (``consortium``: the name in the title)."""
    cur = settlement.currency

    def money(amount: int, *, signed: bool = False) -> str:
        return escape(format_money(amount, cur, signed=signed))

    records = statement_records(settlement)
    libraries = [r.statement.library for r in records]
    name = f"{consortium}: settlement" if consortium else "Consortium settlement"
    title = f"{name}, {settlement.period}"
    moved = sum(t.amount for t in settlement.transfers)
    payers = sum(1 for r in records if r.statement.net < 0)
    receivers = sum(1 for r in records if r.statement.net > 0)
    summary = (
        f"{len(records)} libraries; {len(settlement.allocations)} costs and pools shared; "
        f"{len(settlement.transfers)} payments after netting move {money(moved)} in all "
        f"({_count(payers, 'library pays', 'libraries pay')}, "
        f"{_count(receivers, 'receives', 'receive')})."
    )
    statements = _table(
        f"Statements for {settlement.period} (amounts in {cur})",
        ["Library", "Loans lent", "Loans borrowed", "Charges", "Credits", "Net", "Position"],
        [
            [
                escape(r.statement.library),
                str(r.statement.loans_lent),
                str(r.statement.loans_borrowed),
                money(r.statement.charges),
                money(r.statement.credits),
                money(r.statement.net, signed=True),
                _position(r.statement.net),
            ]
            for r in records
        ],
        numeric={1, 2, 3, 4, 5},
    )
    shares = _table(
        f"Each library's share of each cost and pool (amounts in {cur})",
        ["Cost or pool", "Formula", "Side", "Total", *libraries],
        [
            [
                escape(a.cost),
                escape(a.formula),
                escape(a.side),
                money(a.total),
                *(money(a.shares.get(lib, 0)) for lib in libraries),
            ]
            for a in settlement.allocations
        ],
        numeric=set(range(3, 4 + len(libraries))),
    )
    transfers = (
        _table(
            f"Payments that settle {settlement.period} (amounts in {cur})",
            ["Payer", "Payee", "Amount"],
            [[escape(t.payer), escape(t.payee), money(t.amount)] for t in settlement.transfers],
            numeric={2},
        )
        if settlement.transfers
        else "<p>No payments: every library is even.</p>"
    )
    balances = _table(
        f"What each party pays and receives after netting (amounts in {cur})",
        ["Party", "Pays", "Receives"],
        [[escape(p.name), money(p.pays), money(p.receives)] for p in parties(settlement)],
        numeric={1, 2},
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<header>
<h1>{escape(title)}</h1>
<p>Period {escape(settlement.period)}; every amount in {escape(cur)}.</p>
</header>
<main>
<section aria-labelledby="summary">
<h2 id="summary">Summary</h2>
<p>{summary}</p>
</section>
<section aria-labelledby="net">
<h2 id="net">Net position of each library</h2>
{
        _figure(
            net_position_chart(settlement),
            "Credits less charges: a receivable is owed to the library, a payable is owed by it.",
        )
    }
{statements}
</section>
<section aria-labelledby="allocation">
<h2 id="allocation">Allocation per formula</h2>
{
        _figure(
            allocation_chart(settlement),
            "Each cost or pool, split by its formula; one bar per cost in each library's "
            "group; credits are dotted and marked in the legend.",
        )
    }
{shares}
</section>
<section aria-labelledby="netting">
<h2 id="netting">Payables and receivables after netting</h2>
{
        _figure(
            netting_chart(settlement),
            "After netting each library makes or receives a payment or a few; a party "
            "with no statement (the consortium office) is shown too.",
        )
    }
{balances}
{transfers}
</section>
</main>
<footer>
<p>Made by interlend from the consortium loan registry. Amounts are exact: each
share was rounded so that the shares sum to their total.</p>
</footer>
</body>
</html>
"""
