"""The registry's backup and restore, as docs/operations.md tells an operator to do them.

Backup: ``BGSAVE`` on the running Redis (append-only file on), wait for it, copy
``dump.rdb``.  Restore: a Redis started from that ``dump.rdb`` with ``appendonly no``,
then ``CONFIG SET appendonly yes`` (Redis writes a fresh AOF), and from then on started
with the append-only file: the loans are there at each step.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import coredis

from adapters.state.base import LoanRequest, Reservation, patron_key
from adapters.state.connect import open_state
from config.models import StateSettings
from tests.helpers.polling import eventually
from tests.helpers.services import RedisServer, free_port, missing_service, start_redis

if TYPE_CHECKING:
    from pathlib import Path

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
NAMESPACE = "backup"


async def _persistence(url: str) -> dict[str, Any]:
    async with coredis.Redis.from_url(url, decode_responses=True) as client:
        info: dict[str, Any] = await client.info("persistence")
        return info


async def _bgsave(url: str) -> None:
    async with coredis.Redis.from_url(url, decode_responses=True) as client:
        await client.bgsave()


async def _turn_on_aof(url: str) -> None:
    async with coredis.Redis.from_url(url, decode_responses=True) as client:
        await client.config_set({"appendonly": "yes"})


async def _loans(url: str) -> list[str]:
    settings = StateSettings(backend="redis", url=url, namespace=NAMESPACE)
    async with open_state(settings, None) as store:
        return sorted(x.item for x in await store.owner_active_loans("alpha"))


async def test_backup_then_restore_keeps_the_loans(tmp_path: Path) -> None:
    """Loans written before BGSAVE come back from the copied dump.rdb, and stay after
    the restored Redis has rewritten its append-only file and restarted with it."""
    live_dir, restored_dir = tmp_path / "live", tmp_path / "restored"
    live_dir.mkdir()
    restored_dir.mkdir()
    live = start_redis(live_dir, appendonly=True)
    if live is None:
        missing_service("redis-server is not installed")
        return
    items = [f"3100100000000{n}" for n in range(1, 4)]
    try:
        settings = StateSettings(backend="redis", url=live.url, namespace=NAMESPACE)
        async with open_state(settings, None) as store:
            for item in items:
                request = LoanRequest(
                    owner="alpha",
                    home="beta",
                    item=item,
                    patron_key=patron_key(b"k", "beta", "21002000000001"),
                    proxy_patron="ILL-beta",
                    terminal="alpha-kiosk",
                    idempotency_key=item,
                    cap_at_owner=None,
                    cap_total=None,
                )
                held = await store.reserve(request, now=T0)
                assert isinstance(held, Reservation)
                await store.commit(held, due=T0 + timedelta(days=21), now=T0)
        before = (await _persistence(live.url))["rdb_last_save_time"]
        await _bgsave(live.url)

        async def saved() -> bool:
            info = await _persistence(live.url)
            return bool(
                info["rdb_bgsave_in_progress"] == 0
                and info["rdb_last_bgsave_status"] == "ok"
                and info["rdb_last_save_time"] >= before
            )

        await eventually(saved, timeout=20, what="BGSAVE to finish")
        shutil.copy(live_dir / "dump.rdb", restored_dir / "dump.rdb")
    finally:
        live.stop()

    restored = RedisServer(free_port(), restored_dir)
    restored.start(appendonly=False)
    try:
        assert await _loans(restored.url) == items
        await _turn_on_aof(restored.url)

        async def rewritten() -> bool:
            info = await _persistence(restored.url)
            return bool(
                info["aof_enabled"] == 1
                and info["aof_rewrite_in_progress"] == 0
                and info["aof_rewrite_scheduled"] == 0
            )

        await eventually(rewritten, timeout=20, what="the AOF rewrite to finish")
        restored.stop()
        restored.start(appendonly=True)
        assert await _loans(restored.url) == items
    finally:
        restored.stop()
