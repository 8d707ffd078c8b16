"""The ``store`` fixture: each contract test runs on the in-memory and the Redis store."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import coredis
import pytest

from adapters.state.memory import MemoryStateStore
from adapters.state.redis import RedisStateStore

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from adapters.state.base import StateBackend


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[StateBackend]:
    """A fresh, empty store of each kind (Redis: a namespace of the test's own)."""
    if request.param == "memory":
        yield MemoryStateStore()
        return
    url = request.getfixturevalue("redis_url")
    client = coredis.Redis.from_url(url, decode_responses=True)
    async with client:
        redis_store = RedisStateStore(client, namespace=f"test-{uuid.uuid4().hex[:12]}")
        await redis_store.prepare()
        yield redis_store
