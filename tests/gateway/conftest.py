"""Fixtures: the demo network (three simulated ILSs and the gateway) on loopback."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import pytest
import trio

from gateway.demo import Demo, run_demo

from .kiosk import close_all

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from config.models import Config


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


@pytest.fixture
async def demo() -> AsyncIterator[Demo]:
    """The demo network (without a chain), stopped gracefully after the test."""
    async with trio.open_nursery() as nursery:
        running: Demo = await nursery.start(
            partial(run_demo, handle_signals=False, adjust=circulation_demo)
        )
        try:
            yield running
        finally:
            await close_all()
            running.gateway.stop()


@pytest.fixture
async def ncip_demo() -> AsyncIterator[Demo]:
    """The demo network with alpha's ILS reached over NCIP (it takes AcceptItem and
    DeleteItem), stopped gracefully after the test."""
    async with trio.open_nursery() as nursery:
        running: Demo = await nursery.start(
            partial(run_demo, handle_signals=False, adjust=short_timeouts, ncip_members=("alpha",))
        )
        try:
            yield running
        finally:
            await close_all()
            running.gateway.stop()
