"""A webhook receiver for tests: a real HTTP endpoint on loopback (hypercorn + Starlette)
that checks the signature as a consortium's accounting system would, and can be told
to fail a number of times first, to refuse, or to hang."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from adapters.billing.webhook import SIGNATURE_HEADER, verify

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["RECEIVER_SECRET", "Receiver", "start_receiver"]

RECEIVER_SECRET = b"a shared secret of the consortium"
"""The key the receiver checks signatures with."""


@dataclass
class Receiver:
    """An accounting system's webhook endpoint and what it was sent.

    Attributes:
        fail_first: Answer this many requests with ``status_when_failing`` first.
        status_when_failing: The status of those answers.
        hang: Never answer.
        received: Each request's body and headers (lower-case names), in order.
        url: Where it listens (set once started).
    """

    fail_first: int = 0
    status_when_failing: int = 503
    hang: bool = False
    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    async def endpoint(self, request: Request) -> Response:
        """Record the request; fail, hang, refuse a bad signature, or take it (204)."""
        body = await request.body()
        self.received.append((body, dict(request.headers)))
        if self.hang:
            await trio.sleep_forever()
        if len(self.received) <= self.fail_first:
            return Response(status_code=self.status_when_failing)
        if not verify(RECEIVER_SECRET, body, request.headers.get(SIGNATURE_HEADER, "")):
            return Response("bad signature", status_code=401)
        return Response(status_code=204)


async def _serve(receiver: Receiver, *, task_status: trio.TaskStatus[str]) -> None:
    app = Starlette(routes=[Route("/hook", receiver.endpoint, methods=["POST"])])
    config = HypercornConfig()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = None

    class Started:
        """Passes hypercorn's bound URL on as the endpoint's."""

        def started(self, value: list[str] | None = None) -> None:
            assert value
            task_status.started(f"{value[0]}/hook")

    await serve(app, config, task_status=Started())  # type: ignore[arg-type]


async def start_receiver(
    nursery: trio.Nursery,
    *,
    fail_first: int = 0,
    status_when_failing: int = 503,
    hang: bool = False,
) -> Receiver:
    """A receiver listening on a free loopback port, served in ``nursery``."""
    receiver = Receiver(fail_first, status_when_failing, hang)
    receiver.url = await nursery.start(_serve, receiver)
    return receiver
