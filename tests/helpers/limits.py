"""Helpers for the limit tests: a demo with chosen ``[gateway.limits]``, and kiosks
connecting from a chosen loopback address (Linux routes all of 127.0.0.0/8 to lo)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from protocols.sip2 import LoginRequest, LoginResponse
from tests.helpers.demo import circulation_demo, running_demo
from tests.helpers.kiosk import Kiosk

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from config.models import Config
    from gateway.demo.network import Demo

HONEST_ADDRESS = "127.0.0.2"
"""Where the honest kiosk of a test connects from; the abuse comes from 127.0.0.1."""


def with_limits(config: Config, **values: Any) -> Config:
    """The demo configuration (as the ``demo`` fixture has it) with limits changed."""
    config = circulation_demo(config)
    limits = config.gateway.limits.model_copy(update=values)
    gateway = config.gateway.model_copy(update={"limits": limits})
    return config.model_copy(update={"gateway": gateway})


@asynccontextmanager
async def demo_with(**limits: Any) -> AsyncIterator[Demo]:
    """The demo network with ``limits``, stopped at the end."""
    async with running_demo(partial(with_limits, **limits)) as running:
        yield running


async def connect_from(demo: Demo, address: str) -> Kiosk:
    """A kiosk connection from ``address``."""
    host, port = demo.bound.sip2[0]
    return Kiosk(await trio.open_tcp_stream(host, port, local_address=address))


async def login(kiosk: Kiosk, name: str, password: str = "demo") -> bool:
    """Whether the gateway accepts the login."""
    answer = await kiosk.expect(
        LoginRequest(login_user_id=name, login_password=password), LoginResponse
    )
    return answer.ok
