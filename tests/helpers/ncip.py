"""A resource-sharing system as the tests play it: NCIP posted to the demo gateway."""

from __future__ import annotations

import os
import ssl
from functools import cache
from typing import TYPE_CHECKING

import httpx

from protocols.ncip import Reply, Request, read_reply, write_request
from tests.protocols.ncip.schema import assert_valid

if TYPE_CHECKING:
    from gateway.demo.network import Demo

__all__ = ["ask", "key", "post", "reply"]


@cache
def _trust() -> ssl.SSLContext:
    """The system's trust store, read once: httpx reads it again for every client
    (about 30 ms each), which a test posting two hundred samples pays two hundred times."""
    return ssl.create_default_context()


def key() -> str:
    return os.environ["INTERLEND_DEMO_NCIP_KEY"]


async def post(
    demo: Demo,
    body: bytes,
    *,
    api_key: str | None = "",
    url: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {"Content-Type": "application/xml; charset=utf-8", **(headers or {})}
    if api_key is not None:
        sent["X-API-Key"] = api_key or key()
    async with httpx.AsyncClient(verify=_trust()) as client:
        target = url or demo.bound.ncip
        assert target is not None
        return await client.post(target, content=body, headers=sent, timeout=10)


async def ask(
    demo: Demo,
    request: Request,
    *,
    api_key: str | None = "",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    answer = await post(demo, write_request(request), api_key=api_key, headers=headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/xml")
    assert_valid(answer.content)
    return answer


async def reply(demo: Demo, request: Request, **options: str | None) -> Reply:
    """Post ``request`` (checked schema-valid both ways) and read the answer."""
    answer = await ask(demo, request, api_key=options.get("api_key", ""))
    return read_reply(answer.content)
