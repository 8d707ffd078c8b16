"""The gateway's HTTP app: the admin routes and the NCIP endpoint, on their own ports.

``admin_app(view)`` is one Starlette app with every route (the API, the NCIP endpoint
and the operator's console, ``console/``); ``serve_admin`` serves it on
one listener as that port's role allows (``auth.for_role``: the NCIP port answers
``/ncip`` and ``/healthz`` only, the admin port everything else, behind its bearer
tokens).  It runs on hypercorn's trio worker inside the daemon's nursery and listens on
loopback unless configured otherwise.  Nothing it returns holds a PIN or a barcode of a
patron.

With ``tls`` (the listener's ``ServerTls``) it serves HTTPS: hypercorn is given the
listener's context, which moves each new connection to the certificate in force (so a
reload on SIGHUP reaches new connections), and the listener's handshake time limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from starlette.applications import Starlette
from starlette.routing import Route

from config.models import AdminListener
from gateway.admin.analytics import AnalyticsRoutes
from gateway.admin.auth import bearer_tokens, for_role
from gateway.admin.console import console_routes
from gateway.admin.routes import AdminRoutes
from gateway.admin.session import ConsoleSessions
from gateway.admin.settlements import settlements_endpoint
from gateway.ncip.http import ncip_endpoint

if TYPE_CHECKING:
    import socket
    import ssl
    from collections.abc import Awaitable, Callable

    from starlette.requests import Request
    from starlette.responses import Response

    from adapters.tls import ServerTls
    from config.models import NcipListener
    from gateway.admin.view import AdminView

__all__ = ["HTTP_ALPN", "admin_app", "hypercorn_config", "serve_admin"]

HTTP_ALPN = ("h2", "http/1.1")
"""What the HTTPS listeners offer in ALPN (hypercorn's default)."""


class _TlsConfig(HypercornConfig):
    """Hypercorn's configuration with the listener's own SSL context (hypercorn would
    build one from the files once, and never read them again)."""

    def __init__(self, tls: ServerTls) -> None:
        super().__init__()
        self._tls = tls
        self.certfile = str(tls.settings.cert)  # turns HTTPS on; the context is ours
        self.keyfile = str(tls.settings.key)
        self.ssl_handshake_timeout = tls.settings.handshake_timeout_s

    def create_ssl_context(self) -> ssl.SSLContext:
        return self._tls.listener_context


def hypercorn_config(tls: ServerTls | None) -> HypercornConfig:
    """Hypercorn's configuration for a listener: HTTPS with ``tls`` (its context, so a
    reload reaches new connections), plain HTTP without."""
    return HypercornConfig() if tls is None else _TlsConfig(tls)


def admin_app(
    view: AdminView,
    *,
    tokens: tuple[bytes, ...] = (),
    sessions: ConsoleSessions | None = None,
) -> Starlette:
    """The ASGI app over a gateway's view: the API, the NCIP endpoint and the console
    (whose login checks ``tokens`` and issues ``sessions``)."""
    routes = AdminRoutes(view)
    console = console_routes(view, routes, tokens=tokens, sessions=sessions or ConsoleSessions())
    analytics = AnalyticsRoutes(view)

    async def ncip(request: Request) -> Response:
        return await ncip_endpoint(request, view.ncip, lambda: view.current()[0])

    return Starlette(
        routes=[
            *console,
            Route("/healthz", routes.healthz),
            Route("/readyz", routes.readyz),
            Route("/metrics", routes.metrics),
            Route("/api/members", routes.members),
            Route("/api/loans", routes.loans),
            Route("/api/loans/unconfirmed", routes.unconfirmed),
            Route("/api/loans/{loan_id}/proof", routes.proof),
            Route("/api/ledger", routes.ledger),
            Route("/api/settlements", settlements_endpoint(view)),
            Route("/api/kiosks", routes.kiosks),
            Route("/api/discover", routes.discover),
            Route("/api/lenders", routes.lenders),
            Route("/api/analytics/usage", analytics.usage),
            Route("/api/analytics/collection", analytics.collection),
            Route("/ncip", ncip, methods=["GET", "POST"]),
        ]
    )


async def serve_admin(
    view: AdminView,
    listener: AdminListener | NcipListener,
    *,
    role: str = "admin",
    shutdown: Callable[[], Awaitable[None]] | None = None,
    grace_s: float = 10.0,
    sock: socket.socket | None = None,
    tls: ServerTls | None = None,
    sessions: ConsoleSessions | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the app on one listener until cancelled, or until ``shutdown`` returns:
    then no new connection is taken and requests in flight get ``grace_s`` to finish.
    Reports its base URL once bound (``https://`` with ``tls``).

    With ``sock`` (a socket already bound, from ``serve --workers``) it serves there
    instead of binding the listener's host and port, and closes it at the end.
    The console's ``sessions`` are given there too (one key for every worker); a lone
    gateway makes a fresh key, so its sessions end when it restarts.

    Raises:
        ConfigError: The admin port's tokens cannot be read (``bearer_tokens``).
    """
    config = hypercorn_config(tls)
    host = f"[{listener.host}]" if ":" in listener.host else listener.host
    config.bind = [f"fd://{sock.detach()}" if sock is not None else f"{host}:{listener.port}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = grace_s

    class _Started:
        """Passes hypercorn's bound URLs on as the first one."""

        def started(self, value: list[str] | None = None) -> None:
            scheme = "http" if tls is None else "https"
            task_status.started(value[0] if value else f"{scheme}://{host}:{listener.port}")

    tokens = bearer_tokens(listener) if isinstance(listener, AdminListener) else ()
    if sessions is None:
        sessions = ConsoleSessions()  # a fresh key: sessions end when the gateway restarts
    app = for_role(admin_app(view, tokens=tokens, sessions=sessions), role, tokens, sessions)
    await serve(app, config, shutdown_trigger=shutdown, task_status=_Started())
