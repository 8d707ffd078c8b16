"""The outbox consumer's health: a consumer that cannot read while loan events wait is
reported by ``/readyz`` (503, with the reason) and ``/api/ledger``, and recovers."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import coredis
import httpx
import pytest
import trio

from adapters.state.base import LoanRequest, Reservation
from adapters.state.redis import RedisStateStore
from gateway.app.daemon import Gateway
from gateway.ledger.outbox import OutboxConsumerHealth
from tests.helpers.polling import eventually
from tests.helpers.services import RedisServer, missing_service, start_redis

from .network import ILS_PASSWORD, PATRON_SECRET, gateway_config, start_simulators

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
TIMEOUT = 30


# --- the record ------------------------------------------------------------------------


async def test_a_consumer_that_keeps_failing_while_events_wait_is_not_draining(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Failures shorter than the threshold, or with nothing waiting, leave the consumer
    draining; failures lasting the threshold while events wait do not, and the reason
    says how many wait and the last error."""
    health = OutboxConsumerHealth(stall_after_s=60)
    assert health.not_draining(5) is None
    health.failed("Redis failed (xreadgroup): NOPERM")
    await trio.sleep(59)
    health.failed("Redis failed (xreadgroup): NOPERM")
    assert health.not_draining(5) is None
    await trio.sleep(1)
    assert health.not_draining(0) is None
    reason = health.not_draining(5)
    assert reason is not None
    assert "5 loan events wait" in reason
    assert "failed for 60s" in reason
    assert "NOPERM" in reason
    stats = health.statistics()
    assert (stats.draining, stats.pending, stats.consecutive_failures) == (False, 5, 2)
    assert stats.seconds_since_read is None
    assert stats.to_json()["failing_for_s"] == 60.0


async def test_one_read_or_acknowledgement_makes_the_consumer_draining_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Any success ends the failing streak; the last error stays on record."""
    health = OutboxConsumerHealth(stall_after_s=10)
    for success in (health.read, health.acked):
        health.failed("down")
        await trio.sleep(11)
        assert health.not_draining(1) is not None
        success()
        assert health.not_draining(1) is None
        stats = health.statistics()
        assert (stats.draining, stats.consecutive_failures, stats.failing_for_s) == (True, 0, 0)
        assert stats.last_error == "down"
    await trio.sleep(2)
    stats = health.statistics()
    assert stats.seconds_since_read == pytest.approx(13)
    assert stats.seconds_since_ack == pytest.approx(2)


# --- a gateway whose consumer cannot read ------------------------------------------------


@pytest.fixture
def acl_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own (its users are changed by the test)."""
    directory = tmp_path / "redis"
    directory.mkdir()
    server = start_redis(directory)
    if server is None or shutil.which("redis-cli") is None:
        missing_service("redis-server or redis-cli is not installed")
        return
    try:
        yield server
    finally:
        server.stop()


async def acl(server: RedisServer, *rules: str) -> None:
    """Change the gateway's Redis user (``gw``, password ``pw``)."""
    cli = shutil.which("redis-cli")
    assert cli is not None
    command = [cli, "-p", str(server.port), "ACL", "SETUSER", "gw", *rules]
    await trio.run_process(command, capture_stdout=True)


async def get(url: str) -> tuple[int, Any]:
    """One admin answer: its status and body (JSON when it is JSON)."""
    async with httpx.AsyncClient() as client:
        response = await client.get(url, timeout=5)
    is_json = response.headers.get("content-type", "").startswith("application/json")
    return response.status_code, response.json() if is_json else response.text


async def no_events(store: RedisStateStore) -> bool:
    """Whether the outbox is empty."""
    return await store.outbox_pending() == 0


async def until_status(url: str, status: int) -> tuple[int, Any]:
    """Poll ``url`` until it answers ``status``."""

    async def answered() -> tuple[int, Any] | None:
        found = await get(url)
        return found if found[0] == status else None

    return await eventually(answered, timeout=TIMEOUT, every=0.05, what=f"{url} to answer {status}")


async def test_readyz_says_the_outbox_is_not_draining_and_recovers(
    tmp_path: Path,
    acl_redis: RedisServer,
    nursery: trio.Nursery,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A gateway whose Redis user may not read streams: once a loan event waits and the
    pump has failed for the threshold, ``/readyz`` answers 503 naming the outbox and
    ``/api/ledger`` shows the failures; once reading is allowed again, the event is
    delivered and the gateway is ready."""
    for name, value in (
        ("INTERLEND_DEMO_ILS_PASSWORD", ILS_PASSWORD),
        ("INTERLEND_DEMO_NCIP_KEY", "demo-ncip-key"),
        ("INTERLEND_TEST_PATRON_SECRET", PATRON_SECRET),
    ):
        monkeypatch.setenv(name, value)
    await acl(acl_redis, "on", ">pw", "~*", "&*", "+@all", "-xreadgroup", "-xautoclaim")
    _, ports = await start_simulators(nursery)
    namespace = f"health-{uuid.uuid4().hex[:8]}"
    url = f"redis://gw:pw@127.0.0.1:{acl_redis.port}/0"
    path, _, _ = gateway_config(tmp_path, "g", ports, redis_url=url, namespace=namespace)
    gateway = Gateway.from_file(path, handle_signals=False)
    gateway.outbox_health.stall_after_s = 1.0
    with trio.fail_after(TIMEOUT):
        bound = await nursery.start(gateway.run)
        admin = bound.admin.rstrip("/")
        try:
            await until_status(f"{admin}/readyz", 200)  # nothing waits yet
            client = coredis.Redis.from_url(acl_redis.url, decode_responses=True)
            async with client:
                store = RedisStateStore(client, namespace=namespace)
                request = LoanRequest(
                    "beta", "alpha", "31002000000001", "a" * 32, "ILL-alpha", "k", "k", None, None
                )
                held = await store.reserve(request, now=T0)
                assert isinstance(held, Reservation)
                await store.commit(held, due=T0 + timedelta(days=21), now=T0)
                _, why = await until_status(f"{admin}/readyz", 503)
                assert "the ledger outbox is not draining" in why
                assert "NOPERM" not in why  # the detail is for the log and /api/ledger
                _, report = await get(f"{admin}/api/ledger")
                outbox = report["outbox"]
                assert outbox["draining"] is False
                assert outbox["pending"] == 1
                assert outbox["consecutive_failures"] >= 1
                assert "NOPERM" in outbox["last_error"] or "permission" in outbox["last_error"]
                await acl(acl_redis, "+xreadgroup", "+xautoclaim")
                await until_status(f"{admin}/readyz", 200)
                await eventually(lambda: no_events(store))
            _, report = await get(f"{admin}/api/ledger")
            assert report["outbox"]["draining"] is True
            assert report["recorded"] == 1
        finally:
            gateway.stop()
