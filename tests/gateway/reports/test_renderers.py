"""The settlement's renderings, known answers on a settlement built by hand
(``sample.SAMPLE``), and properties over settlements hypothesis builds."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.reports.html import settlement_html
from gateway.reports.invoices import invoices, netting_csv, netting_json
from gateway.reports.money import format_money
from gateway.reports.records import STATEMENT_COLUMNS, parties
from gateway.reports.table import settlement_table
from gateway.reports.tabular import (
    allocations_csv,
    settlement_csv,
    settlement_json,
    transfers_csv,
)
from gateway.settlement.result import Allocation, Settlement, Transfer
from gateway.settlement.statement import Statement
from tests.gateway.reports.sample import SAMPLE


@pytest.mark.parametrize(
    ("amount", "currency", "signed", "text"),
    [
        (123_456, "USD", False, "1,234.56 USD"),
        (-5, "EUR", False, "-0.05 EUR"),
        (5_000, "USD", True, "+50.00 USD"),
        (0, "USD", True, "0.00 USD"),
        (1_234_567, "JPY", False, "1,234,567 JPY"),
        (1_234_567, "KWD", False, "1,234.567 KWD"),
    ],
)
def test_money_is_written_exactly_in_major_units(
    amount: int, currency: str, signed: bool, text: str
) -> None:
    """Minor units become major units with the currency's own decimals, no float."""
    assert format_money(amount, currency, signed=signed) == text


def test_the_table_reads_as_a_person_expects() -> None:
    """Statements, shares and payments, aligned, money in major units."""
    assert settlement_table(SAMPLE) == (
        "Settlement 2026-11 (USD)\n"
        "\n"
        "library  lent  borrowed  charges USD  credits USD  net USD  position\n"
        "-------  ----  --------  -----------  -----------  -------  ----------\n"
        "alpha      40       130       520.00       120.00  -400.00  payable\n"
        "beta       70        60       300.00       350.00    50.00  receivable\n"
        "gamma     110        30       180.00       530.00   350.00  receivable\n"
        "\n"
        "Shares of each cost and pool\n"
        "\n"
        "cost         formula       side    total USD   alpha    beta   gamma\n"
        "-----------  ------------  ------  ---------  ------  ------  ------\n"
        "borrowing    proportional  charge   1,000.00  520.00  300.00  180.00\n"
        "net-lending  two-pool      credit   1,000.00  120.00  350.00  530.00\n"
        "\n"
        "Payments after netting\n"
        "\n"
        "payer  payee  amount USD\n"
        "-----  -----  ----------\n"
        "alpha  gamma      350.00\n"
        "alpha  beta        50.00\n"
    )


def test_the_csv_has_its_documented_columns_and_integer_amounts() -> None:
    """One row per library; amounts in minor units; what netting makes of each."""
    assert settlement_csv(SAMPLE) == (
        "period,library,currency,loans_lent,loans_borrowed,charges_minor,credits_minor,"
        "net_minor,position,pays_minor,receives_minor\r\n"
        "2026-11,alpha,USD,40,130,52000,12000,-40000,payable,40000,0\r\n"
        "2026-11,beta,USD,70,60,30000,35000,5000,receivable,0,5000\r\n"
        "2026-11,gamma,USD,110,30,18000,53000,35000,receivable,0,35000\r\n"
    )
    assert allocations_csv(SAMPLE).splitlines()[:2] == [
        "period,currency,cost,formula,side,total_minor,library,share_minor",
        "2026-11,USD,borrowing,proportional,charge,100000,alpha,52000",
    ]
    assert transfers_csv(SAMPLE).splitlines() == [
        "period,currency,payer,payee,amount_minor",
        "2026-11,USD,alpha,gamma,35000",
        "2026-11,USD,alpha,beta,5000",
    ]


def test_the_json_document_holds_the_whole_settlement() -> None:
    """Statements, allocations with their shares, transfers; canonical bytes."""
    text = settlement_json(SAMPLE)
    document = json.loads(text)
    assert document["schema"] == "interlend.settlement/1"
    assert (document["period"], document["currency"]) == ("2026-11", "USD")
    assert [s["library"] for s in document["statements"]] == ["alpha", "beta", "gamma"]
    assert set(document["statements"][0]) == set(STATEMENT_COLUMNS)
    assert document["statements"][2]["net_minor"] == 35_000
    assert document["allocations"][1] == {
        "cost": "net-lending",
        "formula": "two-pool",
        "side": "credit",
        "total_minor": 100_000,
        "shares_minor": {"alpha": 12_000, "beta": 35_000, "gamma": 53_000},
    }
    assert document["transfers"] == [
        {"payer": "alpha", "payee": "gamma", "amount_minor": 35_000},
        {"payer": "alpha", "payee": "beta", "amount_minor": 5_000},
    ]
    assert text == settlement_json(SAMPLE)  # the same settlement gives the same bytes
    assert text.endswith("}\n")


def test_each_library_gets_an_invoice_with_its_shares_and_payments() -> None:
    """Alpha's invoice: its shares, totals and the two payments it makes."""
    alpha, beta, _ = invoices(SAMPLE)
    assert alpha.number == "2026-11/alpha"
    assert alpha.to_csv().splitlines() == [
        "invoice,period,library,currency,line,cost,formula,side,counterparty,amount_minor",
        "2026-11/alpha,2026-11,alpha,USD,loans_lent,,,,,40",
        "2026-11/alpha,2026-11,alpha,USD,loans_borrowed,,,,,130",
        "2026-11/alpha,2026-11,alpha,USD,share,borrowing,proportional,charge,,52000",
        "2026-11/alpha,2026-11,alpha,USD,share,net-lending,two-pool,credit,,12000",
        "2026-11/alpha,2026-11,alpha,USD,charges,,,,,52000",
        "2026-11/alpha,2026-11,alpha,USD,credits,,,,,12000",
        "2026-11/alpha,2026-11,alpha,USD,net,,,,,-40000",
        "2026-11/alpha,2026-11,alpha,USD,pay,,,,gamma,35000",
        "2026-11/alpha,2026-11,alpha,USD,pay,,,,beta,5000",
    ]
    document = json.loads(beta.to_json())
    assert document["schema"] == "interlend.invoice/1"
    assert (document["position"], document["net_minor"]) == ("receivable", 5_000)
    assert document["pay"] == []
    assert document["receive"] == [{"payer": "alpha", "amount_minor": 5_000}]


def test_the_netting_statement_says_who_pays_whom() -> None:
    """The payments, and each library's balance."""
    assert netting_csv(SAMPLE).splitlines()[1] == "2026-11,USD,alpha,gamma,35000"
    document = json.loads(netting_json(SAMPLE))
    assert document["schema"] == "interlend.netting/1"
    assert document["balances"][0] == {
        "library": "alpha",
        "net_minor": -40_000,
        "position": "payable",
    }


def test_the_html_page_is_self_contained_and_accessible() -> None:
    """One page: headings, captioned tables, three named charts, nothing fetched."""
    page = settlement_html(SAMPLE, consortium="Demo Library Consortium")
    assert page.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert page.count("<h1>") == 1
    assert "<title>Demo Library Consortium: settlement, 2026-11</title>" in page
    assert page.count("<h2 ") == 4
    assert page.count("<caption>") == 4
    assert page.count("<svg ") == 3
    assert len(re.findall(r'<svg role="img" aria-label="[^"]+"', page)) == 3
    assert page.count("<figcaption>") == 3
    # Nothing to fetch: no scripts, style sheets, images or frames, and no link or
    # CSS url() but to the page itself (the SVG's clip paths); the URLs left are XML
    # namespace names, which are never fetched.
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", page)
    assert not re.search(r"\b(src|href)=\"(?!#)", page)
    assert not re.search(r"url\((?!#)", page)
    assert "@import" not in page
    assert "+350.00 USD" in page
    assert '<span class="payable">payable</span>' in page


def test_a_party_without_a_statement_is_in_the_netting() -> None:
    """Libraries paying the consortium office: it shows in the netting table, chart
    and statement, after the libraries."""
    office = dataclasses.replace(
        SAMPLE,
        statements=(
            Statement("2026-11", "alpha", "USD", 0, 0, 30_000, 0),
            Statement("2026-11", "beta", "USD", 0, 0, 20_000, 0),
        ),
        transfers=(Transfer("alpha", "demo", 30_000), Transfer("beta", "demo", 20_000)),
    )
    assert [(p.name, p.pays, p.receives) for p in parties(office)] == [
        ("alpha", 30_000, 0),
        ("beta", 20_000, 0),
        ("demo", 0, 50_000),
    ]
    assert json.loads(netting_json(office))["parties"][2] == {
        "party": "demo",
        "pays_minor": 0,
        "receives_minor": 50_000,
    }
    page = settlement_html(office)
    assert '<th scope="row">demo</th><td class="num">0.00 USD</td>' in page
    assert page.count(">demo</text>") == 1  # the netting chart's tick label


def test_an_even_period_has_no_payments_and_still_renders() -> None:
    """No costs and no transfers: every rendering says so instead of failing."""
    even = Settlement("2026-10", "JPY", (), (Statement("2026-10", "alpha", "JPY", 0, 0, 0, 0),), ())
    assert "none: every library is even" in settlement_table(even)
    assert "No payments: every library is even." in settlement_html(even)
    assert settlement_csv(even).splitlines()[1] == "2026-10,alpha,JPY,0,0,0,0,0,even,0,0"


_LIBRARIES = ("alpha", "beta", "gamma", "delta")


@st.composite
def settlements(draw: st.DrawFn) -> Settlement:
    """Settlements whose statements and transfers agree (each net settled by transfers)."""
    libraries = draw(st.lists(st.sampled_from(_LIBRARIES), min_size=2, max_size=4, unique=True))
    transfers = []
    for _ in range(draw(st.integers(0, 5))):
        payer, payee = draw(st.permutations(libraries))[:2]
        transfers.append(Transfer(payer, payee, draw(st.integers(1, 10**7))))
    statements = []
    for library in libraries:
        net = sum(t.amount for t in transfers if t.payee == library) - sum(
            t.amount for t in transfers if t.payer == library
        )
        charges = draw(st.integers(0, 10**7))
        statements.append(
            Statement("2026-11", library, "EUR", draw(st.integers(0, 999)),
                      draw(st.integers(0, 999)), charges, charges + net)
            if charges + net >= 0
            else Statement("2026-11", library, "EUR", 0, 0, -net, 0)
        )  # fmt: skip
    total = draw(st.integers(0, 10**6))
    shares = dict.fromkeys(libraries, 0)
    shares[libraries[0]] = total
    allocation = Allocation("platform", "equal", total, shares)
    return Settlement("2026-11", "EUR", (allocation,), tuple(statements), tuple(transfers))


@settings(max_examples=40)
@given(settlements())
def test_every_rendering_accounts_for_every_minor_unit(settlement: Settlement) -> None:
    """CSV, JSON and invoices carry the same amounts: payments sum to what was moved,
    each library's pays and receives match its net."""
    moved = sum(t.amount for t in settlement.transfers)
    rows = list(csv.DictReader(io.StringIO(settlement_csv(settlement))))
    assert sum(int(r["pays_minor"]) for r in rows) == moved
    assert sum(int(r["receives_minor"]) for r in rows) == moved
    for row in rows:
        assert int(row["receives_minor"]) - int(row["pays_minor"]) == int(row["net_minor"])
    document = json.loads(settlement_json(settlement))
    assert sum(t["amount_minor"] for t in document["transfers"]) == moved
    paid = sum(amount for invoice in invoices(settlement) for _, amount in invoice.pay)
    assert paid == moved
