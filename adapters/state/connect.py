"""Open the state store a configuration asks for, for as long as the gateway runs."""

from __future__ import annotations

from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import coredis
import structlog
from coredis.connection import TCPLocation

from .base import StateUnavailable
from .memory import MemoryStateStore
from .redis import PersistenceOff, RedisStateStore
from .redis_resp import RespRedisStateStore
from .resp import RespClient

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from config.models import StateSettings

    from .base import StateBackend

__all__ = ["cluster_client", "describe", "open_state", "redis_client"]

log = structlog.get_logger("interlend.state")

MEMORY_HISTORY = 10_000
REDIS_HISTORY = 1_000_000
RESP_POOL_SIZE = 16
"""Connections of the scripts' client (``client = "resp"``); more callers wait."""


def describe(settings: StateSettings) -> str:
    """Where the state lives, for logs (never the password)."""
    if settings.backend == "memory":
        return "memory"
    if settings.sentinels:
        return f"redis sentinel {','.join(settings.sentinels)} service {settings.service_name}"
    url = settings.url.split("@")[-1].split("://")[-1]
    return f"redis {'cluster ' if settings.cluster else ''}{url}"


def cluster_client(url: str, options: dict[str, Any]) -> Any:
    """A Redis Cluster client starting from the node a URL names."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError(f"{url!r} is not a redis:// or rediss:// URL")
    if parts.password and "password" not in options:
        options = {**options, "password": unquote(parts.password)}
    if parts.username:
        options = {**options, "username": unquote(parts.username)}
    node = TCPLocation(parts.hostname, parts.port or 6379)
    return coredis.RedisCluster(startup_nodes=[node], ssl=parts.scheme == "rediss", **options)


def redis_client(settings: StateSettings, password: str | None) -> tuple[Any, Any]:
    """A coredis client for the settings' topology, and the Sentinel it came from.

    coredis connects lazily and reconnects by itself, so this succeeds while Redis is
    down; the first calls then fail with ``StateUnavailable``.
    """
    options: dict[str, Any] = {
        "decode_responses": True,
        "connect_timeout": settings.timeout_s,
        "stream_timeout": None,
    }
    if password is not None:
        options["password"] = password
    if settings.sentinels:
        nodes = [
            TCPLocation(h, int(p)) for h, _, p in (a.rpartition(":") for a in settings.sentinels)
        ]
        sentinel = coredis.Sentinel(nodes, **options)
        return sentinel.primary_for(settings.service_name), sentinel
    if settings.cluster:
        return cluster_client(settings.url, options), None
    return coredis.Redis.from_url(settings.url, **options), None


@asynccontextmanager
async def open_state(settings: StateSettings, password: str | None) -> AsyncIterator[StateBackend]:
    """The configured store, open for the body of the ``async with``.

    A Redis store checks its persistence when it can reach Redis at start; a Redis that
    cannot be reached yet is logged and the gateway starts refusing what needs it until
    it returns.

    Raises:
        PersistenceOff: ``require_aof`` is set and Redis's append-only file is off.
    """
    if settings.backend == "memory":
        # The loan history's bound also bounds the refusal history.
        kept = settings.history or MEMORY_HISTORY
        yield MemoryStateStore(kept, hold_ttl_s=settings.hold_ttl_s, refusal_history=kept)
        return
    refusal: PersistenceOff | None = None
    async with AsyncExitStack() as stack:
        client, sentinel = redis_client(settings, password)
        if sentinel is not None:
            await stack.enter_async_context(sentinel)
        await stack.enter_async_context(client)
        kept = settings.history if settings.history is not None else REDIS_HISTORY
        options: dict[str, Any] = {
            "namespace": settings.namespace,
            "timeout_s": settings.timeout_s,
            "hold_ttl_s": settings.hold_ttl_s,
            "history": kept,
            "refusal_history": kept,
        }
        store: RedisStateStore
        client_name, why = settings.script_client()
        if client_name == "resp":
            resp = RespClient(settings.url, pool_size=RESP_POOL_SIZE, password=password)
            stack.push_async_callback(resp.aclose)
            store = RespRedisStateStore(client, resp, **options)
        else:
            store = RedisStateStore(client, **options)
        try:
            await store.prepare(require_aof=settings.require_aof)
        except PersistenceOff as exc:
            refusal = exc
        except StateUnavailable as exc:
            log.error(
                "Redis cannot be reached yet; requests that need it are refused",
                detail=exc.detail,
            )
        if refusal is None:
            log.info("state store open", where=describe(settings), client=client_name, why=why)
            yield store
    if refusal is not None:
        # Raised outside the client's task group, which would wrap it in a group.
        raise refusal
