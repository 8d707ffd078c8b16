"""The settlement report's three charts, drawn by matplotlib as inline SVG.

* each library's net position (horizontal bars: receivable right, payable left);
* the allocation per formula side by side (grouped bars: one group per library,
  one bar per cost or pool, labelled with its formula);
* payables and receivables after netting (grouped bars per library).

Colours are the Okabe-Ito palette (told apart with the common colour-vision
deficiencies), and a payable also differs by its hatching, so no chart relies on
colour alone.  Every chart's numbers are also in a table on the page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.charts import new_figure, to_svg
from gateway.reports.money import exponent, major
from gateway.reports.records import parties, statement_records

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from gateway.settlement.result import Settlement

__all__ = ["allocation_chart", "net_position_chart", "netting_chart"]

BLUE = "#0072B2"
VERMILLION = "#D55E00"
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
TEXT = "#1a1a1a"


def _style(axes: Axes, currency: str, *, horizontal: bool = False) -> None:
    axes.spines[["top", "right"]].set_visible(False)
    axes.tick_params(colors=TEXT, labelsize=9)
    label = f"amount ({currency})"
    if horizontal:
        axes.set_xlabel(label, color=TEXT)
        axes.axvline(0, color=TEXT, linewidth=0.8)
        axes.grid(axis="x", color="#d0d0d0", linewidth=0.6)
    else:
        axes.set_ylabel(label, color=TEXT)
        axes.axhline(0, color=TEXT, linewidth=0.8)
        axes.grid(axis="y", color="#d0d0d0", linewidth=0.6)
    axes.set_axisbelow(True)


def net_position_chart(settlement: Settlement) -> str:
    """Each library's net position (credits less charges) as an SVG element."""
    records = statement_records(settlement)
    libraries = [r.statement.library for r in records]
    nets = [major(r.statement.net, settlement.currency) for r in records]
    places = exponent(settlement.currency)
    figure = new_figure(6.4, 0.9 + 0.45 * max(len(libraries), 1))
    axes = figure.add_subplot()
    bars = axes.barh(
        libraries,
        nets,
        color=[BLUE if n >= 0 else VERMILLION for n in nets],
        hatch=None,
    )
    for bar, net in zip(bars, nets, strict=True):
        if net < 0:
            bar.set_hatch("//")
            bar.set_edgecolor("white")
    axes.bar_label(
        bars, labels=[f"{n:+,.{places}f}" for n in nets], padding=3, fontsize=8, color=TEXT
    )
    axes.invert_yaxis()  # the first library on top, as in the table
    axes.margins(x=0.18)
    _style(axes, settlement.currency, horizontal=True)
    return to_svg(
        figure,
        title=f"Net position of each library for {settlement.period}, in "
        f"{settlement.currency}: receivable right of zero, payable left (hatched)",
    )


def allocation_chart(settlement: Settlement) -> str:
    """Every cost's and pool's shares per library, side by side, as an SVG element."""
    libraries = [s.library for s in settlement.statements]
    allocations = settlement.allocations
    figure = new_figure(6.4, 3.4)
    axes = figure.add_subplot()
    count = max(len(allocations), 1)
    width = 0.8 / count
    for index, allocation in enumerate(allocations):
        offsets = [i - 0.4 + width * (index + 0.5) for i in range(len(libraries))]
        heights = [major(allocation.shares.get(lib, 0), settlement.currency) for lib in libraries]
        axes.bar(
            offsets,
            heights,
            width=width,
            label=f"{allocation.cost} ({allocation.formula}"
            + (", credit)" if allocation.side == "credit" else ")"),
            color=PALETTE[index % len(PALETTE)],
            hatch=".." if allocation.side == "credit" else None,
            edgecolor="white",
        )
    axes.set_xticks(range(len(libraries)), libraries)
    if allocations:
        axes.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _style(axes, settlement.currency)
    return to_svg(
        figure,
        title=f"Shares of each cost and pool per library for {settlement.period}, "
        f"in {settlement.currency}, one bar per formula",
    )


def netting_chart(settlement: Settlement) -> str:
    """What each library pays and receives after netting, as an SVG element."""
    everyone = parties(settlement)
    names = [p.name for p in everyone]
    figure = new_figure(6.4, 3.0)
    axes = figure.add_subplot()
    positions = range(len(names))
    pays = axes.bar(
        [i - 0.2 for i in positions],
        [major(p.pays, settlement.currency) for p in everyone],
        width=0.4,
        label="pays (payable)",
        color=VERMILLION,
        hatch="//",
        edgecolor="white",
    )
    receives = axes.bar(
        [i + 0.2 for i in positions],
        [major(p.receives, settlement.currency) for p in everyone],
        width=0.4,
        label="receives (receivable)",
        color=BLUE,
    )
    places = exponent(settlement.currency)
    for bars in (pays, receives):
        labels = [f"{b.get_height():,.{places}f}" if b.get_height() else "" for b in bars]
        axes.bar_label(bars, labels=labels, padding=2, fontsize=8, color=TEXT)
    axes.set_xticks(list(positions), names)
    axes.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes.margins(y=0.15)
    _style(axes, settlement.currency)
    return to_svg(
        figure,
        title=f"Payables and receivables of each party after netting for "
        f"{settlement.period}, in {settlement.currency}",
    )
