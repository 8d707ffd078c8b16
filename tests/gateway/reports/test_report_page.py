"""The HTML settlement report as a person sees it, in headless Chromium."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.reports.html import settlement_html
from tests.gateway.reports.sample import SAMPLE
from tests.helpers.browser import visit

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Page


def test_the_report_opens_offline_with_its_three_charts(tmp_path: Path) -> None:
    """The page draws three SVG charts with their bars, logs nothing, fetches nothing
    (not even from disk), and a screenshot is left to look at."""
    page_file = tmp_path / "settlement-2026-11.html"
    page_file.write_text(settlement_html(SAMPLE, consortium="Demo Library Consortium"))
    fetched: list[int] = []

    def count_resources(page: Page) -> None:
        fetched.append(page.evaluate("performance.getEntriesByType('resource').length"))

    seen = visit(
        page_file.as_uri(),
        screenshot="settlement-report.png",
        count=("figure svg", "figure svg path", "table caption", "h2"),
        act=count_resources,
    )
    seen.assert_clean()
    assert fetched == [0]
    assert seen.found["figure svg"] == 3
    assert seen.found["figure svg path"] > 30  # bars, ticks and axes are drawn
    assert seen.found["table caption"] == 4
    assert seen.found["h2"] == 4
    assert seen.screenshot is not None
    assert seen.screenshot.stat().st_size > 20_000
