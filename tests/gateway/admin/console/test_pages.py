"""The console's pieces without a gateway: queries, the login and logout forms over a
small app, the chart, the policy page and the frame's escaping."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from importlib import resources

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from adapters.state.base import Loan, LoanState
from config.consortium import build_consortium
from config.loader import parse_config
from gateway.admin.console.charts import latency_svg
from gateway.admin.console.discover import DiscoveryQuery, parse_discovery_query
from gateway.admin.console.layout import page, text
from gateway.admin.console.loans import SEARCH_MAX, LoanQuery, parse_loan_query
from gateway.admin.console.login import Login, safe_next
from gateway.admin.console.policies import policies_body
from gateway.admin.console.status import kiosks_section, libraries_table
from gateway.admin.console.throttle import LoginThrottle
from gateway.admin.session import COOKIE, ConsoleSessions

LIBRARIES = ("alpha", "beta", "gamma")
TOKEN = "console-token-0123456789"
ORIGIN = "http://console"


def _loan(loan_id: str, item: str, *, owner: str = "beta", returned: bool = False) -> Loan:
    now = datetime(2026, 11, 3, 10, tzinfo=UTC)
    return Loan(
        loan_id=loan_id,
        owner=owner,
        home="alpha",
        item=item,
        patron_key="f" * 64,
        proxy_patron="ILL-alpha",
        terminal="beta-kiosk",
        checked_out=now,
        due=now + timedelta(days=21),
        state=LoanState.RETURNED if returned else LoanState.ACTIVE,
        returned=now if returned else None,
    )


# --- loans query ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"page": "two"}, "page must be a whole number"),
        ({"page": "0"}, "page must be 1 or more"),
        ({"owner": "delta"}, "owner must be one of the member libraries (alpha, beta, gamma)"),
        ({"home": "x"}, "home must be one of the member libraries (alpha, beta, gamma)"),
        ({"state": "lost"}, "state must be active or returned"),
        ({"q": "x" * (SEARCH_MAX + 1)}, f"the search is longer than {SEARCH_MAX} characters"),
        ({"q": "3100\r2"}, "the search must not hold control characters"),
    ],
)
def test_a_loans_query_that_cannot_be_answered_says_why(params: dict[str, str], why: str) -> None:
    """Each bad parameter gets its own sentence (the page shows it with a 400)."""
    assert parse_loan_query(params, LIBRARIES) == why


def test_a_loans_query_finds_by_item_or_loan_id_and_filters() -> None:
    """The search matches an item barcode or a loan id exactly; owner and state filter;
    a page link keeps the filters and drops what is empty."""
    loans = [
        _loan("L1", "31002000000001"),
        _loan("L2", "31002000000002", returned=True),
        _loan("L3", "31003000000001", owner="gamma"),
    ]
    by_item = parse_loan_query({"q": " 31002000000002 "}, LIBRARIES)
    by_id = parse_loan_query({"q": "L3"}, LIBRARIES)
    active_beta = parse_loan_query({"owner": "beta", "state": "active", "page": "2"}, LIBRARIES)
    assert isinstance(by_item, LoanQuery)
    assert isinstance(by_id, LoanQuery)
    assert isinstance(active_beta, LoanQuery)
    assert [x.loan_id for x in loans if by_item.matches(x)] == ["L2"]
    assert [x.loan_id for x in loans if by_id.matches(x)] == ["L3"]
    assert [x.loan_id for x in loans if active_beta.matches(x)] == ["L1"]
    assert active_beta.link(3) == "/loans?owner=beta&state=active&page=3"


# --- login and logout -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wanted", "goes"),
    [
        (None, "/"),
        ("/loans?page=2", "/loans?page=2"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/api/members", "/"),
        ("/metrics", "/"),
    ],
)
def test_after_login_only_a_console_page_is_followed(wanted: str | None, goes: str) -> None:
    """The ``next`` of the login link can lead to a console page only: never to another
    site, nor to the API (which a session does not open)."""
    assert safe_next(wanted) == goes


def _login_client(sessions: ConsoleSessions, tokens: tuple[bytes, ...]) -> httpx.AsyncClient:
    login = Login(tokens, sessions)
    app = Starlette(
        routes=[
            Route("/login", login.login, methods=["GET", "POST"]),
            Route("/logout", login.logout, methods=["POST"]),
        ]
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN)


async def test_the_right_token_gives_a_strict_session_cookie() -> None:
    """The token from the form gives a session cookie that is HttpOnly, Secure,
    SameSite=Strict and expires, and the browser goes on to the page it asked for."""
    sessions = ConsoleSessions()
    async with _login_client(sessions, (TOKEN.encode(),)) as client:
        answer = await client.post(
            "/login", data={"token": TOKEN, "next": "/loans"}, headers={"Origin": ORIGIN}
        )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/loans"
    cookie = answer.headers["set-cookie"]
    assert re.match(rf"{COOKIE}=v1\.", cookie)
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Max-Age=28800", "Path=/"):
        assert attribute.lower() in cookie.lower()
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    assert sessions.valid(value)


@pytest.mark.parametrize(
    ("data", "headers", "status"),
    [
        ({"token": "not-the-token-at-all"}, {"Origin": ORIGIN}, 401),
        ({"token": ""}, {"Origin": ORIGIN}, 401),
        ({}, {"Origin": ORIGIN}, 401),
        ({"token": TOKEN}, {"Origin": "https://evil.example"}, 403),
        ({"token": TOKEN}, {"Sec-Fetch-Site": "cross-site"}, 403),
    ],
    ids=["wrong", "empty", "missing", "cross-origin", "cross-site"],
)
async def test_a_login_is_refused_without_the_token_or_from_another_site(
    data: dict[str, str], headers: dict[str, str], status: int
) -> None:
    """A wrong or missing token is 401 with the form again, a form sent by another
    site's page is 403 (an oversized one is tried over real HTTP: the in-process
    transport cannot be left unread); none of them sets a cookie."""
    async with _login_client(ConsoleSessions(), (TOKEN.encode(),)) as client:
        answer = await client.post("/login", data=data, headers=headers)
    assert answer.status_code == status
    assert "set-cookie" not in answer.headers
    if status == 401:
        assert "That is not one of the admin port" in answer.text


async def test_logout_ends_the_session_and_clears_the_cookie() -> None:
    """After logging out, the cookie the browser had is no session, even if kept."""
    sessions = ConsoleSessions()
    cookie = sessions.issue()
    async with _login_client(sessions, (TOKEN.encode(),)) as client:
        cross = await client.post(
            "/logout", headers={"Origin": "https://evil.example", "Cookie": f"{COOKIE}={cookie}"}
        )
        still = sessions.valid(cookie)
        answer = await client.post(
            "/logout", headers={"Origin": ORIGIN, "Cookie": f"{COOKIE}={cookie}"}
        )
    assert cross.status_code == 403
    assert still
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"
    assert f'{COOKIE}=""' in answer.headers["set-cookie"]
    assert not sessions.valid(cookie)


@pytest.mark.parametrize(
    ("base", "headers", "warned"),
    [
        ("http://console.example", {}, True),
        ("http://console.example", {"X-Forwarded-Proto": "https"}, False),
        ("https://console.example", {}, False),
        ("http://127.0.0.1:9090", {}, False),
        ("http://localhost:9090", {}, False),
    ],
)
async def test_the_login_warns_where_the_browser_will_drop_the_cookie(
    base: str, headers: dict[str, str], warned: bool
) -> None:
    """A Secure cookie is kept over HTTPS (or behind a TLS proxy) and on loopback; over
    plain HTTP at a network address the login page says it will not be."""
    login = Login((TOKEN.encode(),), ConsoleSessions())
    app = Starlette(routes=[Route("/login", login.login)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base) as client:
        answer = await client.get("/login", headers=headers)
    assert answer.status_code == 200
    assert ("will not keep the session cookie" in answer.text) is warned


async def test_without_tokens_the_login_leads_to_the_console() -> None:
    """There is nothing to log in to on a port without tokens."""
    async with _login_client(ConsoleSessions(), ()) as client:
        answer = await client.get("/login")
    assert (answer.status_code, answer.headers["location"]) == (303, "/")


# --- pieces -------------------------------------------------------------------------------------


def test_the_latency_chart_has_a_bar_per_endpoint_and_a_name() -> None:
    """One bar per endpoint, its value written beside it, and the SVG named for
    assistive technology."""
    svg = latency_svg([("alpha", 12.5), ("beta", 3.0), ("gamma", 0.0)])
    assert svg.startswith('<svg role="img" aria-label="Average ILS latency')
    assert svg.count('id="patch_') >= 3 + 1  # three bars and the axes' background
    for label in ("12.5 ms", "3.0 ms", "0.0 ms", "alpha", "gamma"):
        assert label in svg


def test_the_policies_page_says_where_each_value_came_from() -> None:
    """Each demo library's page has a row per setting with its origin, in check-config's
    words; the first library is shown unless one is asked; an unknown one is a 400."""
    with resources.as_file(resources.files("config").joinpath("demo.toml")) as path:
        config, _, _ = parse_config(path)
    consortium = build_consortium(config)
    for member in consortium.libraries:
        status, body = policies_body(consortium, {"library": member})
        assert status == 200
        assert f'<h2 id="policy">{member} — ' in body
        assert f'href="/policies?library={member}" aria-current=page' in body
        assert body.count("<tr>") > 30
        assert "inherited from demo" in body
        assert ">default<" in body
    first = policies_body(consortium, {})[1]
    assert '<h2 id="policy">alpha — ' in first
    status, refused = policies_body(consortium, {"library": "delta"})
    assert status == 400
    assert "library must be one of the member libraries (alpha, beta, gamma)" in refused


def test_the_frame_escapes_what_it_is_given() -> None:
    """Text from outside cannot become markup, in the title or the body's helpers."""
    made = page("<script>x</script>", text('"><img src=x>'), path="/", logout=True)
    assert "<script>x" not in made
    assert "<img" not in made
    assert '<main id="main"' in made
    assert "aria-current=page" in made
    assert 'action="/logout"' in made


# --- discovery query ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"by": "author"}, "search by title, isbn or item"),
        (
            {"requester": "delta"},
            "requester must be one of the member libraries (alpha, beta, gamma)",
        ),
        ({"strategy": "random"}, "strategy must be one of fair-share, reshare-ratio, crosslink"),
    ],
)
def test_a_discovery_query_that_cannot_be_answered_says_why(
    params: dict[str, str], why: str
) -> None:
    """Each bad choice gets its own sentence (the page shows it with a 400)."""
    found = parse_discovery_query(params, LIBRARIES)
    assert isinstance(found, str)
    assert found.startswith(why)


def test_a_discovery_query_ranks_for_the_first_library_unless_told() -> None:
    """Without a requester the ranking is for the first library; an empty one (the
    form's "no ranking") asks for none."""
    assert parse_discovery_query({"q": " atlas "}, LIBRARIES) == DiscoveryQuery(
        "atlas", "title", "alpha", "fair-share"
    )
    unranked = parse_discovery_query({"q": "atlas", "requester": ""}, LIBRARIES)
    assert isinstance(unranked, DiscoveryQuery)
    assert unranked.requester == ""


# --- network status pieces ------------------------------------------------------------------------


def test_a_member_down_is_said_in_words_with_its_breaker_and_error() -> None:
    """A member whose ILS is down shows "down" (not only a colour), its open breaker,
    failures and last error; one never timed says its latency is not measured yet."""
    endpoint = {
        "endpoint": "10.0.0.5:6001",
        "state": "open",
        "latency_s": 0.25,
        "latency_samples": 4,
        "failures": 3,
        "last_error": "connection refused",
    }
    members = {
        "gamma": {
            "name": "Gamma",
            "adapter": "sip2",
            "healthy": False,
            "in_flight": 0,
            "concurrency": 8,
            "endpoints": [endpoint],
        },
        "beta": {
            "name": "Beta",
            "adapter": "ncip",
            "healthy": True,
            "in_flight": 2,
            "endpoints": [
                {
                    **endpoint,
                    "state": "closed",
                    "latency_samples": 0,
                    "failures": 0,
                    "last_error": None,
                }
            ],
        },
    }
    table = libraries_table(members)
    assert '<span class="badge bad">down</span>' in table
    assert '<span class="badge good">up</span>' in table
    assert "breaker open · 250.0 ms average over 4 calls · 3 failures in a row" in table
    assert "last error: connection refused" in table
    assert "latency not measured yet" in table
    assert "0 of 8" in table


def test_kiosks_are_listed_or_the_store_is_said_to_be_unreadable() -> None:
    """The kiosks of every gateway are a table; when the state store cannot be read,
    the page says so and still counts this gateway's connections."""
    session = {
        "terminal": "beta-kiosk",
        "member": "beta",
        "location": "beta-main",
        "peer": "127.0.0.1:5000",
        "gateway": "gw-1",
        "since": "2026-12-04T10:00:00",
    }
    listed = kiosks_section([session], 1)
    unknown = kiosks_section(None, 2)
    assert "1 kiosk connection open on this gateway" in listed
    assert "<td>beta-kiosk</td>" in listed
    assert "2026-12-04 10:00:00 UTC</time>" in listed
    assert "2 kiosk connections open on this gateway" in unknown
    assert "The state store cannot be read" in unknown


# --- login throttle -------------------------------------------------------------------------------


class FakeMonotonic:
    """A monotonic clock moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_throttle_stops_an_address_after_its_wrong_tokens_until_the_window_moves() -> None:
    """Three wrong tokens in the window stop that address (not another) until the
    oldest leaves the window; a right token clears its count."""
    clock = FakeMonotonic()
    throttle = LoginThrottle(max_refusals=3, window_s=60, now=clock)
    for _ in range(3):
        assert throttle.retry_after("10.0.0.1") is None
        throttle.refused("10.0.0.1")
        clock.now += 10
    assert throttle.retry_after("10.0.0.1") == pytest.approx(30)
    assert throttle.retry_after("10.0.0.2") is None
    clock.now += 30
    assert throttle.retry_after("10.0.0.1") is None
    throttle.refused("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") is not None
    throttle.admitted("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") is None


def test_the_throttle_remembers_a_bounded_number_of_addresses() -> None:
    """A flood from many addresses forgets the oldest instead of growing."""
    throttle = LoginThrottle(max_refusals=1, max_addresses=2, now=FakeMonotonic())
    for address in ("a", "b", "c"):
        throttle.refused(address)
    assert throttle.retry_after("a") is None
    assert throttle.retry_after("b") is not None
    assert throttle.retry_after("c") is not None


async def test_a_guessing_address_gets_429_with_retry_after() -> None:
    """Past its wrong tokens the address is told to wait (429, ``Retry-After``), even
    with the right token, until the window moves on."""
    clock = FakeMonotonic()
    login = Login(
        (TOKEN.encode(),), ConsoleSessions(), LoginThrottle(max_refusals=2, window_s=600, now=clock)
    )
    app = Starlette(routes=[Route("/login", login.login, methods=["GET", "POST"])])
    transport = httpx.ASGITransport(app=app)
    origin = {"Origin": ORIGIN}
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        wrong = [
            (await client.post("/login", data={"token": "nope"}, headers=origin)).status_code
            for _ in range(2)
        ]
        stopped = await client.post("/login", data={"token": TOKEN}, headers=origin)
        clock.now += 601
        later = await client.post("/login", data={"token": TOKEN}, headers=origin)
    assert wrong == [401, 401]
    assert stopped.status_code == 429
    assert stopped.headers["retry-after"] == "600"
    assert "Too many wrong tokens from your address: try again in 10 minutes." in stopped.text
    assert "set-cookie" not in stopped.headers
    assert later.status_code == 303
