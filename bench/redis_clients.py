"""The Redis client's own CPU per command, for the gateway's real commands: coredis
(what the state store uses) against redis-py's synchronous client, called in a worker
thread from trio or inline (blocking the loop: a lower bound, not an option).

Run by hand: ``.venv/bin/python bench/redis_clients.py [--rounds 7] [--tasks 20]
[--iterations 40]``.

Redis is a redis-server of the bench's own on a free port, append-only file on with
``appendfsync everysec`` (as production runs), so every client waits for the same
acknowledged reply.  One iteration is the gateway's Redis work for a reciprocal
checkout and the outbox around it, seven commands: EVALSHA of the store's own
``reserve`` and ``commit`` scripts (with the keys and arguments the store passes),
an XADD to the outbox stream, an XREADGROUP of two entries and their XACK, a SET and
a GET.  ``--tasks`` trio tasks run iterations at once (the gateway serves many kiosks
at once); each client variant gets its own key namespace.

The variants take turns round after round (the order rotates), and the report gives
each variant's median over rounds of the client process's CPU time per command
(``time.process_time``: every thread of this process, so the worker threads count;
redis-server is another process and does not) and of commands per second, and the
ratio of each to coredis's from the same rounds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import coredis
import redis
import trio
from redis._parsers import _HiredisParser, _RESP2Parser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.state.resp import RespClient
from tests.helpers.services import start_redis

COMMANDS_PER_ITERATION = 7
GROUP = "ledger"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _script(name: str) -> str:
    return resources.files("adapters.state").joinpath(f"lua/{name}.lua").read_text()


@dataclass(frozen=True)
class Checkout:
    """The two scripts of one checkout, as ``RedisStateStore`` calls them."""

    reserve_keys: list[str]
    reserve_args: list[str | int]
    commit_keys: list[str]
    commit_args: list[str | int]


def checkout(prefix: str, n: int) -> Checkout:
    """The keys and arguments of checkout ``n`` under ``prefix`` (``{ns}:``)."""
    token, loan_id = uuid.uuid4().hex, uuid.uuid4().hex
    owner, home, item = "beta", "alpha", f"31002{n:09d}"
    patron = f"patron-{n % 50}"
    idem = f"{prefix}idem:{n}"
    now = T0 + timedelta(milliseconds=n)
    now_ms = int(now.timestamp() * 1000)
    fields: list[str | int] = [
        *("owner", owner, "home", home, "item", item, "patron", patron),
        *("proxy", "proxy-alpha", "terminal", "beta-kiosk", "idem", idem, "kind", "walk-in"),
    ]
    return Checkout(
        reserve_keys=[
            idem,
            f"{prefix}patron:{patron}",
            f"{prefix}held:{patron}",
            f"{prefix}owner:{owner}",
            f"{prefix}owner-held:{owner}",
            f"{prefix}item:{owner}|{item}",
            f"{prefix}hold:{token}",
            f"{prefix}holds",
        ],
        reserve_args=[prefix, now_ms, 300_000, token, owner, patron, -1, -1, -1, 60_000, *fields],
        commit_keys=[
            idem,
            f"{prefix}hold:{token}",
            f"{prefix}patron:{patron}",
            f"{prefix}held:{patron}",
            f"{prefix}owner-held:{owner}",
            f"{prefix}holds",
            f"{prefix}item:{owner}|{item}",
            f"{prefix}loan:{loan_id}",
            f"{prefix}owner:{owner}",
            f"{prefix}home:{home}",
            f"{prefix}history",
            f"{prefix}outbox",
        ],
        commit_args=[
            prefix,
            token,
            loan_id,
            now_ms,
            now.isoformat(),
            (now + timedelta(days=21)).isoformat(),
            7 * 24 * 3600 * 1000,
            1_000_000,
            owner,
            home,
            item,
            patron,
            "proxy-alpha",
            "beta-kiosk",
            idem,
            "walk-in",
        ],
    )


def event(n: int) -> dict[str, str]:
    """An outbox event's fields, as the scripts write them."""
    return {
        "kind": "renew",
        "loan": f"loan-{n}",
        "owner": "beta",
        "home": "alpha",
        "item": f"31002{n:09d}",
        "patron": f"patron-{n % 50}",
        "at": T0.isoformat(),
        "due": T0.isoformat(),
    }


@dataclass
class Variant:
    """One way of calling Redis: ``iteration(n)`` runs the seven commands of one."""

    name: str
    iteration: Callable[[int], Awaitable[None]]
    cpu_us: list[float] = field(default_factory=list)
    rate: list[float] = field(default_factory=list)


def coredis_variant(name: str, client: Any, shas: dict[str, str]) -> Variant:
    """coredis, awaited on trio (as ``RedisStateStore`` does)."""
    prefix = "{" + name + "}:"
    outbox = prefix + "outbox"

    async def iteration(n: int) -> None:
        c = checkout(prefix, n)
        await client.evalsha(shas["reserve"], keys=c.reserve_keys, args=c.reserve_args)
        await client.evalsha(shas["commit"], keys=c.commit_keys, args=c.commit_args)
        await client.xadd(outbox, event(n))
        found = await client.xreadgroup(GROUP, "bench", streams={outbox: ">"}, count=2, block=None)
        ids = [e.identifier for entries in (found or {}).values() for e in entries]
        if ids:
            await client.xack(outbox, GROUP, ids)
        await client.set(prefix + "throttle", str(n))
        await client.get(prefix + "throttle")

    return Variant(name, iteration)


def resp_variant(name: str, client: RespClient, shas: dict[str, str]) -> Variant:
    """``adapters.state.resp``: trio sockets, hiredis packing and parsing."""
    prefix = "{" + name + "}:"
    outbox = prefix + "outbox"

    async def iteration(n: int) -> None:
        c = checkout(prefix, n)
        keys, args = c.reserve_keys, c.reserve_args
        await client.execute("EVALSHA", shas["reserve"], len(keys), *keys, *args)
        keys, args = c.commit_keys, c.commit_args
        await client.execute("EVALSHA", shas["commit"], len(keys), *keys, *args)
        fields = [x for pair in event(n).items() for x in pair]
        await client.execute("XADD", outbox, "*", *fields)
        found = await client.execute(
            "XREADGROUP", "GROUP", GROUP, "bench", "COUNT", 2, "STREAMS", outbox, ">"
        )
        ids = [entry[0] for _, entries in found or [] for entry in entries]
        if ids:
            await client.execute("XACK", outbox, GROUP, *ids)
        await client.execute("SET", prefix + "throttle", str(n))
        await client.execute("GET", prefix + "throttle")

    return Variant(name, iteration)


def _sync_commands(client: redis.Redis, prefix: str, shas: dict[str, str]) -> list[Any]:
    """The seven commands as synchronous redis-py calls ``call(n, state)``."""
    outbox = prefix + "outbox"

    def reserve(n: int, state: dict[str, Any]) -> None:
        c = state["checkout"] = checkout(prefix, n)
        client.evalsha(shas["reserve"], len(c.reserve_keys), *c.reserve_keys, *c.reserve_args)

    def commit(n: int, state: dict[str, Any]) -> None:
        c = state["checkout"]
        client.evalsha(shas["commit"], len(c.commit_keys), *c.commit_keys, *c.commit_args)

    def xadd(n: int, state: dict[str, Any]) -> None:
        client.xadd(outbox, event(n))  # type: ignore[arg-type]

    def xreadgroup(n: int, state: dict[str, Any]) -> None:
        found: Any = client.xreadgroup(GROUP, "bench", {outbox: ">"}, count=2)
        state["ids"] = [entry[0] for _, entries in found or [] for entry in entries]

    def xack(n: int, state: dict[str, Any]) -> None:
        if state["ids"]:
            client.xack(outbox, GROUP, *state["ids"])

    def set_(n: int, state: dict[str, Any]) -> None:
        client.set(prefix + "throttle", str(n))

    def get(n: int, state: dict[str, Any]) -> None:
        client.get(prefix + "throttle")

    return [reserve, commit, xadd, xreadgroup, xack, set_, get]


def thread_variant(
    name: str, client: redis.Redis, shas: dict[str, str], limiter: trio.CapacityLimiter
) -> Variant:
    """redis-py's sync client, each command in a worker thread (trio's thread cache),
    at most ``limiter``'s total at once, as many as the connection pool holds."""
    commands = _sync_commands(client, "{" + name + "}:", shas)

    async def iteration(n: int) -> None:
        state: dict[str, Any] = {}
        for command in commands:
            await trio.to_thread.run_sync(command, n, state, limiter=limiter)

    return Variant(name, iteration)


def inline_variant(name: str, client: redis.Redis, shas: dict[str, str]) -> Variant:
    """redis-py's sync client called on the trio thread: the loop waits for each reply."""
    commands = _sync_commands(client, "{" + name + "}:", shas)

    async def iteration(n: int) -> None:
        state: dict[str, Any] = {}
        for command in commands:
            command(n, state)
        await trio.lowlevel.checkpoint()

    return Variant(name, iteration)


async def measure(variant: Variant, tasks: int, iterations: int, first: int) -> None:
    """Run ``tasks`` times ``iterations`` iterations; record CPU per command and rate."""
    cpu0, wall0 = time.process_time(), time.perf_counter()

    async def worker(k: int) -> None:
        for i in range(iterations):
            await variant.iteration(first + k * iterations + i)

    async with trio.open_nursery() as nursery:
        for k in range(tasks):
            nursery.start_soon(worker, k)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    commands = tasks * iterations * COMMANDS_PER_ITERATION
    variant.cpu_us.append(cpu / commands * 1e6)
    variant.rate.append(commands / wall)


def _sync_client(url: str, parser: type[Any], pool_size: int) -> redis.Redis:
    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=pool_size, decode_responses=True, parser_class=parser, timeout=5
    )
    return redis.Redis(connection_pool=pool)


async def run(url: str, rounds: int, tasks: int, iterations: int, pool_size: int) -> None:
    """Every variant against the server at ``url``, interleaved."""
    names = (
        "coredis",
        "coredis-pool4",
        "resp-hiredis",
        "thread-hiredis",
        "thread-pyparser",
        "inline-hiredis",
        "inline-pyparser",
    )
    admin = redis.Redis.from_url(url, decode_responses=True)
    shas = {name: str(admin.script_load(_script(name))) for name in ("reserve", "commit")}
    for name in names:
        admin.xgroup_create("{" + name + "}:outbox", GROUP, "0", mkstream=True)
    limiter = trio.CapacityLimiter(pool_size)
    options: dict[str, Any] = {"decode_responses": True, "stream_timeout": None}
    resp = RespClient(url, pool_size=pool_size)
    async with (
        coredis.Redis.from_url(url, **options) as client,
        coredis.Redis.from_url(url, max_connections=pool_size, **options) as small,
    ):
        variants = [
            coredis_variant("coredis", client, shas),
            coredis_variant("coredis-pool4", small, shas),
            resp_variant("resp-hiredis", resp, shas),
            thread_variant(
                "thread-hiredis", _sync_client(url, _HiredisParser, pool_size), shas, limiter
            ),
            thread_variant(
                "thread-pyparser", _sync_client(url, _RESP2Parser, pool_size), shas, limiter
            ),
            inline_variant("inline-hiredis", _sync_client(url, _HiredisParser, 1), shas),
            inline_variant("inline-pyparser", _sync_client(url, _RESP2Parser, 1), shas),
        ]
        serial = 0
        for variant in variants:  # warm-up: connections, first calls
            await measure(variant, tasks, 2, serial)
            variant.cpu_us.clear()
            variant.rate.clear()
        serial = 10_000
        for r in range(rounds):
            for variant in variants[r % len(variants) :] + variants[: r % len(variants)]:
                await measure(variant, tasks, iterations, serial)
                serial += tasks * iterations
    info = admin.info("persistence")
    print(
        f"{tasks} tasks x {iterations} iterations x {COMMANDS_PER_ITERATION} commands, "
        f"{rounds} rounds; redis-server aof_enabled={info['aof_enabled']} "
        f"appendfsync={admin.config_get('appendfsync')['appendfsync']}; "
        f"thread pool and connection pool {pool_size}"
    )
    base = variants[0]
    header = f"{'CPU µs/cmd':>11} {'vs coredis':>10} {'cmds/s':>9} {'vs coredis':>10}"
    print(f"  {'variant':16} {header}")
    for v in variants:
        cpu_ratio = statistics.median(a / b for a, b in zip(v.cpu_us, base.cpu_us, strict=True))
        rate_ratio = statistics.median(a / b for a, b in zip(v.rate, base.rate, strict=True))
        print(
            f"  {v.name:16} {statistics.median(v.cpu_us):11.1f} {cpu_ratio:10.2f} "
            f"{statistics.median(v.rate):9,.0f} {rate_ratio:10.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--pool", type=int, default=4, help="worker threads and connections")
    args = parser.parse_args()
    if min(args.rounds, args.tasks, args.iterations, args.pool) < 1:
        parser.error("--rounds, --tasks, --iterations and --pool must be at least 1")
    with tempfile.TemporaryDirectory() as directory:
        server = start_redis(Path(directory), appendonly=True)
        if server is None:
            sys.exit("redis-server is not installed")
        try:
            trio.run(run, server.url, args.rounds, args.tasks, args.iterations, args.pool)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
