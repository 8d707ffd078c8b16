"""Redis memory per loan in the registry: what sizing ``maxmemory`` starts from.

Run by hand: ``.venv/bin/python bench/registry_memory.py [--loans 20000]``.

A redis-server of the bench's own (append-only file on) gets ``--loans`` reciprocal
loans committed through ``RedisStateStore``, each with its outbox event; ``INFO
memory``'s ``used_memory`` is read before, after the loans (active, their outbox
events still in the stream), after the outbox is trimmed (events acknowledged and
removed, as the ledger worker leaves them), and after every loan is returned (the
history the reports read).  The report gives bytes per loan at each step.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import coredis
import trio
from coredis.tokens import PureToken

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.state.base import LoanRequest, Reservation, patron_key
from adapters.state.redis import RedisStateStore
from tests.helpers.services import start_redis

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


async def _used(client: coredis.Redis[str]) -> int:
    info = await client.info("memory")
    return int(str(info["used_memory"]))


async def main(loans: int, url: str) -> None:
    async with coredis.Redis.from_url(url, decode_responses=True) as client:
        store = RedisStateStore(client, namespace="bench", timeout_s=5.0, hold_ttl_s=300)
        await store.prepare()
        before = await _used(client)
        for n in range(loans):
            request = LoanRequest(
                owner="alpha",
                home="beta",
                item=f"31001{n:09d}",
                patron_key=patron_key(b"bench", "beta", f"21002{n % 5000:09d}"),
                proxy_patron="ILL-beta",
                terminal="alpha-kiosk",
                idempotency_key=f"alpha-kiosk|{n}|20261123    120000",
                cap_at_owner=None,
                cap_total=None,
            )
            held = await store.reserve(request, now=T0)
            assert isinstance(held, Reservation)
            await store.commit(held, due=T0 + timedelta(days=21), now=T0)
        active = await _used(client)
        await client.xtrim("{bench}:outbox", PureToken.MAXLEN, 0)
        trimmed = await _used(client)
        for n in range(loans):
            await store.close("alpha", f"31001{n:09d}", now=T0 + timedelta(days=1))
        await client.xtrim("{bench}:outbox", PureToken.MAXLEN, 0)
        returned = await _used(client)

    def per(used: int) -> float:
        return (used - before) / loans

    print(f"{loans} loans; used_memory before: {before:,} bytes")
    print(f"  active, outbox events kept : {per(active):7.0f} bytes per loan")
    print(f"  active, outbox trimmed     : {per(trimmed):7.0f} bytes per loan")
    print(f"  returned (history only)    : {per(returned):7.0f} bytes per loan")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        server = start_redis(Path(directory), appendonly=True)
        if server is None:
            sys.exit("redis-server is not installed")
        try:
            trio.run(main, args.loans, server.url)
        finally:
            server.stop()
