"""The Redis store with its scripts sent through ``adapters.state.resp`` (hiredis).

Every registry operation on a request's path (reserve, commit, release, renew,
close, the loan look-ups, throttle hits, kiosk sessions) is one Lua script, and
``bench/redis_clients.py`` found coredis spending about four times the client CPU of
the small hiredis client per command.  This store is ``RedisStateStore`` with
``_script`` (and the throttles' GET) replaced: the same scripts, keys and arguments,
the same one round trip each, answered by Redis before the caller goes on; everything
else (the outbox's
consumer group, pipelines, the ledger's batches) stays on coredis, off the request
path.

Plain Redis only: the small client follows no Cluster redirections and asks no
Sentinel, so ``config`` refuses ``client = "resp"`` with either.

Scripts are called by their SHA-1 (computed here, as Redis computes it); a Redis that
does not know one (restarted, or ``SCRIPT FLUSH``) answers NOSCRIPT and the script is
sent whole once, which loads it again.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import TYPE_CHECKING, Any

from .redis import _SCRIPTS, RedisStateStore
from .resp import ReplyError, RespClient

if TYPE_CHECKING:
    from .redis import Client

__all__ = ["RespRedisStateStore"]


class RespRedisStateStore(RedisStateStore):
    """``RedisStateStore`` whose scripts run through a ``RespClient``.

    Args:
        client: An open coredis client (``decode_responses=True``) for everything but
            the scripts.
        resp: The small client for the scripts, on the same Redis.
        **options: As ``RedisStateStore``'s.
    """

    def __init__(self, client: Client, resp: RespClient, **options: Any) -> None:
        super().__init__(client, **options)
        self._resp = resp
        self._bodies: dict[str, tuple[str, str]] = {}
        for name in _SCRIPTS:
            body = resources.files(__package__).joinpath(f"lua/{name}.lua").read_text()
            self._bodies[name] = (hashlib.sha1(body.encode()).hexdigest(), body)

    async def _script(self, name: str, keys: list[str], args: list[str | int]) -> Any:
        sha, body = self._bodies[name]

        async def run() -> Any:
            try:
                return await self._resp.execute("EVALSHA", sha, len(keys), *keys, *args)
            except ReplyError as exc:
                if not str(exc).startswith("NOSCRIPT"):
                    raise
            return await self._resp.execute("EVAL", body, len(keys), *keys, *args)

        return await self._do(name, run)

    async def count(self, bucket: str) -> int:
        """The live count of ``bucket`` (a GET asked on every login and checkout)."""
        key = self._bucket(bucket)
        found = await self._do("get", lambda: self._resp.execute("GET", key))
        return int(found) if found else 0
