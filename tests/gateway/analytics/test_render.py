"""The reports as tables and CSV."""

from __future__ import annotations

import csv
import io

from gateway.analytics.collection import collection_report
from gateway.analytics.render import (
    CSV_COLUMNS,
    collection_csv,
    collection_table,
    usage_csv,
    usage_table,
)
from gateway.analytics.usage import usage_report

from .history import HISTORY, REFUSALS
from .test_collection import HOLDINGS, LOANS

USAGE = usage_report(HISTORY, REFUSALS, libraries=("alpha", "beta", "gamma"))


def rows(text: str) -> list[dict[str, str]]:
    """The CSV's rows, after checking its header."""
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    return list(reader)


def test_the_usage_table_shows_the_flows_and_the_fill_rate() -> None:
    """The headline states the definition's figures; the flows row of alpha reads
    ``- 2 1 3`` (none to itself, two to beta, one to gamma, three in all)."""
    text = usage_table(USAGE)
    assert text.startswith(
        "Usage 2026-11: 5 loans between libraries; fill rate 62.5% (5 filled of 8 requests"
    )
    assert any(line.split() == ["alpha", "-", "2", "1", "3"] for line in text.splitlines())


def test_the_usage_csv_has_one_figure_a_row() -> None:
    """Flows sum to the loans; every refusal is a row by code and library."""
    found = rows(usage_csv(USAGE))
    flows = [r for r in found if r["section"] == "flows"]
    assert sum(int(r["value"]) for r in flows) == 5
    refusals = {
        (r["library"], r["other"]): r["value"]
        for r in found
        if r["section"] == "refusals_by_borrower"
    }
    assert refusals[("alpha", "no-lender")] == "1"
    assert len([r for r in found if r["section"] == "busiest_hours"]) == 24


def test_the_collection_table_and_csv() -> None:
    """The overlap matrix with each library's unique titles; the CSV's overlap rows."""
    report = collection_report(HOLDINGS, LOANS, libraries=("alpha", "beta", "gamma"))
    text = collection_table(report)
    assert any(line.split() == ["alpha", "3", "2", "1", "1"] for line in text.splitlines())
    assert "1 loans were of items missing from the exports" in text
    overlap = [r for r in rows(collection_csv(report)) if r["section"] == "overlap"]
    assert len(overlap) == 9
    assert {(r["library"], r["other"], r["value"]) for r in overlap} >= {("beta", "gamma", "2")}
