"""Redis memory per loan in the registry: what sizing ``maxmemory`` starts from.

Run by hand: ``.venv/bin/python bench/registry_memory.py [--loans 20000] [--batch 1000]``.

A redis-server of the bench's own (append-only file on) gets ``--loans`` reciprocal
loans committed through ``RedisStateStore``, each with its outbox event; ``INFO
memory``'s ``used_memory`` is read before, after the loans (active, their outbox
events still in the stream), after the ledger has taken the checkouts (sealed in
batches of ``--batch`` as the ledger worker seals them, receipts and salts stored,
events acknowledged and removed), and after every loan is returned and its checkin
taken by the ledger too (the history the reports read, with both receipts).  The
report gives bytes per loan at each step, and ``MEMORY USAGE`` of each kind of key a
loan leaves (the mean over a sample of loans), so a change of format shows where it
saved.  Memory is counted in bytes: no clock, the same figures on a loaded machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import coredis
import trio
from coredis.tokens import PureToken

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.ledger.records import seal_batch
from adapters.state.base import LoanRequest, Reservation, patron_key
from adapters.state.redis import RedisStateStore
from tests.helpers.services import start_redis

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
RECORD_KEY = b"bench-record-key-of-32-bytes...."
SAMPLE = 500
"""Loans whose keys ``MEMORY USAGE`` measures, one by one."""


async def _used(client: coredis.Redis[str]) -> int:
    info = await client.info("memory")
    return int(str(info["used_memory"]))


async def _anchor_all(store: RedisStateStore, batch: int) -> int:
    """Take every waiting outbox event as the ledger worker does: seal a batch, store
    its receipts (and salts), acknowledge.  Returns the batches sealed."""
    batches = 0
    while entries := await store.outbox_read("bench", batch, wait_s=0):
        sealed = seal_batch([entry.event for entry in entries], key=RECORD_KEY)
        receipts = sealed.receipts("alpha", batches + 1, tx_hash=b"\x11" * 32, block_number=123)
        ids = [entry.entry_id for entry in entries]
        await store.put_receipts(list(zip(ids, receipts, strict=True)))
        await store.outbox_ack(ids)
        batches += 1
    return batches


async def _key_sizes(client: coredis.Redis[str], loan_ids: list[str]) -> dict[str, float]:
    """The mean ``MEMORY USAGE`` (all of each value) of each kind of per-loan key."""
    sizes: dict[str, list[int]] = {"loan": [], "receipts": [], "salts": []}
    for loan_id in loan_ids:
        for kind, found in sizes.items():
            used = await client.memory_usage(f"{{bench}}:{kind}:{loan_id}", samples=0)
            found.append(int(used or 0))
    idem = [k async for k in client.scan_iter(match="{bench}:idem:*", count=1000)]
    sizes["idem"] = [int(await client.memory_usage(k, samples=0) or 0) for k in idem[:SAMPLE]]
    return {kind: statistics.mean(values) if values else 0.0 for kind, values in sizes.items()}


async def main(loans: int, batch: int, url: str) -> None:
    async with coredis.Redis.from_url(url, decode_responses=True) as client:
        store = RedisStateStore(client, namespace="bench", timeout_s=30.0, hold_ttl_s=300)
        await store.prepare()
        before = await _used(client)
        loan_ids: list[str] = []
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
            loan = await store.commit(held, due=T0 + timedelta(days=21), now=T0)
            loan_ids.append(loan.loan_id)
        active = await _used(client)
        batches = await _anchor_all(store, batch)
        await client.xtrim("{bench}:outbox", PureToken.MAXLEN, 0)
        anchored = await _used(client)
        for n in range(loans):
            await store.close("alpha", f"31001{n:09d}", now=T0 + timedelta(days=1))
        batches += await _anchor_all(store, batch)
        await client.xtrim("{bench}:outbox", PureToken.MAXLEN, 0)
        returned = await _used(client)
        step = max(1, loans // SAMPLE)
        sizes = await _key_sizes(client, loan_ids[::step][:SAMPLE])
        proof = await store.receipts(loan_ids[0])
        assert len(proof) == 2, "each returned loan has its checkout's and checkin's receipt"

    def per(used: int) -> float:
        return (used - before) / loans

    print(f"{loans} loans, {batches} ledger batches of up to {batch}; used_memory before:")
    print(f"  {before:,} bytes")
    print(f"  active, outbox events kept     : {per(active):7.0f} bytes per loan")
    print(f"  active, checkout anchored      : {per(anchored):7.0f} bytes per loan")
    print(f"  returned, both events anchored : {per(returned):7.0f} bytes per loan")
    print(f"MEMORY USAGE per key, returned loans (mean of {min(SAMPLE, loans)}):")
    for kind, size in sizes.items():
        print(f"  {{ns}}:{kind}:… {size:7.0f} bytes")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        server = start_redis(Path(directory), appendonly=True)
        if server is None:
            sys.exit("redis-server is not installed")
        try:
            trio.run(main, args.loans, args.batch, server.url)
        finally:
            server.stop()
