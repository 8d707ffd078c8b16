"""``/login`` and ``/logout``: a bearer token in, a console session cookie out.

The login form is the one place the console takes a token; the token is compared in
constant time with the admin port's (``auth.admitted``) and never logged.  Both forms
POST, and both refuse a request that another site's page sent: its ``Origin`` (or,
without one, ``Sec-Fetch-Site``) must be this console's own.  With no tokens
configured there is nothing to log in to, and ``/login`` leads to the console.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs

import structlog
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from gateway.admin.auth import CONSOLE_PAGES, admitted
from gateway.admin.console.layout import SECURITY_HEADERS, page, text
from gateway.admin.console.throttle import LoginThrottle
from gateway.admin.session import COOKIE

if TYPE_CHECKING:
    from starlette.requests import Request

    from gateway.admin.session import ConsoleSessions

__all__ = ["Login", "safe_next"]

log = structlog.get_logger("interlend.admin")

FORM_MAX = 4096
"""The largest login form read (a token is far shorter)."""


def safe_next(wanted: str | None) -> str:
    """Where to go after logging in: a console page of this port, else ``/``.  Only a
    local path to a page is followed, so the link to the login page cannot send a
    person to another site."""
    if not wanted or not wanted.startswith("/") or wanted.startswith("//"):
        return "/"
    path = wanted.split("?", 1)[0]
    return wanted if path in CONSOLE_PAGES and "\\" not in wanted else "/"


def _same_origin(request: Request) -> bool:
    """Whether a form was sent by one of the console's own pages."""
    origin = request.headers.get("origin")
    if origin is not None:
        return origin == f"{request.url.scheme}://{request.url.netloc}"
    site = request.headers.get("sec-fetch-site")
    return site in (None, "same-origin", "none")


_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def plain_http_warning(request: Request) -> str | None:
    """Why a browser will not keep the session cookie, if it will not: the cookie is
    ``Secure``, which browsers honour over HTTPS and, over plain HTTP, only for
    loopback addresses (a TLS proxy in front says so with ``X-Forwarded-Proto``)."""
    host = (request.url.hostname or "").lower()
    if request.url.scheme == "https" or host in _LOCAL_HOSTS or host.endswith(".localhost"):
        return None
    if request.headers.get("x-forwarded-proto", "").lower() == "https":
        return None
    return (
        "This console is reached over plain HTTP at a network address: your browser will "
        "not keep the session cookie. Reach it through a TLS proxy or an SSH tunnel."
    )


class Login:
    """The login and logout handlers over the port's tokens and sessions."""

    def __init__(
        self,
        tokens: tuple[bytes, ...],
        sessions: ConsoleSessions,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self._tokens = tokens
        self._sessions = sessions
        self._throttle = throttle or LoginThrottle()

    def _form(self, wanted: str, *, problem: str | None = None, warning: str | None = None) -> str:
        alert = f'<p class="error" role="alert">{text(problem)}</p>' if problem else ""
        if warning:
            alert += f'<p class="error" role="status">{text(warning)}</p>'
        body = (
            '<div class="login">'
            "<p>Give one of the admin port's bearer tokens "
            "(<code>[gateway.admin] tokens</code>). The console keeps a session cookie "
            "instead, for eight hours or until you log out.</p>"
            f"{alert}"
            '<form method="post" action="/login">'
            f'<input type="hidden" name="next" value="{text(wanted)}">'
            '<label for="token">Admin token</label>'
            '<input type="password" id="token" name="token" required '
            'autocomplete="current-password">'
            '<button type="submit">Log in</button></form></div>'
        )
        return page("Log in", body, path="/login", logout=False, navigation=False)

    async def login(self, request: Request) -> Response:
        """``GET /login`` shows the form; ``POST /login`` checks the token."""
        if not self._tokens:
            return RedirectResponse("/", status_code=303)
        if request.method == "GET":
            wanted = safe_next(request.query_params.get("next"))
            warning = plain_http_warning(request)
            return HTMLResponse(self._form(wanted, warning=warning), headers=SECURITY_HEADERS)
        if not _same_origin(request):
            return PlainTextResponse("cross-site form refused\n", status_code=403)
        body = await _read_form(request)
        if body is None:
            return HTMLResponse(
                self._form("/", problem="The form was too large."),
                status_code=413,
                headers=SECURITY_HEADERS,
            )
        client = request.client
        address = client.host if client else "-"
        wait = self._throttle.retry_after(address)
        if wait is not None:
            log.warning("console login refused", client=address, reason="too many wrong tokens")
            minutes = max(1, round(wait / 60))
            return HTMLResponse(
                self._form(
                    "/",
                    problem=f"Too many wrong tokens from your address: try again in "
                    f"{minutes} minute{'s' if minutes != 1 else ''}.",
                ),
                status_code=429,
                headers={**SECURITY_HEADERS, "Retry-After": str(max(1, round(wait)))},
            )
        wanted = safe_next(body.get("next"))
        token = body.get("token", "").strip().encode("utf-8", "surrogatepass")
        if not token or not admitted(token, self._tokens):
            self._throttle.refused(address)
            log.warning(
                "console login refused",
                client=f"{address}:{client.port}" if client else "-",
                reason="no token" if not token else "wrong token",
            )
            return HTMLResponse(
                self._form(wanted, problem="That is not one of the admin port's tokens."),
                status_code=401,
                headers=SECURITY_HEADERS,
            )
        self._throttle.admitted(address)
        answer = RedirectResponse(wanted, status_code=303)
        answer.set_cookie(
            COOKIE,
            self._sessions.issue(),
            max_age=int(self._sessions.lifetime_s),
            path="/",
            secure=True,
            httponly=True,
            samesite="strict",
        )
        return answer

    async def logout(self, request: Request) -> Response:
        """``POST /logout``: the session ends, here and in the browser."""
        if not _same_origin(request):
            return PlainTextResponse("cross-site form refused\n", status_code=403)
        self._sessions.revoke(request.cookies.get(COOKIE))
        answer = RedirectResponse("/login" if self._tokens else "/", status_code=303)
        answer.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return answer


async def _read_form(request: Request) -> dict[str, str] | None:
    """A URL-encoded form's fields (the first value of each), or ``None`` past ``FORM_MAX``."""
    raw = b""
    more = True
    while more:  # the ASGI messages themselves: no more is read once past the limit
        message = await request.receive()
        if message["type"] != "http.request":
            return None
        raw += message.get("body", b"")
        more = message.get("more_body", False)
        if len(raw) > FORM_MAX:
            return None
    fields = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}
