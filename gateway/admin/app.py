"""The gateway's HTTP app: the admin routes and the NCIP endpoint, on their own ports.

``admin_app(view)`` is one Starlette app with every route; ``serve_admin`` serves it on
one listener as that port's role allows (``auth.for_role``: the NCIP port answers
``/ncip`` and ``/healthz`` only, the admin port everything else, behind its bearer
tokens).  It runs on hypercorn's trio worker inside the daemon's nursery and listens on
loopback unless configured otherwise.  Nothing it returns holds a PIN or a barcode of a
patron.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from starlette.applications import Starlette
from starlette.routing import Route

from config.models import AdminListener
from gateway.admin.auth import bearer_tokens, for_role
from gateway.admin.routes import AdminRoutes
from gateway.admin.settlements import settlements_endpoint
from gateway.ncip.http import ncip_endpoint

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.requests import Request
    from starlette.responses import Response

    from config.models import NcipListener
    from gateway.admin.view import AdminView

__all__ = ["admin_app", "serve_admin"]


def admin_app(view: AdminView) -> Starlette:
    """The ASGI app over a gateway's view."""
    routes = AdminRoutes(view)

    async def ncip(request: Request) -> Response:
        return await ncip_endpoint(request, view.ncip, lambda: view.current()[0])

    return Starlette(
        routes=[
            Route("/", routes.status),
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
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the app on one listener until cancelled, or until ``shutdown`` returns:
    then no new connection is taken and requests in flight get ``grace_s`` to finish.
    Reports its base URL once bound.

    Raises:
        ConfigError: The admin port's tokens cannot be read (``bearer_tokens``).
    """
    config = HypercornConfig()
    host = f"[{listener.host}]" if ":" in listener.host else listener.host
    config.bind = [f"{host}:{listener.port}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = grace_s

    class _Started:
        """Passes hypercorn's bound URLs on as the first one."""

        def started(self, value: list[str] | None = None) -> None:
            task_status.started(value[0] if value else f"http://{host}:{listener.port}")

    tokens = bearer_tokens(listener) if isinstance(listener, AdminListener) else ()
    app = for_role(admin_app(view), role, tokens)
    await serve(app, config, shutdown_trigger=shutdown, task_status=_Started())
