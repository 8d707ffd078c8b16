"""The demo network as the tests configure and run it: short time-outs, no chain, and
``running_demo`` to run one in a test (the ``demo`` fixture's way) with any
configuration."""

from __future__ import annotations

from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING

import trio

from gateway.demo.network import run_demo
from tests.helpers.kiosk import close_all

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Collection

    from config.models import Config
    from gateway.demo.network import Demo

__all__ = ["circulation_demo", "running_demo", "short_timeouts", "without_chain"]


def short_timeouts(config: Config, seconds: float = 1.0) -> Config:
    """The demo configuration with every member ILS's request time-out shortened."""
    node = config.nodes["demo"]
    ils = node.ils.model_copy(update={"timeout_s": seconds, "connect_timeout_s": seconds})
    return config.model_copy(
        update={"nodes": {**config.nodes, "demo": node.model_copy(update={"ils": ils})}}
    )


def without_chain(config: Config) -> Config:
    """The demo configuration with ``gateway.ledger.backend = "none"``: loan events go
    to the in-memory queue, as the circulation tests inspect them there (the embedded
    chain has its own tests, ``test_ledger_demo.py``)."""
    ledger = config.gateway.ledger.model_copy(update={"backend": "none"})
    return config.model_copy(
        update={"gateway": config.gateway.model_copy(update={"ledger": ledger})}
    )


def circulation_demo(config: Config) -> Config:
    """Short time-outs and no chain: the ``demo`` fixture's configuration."""
    return without_chain(short_timeouts(config))


@asynccontextmanager
async def running_demo(
    adjust: Callable[[Config], Config] = circulation_demo,
    *,
    ncip_members: Collection[str] = (),
) -> AsyncIterator[Demo]:
    """The demo network with its configuration passed through ``adjust``; at the end the
    test's kiosks are closed and the gateway stopped gracefully.

    Args:
        adjust: Changes the demo configuration (short time-outs and no chain unless
            told otherwise).
        ncip_members: Members whose ILS the gateway reaches over NCIP.
    """
    async with trio.open_nursery() as nursery:
        demo: Demo = await nursery.start(
            partial(run_demo, handle_signals=False, adjust=adjust, ncip_members=ncip_members)
        )
        try:
            yield demo
        finally:
            await close_all()
            demo.gateway.stop()
