"""Charts drawn on the server by matplotlib into inline SVG, for reports and the console.

No pyplot (it keeps global state and is not thread-safe): a chart is a
:class:`matplotlib.figure.Figure` made by :func:`new_figure` and turned into an
``<svg>`` element by :func:`to_svg`.
"""

from gateway.charts.svg import new_figure, to_svg

__all__ = ["new_figure", "to_svg"]
