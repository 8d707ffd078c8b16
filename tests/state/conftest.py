"""The ``store`` fixtures: each contract test runs on the in-memory store, one Redis (with
coredis, and with the scripts through the small hiredis client), a Redis Cluster, and a
Redis found through Sentinel."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import coredis
import pytest

from adapters.state.connect import cluster_client, open_state, redis_client
from adapters.state.memory import MemoryStateStore
from adapters.state.redis import RedisStateStore
from adapters.state.redis_resp import RespRedisStateStore
from adapters.state.resp import RespClient
from config.models import StateSettings
from tests.helpers.services import RedisServer, missing_service, start_redis

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from adapters.state.base import StateBackend

KINDS = ["memory", "redis", "redis-resp", "cluster", "sentinel"]

SHORT_HOLD_TTL_S = 0.1
"""``short_holds``: a held slot counts this long…"""
SHORT_UNCONFIRMED_KEPT_S = 1.0
"""…and is then listed as unconfirmed this long before it expires."""


def _namespace() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


async def _redis_client(kind: str, request: pytest.FixtureRequest, stack: AsyncExitStack) -> Any:
    """An open coredis client of the ``kind`` asked for (closed with ``stack``)."""
    if kind == "sentinel":
        settings = StateSettings(
            backend="redis", sentinels=(request.getfixturevalue("redis_sentinel"),)
        )
        client, sentinel = redis_client(settings, None)
        await stack.enter_async_context(sentinel)
    elif kind == "cluster":
        url = request.getfixturevalue("redis_cluster_url")
        client = cluster_client(url, {"decode_responses": True})
    else:
        client = coredis.Redis.from_url(request.getfixturevalue("redis_url"), decode_responses=True)
    await stack.enter_async_context(client)
    return client


async def _redis_store(
    kind: str, request: pytest.FixtureRequest, stack: AsyncExitStack, **options: Any
) -> RedisStateStore:
    """A prepared Redis store of the ``kind`` asked for, in a namespace of its own."""
    client = await _redis_client(kind, request, stack)
    redis_store: RedisStateStore
    if kind == "redis-resp":
        resp = RespClient(request.getfixturevalue("redis_url"), pool_size=4)
        stack.push_async_callback(resp.aclose)
        redis_store = RespRedisStateStore(client, resp, namespace=_namespace(), **options)
    else:
        redis_store = RedisStateStore(client, namespace=_namespace(), **options)
    await redis_store.prepare()
    return redis_store


@pytest.fixture(params=KINDS)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[StateBackend]:
    """A fresh, empty store of each kind (Redis: a namespace of the test's own; Redis
    Cluster: three primaries, so namespaces land on different nodes; Sentinel: the
    primary found through a Sentinel, opened as the gateway opens it)."""
    if request.param == "memory":
        yield MemoryStateStore()
        return
    if request.param == "sentinel":
        settings = StateSettings(
            backend="redis",
            sentinels=(request.getfixturevalue("redis_sentinel"),),
            namespace=_namespace(),
        )
        async with open_state(settings, None) as opened:
            yield opened
        return
    async with AsyncExitStack() as stack:
        yield await _redis_store(request.param, request, stack)


@pytest.fixture(params=KINDS)
async def short_holds(request: pytest.FixtureRequest) -> AsyncIterator[StateBackend]:
    """A fresh store of each kind whose held slots count for ``SHORT_HOLD_TTL_S`` and
    expire ``SHORT_UNCONFIRMED_KEPT_S`` later (Redis expires them by itself)."""
    hold, kept = SHORT_HOLD_TTL_S, SHORT_UNCONFIRMED_KEPT_S
    if request.param == "memory":
        yield MemoryStateStore(hold_ttl_s=hold, unconfirmed_kept_s=kept)
        return
    async with AsyncExitStack() as stack:
        yield await _redis_store(
            request.param, request, stack, hold_ttl_s=hold, unconfirmed_kept_s=kept
        )


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of one test's own, with its append-only file on (so a restart
    keeps its data; the test may stop and start it again, reconfigure it or give it a
    password)."""
    directory = tmp_path / "redis"
    directory.mkdir()
    server = start_redis(directory, appendonly=True)
    if server is None:
        missing_service("redis-server is not installed")
        return
    try:
        yield server
    finally:
        server.stop()
