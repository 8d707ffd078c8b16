"""Gateways started again on a Redis that already holds their data: the outbox's
consumer group made by an earlier start (or by another gateway) is used as it is, so
loan events keep reaching the ledger and the lending counters.

Each gateway is a real ``interlend serve`` process; kiosks speak SIP2 over real sockets.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import coredis
import httpx
import pytest
import trio

from adapters.state.redis import RedisStateStore
from gateway.network.selection.shared import StoreSelectionCounters
from protocols.sip2 import CheckoutResponse
from tests.helpers.kiosk import NOW, Kiosk, checkout
from tests.helpers.polling import eventually

from .network import GatewayProcess, gateway_config, start_simulators
from .test_gateways import alpha_patron, beta_item, registry

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

TIMEOUT = 60
DRAIN_S = 20.0
"""The bound on waiting for the outbox to drain (a working consumer takes well under a
second; an embedded chain anchors a batch within ``batch_interval_s``)."""


async def borrow(gateway: GatewayProcess, n: int) -> None:
    """An Alpha patron borrows a Beta item at a Beta kiosk through ``gateway``."""
    kiosk = await Kiosk.at("127.0.0.1", gateway.sip2_port, "beta-kiosk")
    try:
        answer = await kiosk.expect(
            checkout(alpha_patron(n), beta_item(n), when=NOW + timedelta(seconds=n)),
            CheckoutResponse,
        )
    finally:
        await kiosk.aclose()
    assert answer.ok, answer.screen_messages


async def admin_json(gateway: GatewayProcess, path: str) -> Any:
    """One admin API answer, as JSON."""
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{gateway.admin_port}{path}", timeout=5)
    response.raise_for_status()
    return response.json()


async def readiness(gateway: GatewayProcess) -> int:
    """The status ``/readyz`` answers."""
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{gateway.admin_port}/readyz", timeout=5)
    return response.status_code


async def drained(redis_url: str, namespace: str) -> None:
    """Wait (at most ``DRAIN_S``) until no loan event waits in the outbox."""
    async with registry(redis_url, namespace) as store:

        async def empty() -> bool:
            return await store.outbox_pending() == 0

        await eventually(empty, timeout=DRAIN_S, what="the outbox to be drained")


async def lends_counted(redis_url: str, namespace: str) -> tuple[int, int]:
    """Beta's loans and Alpha's borrowings as the shared lending counters have them."""
    client = coredis.Redis.from_url(redis_url, decode_responses=True)
    async with client:
        counters = StoreSelectionCounters(RedisStateStore(client, namespace=namespace))
        reading = await counters.read(["beta", "alpha"], now=time.time())
    return reading.stats["beta"].lifetime_lends, reading.stats["alpha"].lifetime_borrows


@pytest.mark.parametrize("ledger", ["none", "embedded"])
async def test_a_gateway_started_again_on_the_same_redis_drains_its_loan_events(
    tmp_path: Path, redis_url: str, nursery: trio.Nursery, ledger: str
) -> None:
    """A loan through a gateway, the gateway stopped and started again on the same
    Redis, another loan: both loans' events leave the outbox, each process hands its
    loan to its ledger, and the lending counters count both."""
    _, ports = await start_simulators(nursery)
    namespace = f"again-{uuid.uuid4().hex[:8]}"
    path, sip2, admin = gateway_config(
        tmp_path,
        "g",
        ports,
        redis_url=redis_url,
        namespace=namespace,
        ledger=ledger,
        batch_interval_s=0.2,
    )
    gateway = GatewayProcess(path, sip2, admin)
    try:
        with trio.fail_after(TIMEOUT):
            for n in (1, 2):
                gateway.start()
                await gateway.wait_ready()
                await borrow(gateway, n)
                await drained(redis_url, namespace)
                report = await admin_json(gateway, "/api/ledger")
                handed = report["recorded"] if ledger == "none" else report["events_anchored"]
                assert handed == 1, report
                assert report["outbox"]["draining"] is True
                assert report["outbox"]["consecutive_failures"] == 0
                assert await readiness(gateway) == 200
                gateway.stop()
        assert await lends_counted(redis_url, namespace) == (2, 2)
    finally:
        gateway.stop()


async def test_two_gateways_started_one_after_the_other_both_drain(
    tmp_path: Path, redis_url: str, nursery: trio.Nursery
) -> None:
    """The second gateway on a Redis finds the consumer group the first made and reads
    from it too: with the first one stopped, a loan through the second still leaves the
    outbox and is counted."""
    _, ports = await start_simulators(nursery)
    namespace = f"pair-{uuid.uuid4().hex[:8]}"
    first, second = (
        GatewayProcess(
            *gateway_config(tmp_path, name, ports, redis_url=redis_url, namespace=namespace)
        )
        for name in ("first", "second")
    )
    try:
        with trio.fail_after(TIMEOUT):
            first.start()
            await first.wait_ready()
            second.start()
            await second.wait_ready()
            await borrow(first, 1)
            await borrow(second, 2)
            await drained(redis_url, namespace)
            first.stop()
            await borrow(second, 3)
            await drained(redis_url, namespace)
            report = await admin_json(second, "/api/ledger")
            assert report["outbox"]["consecutive_failures"] == 0
            assert report["outbox"]["seconds_since_read"] is not None
            assert await readiness(second) == 200
        assert await lends_counted(redis_url, namespace) == (3, 3)
    finally:
        first.stop()
        second.stop()
