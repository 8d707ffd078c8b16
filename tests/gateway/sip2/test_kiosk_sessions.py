"""Kiosk sessions in the state store: listed at /api/kiosks while connected."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import trio
import trio.testing

from gateway.sip2.dispatch import INSTANCE
from protocols.sip2 import AcsStatus, ScStatus
from tests.helpers.demo import circulation_demo, running_demo
from tests.helpers.kiosk import Kiosk
from tests.helpers.polling import eventually

if TYPE_CHECKING:
    from config.models import Config
    from gateway.demo.network import Demo

IDLE_S = 30.0
"""The idle time-out of ``test_a_session_the_store_lost_is_recorded_again``."""


async def kiosks(demo: Demo) -> list[dict[str, str]]:
    assert demo.bound.admin is not None
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{demo.bound.admin.rstrip('/')}/api/kiosks")
    assert answer.status_code == 200
    found: list[dict[str, str]] = answer.json()
    return found


async def test_a_logged_in_kiosk_is_listed_until_it_goes(demo: Demo) -> None:
    """A kiosk is listed from its login (terminal, member, location, gateway) until the
    gateway sees it disconnect."""

    async def none_listed() -> bool:
        return await kiosks(demo) == []

    with trio.fail_after(10):
        assert await kiosks(demo) == []
        kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
        listed = await kiosks(demo)
        await kiosk.aclose()
        # The gateway forgets the session once it reads the close: nothing tells the
        # test when that is.
        await eventually(none_listed, what="the closed kiosk's session to go")
    assert len(listed) == 1
    entry = listed[0]
    assert entry["terminal"] == "beta-kiosk"
    assert entry["member"] == "beta"
    assert entry["location"] == "beta-main"
    assert entry["gateway"] == INSTANCE
    assert entry["id"].startswith(f"{INSTANCE}/c")


async def test_a_kiosk_that_never_logs_in_is_not_listed(demo: Demo) -> None:
    """A connection served without a login (a 99 answered) has no session."""
    with trio.fail_after(10):
        kiosk = await Kiosk.connect(demo)
        answer = await kiosk.expect(ScStatus(max_print_width=0), AcsStatus)
        listed = await kiosks(demo)
        await kiosk.aclose()
    assert answer.online_status
    assert listed == []


def idle_for_a_while(config: Config) -> Config:
    """The test demo with kiosks kept ``IDLE_S`` without a request."""
    config = circulation_demo(config)
    gateway = config.gateway.model_copy(update={"idle_timeout_s": IDLE_S})
    return config.model_copy(update={"gateway": gateway})


async def test_a_session_the_store_lost_is_recorded_again(
    frozen_clock: trio.testing.MockClock,
) -> None:
    """A heartbeat (99) writes the session to the store once a third of the idle time
    has passed since it was last written, not sooner; a session the store lost (expired,
    or Redis restarted empty) is then recorded again under its id.

    Trio time is the test's: it moves only when the test jumps it, so the heartbeats
    fall exactly where the test puts them however loaded the machine is.
    """
    heartbeat = ScStatus(max_print_width=0)
    with trio.fail_after(20):
        async with running_demo(idle_for_a_while) as demo:
            kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
            [entry] = await kiosks(demo)
            await demo.gateway.services.store.session_close(entry["id"])  # the store lost it
            frozen_clock.jump(IDLE_S / 3 - 1)
            await kiosk.expect(heartbeat, AcsStatus)
            too_soon = await kiosks(demo)
            frozen_clock.jump(2)
            await kiosk.expect(heartbeat, AcsStatus)
            listed = await kiosks(demo)
    assert too_soon == []
    assert [e["id"] for e in listed] == [entry["id"]]
