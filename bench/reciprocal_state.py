"""Reciprocal checkouts per second through one gateway, with the registry in Redis
(as the default configuration opens it, ``state.client = "auto"``: the scripts through
the small hiredis client on a plain Redis; and with ``client = "coredis"``) vs in
memory, and Redis round trips per checkout and per checkin.

Run by hand: ``.venv/bin/python bench/reciprocal_state.py [--rounds 7] [--kiosks 20]``.

One process holds the three demo libraries' simulated ILSs, the gateway (loaded from a
configuration file, as ``interlend serve`` does) and the kiosks; Redis is a
redis-server of the bench's own on a free port (its append-only file on, with
``appendfsync everysec``, as production should run).  Each kiosk is logged in at
Beta and stands for one Alpha patron; in each round every kiosk checks out one Beta
item (with the PIN: the home library is asked every time), all at once, and then
checks them all in.  The checkouts and the checkins are timed apart, so the rate is
that of checkouts alone.  The three stores take turns round after round (the one going
first rotates) and the report gives each round's checkouts/s, the medians, each Redis
store's median per-round ratio to memory, the gateway process's CPU time per checkout
(median over rounds; the simulated ILSs and kiosks share the process, so it is the
difference between stores that counts: each Redis store's extra CPU per checkout over
memory's in the same round, median over rounds), and Redis round trips counted by the store
around the checkout and checkin phases.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.state.redis import RedisStateStore
from adapters.state.redis_resp import RespRedisStateStore
from gateway.app.daemon import Gateway
from protocols.sip2 import CheckinResponse, CheckoutResponse
from tests.helpers.kiosk import Kiosk, checkin, checkout
from tests.helpers.services import start_redis
from tests.state.network import (
    ILS_PASSWORD,
    PATRON_SECRET,
    gateway_config,
    start_simulators,
)

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
STORES = ("memory", "redis", "redis-coredis")
_CLIENT: dict[str, str | None] = {"redis": None, "redis-coredis": "coredis"}
"""The ``client`` line each Redis store's configuration gets (``None``: the default)."""


def _quiet() -> None:
    """Warnings and errors only: a log line per request would be measured too."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger("warning"))


_OUTBOX = ("xreadgroup", "xautoclaim", "xack", "xgroup create", "selection")
"""The outbox's consumer and the lending counters it feeds: beside the requests."""


def _request_trips(store: RedisStateStore | None) -> int:
    """Round trips made for requests (not by the outbox pump, which runs meanwhile)."""
    if store is None:
        return 0
    return sum(n for op, n in store.calls.items() if op not in _OUTBOX)


async def _round(
    kiosks: list[Kiosk], serial: int, counted: RedisStateStore | None
) -> tuple[float, float, float, float]:
    """One round; returns (checkouts/s, CPU µs per checkout, round trips per checkout,
    per checkin)."""
    before = _request_trips(counted)
    cpu = time.process_time()
    answers: list[bool] = []

    async def lend(n: int, kiosk: Kiosk) -> None:
        request = checkout(
            f"21001{n + 1:09d}", f"31002{n + 1:09d}", when=T0 + timedelta(seconds=serial)
        )
        answers.append((await kiosk.expect(request, CheckoutResponse)).ok)

    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        for n, kiosk in enumerate(kiosks):
            nursery.start_soon(lend, n, kiosk)
    elapsed = trio.current_time() - started
    cpu = time.process_time() - cpu
    assert all(answers), "a checkout was refused: the bench measures refusals"
    middle = _request_trips(counted)

    async def give_back(n: int, kiosk: Kiosk) -> None:
        back = await kiosk.expect(checkin(f"31002{n + 1:09d}"), CheckinResponse)
        assert back.ok

    async with trio.open_nursery() as nursery:
        for n, kiosk in enumerate(kiosks):
            nursery.start_soon(give_back, n, kiosk)
    after = _request_trips(counted)
    count = len(kiosks)
    return (
        count / elapsed,
        cpu / count * 1e6,
        (middle - before) / count,
        (after - middle) / count,
    )


async def _run(rounds: int, kiosk_count: int, directory: Path) -> None:
    os.environ["INTERLEND_DEMO_ILS_PASSWORD"] = ILS_PASSWORD
    os.environ["INTERLEND_DEMO_NCIP_KEY"] = "bench-ncip-key"
    os.environ["INTERLEND_TEST_PATRON_SECRET"] = PATRON_SECRET
    server = start_redis(directory, appendonly=True)
    if server is None:
        sys.exit("redis-server is not installed")
    try:
        async with trio.open_nursery() as nursery:
            _, ports = await start_simulators(nursery)
            gateways: dict[str, Gateway] = {}
            addresses: dict[str, int] = {}
            for store in STORES:
                path, _, _ = gateway_config(
                    directory, store, ports, redis_url=server.url, namespace=store
                )
                text = path.read_text()
                chosen = _CLIENT.get(store)
                if chosen is not None:
                    text = text.replace(
                        'backend = "redis"', f'backend = "redis"\nclient = "{chosen}"'
                    )
                elif store not in _CLIENT:
                    text = text.replace('backend = "redis"', 'backend = "memory"')
                path.write_text(re.sub(r"admin = \{ port = \d+ \}", "admin = { port = 0 }", text))
                gateway = Gateway.from_file(path, handle_signals=False)
                bound = await nursery.start(gateway.run)
                gateways[store], addresses[store] = gateway, bound.sip2[0][1]
            redis_stores = {}
            for store in _CLIENT:
                opened = gateways[store].services.store
                assert isinstance(opened, RedisStateStore)
                redis_stores[store] = opened
                kind = "resp" if isinstance(opened, RespRedisStateStore) else "coredis"
                print(f"  {store}: the scripts go through {kind}")
            kiosks = {
                backend: [
                    await Kiosk.at("127.0.0.1", port, "beta-kiosk") for _ in range(kiosk_count)
                ]
                for backend, port in addresses.items()
            }
            for backend in kiosks:  # warm-up
                await _round(kiosks[backend], 0, None)
            rates: dict[str, list[float]] = {store: [] for store in STORES}
            cpus: dict[str, list[float]] = {store: [] for store in STORES}
            trips: list[tuple[float, float]] = []
            for r in range(1, rounds + 1):
                shift = r % len(STORES)
                for store in STORES[shift:] + STORES[:shift]:
                    counted = redis_stores.get(store)
                    rate, cpu, per_out, per_in = await _round(kiosks[store], r, counted)
                    rates[store].append(rate)
                    cpus[store].append(cpu)
                    if counted:
                        trips.append((per_out, per_in))
            print(f"{kiosk_count} kiosks, {rounds} rounds (checkouts/s per round)")
            for store, values in rates.items():
                shown = ", ".join(f"{v:,.0f}" for v in values)
                cpu = statistics.median(cpus[store])
                print(
                    f"  {store:10}: median {statistics.median(values):,.0f}  "
                    f"CPU {cpu:,.0f} µs/checkout  [{shown}]"
                )
            for store in _CLIENT:
                ratios = [x / y for x, y in zip(rates[store], rates["memory"], strict=True)]
                extra = [x - y for x, y in zip(cpus[store], cpus["memory"], strict=True)]
                print(
                    f"  ratio {store}/memory: median {statistics.median(ratios):.2f} "
                    f"[{', '.join(f'{x:.2f}' for x in ratios)}]; extra CPU per checkout: "
                    f"median {statistics.median(extra):,.0f} µs"
                )
            pair = [x / y for x, y in zip(rates["redis"], rates["redis-coredis"], strict=True)]
            print(f"  ratio redis/redis-coredis: median {statistics.median(pair):.2f}")
            outs = {t[0] for t in trips}
            ins = {t[1] for t in trips}
            print(f"  Redis round trips per checkout: {sorted(outs)}; per checkin: {sorted(ins)}")
            pump = sum(s.calls[op] for s in redis_stores.values() for op in _OUTBOX)
            print(f"  outbox pump and counters (beside the requests): {pump} round trips in all")
            for group in kiosks.values():
                for kiosk in group:
                    await kiosk.aclose()
            await trio.sleep(0.2)  # the gateways drop the kiosks' sessions while Redis is up
            for gateway in gateways.values():
                gateway.stop()
            nursery.cancel_scope.cancel()  # the simulated ILSs
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--kiosks", type=int, default=20)
    args = parser.parse_args()
    if not 1 <= args.kiosks <= 20:
        parser.error("--kiosks must be 1 to 20 (the demo libraries' patrons)")
    _quiet()
    with tempfile.TemporaryDirectory() as directory:
        trio.run(_run, args.rounds, args.kiosks, Path(directory))


if __name__ == "__main__":
    main()
