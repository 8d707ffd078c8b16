"""Pages opened in Debian's headless Chromium, driven by Playwright's Python API.

Playwright never downloads a browser here: it launches the ``chromium`` the
machine has (``/usr/bin/chromium``, or ``INTERLEND_CHROMIUM``).  Where there is
none the page tests skip with the reason, and fail under
``INTERLEND_REQUIRE_SERVICES=1`` like the other tests that need a real part.

Each ``visit`` launches its own browser; tests that open many pages share one
with ``browsing()`` (a module-scoped fixture, say), whose ``visit`` opens each page
in a fresh context (no cookies carried from one visit to the next) of the same
Chromium.

Playwright's synchronous API blocks, so a trio test runs a visit in a worker
thread (``await trio.to_thread.run_sync(partial(visit, url, ...))``) while the
page's server keeps answering on the test's own loop.  Screenshots go under
``build/screenshots/`` (or ``INTERLEND_SCREENSHOTS``) so a person can look at
them after the run.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from tests.helpers.services import missing_service

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["Browsing", "PageVisit", "browsing", "chromium_path", "screenshot_dir", "visit"]

_DEFAULT_CHROMIUM = "/usr/bin/chromium"


def chromium_path() -> str:
    """The Chromium to launch; skips (or fails, where services are required) without one."""
    wanted = os.environ.get("INTERLEND_CHROMIUM", _DEFAULT_CHROMIUM)
    found = shutil.which(wanted) if not os.path.isabs(wanted) else wanted
    if found is None or not os.access(found, os.X_OK):
        missing_service(
            f"no Chromium at {wanted} (Debian's `chromium` package; "
            "`apt-get install chromium`, or set INTERLEND_CHROMIUM)"
        )
        raise AssertionError("unreachable: missing_service skips or fails")
    return found


def screenshot_dir() -> Path:
    """Where page tests leave their screenshots (created on demand)."""
    folder = Path(os.environ.get("INTERLEND_SCREENSHOTS", "build/screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class PageVisit:
    """What a visit saw: the final HTML, console errors, failed requests, the screenshot."""

    url: str
    status: int | None
    html: str
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    found: dict[str, int] = field(default_factory=dict)

    def assert_clean(self) -> None:
        """Fail with what went wrong if the page logged an error or a request failed."""
        assert self.console_errors == [], f"console errors on {self.url}: {self.console_errors}"
        assert self.failed_requests == [], f"failed requests on {self.url}: {self.failed_requests}"


@contextmanager
def browsing() -> Iterator[Browsing]:
    """One headless Chromium for several visits, closed at the end."""
    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            yield Browsing(browser)
        finally:
            browser.close()


def visit(
    url: str,
    *,
    screenshot: str | None = None,
    count: tuple[str, ...] = (),
    act: Callable[[Page], None] | None = None,
    headers: dict[str, str] | None = None,
    width: int = 1280,
    height: int = 900,
    timeout_ms: int = 20_000,
) -> PageVisit:
    """Open ``url`` in a headless Chromium of its own (see ``Browsing.visit``)."""
    with browsing() as session:
        return session.visit(
            url,
            screenshot=screenshot,
            count=count,
            act=act,
            headers=headers,
            width=width,
            height=height,
            timeout_ms=timeout_ms,
        )


@dataclass
class Browsing:
    """A running headless Chromium (``browsing()``)."""

    browser: Browser

    def visit(
        self,
        url: str,
        *,
        screenshot: str | None = None,
        count: tuple[str, ...] = (),
        act: Callable[[Page], None] | None = None,
        headers: dict[str, str] | None = None,
        width: int = 1280,
        height: int = 900,
        timeout_ms: int = 20_000,
    ) -> PageVisit:
        """Open ``url`` in a fresh context and report what happened.

        Args:
            url: the page.
            screenshot: file name under :func:`screenshot_dir` for a full-page PNG.
            count: CSS selectors whose matches are counted into ``PageVisit.found``
                (after ``act``), e.g. ``"svg rect"`` to see that a chart rendered.
            act: steps to take on the page once loaded (fill a form, click, page on).
            headers: extra request headers (the admin token, say).
            width: viewport width in CSS pixels.
            height: viewport height in CSS pixels.
            timeout_ms: bound on each navigation and wait.
        """
        errors: list[str] = []
        failed: list[str] = []

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                errors.append(message.text)

        context = self.browser.new_context(
            viewport={"width": width, "height": height}, extra_http_headers=headers
        )
        try:
            page = context.new_page()
            page.set_default_timeout(timeout_ms)
            page.on("console", on_console)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on(
                "requestfailed",
                lambda request: failed.append(f"{request.method} {request.url}"),
            )
            response = page.goto(url, wait_until="load")
            if act is not None:
                act(page)
            found = {selector: page.locator(selector).count() for selector in count}
            shot: Path | None = None
            if screenshot is not None:
                shot = screenshot_dir() / screenshot
                page.screenshot(path=str(shot), full_page=True)
            return PageVisit(
                url=url,
                status=response.status if response is not None else None,
                html=page.content(),
                console_errors=errors,
                failed_requests=failed,
                screenshot=shot,
                found=found,
            )
        finally:
            context.close()
