"""``GET /api/settlements``: the settlement rounds on chain, as the gateway's link reads them.

Each recent period's latest round (state, revision, root, counts, window) with every
current member's answer (``acknowledged``, ``disputed`` with its reason, or ``none``);
the registry's dispute window and proposers.  404 without a ledger, 503 while the
gateway is not connected to its chain, or when the node refuses or does not answer
within ``READ_TIMEOUT_S``.  Only library codes,
counts and hashes: nothing personal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio
from starlette.responses import JSONResponse

from adapters.ledger.chain import ChainError
from adapters.ledger.rounds import SettlementRounds
from gateway.ledger.settlement import settlements_overview

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.requests import Request
    from starlette.responses import Response

    from gateway.admin.view import AdminView

__all__ = ["READ_TIMEOUT_S", "settlements_endpoint"]

READ_TIMEOUT_S = 20.0
"""The longest the rounds may take to read (a few calls per member and period, each
within the node's own request time-out)."""


def settlements_endpoint(view: AdminView) -> Callable[[Request], Awaitable[Response]]:
    """The route's handler over ``view`` (for ``Route("/api/settlements", …)``)."""

    async def settlements(request: Request) -> Response:
        return await _settlements(view)

    return settlements


async def _settlements(view: AdminView) -> Response:
    worker = view.ledger_worker
    if worker is None:
        return JSONResponse({"error": "no ledger: gateway.ledger.backend is none"}, status_code=404)
    link = worker.link
    if link is None:
        return JSONResponse({"error": "not connected to the ledger's chain yet"}, status_code=503)
    overview = None
    with trio.move_on_after(READ_TIMEOUT_S):
        try:
            overview = await link.call(settlements_overview, SettlementRounds(link.client))
        except ChainError as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
    if overview is None:
        return JSONResponse(
            {"error": f"the chain did not answer within {READ_TIMEOUT_S:g} s"}, status_code=503
        )
    return JSONResponse(overview)
