"""NCIP over HTTP: ``POST /ncip`` on the NCIP port.

Bodies are read up to ``gateway.ncip.max_body`` bytes (413 with a message-level NCIP
Problem past it, before the rest is read) within the request time-out (408 past it);
whatever the body holds, the answer is NCIP (``NcipResponder``).
"""

from __future__ import annotations

from contextlib import aclosing
from typing import TYPE_CHECKING

import trio
from starlette.responses import PlainTextResponse, Response

from protocols.ncip import Problem, ProblemResponse, ProblemType, write_response

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.requests import Request

    from gateway.ncip.responder import NcipResponder
    from gateway.runtime.rules import Rules

__all__ = ["NCIP_TYPE", "ncip_endpoint", "problem_message"]

NCIP_TYPE = "application/xml; charset=utf-8"
DEFAULT_MAX_BODY = 1 << 20


def problem_message(detail: str) -> bytes:
    """A message-level NCIP Problem (the body could not be taken as a message)."""
    problem = Problem(ProblemType.INVALID_MESSAGE_SYNTAX, detail)
    return write_response(ProblemResponse("", (problem,)))


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """The body, or ``None`` once it grows past ``limit`` (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    async with aclosing(request.stream()) as stream:
        async for chunk in stream:
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
    return b"".join(chunks)


async def ncip_endpoint(
    request: Request, responder: NcipResponder, rules: Callable[[], Rules]
) -> Response:
    """The answer to one HTTP request on ``/ncip``."""
    if request.method != "POST":
        return PlainTextResponse(
            "POST an NCIP message here\n", status_code=405, headers={"Allow": "POST"}
        )
    settings = rules().settings
    limit = settings.ncip.max_body if settings.ncip is not None else DEFAULT_MAX_BODY
    client = f"{request.client.host}:{request.client.port}" if request.client else "-"
    with trio.move_on_after(settings.request_timeout_s):
        body = await _read_capped(request, limit)
        if body is None:
            answer = problem_message(f"the message is over {limit} bytes")
            return Response(answer, status_code=413, media_type=NCIP_TYPE)
        answer = await responder.handle(body, request.headers, client)
        return Response(answer, media_type=NCIP_TYPE)
    answer = problem_message("the request took too long")
    return Response(answer, status_code=408, media_type=NCIP_TYPE)
