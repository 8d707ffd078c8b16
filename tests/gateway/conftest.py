"""Fixtures: the demo network (three simulated ILSs and the gateway) on loopback."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.helpers.demo import circulation_demo, running_demo, short_timeouts

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from gateway.demo.network import Demo


@pytest.fixture
async def demo() -> AsyncIterator[Demo]:
    """The demo network (without a chain), stopped gracefully after the test."""
    async with running_demo(circulation_demo) as running:
        yield running


@pytest.fixture
async def ncip_demo() -> AsyncIterator[Demo]:
    """The demo network with alpha's ILS reached over NCIP (it takes AcceptItem and
    DeleteItem), stopped gracefully after the test."""
    async with running_demo(short_timeouts, ncip_members=("alpha",)) as running:
        yield running
