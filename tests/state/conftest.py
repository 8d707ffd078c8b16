"""The ``store`` fixture: each contract test runs on the in-memory store, one Redis, a
Redis Cluster, and a Redis found through Sentinel."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import coredis
import pytest

from adapters.state.memory import MemoryStateStore
from adapters.state.redis import RedisStateStore
from config.models import StateSettings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from adapters.state.base import StateBackend
from adapters.state.connect import cluster_client, open_state


@pytest.fixture(params=["memory", "redis", "cluster", "sentinel"])
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
            namespace=f"test-{uuid.uuid4().hex[:12]}",
        )
        async with open_state(settings, None) as opened:
            yield opened
        return
    client: Any
    if request.param == "cluster":
        url = request.getfixturevalue("redis_cluster_url")
        client = cluster_client(url, {"decode_responses": True})
    else:
        url = request.getfixturevalue("redis_url")
        client = coredis.Redis.from_url(url, decode_responses=True)
    async with client:
        redis_store = RedisStateStore(client, namespace=f"test-{uuid.uuid4().hex[:12]}")
        await redis_store.prepare()
        yield redis_store
