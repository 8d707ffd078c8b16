"""Reciprocal checkouts per second through one gateway, with the registry in Redis vs
in memory, and Redis round trips per checkout and per checkin.

Run by hand: ``.venv/bin/python bench/reciprocal_state.py [--rounds 7] [--kiosks 20]``.

One process holds the three demo libraries' simulated ILSs, the gateway (loaded from a
configuration file, as ``interlend serve`` does) and the kiosks; Redis is a
redis-server of the bench's own on a free port (its append-only file on, with
``appendfsync everysec``, as production should run).  Each kiosk is logged in at
Beta and stands for one Alpha patron; in each round every kiosk checks out one Beta
item (with the PIN: the home library is asked every time), all at once, and then
checks them all in.  The checkouts and the checkins are timed apart, so the rate is
that of checkouts alone.  The two stores take turns round after round (the one going
first alternates) and the report gives each round's checkouts/s, the medians, the
median per-round ratio Redis/memory, and Redis round trips counted by the store
around the checkout and checkin phases.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.state.redis import RedisStateStore
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
) -> tuple[float, float, float]:
    """One round; returns (checkouts/s, round trips per checkout, per checkin)."""
    before = _request_trips(counted)
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
    return count / elapsed, (middle - before) / count, (after - middle) / count


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
            for backend in ("memory", "redis"):
                path, _, _ = gateway_config(
                    directory, backend, ports, redis_url=server.url, namespace="bench"
                )
                text = path.read_text().replace('backend = "redis"', f'backend = "{backend}"')
                path.write_text(re.sub(r"admin = \{ port = \d+ \}", "admin = { port = 0 }", text))
                gateway = Gateway.from_file(path, handle_signals=False)
                bound = await nursery.start(gateway.run)
                gateways[backend], addresses[backend] = gateway, bound.sip2[0][1]
            redis_store = gateways["redis"].services.store
            assert isinstance(redis_store, RedisStateStore)
            kiosks = {
                backend: [
                    await Kiosk.at("127.0.0.1", port, "beta-kiosk") for _ in range(kiosk_count)
                ]
                for backend, port in addresses.items()
            }
            for backend in kiosks:  # warm-up
                await _round(kiosks[backend], 0, None)
            rates: dict[str, list[float]] = {"memory": [], "redis": []}
            trips: list[tuple[float, float]] = []
            for r in range(1, rounds + 1):
                order = ("memory", "redis") if r % 2 else ("redis", "memory")
                for backend in order:
                    counted = redis_store if backend == "redis" else None
                    rate, per_out, per_in = await _round(kiosks[backend], r, counted)
                    rates[backend].append(rate)
                    if counted:
                        trips.append((per_out, per_in))
            ratios = [x / y for x, y in zip(rates["redis"], rates["memory"], strict=True)]
            print(f"{kiosk_count} kiosks, {rounds} rounds (checkouts/s per round)")
            for backend, values in rates.items():
                shown = ", ".join(f"{v:,.0f}" for v in values)
                print(f"  {backend:6}: median {statistics.median(values):,.0f}  [{shown}]")
            print(f"  ratio redis/memory: median {statistics.median(ratios):.2f}")
            outs = {t[0] for t in trips}
            ins = {t[1] for t in trips}
            print(f"  Redis round trips per checkout: {sorted(outs)}; per checkin: {sorted(ins)}")
            pump = sum(redis_store.calls[op] for op in _OUTBOX)
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
