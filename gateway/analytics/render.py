"""The analytics reports as text: aligned tables for a terminal, or CSV.

The CSV is one long table, ``section,library,other,metric,value``, so every figure of a
report is one row a spreadsheet can pivot (``other`` is the second library of a pair,
a refusal code, an hour or a week; empty where a figure has none).  JSON is each
report's own ``to_json``.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from gateway.analytics.collection import CollectionReport
    from gateway.analytics.stats import Summary
    from gateway.analytics.usage import FillRate, UsageReport

__all__ = ["CSV_COLUMNS", "collection_csv", "collection_table", "usage_csv", "usage_table"]

CSV_COLUMNS = ("section", "library", "other", "metric", "value")

Row = tuple[str, str, str, str, object]


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _table(title: str, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A titled table, the first column left-aligned and the others right-aligned."""
    cells = [list(headers), *([_cell(v) for v in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [title]
    for row in cells:
        first = row[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join([first, *rest]).rstrip())
    return "\n".join(lines)


def _rate(fill: FillRate) -> str:
    rate = fill.rate
    return "-" if rate is None else f"{rate:.1%}"


def _summary(label: str, summary: Summary) -> list[object]:
    return [label, summary.count, summary.mean, summary.median, summary.p95]


def _flow_row(report: UsageReport, lender: str) -> list[object]:
    return [report.flows[lender].get(b, "-") if b != lender else "-" for b in report.libraries]


def usage_table(report: UsageReport) -> str:
    """The usage report as aligned tables."""
    libs = report.libraries
    fill = report.fill
    parts = [
        f"Usage {report.period}: {report.loans} loans between libraries; fill rate "
        f"{_rate(fill)} ({fill.filled} filled of {fill.requests} requests for an item)",
        _table(
            "Flows (each row lent to each column)",
            ["lender", *libs, "total"],
            (
                [
                    a,
                    *(report.flows[a].get(b, "-") if a != b else "-" for b in libs),
                    sum(report.flows[a].values()),
                ]
                for a in libs
            ),
        ),
        _table(
            "Net positions (goal gap = lent - goal ratio * borrowed)",
            ["library", "lent", "borrowed", "net", "ratio", "goal", "goal gap", "position"],
            (
                [
                    n.library,
                    n.lent,
                    n.borrowed,
                    n.net,
                    n.ratio,
                    n.goal_ratio,
                    n.goal_gap,
                    n.position,
                ]
                for n in report.net
            ),
        ),
        _table(
            "Fill rate = filled / (filled + refused requests for an item)",
            ["library", "as borrower", "requests", "as lender", "requests"],
            (
                [
                    m,
                    _rate(report.fill_by_borrower[m]),
                    report.fill_by_borrower[m].requests,
                    _rate(report.fill_by_lender[m]),
                    report.fill_by_lender[m].requests,
                ]
                for m in libs
            ),
        ),
        _table(
            "Turnaround: checkout to return of returned loans (hours), by lender",
            ["lender", "returned", "mean", "median", "p95"],
            [
                *(_summary(m, report.turnaround_by_lender[m]) for m in libs),
                _summary("consortium", report.turnaround),
            ],
        ),
        _table(
            "Refusals by code and requesting library",
            ["code", *libs],
            (
                [code, *(row.get(m, 0) for m in libs)]
                for code, row in report.refusals_by_borrower.items()
            ),
        ),
        _table(
            "Title holds ended at lenders, and time to fill (hours, placed to filled)",
            ["lender", "filled", "withdrawn", "expired", "median", "p95"],
            (
                [m, *h.outcomes.values(), h.time_to_fill.median, h.time_to_fill.p95]
                for m, h in [*report.holds_by_lender.items(), ("consortium", report.holds)]
            ),
        ),
        _table(
            "Loans by hour of checkout (UTC)",
            ["hour", "loans"],
            ([f"{h:02d}", n] for h, n in enumerate(report.hours) if n),
        ),
        _table(
            "Weeks",
            ["week", "loans", "refused", "fill rate"],
            ([w.week, w.fill.filled, w.fill.refused, _rate(w.fill)] for w in report.weeks),
        ),
    ]
    return "\n\n".join(parts) + "\n"


def _usage_rows(report: UsageReport) -> Iterator[Row]:
    yield ("loans", "", "", "loans", report.loans)
    for lender, row in report.flows.items():
        for borrower, count in row.items():
            yield ("flows", lender, borrower, "loans", count)
    for net in report.net:
        for metric, value in net.to_json().items():
            if metric != "library":
                yield ("net", net.library, "", metric, value)
    yield from _fill_rows("fill_rate", "", report.fill)
    for side, fills in (("borrower", report.fill_by_borrower), ("lender", report.fill_by_lender)):
        for library, fill in fills.items():
            yield from _fill_rows(f"fill_rate_as_{side}", library, fill)
    for library, summary in [("", report.turnaround), *report.turnaround_by_lender.items()]:
        for metric, value in summary.to_json().items():
            yield ("turnaround", library, "", metric, value)
    for section, table in (
        ("refusals_by_borrower", report.refusals_by_borrower),
        ("refusals_by_lender", report.refusals_by_lender),
    ):
        for code, row in table.items():
            for library, count in row.items():
                yield (section, library, code, "refusals", count)
    for library, ended in [("", report.holds), *report.holds_by_lender.items()]:
        for outcome, count in ended.outcomes.items():
            yield ("holds", library, outcome, "holds", count)
        for metric, value in ended.time_to_fill.to_json().items():
            yield ("holds_time_to_fill", library, "", metric, value)
    for hour, count in enumerate(report.hours):
        yield ("busiest_hours", "", f"{hour:02d}", "loans", count)
    for week in report.weeks:
        for metric, value in week.to_json().items():
            if metric != "week":
                yield ("weeks", "", week.week, metric, value)


def _fill_rows(section: str, library: str, fill: FillRate) -> Iterator[Row]:
    for metric, value in fill.to_json().items():
        yield (section, library, "", metric, value)


def _csv(rows: Iterable[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(("" if v is None else v for v in row) for row in rows)
    return out.getvalue()


def usage_csv(report: UsageReport) -> str:
    """The usage report as CSV (see the module documentation)."""
    return _csv(_usage_rows(report))


def collection_table(report: CollectionReport) -> str:
    """The collection report as aligned tables."""
    libs = report.libraries
    parts = [
        f"Collection: {report.titles} titles in {report.copies} copies at {len(libs)} libraries; "
        f"{report.loans} loans between libraries counted",
        _table(
            "Titles held by both (the diagonal: every title each holds)",
            ["library", *libs, "unique"],
            ([a, *(report.overlap[a][b] for b in libs), report.unique[a]] for a in libs),
        ),
        _table(
            f"Held by {report.many} or more libraries and never lent",
            ["title", "isbn", "holders"],
            ([t.title, t.isbn, ", ".join(t.holders)] for t in report.held_by_many_never_lent),
        ),
        _table(
            "Top borrowed titles",
            ["title", "isbn", "loans", "holders"],
            ([t.title, t.isbn, t.loans, len(t.holders)] for t in report.top_borrowed_titles),
        ),
        _table(
            "Items lent most",
            ["item", "owner", "title", "loans"],
            ([i.item, i.owner, i.title, i.loans] for i in report.most_lent_items),
        ),
    ]
    if report.loans_unmatched:
        parts.append(f"{report.loans_unmatched} loans were of items missing from the exports")
    return "\n\n".join(parts) + "\n"


def _collection_rows(report: CollectionReport) -> Iterator[Row]:
    yield ("totals", "", "", "titles", report.titles)
    yield ("totals", "", "", "copies", report.copies)
    yield ("totals", "", "", "loans", report.loans)
    yield ("totals", "", "", "loans_unmatched", report.loans_unmatched)
    for a, row in report.overlap.items():
        for b, count in row.items():
            yield ("overlap", a, b, "titles", count)
    for library, count in report.unique.items():
        yield ("unique", library, "", "titles", count)
    for title in report.held_by_many_never_lent:
        yield (
            "held_by_many_never_lent",
            ";".join(title.holders),
            title.title,
            "holders",
            len(title.holders),
        )
    for title in report.top_borrowed_titles:
        yield ("top_borrowed_titles", ";".join(title.holders), title.title, "loans", title.loans)
    for item in report.most_lent_items:
        yield ("most_lent_items", item.owner, item.item, "loans", item.loans)


def collection_csv(report: CollectionReport) -> str:
    """The collection report as CSV (see the module documentation)."""
    return _csv(_collection_rows(report))
