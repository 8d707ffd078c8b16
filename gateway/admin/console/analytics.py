"""The analytics page: how the network was used in a period, in charts with their
tables, and how the libraries' collections overlap.

It computes what ``/api/analytics/usage`` and ``/api/analytics/collection`` compute
(``gateway/analytics``, read through ``gateway/admin/analytics.py``), over the same
periods with the same limit (``MAX_DAYS``): a calendar month (the current one by
default) or a span of days, chosen with GET forms so a view can be kept as a link.
The registry is read once per page; every chart has a table beside it with the same
figures, which is what a screen reader reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters.state.base import StateUnavailable
from gateway.admin.analytics import (
    MAX_DAYS,
    period_choice,
    read_collection,
    read_usage,
    this_month,
)
from gateway.admin.console.analytics_charts import draw_analytics_charts
from gateway.admin.console.layout import data_table, text
from gateway.analytics.weekly import turnaround_by_week
from gateway.history.period import Period
from gateway.history.reader import read_period

if TYPE_CHECKING:
    from collections.abc import Mapping

    from trio import CapacityLimiter

    from gateway.admin.console.analytics_charts import AnalyticsCharts
    from gateway.admin.view import AdminView
    from gateway.analytics.collection import CollectionReport
    from gateway.analytics.stats import Summary
    from gateway.analytics.usage import FillRate, UsageReport

__all__ = [
    "ALL_TITLES",
    "AnalyticsQuery",
    "analytics_body",
    "collection_section",
    "flows_table",
    "net_table",
    "parse_analytics_query",
    "refusal_totals",
    "refusals_table",
    "weekly_table",
]

ALL_TITLES = 1_000_000_000
"""The collection report's list limit on this page: every title, so the never-lent
counts are whole (only the counts are shown, not the lists)."""


@dataclass(frozen=True, slots=True)
class AnalyticsQuery:
    """The period the page shows, and how it was asked for (to fill the forms again)."""

    period: Period
    month: str = ""
    first: str = ""
    last: str = ""


def parse_analytics_query(
    params: Mapping[str, str], default: Period | None = None
) -> AnalyticsQuery | str:
    """The period asked for, or why it cannot be shown.

    ``from`` and ``to`` (both days included) choose a span; else ``period`` is a month
    (``YYYY-MM``) or a span (``YYYY-MM-DD..YYYY-MM-DD``) as the API takes it; else the
    current month (``default``).
    """
    first, last = params.get("from", "").strip(), params.get("to", "").strip()
    if first or last:
        if not (first and last):
            return "choose both the first and the last day"
        asked: str | None = f"{first}..{last}"
    else:
        asked = params.get("period", "").strip() or None
    period = period_choice(asked, default or this_month())
    if isinstance(period, str):
        return period
    is_month = period == Period.parse(period.first.strftime("%Y-%m"))
    if is_month:
        return AnalyticsQuery(period, month=period.label[:7])
    return AnalyticsQuery(period, first=period.first.isoformat(), last=period.last.isoformat())


def _forms(query: AnalyticsQuery | None) -> str:
    month = query.month if query else ""
    first = query.first if query else ""
    last = query.last if query else ""
    return (
        '<div class="periods">'
        '<form class="search" method="get" action="/analytics" aria-label="A month">'
        '<label for="period">Month<input type="month" id="period" name="period" '
        f'value="{text(month)}" placeholder="YYYY-MM" pattern="[0-9]{{4}}-[0-9]{{2}}"></label>'
        '<button type="submit">Show the month</button></form>'
        '<form class="search" method="get" action="/analytics" aria-label="A span of days">'
        '<label for="from">First day'
        f'<input type="date" id="from" name="from" value="{text(first)}"></label>'
        f'<label for="to">Last day<input type="date" id="to" name="to" value="{text(last)}">'
        "</label>"
        '<button type="submit">Show the days</button></form>'
        f'<p class="note">At most {MAX_DAYS} days at a time. Times are UTC.</p></div>'
    )


def _number(value: float | None, shown: str = "{:.1f}") -> str:
    return "—" if value is None else text(shown.format(value))


def _rate(fill: FillRate) -> str:
    rate = fill.rate
    return "—" if rate is None else f"{rate:.0%}"


def flows_table(report: UsageReport) -> str:
    """The flows matrix: a row per lender, a column per borrowing library, and totals."""
    libraries = report.libraries
    rows = [
        (
            f"<strong>{text(lender)}</strong>",
            *(
                "–" if lender == borrower else text(report.flows[lender].get(borrower, 0))
                for borrower in libraries
            ),
            text(sum(report.flows[lender].values())),
        )
        for lender in libraries
    ]
    return data_table(
        "Loans lent by each row's library to each column's patrons",
        ("Lender \\ borrower", *libraries, "Lent"),
        rows,
        numeric=frozenset(range(1, len(libraries) + 2)),
    )


def net_table(report: UsageReport) -> str:
    """Each library's loans lent and borrowed, against its goal ratio."""
    rows = [
        (
            text(n.library),
            text(n.lent),
            text(n.borrowed),
            text(f"{n.net:+d}" if n.net else "0"),
            _number(n.ratio, "{:.2f}"),
            _number(n.goal_ratio, "{:.2f}"),
            _number(n.goal_gap, "{:+.1f}"),
            text(n.position),
        )
        for n in report.net
    ]
    return data_table(
        "Net position against each goal ratio (lent per borrowed)",
        ("Library", "Lent", "Borrowed", "Net", "Ratio", "Goal ratio", "Beyond goal", "Position"),
        rows,
        numeric=frozenset(range(1, 7)),
    )


def weekly_table(report: UsageReport, turnaround: Mapping[str, Summary]) -> str:
    """Per ISO week: loans, refused requests, fill rate and turnaround."""
    rows = []
    for week in report.weeks:
        summary = turnaround.get(week.week)
        rows.append(
            (
                text(week.week),
                text(week.fill.filled),
                text(week.fill.refused),
                _rate(week.fill),
                text(summary.count if summary else 0),
                _number(summary.median if summary else None),
                _number(summary.mean if summary else None),
            )
        )
    return data_table(
        "Fill rate and turnaround (hours, checkout to return) per ISO week of checkout",
        ("Week", "Loans", "Refused", "Fill rate", "Returned", "Median h", "Mean h"),
        rows,
        numeric=frozenset(range(1, 7)),
    )


def refusal_totals(report: UsageReport) -> list[tuple[str, int]]:
    """Refusals per code (every flow), the most frequent first."""
    totals = [(code, sum(by.values())) for code, by in report.refusals_by_borrower.items()]
    return sorted(totals, key=lambda pair: (-pair[1], pair[0]))


def refusals_table(report: UsageReport) -> str:
    """Refusals per code and requesting library."""
    libraries = report.libraries
    rows = [
        (
            f"<code>{text(code)}</code>",
            *(text(report.refusals_by_borrower[code].get(m, 0)) for m in libraries),
            text(total),
        )
        for code, total in refusal_totals(report)
    ]
    return data_table(
        "Refusals by reason code and requesting library",
        ("Code", *libraries, "Total"),
        rows,
        empty="No refusal recorded in the period.",
        numeric=frozenset(range(1, len(libraries) + 2)),
    )


def collection_section(report: CollectionReport) -> str:
    """The collection overlap (pairwise), and each library's unique and never-lent
    titles."""
    libraries = report.libraries
    overlap = data_table(
        "Titles held by both libraries (the diagonal: every title the library holds)",
        ("Library", *libraries),
        (
            (f"<strong>{text(a)}</strong>", *(text(report.overlap[a][b]) for b in libraries))
            for a in libraries
        ),
        numeric=frozenset(range(1, len(libraries) + 1)),
    )
    never = report.held_by_many_never_lent
    counts = data_table(
        f"Unique titles, and titles held by {report.many} or more libraries never lent",
        ("Library", "Titles held", "Held by it alone", "Held by many, never lent"),
        (
            (
                text(m),
                text(report.overlap[m][m]),
                text(report.unique[m]),
                text(sum(1 for t in never if m in t.holders)),
            )
            for m in libraries
        ),
        numeric=frozenset({1, 2, 3}),
    )
    lead = (
        f"<p>{report.titles} titles in {report.copies} copies in the holdings exports; "
        f"{len(never)} title{'s' if len(never) != 1 else ''} held by {report.many} or more "
        "libraries had no loan to another library in the period.</p>"
    )
    return lead + '<div class="pair">' + overlap + counts + "</div>"


def _figure(svg: str, caption: str, table: str, *, beside: bool = True) -> str:
    """A chart with its caption and its table: beside it (a small chart and a narrow
    table) or under it (a wide chart, or a table of many columns)."""
    figure = (
        f'<figure class="chart">{svg}<figcaption class="note">{text(caption)}</figcaption></figure>'
    )
    return f'<div class="pair">{figure}{table}</div>' if beside else figure + table


def _summary(report: UsageReport) -> str:
    fill = report.fill
    median = report.turnaround.median
    return (
        f"<p><strong>{text(report.period)}</strong>: {report.loans} "
        f"loan{'s' if report.loans != 1 else ''} between libraries; fill rate "
        f"{_rate(fill)} ({fill.filled} filled of {fill.requests} requests for an item); "
        f"median turnaround {_number(median)} hours over {report.turnaround.count} "
        "returned.</p>"
    )


def _sections(usage: UsageReport, charts: AnalyticsCharts, weekly: Mapping[str, Summary]) -> str:
    refusals = (
        _figure(charts.refusals, "Refusals per reason code, every flow.", refusals_table(usage))
        if charts.refusals
        else refusals_table(usage)
    )
    return (
        '<section aria-labelledby="flows"><h2 id="flows">Who lent to whom</h2>'
        + _figure(
            charts.flows, "Loans: each row's library lent to each column's.", flows_table(usage)
        )
        + '</section><section aria-labelledby="net"><h2 id="net">Net position</h2>'
        + _figure(
            charts.net,
            "Loans lent and borrowed; the dashed mark is the lent count each goal ratio asks.",
            net_table(usage),
            beside=False,
        )
        + '</section><section aria-labelledby="weeks"><h2 id="weeks">Fill rate and turnaround'
        "</h2>"
        + _figure(
            charts.weekly,
            "Fill rate per week (no point: no request) and median turnaround in hours.",
            weekly_table(usage, weekly),
            beside=False,
        )
        + '</section><section aria-labelledby="refusals"><h2 id="refusals">Refusals</h2>'
        + refusals
        + "</section>"
    )


def _alert(message: str) -> str:
    return f'<p class="error" role="alert">{text(message)}</p>'


async def analytics_body(
    view: AdminView, query: AnalyticsQuery | str, drawing: CapacityLimiter
) -> tuple[int, str]:
    """The analytics page's status code and content for ``query`` (or the reason it
    was refused), its charts drawn under ``drawing``."""
    if isinstance(query, str):
        return 400, _forms(None) + _alert(query)
    period = query.period
    try:
        history = await read_period(view.current()[1].store, period)
        usage = await read_usage(view, period, history)
        collection = await read_collection(view, period, limit=ALL_TITLES, history=history)
    except StateUnavailable as exc:
        return 503, _forms(query) + _alert(f"The loan registry cannot be read: {exc.detail}")
    weekly = turnaround_by_week(history)
    charts = await draw_analytics_charts(
        usage.libraries,
        usage.flows,
        usage.net,
        usage.weeks,
        weekly,
        refusal_totals(usage),
        drawing,
    )
    return 200, (
        _forms(query)
        + _summary(usage)
        + _sections(usage, charts, weekly)
        + '<section aria-labelledby="collection"><h2 id="collection">Collections</h2>'
        + collection_section(collection)
        + "</section>"
    )
