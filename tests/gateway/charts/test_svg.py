"""Charts as inline SVG: embeddable, named for assistive technology, repeatable."""

from __future__ import annotations

from gateway.charts import new_figure, to_svg


def _bars() -> str:
    figure = new_figure(4, 2)
    axes = figure.add_subplot()
    axes.bar(["alpha", "beta"], [3, 5])
    axes.set_title("Loans lent")
    return to_svg(figure, title="Loans lent by library")


def test_the_svg_is_an_element_to_embed() -> None:
    """No XML prolog or doctype: the text starts with the <svg> element itself."""
    svg = _bars()
    assert svg.startswith('<svg role="img" aria-label="Loans lent by library"')
    assert svg.endswith("</svg>")
    assert "<?xml" not in svg
    assert "<!DOCTYPE" not in svg


def test_labels_stay_text() -> None:
    """Axis labels are text a screen reader can read, not glyph outlines."""
    svg = _bars()
    assert ">alpha<" in svg
    assert ">beta<" in svg


def test_the_same_chart_gives_the_same_bytes() -> None:
    """Fixed id salt and no date: reports can be compared and cached."""
    assert _bars() == _bars()


def test_the_title_is_escaped() -> None:
    """A library name with markup in it cannot break out of the attribute."""
    figure = new_figure(2, 1)
    figure.add_subplot().plot([0, 1], [0, 1])
    svg = to_svg(figure, title='a "quoted" <name>')
    assert 'aria-label="a &quot;quoted&quot; &lt;name&gt;"' in svg
