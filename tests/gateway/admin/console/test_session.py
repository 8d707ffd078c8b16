"""Console sessions and who may see the console: the signed cookie on its own, then the
admin port's gate (``auth.for_role``) over a small app, in process."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gateway.admin.auth import for_role
from gateway.admin.session import COOKIE, ConsoleSessions

TOKEN = b"console-token-0123456789"
KEY = b"k" * 32


class FakeWallClock:
    """Seconds since the epoch, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_an_issued_session_holds_until_it_expires() -> None:
    """A fresh cookie is valid, still is a second before its lifetime ends, and is not
    from that moment on."""
    clock = FakeWallClock()
    sessions = ConsoleSessions(KEY, lifetime_s=100, now=clock)
    cookie = sessions.issue()
    assert sessions.valid(cookie)
    clock.now += 99
    assert sessions.valid(cookie)
    clock.now += 1
    assert not sessions.valid(cookie)


def test_a_forged_or_foreign_cookie_is_not_a_session() -> None:
    """A cookie with its expiry pushed back, one signed under another key (another
    gateway run), and malformed values are all refused."""
    clock = FakeWallClock()
    sessions = ConsoleSessions(KEY, now=clock)
    version, expires, nonce, mac = sessions.issue().split(".")
    pushed = f"{version}.{int(expires) + 86_400}.{nonce}.{mac}"
    foreign = ConsoleSessions(b"x" * 32, now=clock).issue()
    malformed = [None, "", "v1", "v1.x.y.z", f"v2.{expires}.{nonce}.{mac}", f"{pushed}.more"]
    assert not sessions.valid(pushed)
    assert not sessions.valid(foreign)
    assert not sessions.valid(f"{version}.{expires}.{nonce}.{mac[:-1]}é")
    assert not any(sessions.valid(value) for value in malformed)


def test_a_revoked_session_stays_ended() -> None:
    """Logging out ends that session only; revoking nonsense changes nothing."""
    sessions = ConsoleSessions(KEY)
    ended, kept = sessions.issue(), sessions.issue()
    sessions.revoke(ended)
    sessions.revoke("not a cookie")
    assert not sessions.valid(ended)
    assert sessions.valid(kept)


def test_without_a_key_each_run_signs_differently() -> None:
    """Sessions made under one run's generated key mean nothing to the next."""
    assert not ConsoleSessions().valid(ConsoleSessions().issue())


# --- the gate -------------------------------------------------------------------------------


def _gated(sessions: ConsoleSessions, tokens: tuple[bytes, ...] = (TOKEN,)) -> httpx.AsyncClient:
    async def ok(request: object) -> PlainTextResponse:
        return PlainTextResponse("shown")

    app = Starlette(routes=[Route(path, ok) for path in ("/", "/loans", "/api/members", "/login")])
    gate = for_role(app, "admin", tokens, sessions)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=gate), base_url="http://console")


async def _get(client: httpx.AsyncClient, path: str, cookie: str | None = None) -> httpx.Response:
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie is not None else {}
    return await client.get(path, headers=headers)


@pytest.mark.parametrize("kind", ["none", "forged", "expired", "revoked"])
async def test_a_page_without_a_valid_session_leads_to_the_login(kind: str) -> None:
    """No cookie, a forged one, an expired one and a logged-out one are all sent to
    ``/login``, with the page asked for (and its query) to come back to."""
    clock = FakeWallClock()
    sessions = ConsoleSessions(KEY, lifetime_s=60, now=clock)
    cookie: str | None = None
    if kind == "forged":
        version, expires, nonce, _ = sessions.issue().split(".")
        cookie = f"{version}.{expires}.{nonce}.{'A' * 43}"
    elif kind == "expired":
        cookie = sessions.issue()
        clock.now += 61
    elif kind == "revoked":
        cookie = sessions.issue()
        sessions.revoke(cookie)
    async with _gated(sessions) as client:
        answer = await _get(client, "/loans?page=2", cookie)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Floans%3Fpage%3D2"
    assert "shown" not in answer.text


async def test_a_session_opens_the_pages_but_not_the_api() -> None:
    """A valid session shows the pages; the API still asks for a bearer token (401),
    as before the console; a bearer token opens both; the login is open to all."""
    sessions = ConsoleSessions(KEY)
    cookie = sessions.issue()
    async with _gated(sessions) as client:
        page = await _get(client, "/", cookie)
        api = await _get(client, "/api/members", cookie)
        bearer = {"Authorization": f"Bearer {TOKEN.decode()}"}
        by_token = [
            (await client.get(p, headers=bearer)).status_code for p in ("/", "/api/members")
        ]
        login = await _get(client, "/login")
    assert (page.status_code, page.text) == (200, "shown")
    assert api.status_code == 401
    assert api.headers["www-authenticate"].startswith("Bearer ")
    assert by_token == [200, 200]
    assert login.status_code == 200


async def test_without_tokens_the_console_is_open_as_the_api_is() -> None:
    """An admin port on loopback without tokens asks nothing of anyone."""
    async with _gated(ConsoleSessions(KEY), tokens=()) as client:
        answers = [(await _get(client, path)).status_code for path in ("/", "/api/members")]
    assert answers == [200, 200]
