"""A matplotlib figure as an ``<svg>`` element to put inside an HTML page.

The SVG is made to be embedded and compared: text stays text (so it can be read
by a screen reader, searched, and kept small), the XML prolog and doctype are
dropped, ids are salted with a fixed value so the same chart gives the same bytes,
and the element carries ``role="img"`` with its title as the accessible name.
"""

from __future__ import annotations

import io
import re
from html import escape

from matplotlib import rc_context
from matplotlib.figure import Figure

__all__ = ["new_figure", "to_svg"]

_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.DOTALL)
_SVG_OPEN = re.compile(r"<svg\b")


def new_figure(width_in: float = 6.4, height_in: float = 3.2) -> Figure:
    """A figure sized in inches (96 CSS px each in a page), laid out to fit its labels."""
    return Figure(figsize=(width_in, height_in), layout="constrained")


def to_svg(figure: Figure, *, title: str) -> str:
    """The figure as an ``<svg>`` element named ``title`` for assistive technology."""
    buffer = io.StringIO()
    # Read while the SVG is written, not when the figure is drawn on.
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "interlend"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = _PROLOG.sub("", buffer.getvalue(), count=1)
    label = escape(title, quote=True)
    return _SVG_OPEN.sub(f'<svg role="img" aria-label="{label}"', svg, count=1).strip()
