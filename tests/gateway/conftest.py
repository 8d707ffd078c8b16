"""Fixtures: the demo network (three simulated ILSs and the gateway) on loopback."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import pytest
import trio

from gateway.demo.network import Demo, run_demo
from tests.helpers.demo import circulation_demo, short_timeouts
from tests.helpers.kiosk import close_all

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


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
