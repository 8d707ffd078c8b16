"""The console on a running demo, over real HTTP and in headless Chromium.

One demo (with an admin token, and 45 loans in its registry) serves the whole
module, in a thread of its own (``tests/helpers/demo_thread.py``); each browser test
opens its pages with ``tests/helpers/browser.py`` and leaves screenshots under
``build/screenshots/``.  The Grafana dashboard's queries are checked here too, against
the same gateway's ``/metrics``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from adapters.state.base import LoanRequest, Reservation
from config.models import SecretRef
from gateway.admin.console.loans import LOANS_PER_PAGE
from gateway.admin.console.login import FORM_MAX
from gateway.admin.session import COOKIE
from protocols.sip2 import CheckoutResponse
from tests.helpers.browser import Browsing, browsing, screenshot_dir
from tests.helpers.demo import circulation_demo
from tests.helpers.demo_thread import ThreadedDemo, demo_in_thread
from tests.helpers.kiosk import Kiosk, checkout

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Page

    from adapters.state.base import StateStore
    from config.models import Config
    from gateway.demo.network import Demo

ROOT = Path(__file__).parents[4]
TOKEN_ENV = "INTERLEND_CONSOLE_TEST_TOKEN"
TOKEN = "console-test-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
LOANS = 45
"""Loans in the registry: one made by a kiosk, the others written to the registry."""
KIOSK_ITEM = "31002000000039"
BLOCKED_PATRON = "21001000000099"
REFUSED_ITEM = "31002000000041"
SHARED_TITLE = "Atlas of Shared Collections"
SHARED_COPIES = ("31001000000051", "31002000000051")

pytestmark = pytest.mark.slow


LOW_CONTRAST = """() => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(",").map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const channel = (v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  };
  const luminance = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const low = [];
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest("svg")) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const box = el.getBoundingClientRect();
    if (!own || box.width === 0 || box.right < 0) continue;
    const [a, b] = [luminance(parse(getComputedStyle(el).color)), luminance(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const said = el.textContent.trim().slice(0, 30);
    if (ratio < 4.5) low.push(`${el.tagName} "${said}": ${ratio.toFixed(2)}`);
  }
  return low;
}"""
"""Every visible text element whose colour against its background is below WCAG AA's
4.5:1 (charts are SVG drawn in black on white, and left out)."""


def _with_token(config: Config) -> Config:
    config = circulation_demo(config)
    assert config.gateway.admin is not None
    admin = config.gateway.admin.model_copy(update={"tokens": (SecretRef(env=TOKEN_ENV),)})
    return config.model_copy(update={"gateway": config.gateway.model_copy(update={"admin": admin})})


async def _lend(store: StateStore, count: int) -> None:
    """``count`` loans in the registry, from beta and gamma to alpha patrons; every
    third one returned."""
    now = datetime.now(UTC)
    for n in range(count):
        owner, prefix = ("beta", "31002") if n % 2 else ("gamma", "31003")
        item = f"{prefix}{n + 1:09d}"
        held = await store.reserve(
            LoanRequest(
                owner=owner,
                home="alpha",
                item=item,
                patron_key=hashlib.sha256(f"patron-{n}".encode()).hexdigest(),
                proxy_patron="ILL-alpha",
                terminal="console-test",
                idempotency_key=f"console-test-{n}",
                cap_at_owner=None,
                cap_total=None,
            ),
            now=now,
        )
        assert isinstance(held, Reservation)
        await store.commit(held, due=now + timedelta(days=21), now=now)
        if n % 3 == 0:
            await store.close(owner, item, now=now)


async def _kiosk_lends(demo: Demo) -> None:
    """Beta's kiosk lends a beta book to an alpha patron and refuses one to alpha's
    blocked patron (a refusal the analytics count), and stays logged in (the demo
    closes it when it stops)."""
    kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
    lent = await kiosk.expect(checkout("21001000000001", KIOSK_ITEM), CheckoutResponse)
    assert lent.ok, lent
    refused = await kiosk.expect(checkout(BLOCKED_PATRON, REFUSED_ITEM), CheckoutResponse)
    assert not refused.ok, refused


@dataclass
class Console:
    """The running demo's console."""

    running: ThreadedDemo
    base: str

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


@pytest.fixture(scope="module")
def console() -> Iterator[Console]:
    """The demo with an admin token and ``LOANS`` loans, for the whole module."""
    before = os.environ.get(TOKEN_ENV)
    os.environ[TOKEN_ENV] = TOKEN
    try:
        with demo_in_thread(_with_token) as running:
            running.call(_lend, running.demo.gateway.services.store, LOANS - 1)
            running.call(_kiosk_lends, running.demo)
            assert running.demo.bound.admin is not None
            site = Console(running, running.demo.bound.admin.rstrip("/"))
            # A lookup at alpha and beta: their ILS latency is measured, gamma's not yet.
            found = httpx.get(
                site.url("/api/discover"),
                params={"title": SHARED_TITLE},
                headers=BEARER,
                timeout=10,
            )
            assert found.status_code == 200
            yield site
    finally:
        if before is None:
            os.environ.pop(TOKEN_ENV, None)
        else:
            os.environ[TOKEN_ENV] = before


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browsing]:
    """One headless Chromium for the module's page tests (skips, or fails under
    INTERLEND_REQUIRE_SERVICES=1, without one)."""
    with browsing() as session:
        yield session


# --- over HTTP ----------------------------------------------------------------------------------


def test_pages_lead_to_the_login_and_the_login_checks_the_token(console: Console) -> None:
    """Without a session a page is a redirect to the login; a forged cookie is none; a
    wrong token is 401 and an oversized form 413; the right one gives a cookie that
    opens the pages (sent with a strict content security policy) but not the API."""
    with httpx.Client(base_url=console.base, timeout=10) as client:
        bare = client.get("/loans?page=2")
        forged = client.get("/", headers={"Cookie": f"{COOKIE}=v1.9999999999.n.{'A' * 43}"})
        origin = {"Origin": console.base}
        huge = client.post("/login", data={"token": "x" * (FORM_MAX + 1)}, headers=origin)
        wrong = client.post("/login", data={"token": "wrong-token-0123456789"}, headers=origin)
        right = client.post("/login", data={"token": TOKEN, "next": "/policies"}, headers=origin)
        cookie = right.cookies[COOKIE]
        with_session = {"Cookie": f"{COOKIE}={cookie}"}
        page = client.get("/policies", headers=with_session)
        api = client.get("/api/members", headers=with_session)
    assert (bare.status_code, bare.headers["location"]) == (303, "/login?next=%2Floans%3Fpage%3D2")
    assert forged.status_code == 303
    assert (huge.status_code, wrong.status_code) == (413, 401)
    assert (right.status_code, right.headers["location"]) == (303, "/policies")
    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "<h1>Policies</h1>" in page.text
    assert api.status_code == 401


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/discover?q=31001%7C000001&by=item", "the search must not hold control characters"),
        ("/discover?q=" + "x" * 300, "the search is longer than 256 characters"),
        ("/discover?q=atlas&by=author", "search by title, isbn or item"),
        ("/loans?page=0", "page must be 1 or more"),
        ("/policies?library=delta", "library must be one of the member libraries"),
        ("/analytics?period=2026-13", "period: &#x27;2026-13&#x27; is not a real date"),
        ("/analytics?from=2026-11-01", "choose both the first and the last day"),
        ("/analytics?period=2020-01-01..2026-01-01", "at most 366 days at a time"),
    ],
)
def test_a_page_asked_what_it_cannot_answer_says_why(console: Console, path: str, why: str) -> None:
    """Bad input to a page is a 400 that shows the form again with the reason, before
    any member ILS is asked."""
    simulators = console.running.demo.simulators

    def lookups() -> dict[str, int]:  # item information (17): what discovery asks
        return {m: sim.executed.count("17") for m, sim in simulators.items()}

    before = lookups()
    answer = httpx.get(console.url(path), headers=BEARER, timeout=10)
    after = lookups()
    assert answer.status_code == 400
    assert why in answer.text
    assert 'role="alert"' in answer.text
    assert before == after


def test_the_analytics_page_asks_for_a_login_first(console: Console) -> None:
    """Without a session or a token the analytics page is a redirect to the login, which
    leads back to it with the period asked."""
    bare = httpx.get(console.url("/analytics?period=2026-11"), timeout=10)
    assert (bare.status_code, bare.headers["location"]) == (
        303,
        "/login?next=%2Fanalytics%3Fperiod%3D2026-11",
    )


def test_the_grafana_dashboard_queries_only_metrics_the_gateway_exposes(console: Console) -> None:
    """Every metric name in the dashboard's queries and variables is one ``/metrics``
    exposes (a histogram's ``_bucket``, ``_sum`` and ``_count`` series included)."""
    exposition = httpx.get(console.url("/metrics"), headers=BEARER, timeout=10).text
    exposed: set[str] = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", exposition, re.MULTILINE):
        exposed.add(name)
        if kind == "histogram":
            exposed |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text(encoding="utf-8"))
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    queries += [v["definition"] for v in dashboard["templating"]["list"]]
    used = {name for q in queries for name in re.findall(r"\binterlend_[a-z0-9_]+", q)}
    assert len(queries) >= 20
    assert len(used) >= 15
    assert used <= exposed, f"not exposed: {sorted(used - exposed)}"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


# --- in Chromium --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "heading", "shot"),
    [
        ("/", "Network status", "console-status.png"),
        ("/loans", "Loans", "console-loans.png"),
        (
            f"/discover?q={SHARED_TITLE.replace(' ', '+')}&requester=gamma",
            "Discovery",
            "console-discover.png",
        ),
        ("/policies", "Policies", "console-policies.png"),
    ],
)
def test_each_page_loads_clean(
    console: Console, chromium: Browsing, path: str, heading: str, shot: str
) -> None:
    """Each page answers 200, logs no error, fetches nothing that fails, has one main
    landmark under its heading and no text below 4.5:1 contrast; the status page draws
    its latency chart."""
    low_contrast: list[str] = []
    seen = chromium.visit(
        console.url(path),
        headers=BEARER,
        screenshot=shot,
        act=lambda page: low_contrast.extend(page.evaluate(LOW_CONTRAST)),
        count=("main", "main h1", 'main svg[role="img"]', 'main svg[role="img"] path'),
    )
    seen.assert_clean()
    assert seen.status == 200
    assert f"<h1>{heading}</h1>" in seen.html
    assert seen.found["main"] == 1
    assert low_contrast == []
    if path == "/":
        assert seen.found['main svg[role="img"]'] == 1
        assert seen.found['main svg[role="img"] path'] >= 3  # a bar per library at least
        assert "latency not measured yet" in seen.html  # gamma: no call timed
        assert "1 kiosk connection open on this gateway" in seen.html
        assert "<td>beta-kiosk</td>" in seen.html
        assert re.search(r"\d+\.\d ms average over [1-9]\d* calls?", seen.html)


def test_a_person_logs_in_with_the_token_and_out_again(
    console: Console, chromium: Browsing
) -> None:
    """From a page, the browser lands on the login; the token leads back to the page
    asked for, with a session; logging out ends it and the pages ask again."""
    landed: list[str] = []

    def log_in_and_out(page: Page) -> None:
        landed.append(page.url)
        page.screenshot(path=str(screenshot_dir() / "console-login.png"), full_page=True)
        page.get_by_label("Admin token").fill(TOKEN)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"/loans$"))
        landed.append(page.url)
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(re.compile(r"/login$"))
        landed.append(page.url)
        page.goto(console.url("/loans"))
        landed.append(page.url)

    seen = chromium.visit(console.url("/loans"), act=log_in_and_out)
    seen.assert_clean()
    assert landed == [
        console.url("/login?next=%2Floans"),
        console.url("/loans"),
        console.url("/login"),
        console.url("/login?next=%2Floans"),
    ]


def test_discovery_finds_a_title_held_by_two_libraries(
    console: Console, chromium: Browsing
) -> None:
    """Searching the shared demo title shows both holders' copies with their live status
    and ranks both as lenders for gamma, each with its reasons."""

    def search(page: Page) -> None:
        page.get_by_label("Search the network").fill(SHARED_TITLE)
        page.get_by_label("Rank lenders for").select_option("gamma")
        page.get_by_role("button", name="Search the network").click()
        page.wait_for_url(re.compile(r"q=Atlas"))

    seen = chromium.visit(
        console.url("/discover"),
        headers=BEARER,
        act=search,
        count=("#copies ~ .scroll tbody tr", "#ranking ~ .scroll tbody tr", ".badge.good"),
    )
    seen.assert_clean()
    for copy in SHARED_COPIES:
        assert copy in seen.html
    assert seen.found["#copies ~ .scroll tbody tr"] == 2
    assert seen.found["#ranking ~ .scroll tbody tr"] == 2
    assert seen.found[".badge.good"] >= 2  # both copies available now, live
    assert "Lenders for gamma" in seen.html


def test_the_loans_page_pages(console: Console, chromium: Browsing) -> None:
    """Next and previous page walk the loans, each page holding its share and saying
    where it is."""
    pages: list[tuple[str, list[str]]] = []

    def walk(page: Page) -> None:
        def note() -> None:
            where = page.locator(".pager span").first.inner_text()
            ids = page.locator("tbody tr td:first-child code").all_inner_texts()
            pages.append((where, ids))

        note()
        page.get_by_role("link", name="Next page").first.click()
        page.wait_for_url(re.compile(r"page=2"))
        note()
        page.get_by_role("link", name="Next page").first.click()
        page.wait_for_url(re.compile(r"page=3"))
        note()
        page.get_by_role("link", name="Previous page").first.click()
        page.wait_for_url(re.compile(r"page=2"))
        note()

    seen = chromium.visit(console.url("/loans"), headers=BEARER, act=walk)
    seen.assert_clean()
    last = LOANS - 2 * LOANS_PER_PAGE
    assert [where for where, _ in pages] == [
        "Page 1 of 3",
        "Page 2 of 3",
        "Page 3 of 3",
        "Page 2 of 3",
    ]
    assert [len(ids) for _, ids in pages] == [LOANS_PER_PAGE, LOANS_PER_PAGE, last, LOANS_PER_PAGE]
    assert not set(pages[0][1]) & set(pages[1][1])
    assert pages[1][1] == pages[3][1]


def test_the_analytics_page_draws_the_months_traffic(console: Console, chromium: Browsing) -> None:
    """The current month's analytics after the module's traffic: the page loads clean
    with no text below 4.5:1; its four charts render (each an image with a name), the
    flows table counts the 23 loans beta lent and the 22 gamma lent to alpha, and the
    kiosk's refusal is counted under its code."""
    low_contrast: list[str] = []
    seen = chromium.visit(
        console.url("/analytics"),
        headers=BEARER,
        screenshot="console-analytics.png",
        act=lambda page: low_contrast.extend(page.evaluate(LOW_CONTRAST)),
        count=(
            'main svg[role="img"][aria-label]',
            'main svg[role="img"] path',
            "main figure + .scroll table",
            "#collection ~ div table",
        ),
    )
    seen.assert_clean()
    assert seen.status == 200
    assert "<h1>Analytics</h1>" in seen.html
    assert low_contrast == []
    assert seen.found['main svg[role="img"][aria-label]'] == 4
    assert seen.found['main svg[role="img"] path'] >= 20
    assert seen.found["main figure + .scroll table"] == 4  # a table beside or under each chart
    assert seen.found["#collection ~ div table"] == 2
    month = datetime.now(UTC).strftime("%Y-%m")
    assert f'value="{month}"' in seen.html
    assert f"{LOANS} loans between libraries" in seen.html
    flows = seen.html.split('id="flows"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td[^>]*><strong>(\w+)</strong></td>(.*?)</tr>", flows)
    lent = {lib: re.findall(r"<td class=\"?num\"?>([^<]*)</td>", cells) for lib, cells in rows}
    assert lent == {
        "alpha": ["–", "0", "0", "0"],
        "beta": ["23", "–", "0", "23"],
        "gamma": ["22", "0", "–", "22"],
    }
    refusals = seen.html.split('id="refusals"', 1)[1]
    assert re.search(r"<code>(blocked-at-home|fines)</code>", refusals)


def test_the_main_controls_are_reachable_by_keyboard(console: Console, chromium: Browsing) -> None:
    """Tab alone reaches the skip link, every navigation link, the search and its
    filters, the search button and the pager, in that order; the skip link leads
    straight to the page's first control."""
    reached: list[str] = []

    def tab_through(page: Page) -> None:
        for _ in range(15):
            page.keyboard.press("Tab")
            reached.append(
                page.evaluate(
                    "() => { const e = document.activeElement;"
                    " return e.id || e.textContent.trim(); }"
                )
            )

    def skip_to_content(page: Page) -> None:
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        reached_after_skip.append(page.evaluate("() => document.activeElement.id"))

    reached_after_skip: list[str] = []
    seen = chromium.visit(console.url("/loans"), headers=BEARER, act=tab_through)
    seen.assert_clean()
    chromium.visit(console.url("/loans"), headers=BEARER, act=skip_to_content).assert_clean()
    assert reached_after_skip == ["q"]  # the skip link passes the navigation by
    wanted = [
        "Skip to content",
        "Network status",
        "Loans",
        "Analytics",
        "Discovery",
        "Policies",
        "q",
        "owner",
        "home",
        "state",
        "Search loans",
        "Next page",
    ]
    positions = [reached.index(name) for name in wanted]
    assert positions == sorted(positions), reached
