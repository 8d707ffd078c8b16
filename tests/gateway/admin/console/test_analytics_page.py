"""The console's analytics page without a gateway: the period it is asked, its tables
and charts on the hand-made November history (``tests/gateway/analytics/history.py``),
and the page over a registry that answers or cannot be read."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from typing import TYPE_CHECKING, cast

import pytest
import trio

from adapters.state.base import ClosedHold, Loan, RefusalRecord, StateUnavailable
from config.consortium import Consortium, build_consortium
from config.loader import parse_config
from gateway.admin.console.analytics import (
    AnalyticsQuery,
    analytics_body,
    flows_table,
    net_table,
    parse_analytics_query,
    refusals_table,
    weekly_table,
)
from gateway.admin.console.analytics_charts import (
    flows_svg,
    net_position_svg,
    refusals_svg,
    weekly_svg,
)
from gateway.analytics.usage import usage_report
from gateway.analytics.weekly import turnaround_by_week
from gateway.history.period import Period
from gateway.history.reader import PeriodLoans
from gateway.network.discovery import Holding, HoldingsIndex
from tests.gateway.analytics.history import CLOSED_HOLDS, HISTORY, LOANS, NOVEMBER, REFUSALS

if TYPE_CHECKING:
    from datetime import datetime

    from gateway.admin.view import AdminView

LIBRARIES = ("alpha", "beta", "gamma")
REPORT = usage_report(HISTORY, REFUSALS, libraries=LIBRARIES, closed_holds=CLOSED_HOLDS)
WEEKLY = turnaround_by_week(HISTORY)


def _rows(table: str) -> list[list[str]]:
    """A table's body as the text of its cells."""
    body = table.split("<tbody>", 1)[1]
    return [
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body)
    ]


# --- the period ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"period": "2026-13"}, "period: '2026-13' is not a real date"),
        ({"period": "November"}, "period: "),
        ({"from": "2026-11-01"}, "choose both the first and the last day"),
        ({"to": "2026-11-01"}, "choose both the first and the last day"),
        ({"from": "2026-11-09", "to": "2026-11-01"}, "the last day is before the first"),
        ({"from": "2025-01-01", "to": "2026-11-30"}, "at most 366 days at a time (699 asked)"),
    ],
)
def test_a_period_that_cannot_be_shown_says_why(params: dict[str, str], why: str) -> None:
    """Each bad period gets its reason, as the analytics API words it."""
    refused = parse_analytics_query(params, NOVEMBER)
    assert isinstance(refused, str)
    assert why in refused


def test_the_period_is_the_current_month_a_month_or_a_span() -> None:
    """Nothing asked: the default month; a month; a span from the day fields or in the
    API's own form (the forms are filled again with what was asked)."""
    assert parse_analytics_query({}, NOVEMBER) == AnalyticsQuery(NOVEMBER, month="2026-11")
    december = parse_analytics_query({"period": "2026-12"}, NOVEMBER)
    assert december == AnalyticsQuery(Period.parse("2026-12"), month="2026-12")
    days = parse_analytics_query({"from": "2026-11-02", "to": "2026-11-15"}, NOVEMBER)
    assert isinstance(days, AnalyticsQuery)
    assert (days.period.first, days.period.last) == (date(2026, 11, 2), date(2026, 11, 15))
    assert (days.first, days.last, days.month) == ("2026-11-02", "2026-11-15", "")
    same = parse_analytics_query({"period": "2026-11-02..2026-11-15"}, NOVEMBER)
    assert same == days


# --- tables and charts on the hand-made history -------------------------------------------------


def test_the_flows_table_and_heatmap_count_each_loan_once() -> None:
    """November: alpha lent two loans to beta and one to gamma, beta and gamma one each
    to alpha (October's loan left out); the heatmap annotates the same counts and is an
    image with a name."""
    assert _rows(flows_table(REPORT)) == [
        ["alpha", "–", "2", "1", "3"],
        ["beta", "1", "–", "0", "1"],
        ["gamma", "1", "0", "–", "1"],
    ]
    svg = flows_svg(REPORT.libraries, REPORT.flows)
    assert svg.startswith('<svg role="img" aria-label="Loans between libraries')
    shown = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    counts = re.findall(r'<text style="font-weight: 700[^>]*>([^<]*)</text>', svg)
    assert counts == ["2", "1", "1", "0", "1", "0"]  # row by row, the diagonal left out
    assert shown.count("–") == 3
    for library in LIBRARIES:
        assert shown.count(library) == 2  # a row and a column


def test_the_net_position_table_sets_each_library_against_its_goal() -> None:
    """Alpha lent 3 and borrowed 2: with a goal of 1.0 it lent one beyond it; beta lent
    1 and borrowed 2: a goal of 2.0 asks 4, three more; gamma lent 1 and borrowed 1
    (balanced) and has no goal."""
    goals = {"alpha": 1.0, "beta": 2.0, "gamma": None}
    report = usage_report(HISTORY, REFUSALS, libraries=LIBRARIES, goal_ratios=goals)
    assert _rows(net_table(report)) == [
        ["alpha", "3", "2", "+1", "1.50", "1.00", "+1.0", "net lender"],
        ["beta", "1", "2", "-1", "0.50", "2.00", "-3.0", "net borrower"],
        ["gamma", "1", "1", "0", "1.00", "—", "—", "balanced"],
    ]
    svg = net_position_svg(report.net)
    assert 'aria-label="Loans lent and borrowed per library, against each goal ratio"' in svg
    assert "goal for lent" in svg


def test_the_weekly_table_has_every_week_with_fill_rate_and_turnaround() -> None:
    """Weeks 44 to 49 of 2026 touch November; week 45 had three loans (two returned,
    after 72 and 12 hours) and two refused item requests; week 46 one loan back after
    24 hours and one refusal; week 49 the loan of 30 November (48 hours)."""
    rows = _rows(weekly_table(REPORT, WEEKLY))
    assert [r[0] for r in rows] == [f"2026-W{n}" for n in range(44, 50)]
    assert rows[1] == ["2026-W45", "3", "2", "60%", "2", "42.0", "42.0"]
    assert rows[2] == ["2026-W46", "1", "1", "50%", "1", "24.0", "24.0"]
    assert rows[3] == ["2026-W47", "0", "0", "—", "0", "—", "—"]
    assert rows[5][:5] == ["2026-W49", "1", "0", "100%", "1"]
    svg = weekly_svg(REPORT.weeks, WEEKLY)
    assert 'role="img" aria-label="Fill rate and median turnaround per ISO week"' in svg
    assert "2026-W45" in svg


def test_a_year_of_weeks_names_every_fourth_on_the_chart() -> None:
    """Over a year the chart names every fourth week (53 names would overlap); the
    table still lists them all."""
    year = PeriodLoans(Period.parse("2026-01-01..2026-12-31"), LOANS)
    report = usage_report(year, REFUSALS, libraries=LIBRARIES)
    svg = weekly_svg(report.weeks, turnaround_by_week(year))
    assert len(report.weeks) == 53
    assert ">2026-W05<" in svg
    assert ">2026-W02<" not in svg
    assert len(_rows(weekly_table(report, turnaround_by_week(year)))) == 53


def test_refusals_are_counted_by_code_and_requesting_library() -> None:
    """Every November refusal, whatever its flow, under its code and the requesting
    library, the most frequent code first."""
    rows = _rows(refusals_table(REPORT))
    assert sorted(rows) == sorted(
        [
            ["fines", "0", "0", "1", "1"],
            ["loan-refused", "0", "1", "0", "1"],
            ["no-lender", "1", "0", "0", "1"],
            ["pin-wrong", "0", "1", "0", "1"],
            ["renewals", "0", "1", "0", "1"],
        ]
    )
    svg = refusals_svg([("fines", 3), ("no-lender", 1)])
    assert 'aria-label="Refusals by reason code"' in svg
    assert "fines" in svg


# --- the page over a registry -------------------------------------------------------------------


@dataclass
class _Registry:
    """A registry that answers with the hand-made history, or cannot be read."""

    down: bool = False
    loans: Sequence[Loan] = LOANS
    refusals: Sequence[RefusalRecord] = REFUSALS
    closed: Sequence[ClosedHold] = CLOSED_HOLDS

    def _check(self) -> None:
        if self.down:
            raise StateUnavailable("redis at 127.0.0.1:1 did not answer")

    async def loans_between(self, start: datetime, end: datetime) -> list[Loan]:
        self._check()
        return [x for x in self.loans if start <= x.checked_out < end]

    async def refusals_between(self, start: datetime, end: datetime) -> list[RefusalRecord]:
        self._check()
        return [r for r in self.refusals if start <= r.at < end]

    async def title_holds_closed_between(self, start: datetime, end: datetime) -> list[ClosedHold]:
        self._check()
        return [c for c in self.closed if start <= c.ended < end]


@dataclass
class _Services:
    store: _Registry
    holdings: HoldingsIndex = field(default_factory=HoldingsIndex)


@dataclass
class _Rules:
    consortium: Consortium


@dataclass
class _View:
    """What the page reads of a gateway's view: its rules and services."""

    rules: _Rules
    services: _Services

    def current(self) -> tuple[_Rules, _Services]:
        return self.rules, self.services


def _view(registry: _Registry) -> AdminView:
    """A view over ``registry``, the demo's consortium and a small holdings index (the
    page reads only ``current()`` of a gateway's view)."""
    with resources.as_file(resources.files("config").joinpath("demo.toml")) as path:
        config, _, _ = parse_config(path)
    holdings = HoldingsIndex()
    for copy in (
        Holding("alpha", "a1", "A Shared Title", "9780306406157"),
        Holding("beta", "b1", "A Shared Title", "9780306406157"),
        Holding("gamma", "g1", "Held Twice, Lent Never"),
        Holding("beta", "b2", "Held twice lent never"),
        Holding("gamma", "g2", "Only At Gamma"),
    ):
        holdings.add(copy)
    return cast("AdminView", _View(_Rules(build_consortium(config)), _Services(registry, holdings)))


async def test_the_page_shows_every_chart_and_the_collections() -> None:
    """Over the hand-made registry the page has its four charts (each an image with a
    name), their tables, and the collection overlap with unique and never-lent counts."""
    view = _view(_Registry())
    status, body = await analytics_body(
        view, AnalyticsQuery(NOVEMBER, month="2026-11"), trio.CapacityLimiter(1)
    )
    assert status == 200
    assert body.count('<svg role="img" aria-label="') == 4
    assert "5 loans between libraries" in body
    assert 'value="2026-11"' in body
    collection = body.split('id="collection"', 1)[1]
    tables = collection.split("</table>")
    assert _rows(tables[0])[:2] == [["alpha", "1", "1", "0"], ["beta", "1", "2", "1"]]
    assert _rows(tables[1]) == [
        ["alpha", "1", "0", "0"],
        ["beta", "2", "0", "1"],
        ["gamma", "2", "1", "1"],
    ]


async def test_a_month_without_traffic_is_drawn_empty_not_refused() -> None:
    """A month with no loan and no refusal: the charts are drawn (empty), the refusal
    section says there was none, and the summary counts nothing."""
    view = _view(_Registry(loans=(), refusals=(), closed=()))
    status, body = await analytics_body(
        view, AnalyticsQuery(NOVEMBER, month="2026-11"), trio.CapacityLimiter(1)
    )
    assert status == 200
    assert body.count('<svg role="img" aria-label="') == 3
    assert "0 loans between libraries; fill rate —" in body
    assert "No refusal recorded in the period." in body


async def test_a_registry_that_cannot_be_read_is_a_503_with_the_reason() -> None:
    """The page says the registry cannot be read, with the store's own words, and keeps
    the period forms; a bad period is a 400 with its reason before anything is read."""
    view = _view(_Registry(down=True))
    status, body = await analytics_body(
        view, AnalyticsQuery(NOVEMBER, month="2026-11"), trio.CapacityLimiter(1)
    )
    assert status == 503
    assert 'role="alert">The loan registry cannot be read: redis at 127.0.0.1:1' in body
    assert 'name="period"' in body
    bad, refused = await analytics_body(
        view, "choose both the first and the last day", trio.CapacityLimiter(1)
    )
    assert bad == 400
    assert "choose both the first and the last day" in refused
