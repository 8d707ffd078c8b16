"""The admin port's bearer tokens, and which port serves which routes.

One HTTP app serves both the NCIP endpoint and the admin routes, each on its own port
(DESIGN.md "Contracts"): the NCIP port answers ``POST /ncip`` (and ``/healthz``) only,
the admin port everything else, so the port opened to resource-sharing systems never
shows the admin API.

With ``[gateway.admin] tokens`` (bearer tokens from the environment or files, read when
the port starts and never logged), every route of the admin port but ``/healthz`` and
``/readyz`` needs ``Authorization: Bearer <token>`` with one of them, compared in
constant time; anything else is 401 with ``WWW-Authenticate: Bearer``.  ``/metrics``
too: Prometheus sends the token from its scrape configuration
(``authorization: { credentials_file: … }``).  An admin port that listens beyond
loopback must have tokens (the configuration is refused without); on loopback they are
optional, and enforced when given.  The NCIP port is not concerned: its peers prove who
they are per message (``gateway/ncip/peers.py``).

The console's pages (``CONSOLE_PAGES``) are for browsers, which cannot send a bearer
header: with tokens, a page request without one is redirected to ``/login``, where a
person gives a token once and gets a session cookie (``session.py``); the pages then
take either.  ``/login`` and ``/logout`` are open (they check what they are given).
The API's behaviour does not change: a session cookie opens no API route.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import structlog
from starlette.requests import cookie_parser
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from config.errors import ConfigError, ConfigIssue
from config.loader import admin_tokens
from config.models import is_loopback
from gateway.admin.session import COOKIE

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from config.models import AdminListener
    from gateway.admin.session import ConsoleSessions

__all__ = [
    "CONSOLE_PAGES",
    "LOGIN_PATHS",
    "NCIP_PATHS",
    "OPEN_PATHS",
    "admitted",
    "bearer_tokens",
    "for_role",
]

log = structlog.get_logger("interlend.admin")

NCIP_PATHS = frozenset({"/ncip", "/healthz"})
"""What the NCIP port serves; the admin port serves everything else."""

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
"""What the admin port answers without a bearer token: the liveness and readiness probes."""

CONSOLE_PAGES = frozenset({"/", "/loans", "/analytics", "/discover", "/policies"})
"""The console's pages: a bearer token or a console session opens them."""

LOGIN_PATHS = frozenset({"/login", "/logout"})
"""Open on the admin port: they check the token, or end a session, themselves."""

REALM = 'Bearer realm="interlend-admin"'


def _bearer(scope: Any) -> bytes | None:
    """The credentials of a request's ``Authorization: Bearer …`` header, if it has one."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, credentials = bytes(value).strip().partition(b" ")
            return credentials.strip() if scheme.lower() == b"bearer" else None
    return None


def admitted(given: bytes, tokens: tuple[bytes, ...]) -> bool:
    """Whether ``given`` is one of ``tokens``; every token is compared in constant time,
    so how long it takes says neither how much of one matched nor which one did."""
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(given, token)
    return matched


def _refusal(scope: Any, tokens: tuple[bytes, ...]) -> Response | None:
    """The 401 for a request without a valid bearer token (``None``: it has one)."""
    given = _bearer(scope)
    if given is not None and admitted(given, tokens):
        return None
    client = scope.get("client") or ("-", 0)
    log.warning(
        "admin request refused",
        path=scope.get("path", ""),
        client=f"{client[0]}:{client[1]}",
        reason="no bearer token" if given is None else "wrong bearer token",
    )
    challenge = REALM if given is None else f'{REALM}, error="invalid_token"'
    return PlainTextResponse(
        "this route needs Authorization: Bearer <token>\n",
        status_code=401,
        headers={"WWW-Authenticate": challenge},
    )


def _session_cookie(scope: Any) -> str | None:
    """The console session cookie a request carries, if any."""
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            found = cookie_parser(bytes(value).decode("latin-1")).get(COOKIE)
            if found:
                return found
    return None


def _page_refusal(
    scope: Any, tokens: tuple[bytes, ...], sessions: ConsoleSessions
) -> Response | None:
    """The redirect to ``/login`` for a page request with neither a valid bearer token
    nor a valid console session (``None``: it has one)."""
    given = _bearer(scope)
    if given is not None and admitted(given, tokens):
        return None
    cookie = _session_cookie(scope)
    if sessions.valid(cookie):
        return None
    client = scope.get("client") or ("-", 0)
    log.info(
        "console page needs a login",
        path=scope.get("path", ""),
        client=f"{client[0]}:{client[1]}",
        reason="no session" if cookie is None else "session not valid",
    )
    wanted = scope.get("path", "/")
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    if query:
        wanted = f"{wanted}?{query}"
    return RedirectResponse(f"/login?next={quote(wanted, safe='')}", status_code=303)


def for_role(
    app: Starlette,
    role: str,
    tokens: tuple[bytes, ...] = (),
    sessions: ConsoleSessions | None = None,
) -> Any:
    """The app as one port serves it: ``ncip`` (the NCIP endpoint and liveness only) or
    ``admin`` (everything but NCIP), so a port opened to resource-sharing systems never
    shows the admin API.  With ``tokens``, the admin port answers only ``OPEN_PATHS``
    and ``LOGIN_PATHS`` without one of them as a bearer token (401 with
    ``WWW-Authenticate: Bearer``), except that the console's pages also take a valid
    session of ``sessions`` and send a request with neither to ``/login``."""

    async def serve(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "")
            allowed = path == "/healthz" or (path in NCIP_PATHS) == (role == "ncip")
            if not allowed:
                await PlainTextResponse("not found\n", status_code=404)(scope, receive, send)
                return
            refusal: Response | None = None
            if role == "admin" and tokens and path not in OPEN_PATHS | LOGIN_PATHS:
                if path in CONSOLE_PAGES and sessions is not None:
                    refusal = _page_refusal(scope, tokens, sessions)
                else:
                    refusal = _refusal(scope, tokens)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await app(scope, receive, send)

    return serve


def bearer_tokens(listener: AdminListener) -> tuple[bytes, ...]:
    """The admin port's bearer tokens, read now (never logged).

    Raises:
        ConfigError: A token cannot be read or is too short, or the port listens
            beyond loopback without any (a configuration made in code, which skipped
            the check of ``AdminListener``).
    """
    tokens = admin_tokens(listener)
    if not tokens and not is_loopback(listener.host):
        raise ConfigError.of(
            [
                ConfigIssue(
                    ("gateway", "admin", "tokens"),
                    f"the admin port listens on {listener.host!r}, beyond loopback, "
                    "without a bearer token: nothing started",
                )
            ]
        )
    return tuple(token.strip().encode("utf-8", "surrogatepass") for token in tokens)
