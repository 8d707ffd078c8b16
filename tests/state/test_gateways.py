"""Several gateway processes on one real Redis: caps under races, a gateway killed with
``kill -9`` in the middle of checkouts, and Redis itself restarted."""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

import coredis
import httpx
import pytest
import trio

from adapters.state.base import patron_key
from adapters.state.redis import RedisStateStore
from gateway.sip2.responses import REGISTRY_UNAVAILABLE
from protocols.sip2 import CheckinResponse, CheckoutResponse
from tests.helpers.kiosk import NOW, Kiosk, checkin, checkout
from tests.helpers.polling import eventually

from .network import PATRON_SECRET, GatewayProcess, gateway_config, start_simulators

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from tests.helpers.services import RedisServer

pytestmark = pytest.mark.slow

ALPHA_HOME = "alpha"
PROXY = "ILL-alpha"
TIMEOUT = 60


def beta_item(n: int) -> str:
    return f"31002{n:09d}"


def alpha_patron(n: int) -> str:
    return f"21001{n:09d}"


@asynccontextmanager
async def registry(url: str, namespace: str) -> AsyncIterator[RedisStateStore]:
    """The gateways' registry, read directly."""
    client = coredis.Redis.from_url(url, decode_responses=True)
    async with client:
        yield RedisStateStore(client, namespace=namespace)


async def test_two_gateways_racing_for_one_patrons_last_slots_never_pass_the_cap(
    tmp_path: Path, redis_url: str, nursery: trio.Nursery
) -> None:
    """Twenty concurrent checkouts by one patron through two gateways: exactly five (the
    cap at Beta) are lent, at the ILS and in the registry."""
    ils, ports = await start_simulators(nursery)
    namespace = f"race-{uuid.uuid4().hex[:8]}"
    gateways = []
    for name in ("one", "two"):
        path, sip2, admin = gateway_config(
            tmp_path, name, ports, redis_url=redis_url, namespace=namespace
        )
        gateways.append(GatewayProcess(path, sip2, admin))
    try:
        for gateway in gateways:
            gateway.start()
        for gateway in gateways:
            await gateway.wait_ready()
        answers: list[CheckoutResponse] = []

        async def borrow(n: int) -> None:
            port = gateways[n % 2].sip2_port
            kiosk = await Kiosk.at("127.0.0.1", port, "beta-kiosk")
            when = NOW + timedelta(seconds=n)
            answer = await kiosk.expect(
                checkout(alpha_patron(1), beta_item(n + 1), when=when), CheckoutResponse
            )
            answers.append(answer)
            await kiosk.aclose()

        with trio.fail_after(TIMEOUT):
            async with trio.open_nursery() as inner:
                for n in range(20):
                    inner.start_soon(borrow, n)
        lent = [a for a in answers if a.ok]
        refused = [a for a in answers if not a.ok]
        assert len(lent) == 5, [a.screen_messages for a in answers]
        assert all(
            any("Limit of 5 loans from Beta" in line for line in a.screen_messages) for a in refused
        )
        at_ils = [i for i in ils["beta"].library.items.values() if i.holder == PROXY]
        assert sorted(i.id for i in at_ils) == sorted(a.item_identifier for a in lent)
        async with registry(redis_url, namespace) as store:
            loans = await store.active_loans(
                patron_key(PATRON_SECRET.encode(), "alpha", alpha_patron(1))
            )
            assert sorted(x.item for x in loans) == sorted(a.item_identifier for a in lent)
    finally:
        for gateway in gateways:
            gateway.stop()


async def test_a_gateway_killed_mid_checkout_loses_no_loan_and_resends_lend_once(
    tmp_path: Path, redis_url: str, nursery: trio.Nursery
) -> None:
    """Kiosks borrowing through gateway A move to B when A is killed with SIGKILL and
    resend what was unanswered: every item ends up lent exactly once, at the ILS and in
    the registry, and no slot is left held."""
    ils, ports = await start_simulators(nursery)
    namespace = f"kill-{uuid.uuid4().hex[:8]}"
    a_path, a_sip2, a_admin = gateway_config(
        tmp_path, "a", ports, redis_url=redis_url, namespace=namespace
    )
    b_path, b_sip2, b_admin = gateway_config(
        tmp_path, "b", ports, redis_url=redis_url, namespace=namespace
    )
    a, b = GatewayProcess(a_path, a_sip2, a_admin), GatewayProcess(b_path, b_sip2, b_admin)
    kiosks, per_kiosk = 6, 5
    moved, halfway = trio.Event(), trio.Event()
    resent, answered = [0], [0]
    # A slow owner keeps checkouts in flight between the reserve and the commit.
    ils["beta"].delay_s = 0.05
    try:
        a.start()
        b.start()
        await a.wait_ready()
        await b.wait_ready()

        async def borrower(k: int, *, task_status: trio.TaskStatus[None]) -> None:
            kiosk = await Kiosk.at("127.0.0.1", a.sip2_port, "beta-kiosk")
            task_status.started()
            for j in range(per_kiosk):
                item = beta_item(1 + k * per_kiosk + j)
                request = checkout(
                    alpha_patron(k + 1), item, when=NOW + timedelta(minutes=k, seconds=j)
                )
                while True:
                    try:
                        answer = await kiosk.expect(request, CheckoutResponse)
                        break
                    except (EOFError, trio.BrokenResourceError, OSError):
                        await moved.wait()
                        kiosk = await Kiosk.at("127.0.0.1", b.sip2_port, "beta-kiosk")
                        resent[0] += 1
                assert answer.ok, answer.screen_messages
                answered[0] += 1
                if answered[0] >= kiosks * per_kiosk // 3:
                    halfway.set()

        with trio.fail_after(TIMEOUT):
            async with trio.open_nursery() as inner:
                for k in range(kiosks):
                    await inner.start(borrower, k)
                await halfway.wait()
                a.kill()
                moved.set()
        assert resent[0] >= 1, "the kill happened after every checkout had finished"
        items = {beta_item(n) for n in range(1, kiosks * per_kiosk + 1)}
        at_ils = {i.id for i in ils["beta"].library.items.values() if i.holder == PROXY}
        assert at_ils == items
        async with registry(redis_url, namespace) as store:
            loans = [
                loan
                for k in range(kiosks)
                for loan in await store.active_loans(
                    patron_key(PATRON_SECRET.encode(), "alpha", alpha_patron(k + 1))
                )
            ]
            assert sorted(x.item for x in loans) == sorted(items)  # none lost, none doubled
            assert await store.unconfirmed(now=NOW + timedelta(days=1)) == []
    finally:
        a.stop()
        b.stop()


async def _ready(admin_port: int) -> int:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{admin_port}/readyz", timeout=5)
        return response.status_code


async def test_redis_restart_refuses_clearly_meanwhile_and_recovers(
    tmp_path: Path, own_redis: RedisServer, nursery: trio.Nursery
) -> None:
    """While Redis is down checkouts are refused with a clear message (within the
    time-out) and readiness fails; after it returns the gateway serves again by itself,
    and the loan made before is still there."""
    ils, ports = await start_simulators(nursery)
    path, sip2, admin = gateway_config(
        tmp_path, "g", ports, redis_url=own_redis.url, namespace="restart", timeout_s=0.5
    )
    gateway = GatewayProcess(path, sip2, admin)
    try:
        gateway.start()
        await gateway.wait_ready()
        with trio.fail_after(TIMEOUT):
            kiosk = await Kiosk.at("127.0.0.1", sip2, "beta-kiosk")
            before = await kiosk.expect(checkout(alpha_patron(1), beta_item(1)), CheckoutResponse)
            assert before.ok
            assert await _ready(admin) == 200
            own_redis.stop()
            started = trio.current_time()
            down = await kiosk.expect(
                checkout(alpha_patron(1), beta_item(2), when=NOW + timedelta(seconds=1)),
                CheckoutResponse,
            )
            assert trio.current_time() - started < 5
            assert not down.ok
            assert REGISTRY_UNAVAILABLE in down.screen_messages
            assert ils["beta"].library.items[beta_item(2)].holder is None
            assert await _ready(admin) == 503
            # A checkin still goes through: the item is back at its owner.
            returned = await kiosk.expect(checkin(beta_item(1)), CheckinResponse)
            assert returned.ok
            assert ils["beta"].library.items[beta_item(1)].holder is None
            own_redis.start(appendonly=True)

            async def lent_again() -> bool:
                # The same request each time (its AY/AZ date too): it lends once.
                again = await kiosk.expect(
                    checkout(alpha_patron(1), beta_item(3), when=NOW + timedelta(seconds=2)),
                    CheckoutResponse,
                )
                assert again.ok or REGISTRY_UNAVAILABLE in again.screen_messages
                return again.ok

            await eventually(lent_again, timeout=TIMEOUT, every=0.2, what="a loan with Redis back")
            assert await _ready(admin) == 200
        async with registry(own_redis.url, "restart") as store:
            loans = await store.active_loans(
                patron_key(PATRON_SECRET.encode(), "alpha", alpha_patron(1))
            )
            # The checkin made while Redis was down is not in the registry (documented):
            # the loan closes at the item's next checkin or checkout.
            assert sorted(x.item for x in loans) == [beta_item(1), beta_item(3)]
    finally:
        gateway.stop()


def test_serve_refuses_to_start_without_aof_when_required(tmp_path: Path, redis_url: str) -> None:
    """``require_aof`` and a Redis without its append-only file: exit 1, say why."""
    path, sip2, admin = gateway_config(
        tmp_path, "strict", {}, redis_url=redis_url, namespace="aof", require_aof=True
    )
    gateway = GatewayProcess(path, sip2, admin)
    gateway.start()
    assert gateway.process is not None
    assert gateway.process.wait(60) == 1
    assert "append-only file is off" in gateway.log()
    assert "nothing started" in gateway.log()
