"""The console's charts, drawn by matplotlib into inline SVG (``gateway/charts/svg.py``).

Drawing a chart takes tens of milliseconds of CPU, and the admin port shares the
gateway's event loop with the kiosks, so charts are drawn in a worker thread, one
at a time (matplotlib's settings are process-wide): the console holds one limiter
for its charts and passes it in.
"""

from __future__ import annotations

from functools import partial

import trio

from gateway.charts.svg import new_figure, to_svg

__all__ = ["latency_chart", "latency_svg"]

BAR_COLOUR = "#0b4fa8"


def latency_svg(latencies: list[tuple[str, float | None]]) -> str:
    """A horizontal bar per endpoint: its average latency in milliseconds (``None``:
    not measured yet, written as such beside an empty bar)."""
    figure = new_figure(7.0, 0.8 + 0.4 * max(1, len(latencies)))
    axes = figure.subplots()
    labels = [label for label, _ in latencies]
    values = [ms or 0.0 for _, ms in latencies]
    bars = axes.barh(labels, values, color=BAR_COLOUR)
    written = [f"{ms:.1f} ms" if ms is not None else "not measured yet" for _, ms in latencies]
    axes.bar_label(bars, labels=written, padding=3, fontsize=9)
    axes.invert_yaxis()  # the first library on top, as in the table
    axes.set_xlabel("average latency (ms)")
    axes.set_xlim(0, max([*values, 1.0]) * 1.25)
    axes.spines[["top", "right"]].set_visible(False)
    return to_svg(figure, title="Average ILS latency per library endpoint")


async def latency_chart(
    latencies: list[tuple[str, float | None]], drawing: trio.CapacityLimiter
) -> str:
    """``latency_svg``, drawn in a worker thread under the ``drawing`` limiter."""
    return await trio.to_thread.run_sync(partial(latency_svg, latencies), limiter=drawing)
