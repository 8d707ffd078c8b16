"""The page-test helper itself: it sees what a page draws and what it logs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.helpers.browser import visit

if TYPE_CHECKING:
    from pathlib import Path

_PAGE = """<!doctype html><html lang="en"><head><title>t</title></head><body>
<svg width="40" height="20"><rect width="10" height="10"/>
<rect x="20" width="10" height="10"/></svg>
<script>%s</script></body></html>"""


def test_a_clean_page_is_seen_with_its_chart(tmp_path: Path) -> None:
    """Two rectangles are counted, nothing is logged, and a screenshot is written."""
    page = tmp_path / "clean.html"
    page.write_text(_PAGE % "", encoding="utf-8")
    seen = visit(page.as_uri(), count=("svg rect",), screenshot="helper-clean.png")
    seen.assert_clean()
    assert seen.found == {"svg rect": 2}
    assert seen.screenshot is not None
    assert seen.screenshot.stat().st_size > 0


def test_a_console_error_is_caught(tmp_path: Path) -> None:
    """A script error on the page is reported, so page tests can fail on it."""
    page = tmp_path / "broken.html"
    page.write_text(_PAGE % "console.error('chart failed')", encoding="utf-8")
    seen = visit(page.as_uri())
    assert seen.console_errors == ["chart failed"]
