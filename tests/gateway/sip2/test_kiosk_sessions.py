"""Kiosk sessions in the state store: listed at /api/kiosks while connected."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import httpx
import trio

from gateway.demo.network import run_demo
from gateway.sip2.dispatch import INSTANCE
from protocols.sip2 import AcsStatus, ScStatus
from tests.helpers.kiosk import Kiosk

if TYPE_CHECKING:
    from config.models import Config
    from gateway.demo.network import Demo


async def kiosks(demo: Demo) -> list[dict[str, str]]:
    assert demo.bound.admin is not None
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{demo.bound.admin.rstrip('/')}/api/kiosks")
    assert answer.status_code == 200
    found: list[dict[str, str]] = answer.json()
    return found


async def test_a_logged_in_kiosk_is_listed_until_it_goes(demo: Demo) -> None:
    with trio.fail_after(10):
        assert await kiosks(demo) == []
        kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
        listed = await kiosks(demo)
        await kiosk.aclose()
        for _ in range(100):
            if not await kiosks(demo):
                break
            await trio.sleep(0.02)
        after = await kiosks(demo)
    assert len(listed) == 1
    entry = listed[0]
    assert entry["terminal"] == "beta-kiosk"
    assert entry["member"] == "beta"
    assert entry["location"] == "beta-main"
    assert entry["gateway"] == INSTANCE
    assert entry["id"].startswith(f"{INSTANCE}/c")
    assert after == []


async def test_a_kiosk_that_never_logs_in_is_not_listed(demo: Demo) -> None:
    with trio.fail_after(10):
        kiosk = await Kiosk.connect(demo)
        await trio.sleep(0.05)
        listed = await kiosks(demo)
        await kiosk.aclose()
    assert listed == []


async def test_a_session_the_store_lost_is_recorded_again() -> None:
    """Heartbeats (99) keep a session; one the store dropped comes back at the next."""

    def short_idle(config: Config) -> Config:
        gateway = config.gateway.model_copy(update={"idle_timeout_s": 3.0})
        return config.model_copy(update={"gateway": gateway})

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            running: Demo = await nursery.start(
                partial(run_demo, handle_signals=False, adjust=short_idle)
            )
            kiosk = await Kiosk.logged_in(running, "beta-kiosk")
            [entry] = await kiosks(running)
            await running.gateway.services.store.session_close(entry["id"])
            assert await kiosks(running) == []
            # A heartbeat touches the session once a third of the idle time has passed.
            for _ in range(2):
                await trio.sleep(1.05)
                await kiosk.expect(ScStatus(max_print_width=0), AcsStatus)
            listed = await kiosks(running)
            await kiosk.aclose()
            running.gateway.stop()
    assert [e["id"] for e in listed] == [entry["id"]]
