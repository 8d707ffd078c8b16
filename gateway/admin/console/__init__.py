"""The operator's console: server-rendered pages on the admin port.

Pages: network status (``/``), loans (``/loans``), analytics (``/analytics``),
discovery (``/discover``) and policies (``/policies``), plus ``/login`` and ``/logout``
(``login.py``).  Each page module turns what the gateway knows (through the
``AdminView``, and the figures the admin API computes) into HTML; ``layout.py`` gives
them one frame.  No script, no
build step, nothing fetched at view time: the style is inline and charts are inline
SVG.  Every page is sent with a content security policy that allows nothing else.

Who may see the pages is ``auth.py``'s: with tokens on the admin port, a page takes a
bearer token or a console session (``session.py``) and sends anyone else to the login.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio
from starlette.responses import HTMLResponse
from starlette.routing import Route

from gateway.admin.console.analytics import analytics_body, parse_analytics_query
from gateway.admin.console.discover import discover_body
from gateway.admin.console.layout import SECURITY_HEADERS, page
from gateway.admin.console.loans import loans_body, parse_loan_query
from gateway.admin.console.login import Login
from gateway.admin.console.policies import policies_body
from gateway.admin.console.status import status_body

if TYPE_CHECKING:
    from starlette.requests import Request

    from gateway.admin.routes import AdminRoutes
    from gateway.admin.session import ConsoleSessions
    from gateway.admin.view import AdminView

__all__ = ["console_routes"]


class _Pages:
    """The page handlers over one gateway's view."""

    def __init__(self, view: AdminView, routes: AdminRoutes, *, logout: bool) -> None:
        self._view = view
        self._routes = routes
        self._logout = logout
        self._drawing = trio.CapacityLimiter(1)  # one chart drawn at a time

    def _page(self, title: str, body: str, path: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(
            page(title, body, path=path, logout=self._logout),
            status_code=status,
            headers=SECURITY_HEADERS,
        )

    async def status(self, request: Request) -> HTMLResponse:
        return self._page(
            "Network status", await status_body(self._view, self._routes, self._drawing), "/"
        )

    async def loans(self, request: Request) -> HTMLResponse:
        libraries = list(self._view.current()[0].consortium.libraries)
        query = parse_loan_query(request.query_params, libraries)
        status, body = await loans_body(self._view, query)
        return self._page("Loans", body, "/loans", status)

    async def analytics(self, request: Request) -> HTMLResponse:
        query = parse_analytics_query(request.query_params)
        status, body = await analytics_body(self._view, query, self._drawing)
        return self._page("Analytics", body, "/analytics", status)

    async def discover(self, request: Request) -> HTMLResponse:
        status, body = await discover_body(self._view, request.query_params)
        return self._page("Discovery", body, "/discover", status)

    async def policies(self, request: Request) -> HTMLResponse:
        consortium = self._view.current()[0].consortium
        status, body = policies_body(consortium, request.query_params)
        return self._page("Policies", body, "/policies", status)


def console_routes(
    view: AdminView,
    routes: AdminRoutes,
    *,
    tokens: tuple[bytes, ...],
    sessions: ConsoleSessions,
) -> list[Route]:
    """The console's routes (pages, login and logout)."""
    pages = _Pages(view, routes, logout=bool(tokens))
    login = Login(tokens, sessions)
    return [
        Route("/", pages.status),
        Route("/loans", pages.loans),
        Route("/analytics", pages.analytics),
        Route("/discover", pages.discover),
        Route("/policies", pages.policies),
        Route("/login", login.login, methods=["GET", "POST"]),
        Route("/logout", login.logout, methods=["POST"]),
    ]
