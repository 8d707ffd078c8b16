"""The analytics page's charts, drawn by matplotlib into inline SVG.

Each function draws one chart from figures the page also shows as a table (the table is
the accessible alternative; the chart carries ``role="img"`` and a name).  Colours are
the console's and keep their meaning in words too: the legends and the annotated counts
say what each mark is, so colour is never the only cue.  All the page's charts are
drawn in one worker thread under the console's drawing limiter (``charts.py`` says
why).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import trio
from matplotlib.ticker import MaxNLocator

from gateway.charts.svg import new_figure, to_svg

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from gateway.analytics.stats import Summary
    from gateway.analytics.usage import NetPosition, WeekTrend

__all__ = [
    "AnalyticsCharts",
    "draw_analytics_charts",
    "flows_svg",
    "net_position_svg",
    "refusals_svg",
    "weekly_svg",
]

LENT_COLOUR = "#0b4fa8"
BORROWED_COLOUR = "#b35900"
GOAL_COLOUR = "#1b1f24"
HEAT_MAP = "Blues"
WEEKS_ALL_LABELLED = 20
"""Up to this many weeks every week is named on the axis (the table names them all)."""


def flows_svg(libraries: Sequence[str], flows: Mapping[str, Mapping[str, int]]) -> str:
    """A heatmap of loans, a row per lender and a column per borrowing library, each
    cell annotated with its count (a library's own row and column meet in a dash)."""
    size = len(libraries)
    grid = [
        [math.nan if a == b else float(flows.get(a, {}).get(b, 0)) for b in libraries]
        for a in libraries
    ]
    highest = max([1.0, *(v for row in grid for v in row if not math.isnan(v))])
    figure = new_figure(1.8 + 0.9 * max(size, 2), 1.0 + 0.7 * max(size, 2))
    axes = figure.subplots()
    image = axes.imshow(grid, cmap=HEAT_MAP, vmin=0, vmax=highest, aspect="auto")
    for row, values in enumerate(grid):
        for column, value in enumerate(values):
            if math.isnan(value):
                axes.text(column, row, "–", ha="center", va="center", color="#4b5563")
                continue
            dark = value > highest / 2  # white on the darker half of the scale
            axes.text(
                column,
                row,
                f"{value:.0f}",
                ha="center",
                va="center",
                color="white" if dark else "black",
                fontsize=11,
                fontweight="bold",
            )
    axes.set_xticks(range(size), list(libraries))
    axes.set_yticks(range(size), list(libraries))
    axes.xaxis.tick_top()
    axes.xaxis.set_label_position("top")
    axes.set_xlabel("borrowing library (its patrons)")
    axes.set_ylabel("lending library (owner)")
    scale = figure.colorbar(image, ax=axes, label="loans", shrink=0.9)
    scale.locator = MaxNLocator(integer=True)  # loans are whole
    scale.update_ticks()
    return to_svg(figure, title="Loans between libraries: each row lent to each column")


def net_position_svg(net: Sequence[NetPosition]) -> str:
    """Loans lent and borrowed per library side by side, with a mark where the lent
    bar would reach its goal (``goal ratio * borrowed``) for the libraries that have one."""
    figure = new_figure(7.0, 3.2)
    axes = figure.subplots()
    places = range(len(net))
    width = 0.38
    lent = axes.bar(
        [p - width / 2 for p in places],
        [n.lent for n in net],
        width,
        label="lent",
        color=LENT_COLOUR,
    )
    borrowed = axes.bar(
        [p + width / 2 for p in places],
        [n.borrowed for n in net],
        width,
        label="borrowed",
        color=BORROWED_COLOUR,
    )
    axes.bar_label(lent, padding=2, fontsize=9)
    axes.bar_label(borrowed, padding=2, fontsize=9)
    goals = [
        (p, n.goal_ratio * n.borrowed) for p, n in zip(places, net, strict=True) if n.goal_ratio
    ]
    if goals:
        axes.hlines(
            [g for _, g in goals],
            [p - width for p, _ in goals],
            [p for p, _ in goals],
            colors=GOAL_COLOUR,
            linestyles="dashed",
            linewidth=2,
            label="goal for lent (goal ratio × borrowed)",
        )
    axes.set_xticks(list(places), [n.library for n in net])
    axes.set_ylabel("loans")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    tallest = max([1.0, *(n.lent for n in net), *(n.borrowed for n in net), *(g for _, g in goals)])
    axes.set_ylim(0, tallest * 1.3)
    axes.legend(loc="upper right", fontsize=9, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return to_svg(figure, title="Loans lent and borrowed per library, against each goal ratio")


def weekly_svg(weeks: Sequence[WeekTrend], turnaround: Mapping[str, Summary]) -> str:
    """Two panels over the period's ISO weeks: fill rate (a line; a week with no
    request has no point) and median turnaround in hours (bars)."""
    labels = [w.week for w in weeks]
    many = len(labels) > 8
    figure = new_figure(7.0, 4.4 if many else 4.0)
    rate_axes, hours_axes = figure.subplots(2, 1, sharex=True)
    rates = [math.nan if w.fill.rate is None else 100 * w.fill.rate for w in weeks]
    places = list(range(len(labels)))
    rate_axes.plot(places, rates, marker="o", color=LENT_COLOUR, linewidth=2)
    rate_axes.set_ylim(0, 105)
    rate_axes.set_ylabel("fill rate (%)")
    rate_axes.grid(axis="y", color="#d5d9e0")
    medians = [turnaround[w].median if w in turnaround else None for w in labels]
    bars = hours_axes.bar(places, [m or 0.0 for m in medians], color=BORROWED_COLOUR)
    hours_axes.bar_label(
        bars, labels=["" if m is None else f"{m:.0f}" for m in medians], padding=2, fontsize=8
    )
    hours_axes.set_ylabel("median turnaround (h)")
    hours_axes.set_ylim(0, max([1.0, *(m for m in medians if m is not None)]) * 1.3)
    step = 1 if len(labels) <= WEEKS_ALL_LABELLED else 4  # a year: every fourth week named
    hours_axes.set_xticks(
        places,
        [label if n % step == 0 else "" for n, label in enumerate(labels)],
        rotation=90 if many else 0,
        fontsize=8 if many else 9,
    )
    hours_axes.set_xlabel("ISO week of checkout")
    for axes in (rate_axes, hours_axes):
        axes.spines[["top", "right"]].set_visible(False)
    return to_svg(figure, title="Fill rate and median turnaround per ISO week")


def refusals_svg(totals: Sequence[tuple[str, int]]) -> str:
    """A horizontal bar per refusal code: how many requests it refused."""
    figure = new_figure(7.0, 0.9 + 0.4 * max(1, len(totals)))
    axes = figure.subplots()
    bars = axes.barh([code for code, _ in totals], [n for _, n in totals], color=BORROWED_COLOUR)
    axes.bar_label(bars, padding=3, fontsize=9)
    axes.invert_yaxis()  # the most frequent on top, as in the table
    axes.set_xlabel("refusals")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlim(0, max([1, *(n for _, n in totals)]) * 1.2)
    axes.spines[["top", "right"]].set_visible(False)
    return to_svg(figure, title="Refusals by reason code")


@dataclass(frozen=True, slots=True)
class AnalyticsCharts:
    """The page's charts as SVG (``refusals`` is ``None`` with no refusal to draw)."""

    flows: str
    net: str
    weekly: str
    refusals: str | None


def _draw(
    libraries: Sequence[str],
    flows: Mapping[str, Mapping[str, int]],
    net: Sequence[NetPosition],
    weeks: Sequence[WeekTrend],
    turnaround: Mapping[str, Summary],
    refusals: Sequence[tuple[str, int]],
) -> AnalyticsCharts:
    return AnalyticsCharts(
        flows_svg(libraries, flows),
        net_position_svg(net),
        weekly_svg(weeks, turnaround),
        refusals_svg(refusals) if refusals else None,
    )


async def draw_analytics_charts(
    libraries: Sequence[str],
    flows: Mapping[str, Mapping[str, int]],
    net: Sequence[NetPosition],
    weeks: Sequence[WeekTrend],
    turnaround: Mapping[str, Summary],
    refusals: Sequence[tuple[str, int]],
    drawing: trio.CapacityLimiter,
) -> AnalyticsCharts:
    """Every chart of the page, drawn in one worker thread under ``drawing``."""
    work = partial(_draw, libraries, flows, net, weeks, turnaround, refusals)
    return await trio.to_thread.run_sync(work, limiter=drawing)
