"""The Redis store's own behaviour: failures, persistence check, keys, history, opening."""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import coredis
import pytest
import trio
from coredis.tokens import PureToken
from structlog.testing import capture_logs

from adapters.state.base import LoanRequest, LoanState, Reservation, StateUnavailable
from adapters.state.connect import describe, open_state
from adapters.state.memory import MemoryStateStore
from adapters.state.redis import RedisStateStore
from config.models import StateSettings
from tests.helpers.polling import eventually
from tests.helpers.services import dead_port, missing_service, start_redis

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
DUE = T0 + timedelta(days=21)
BARCODE = "21001000000042"


def request(item: str, key: str, patron: str = "a" * 32) -> LoanRequest:
    return LoanRequest(
        owner="beta",
        home="alpha",
        item=item,
        patron_key=patron,
        proxy_patron="ILL-alpha",
        terminal="beta-kiosk",
        idempotency_key=key,
        cap_at_owner=None,
        cap_total=None,
    )


async def lend(store: RedisStateStore, item: str, key: str, now: datetime = T0) -> None:
    reservation = await store.reserve(request(item, key), now=now)
    assert isinstance(reservation, Reservation)
    await store.commit(reservation, due=DUE, now=now)


@asynccontextmanager
async def open_store(url: str, **options: float | int) -> AsyncIterator[RedisStateStore]:
    client = coredis.Redis.from_url(url, decode_responses=True)
    async with client:
        namespace = f"t-{uuid.uuid4().hex[:10]}"
        yield RedisStateStore(client, namespace=namespace, **options)  # type: ignore[arg-type]


# --- failures ----------------------------------------------------------------------------


async def test_every_call_fails_clearly_when_nothing_listens() -> None:
    """No server: each operation raises StateUnavailable naming Redis, promptly."""
    async with open_store(f"redis://127.0.0.1:{dead_port()}/0", timeout_s=1.0) as store:
        calls: list[Callable[[], Awaitable[object]]] = [
            store.check,
            lambda: store.reserve(request("I1", "k1"), now=T0),
            lambda: store.commit(Reservation("t", request("I1", "k1")), due=DUE, now=T0),
            lambda: store.close("beta", "I1", now=T0),
            lambda: store.active_loans("p"),
            lambda: store.outbox_read("w", 1, wait_s=0),
            lambda: store.outbox_ack(["1-0"]),
            lambda: store.hit("b", window_s=1),
            lambda: store.count("b"),
        ]
        with trio.fail_after(5):
            for call in calls:
                with pytest.raises(StateUnavailable, match="Redis failed"):
                    await call()


async def test_a_server_that_never_answers_times_out(nursery: trio.Nursery) -> None:
    """A peer that accepts and stays silent is cut off at ``timeout_s``."""
    held: list[trio.SocketStream] = []

    async def silent(stream: trio.SocketStream) -> None:
        held.append(stream)
        await trio.sleep_forever()  # the silent peer itself, not a wait of the test's

    listeners = await nursery.start(trio.serve_tcp, silent, 0)
    port = listeners[0].socket.getsockname()[1]
    async with open_store(f"redis://127.0.0.1:{port}/0", timeout_s=0.3) as store:
        started = trio.current_time()
        with pytest.raises(StateUnavailable, match=r"did not answer \(reserve\) within 0.3s"):
            await store.reserve(request("I1", "k1"), now=T0)
        assert trio.current_time() - started < 2


# --- persistence check ---------------------------------------------------------------------


async def test_prepare_warns_when_the_append_only_file_is_off(redis_url: str) -> None:
    """The operator is told that acknowledged loans could be lost."""
    async with open_store(redis_url) as store:
        with capture_logs() as logs:
            await store.prepare()
        assert any("append-only file is off" in entry["event"] for entry in logs)
        with pytest.raises(StateUnavailable, match="append-only file is off"):
            await store.prepare(require_aof=True)


async def test_prepare_is_quiet_when_the_append_only_file_is_on(tmp_path: Path) -> None:
    server = start_redis(tmp_path, appendonly=True)
    if server is None:
        missing_service("redis-server is not installed")
        return
    try:
        async with open_store(server.url) as store:
            with capture_logs() as logs:
                await store.prepare(require_aof=True)
            assert not any("append-only" in entry["event"] for entry in logs)
    finally:
        server.stop()


# --- keys and data -------------------------------------------------------------------------


async def test_a_loans_keys_share_one_hash_tag_and_hold_no_barcode(redis_url: str) -> None:
    """Every registry key is in the namespace's slot; no value holds a patron's barcode."""
    async with open_store(redis_url) as store:
        namespace = store._namespace
        await lend(store, "31002000000001", f"beta-kiosk|{BARCODE}|1")
        await store.renew("beta", "31002000000001", due=DUE, now=T0)
        await store.close("beta", "31002000000001", now=T0)
        await store.hit(f"pin:{'a' * 32}", window_s=60)
        client = store._client
        keys = [k async for k in client.scan_iter(match=f"*{namespace}*")]
        registry = [k for k in keys if ":throttle:" not in k]
        assert len(registry) >= 4
        assert all(k.startswith("{" + namespace + "}:") for k in registry)
        assert all(k.startswith(f"{namespace}:throttle:{{") for k in keys if k not in registry)
        dump = " ".join(keys)
        for key in registry:
            kind = await client.type(key)
            if kind == "hash":
                dump += " ".join((await client.hgetall(key)).values())
            elif kind == "string":
                dump += str(await client.get(key))
            elif kind == "stream":
                for entry in await client.xrange(key):
                    dump += " ".join(entry.field_values.values())
        assert BARCODE not in dump.replace(f"beta-kiosk|{BARCODE}|1", "")


async def test_history_is_trimmed_to_the_configured_size(redis_url: str) -> None:
    """The oldest returned loans go once history is full; active ones stay."""
    async with open_store(redis_url, history=3) as store:
        await lend(store, "KEEP", "keep")
        for n in range(6):
            now = T0 + timedelta(hours=n + 1)
            await lend(store, f"R{n}", f"r{n}", now=now)
            await store.close("beta", f"R{n}", now=now)
        recent = await store.recent_loans(100)
        assert len(recent) <= 4
        assert "KEEP" in {x.item for x in recent if x.state is LoanState.ACTIVE}
        assert [x.item for x in recent][:2] == ["R5", "R4"]


async def test_recent_loans_of_zero_is_empty(redis_url: str) -> None:
    async with open_store(redis_url) as store:
        await lend(store, "I1", "k1")
        assert await store.recent_loans(0) == []
        assert [x.item for x in await store.recent_loans(5)] == ["I1"]


# --- opening the configured store ------------------------------------------------------------


async def test_open_state_gives_memory_by_default() -> None:
    async with open_state(StateSettings(), None) as store:
        assert isinstance(store, MemoryStateStore)
        await store.check()


async def test_open_state_opens_redis_and_reports_where(redis_url: str) -> None:
    settings = StateSettings(backend="redis", url=redis_url, namespace="open-test")
    with capture_logs() as logs:
        async with open_state(settings, None) as store:
            assert isinstance(store, RedisStateStore)
            await store.check()
    opened = [e for e in logs if e["event"] == "state store open"]
    assert opened[0]["where"] == f"redis {redis_url.split('://')[1]}"


async def test_open_state_starts_while_redis_is_down() -> None:
    """The gateway starts (and refuses what needs Redis) rather than failing to start."""
    settings = StateSettings(backend="redis", url=f"redis://127.0.0.1:{dead_port()}/0")
    with capture_logs() as logs:
        async with open_state(settings, None) as store:
            with pytest.raises(StateUnavailable):
                await store.check()
    assert any("cannot be reached yet" in e["event"] for e in logs)


async def test_open_state_refuses_to_start_without_aof_when_required(redis_url: str) -> None:
    settings = StateSettings(backend="redis", url=redis_url, require_aof=True)
    with pytest.raises(StateUnavailable, match="append-only"):
        async with open_state(settings, None):
            raise AssertionError("opened without AOF")


def test_describe_never_shows_a_password() -> None:
    assert describe(StateSettings()) == "memory"
    with_password = StateSettings(backend="redis", url="redis://:secret@db.example:6380/2")
    assert describe(with_password) == "redis db.example:6380/2"
    cluster = StateSettings(backend="redis", url="redis://node1:7000", cluster=True)
    assert describe(cluster) == "redis cluster node1:7000"
    sentinel = StateSettings(backend="redis", sentinels=("s1:26379", "s2:26379"))
    assert describe(sentinel) == "redis sentinel s1:26379,s2:26379 service interlend"


def test_state_settings_reject_bad_topologies() -> None:
    with pytest.raises(ValueError, match="cluster or sentinels"):
        StateSettings(backend="redis", cluster=True, sentinels=("s1:26379",))
    with pytest.raises(ValueError, match="not host:port"):
        StateSettings(backend="redis", sentinels=("s1",))
    with pytest.raises(ValueError, match="namespace"):
        StateSettings(namespace="has space")


async def test_renew_and_close_of_an_index_pointing_at_nothing_are_none(redis_url: str) -> None:
    async with open_store(redis_url) as store:
        await lend(store, "GONE", "k-gone")
        loan = await store.active_loan("beta", "GONE")
        assert loan is not None
        await store._client.delete([f"{{{store._namespace}}}:loan:{loan.loan_id}"])
        assert await store.renew("beta", "GONE", due=DUE, now=T0) is None
        assert await store.close("beta", "GONE", now=T0) is None


# --- the outbox's consumer group ---------------------------------------------------------------


async def test_a_store_opened_again_on_the_same_redis_drains_the_outbox(redis_url: str) -> None:
    """The consumer group made by an earlier start (or by another gateway) is taken as it
    is: a store opened again prepares without error, reads what waits and acknowledges it."""
    async with open_store(redis_url) as first:
        await first.prepare()
        await lend(first, "I1", "k1")
        again = RedisStateStore(first._client, namespace=first._namespace)
        await again.prepare()
        entries = await again.outbox_read("after-restart", 10, wait_s=0)
        assert [e.event.item for e in entries] == ["I1"]
        await again.outbox_ack([e.entry_id for e in entries])
        assert await again.outbox_pending() == 0


async def test_a_consumer_group_that_vanished_is_made_again(redis_url: str) -> None:
    """Redis lost the outbox (a restart without persistence, a deleted key) or only its
    group: the next read, reclaim or touch makes the group again and nothing still in
    the stream is skipped."""
    async with open_store(redis_url) as store:
        await store.prepare()
        await lend(store, "I1", "k1")
        await store._client.delete([store._outbox])
        await lend(store, "I2", "k2")  # the stream is made again, without a group
        entries = await store.outbox_read("w", 10, wait_s=0)
        assert [e.event.item for e in entries] == ["I2"]
        await store._client.xgroup_destroy(store._outbox, "ledger")
        assert await store.outbox_reclaim("w", 10, min_idle_s=0) == []
        again = await store.outbox_read("w", 10, wait_s=0)
        assert [e.event.item for e in again] == ["I2"]
        await store._client.xgroup_destroy(store._outbox, "ledger")
        assert await store.outbox_touch("w", [again[0].entry_id]) == []
        await store.outbox_ack([again[0].entry_id])
        assert await store.outbox_pending() == 0


# --- holds expire ------------------------------------------------------------------------------


async def _pttls(store: RedisStateStore, *kinds: str) -> dict[str, int]:
    """The time to live (ms) of each of the store's keys of these kinds."""
    client = store._client
    found: dict[str, int] = {}
    for kind in kinds:
        async for key in client.scan_iter(match=f"{{{store._namespace}}}:{kind}:*"):
            found[key] = int(await client.pttl(key))
    return found


async def test_every_key_a_hold_writes_has_a_time_to_live(redis_url: str) -> None:
    """A fresh hold, a resumed one and one made under a returned loan's key: the hold,
    its idempotency key and the held-slot indexes all expire; the index of every hold
    is kept, but its entries go with their holds."""
    async with open_store(redis_url) as store:
        await store.reserve(request("H1", "fresh"), now=T0)
        await store.reserve(request("H1", "fresh"), now=T0 + timedelta(seconds=1))
        await lend(store, "H2", "returned")
        await store.close("beta", "H2", now=T0)
        await store.reserve(request("H2", "returned"), now=T0)
        ttls = await _pttls(store, "hold", "idem", "held", "owner-held")
        assert sum(":hold:" in k for k in ttls) == 2
        assert sum(":idem:" in k for k in ttls) == 2
        assert all(ttl > 0 for ttl in ttls.values()), ttls


async def test_a_reserve_the_gateway_gave_up_on_leaves_a_hold_that_expires(
    redis_url: str,
) -> None:
    """Redis stalls (a fail-over, a paused server): the gateway gives up waiting for a
    reserve that Redis runs afterwards.  The hold it leaves has a time to live, and once
    that is over nothing of it is left: no key, no listing, no index entry."""
    async with open_store(
        redis_url, timeout_s=0.2, hold_ttl_s=0.1, unconfirmed_kept_s=2.0
    ) as store:
        warm = await store.reserve(request("W1", "warm-up"), now=datetime.now(UTC))
        assert isinstance(warm, Reservation)
        await store.release(warm)  # the script is loaded: the next call is one EVALSHA
        admin = coredis.Redis.from_url(redis_url, decode_responses=True)
        async with admin:
            await admin.client_pause(400, PureToken.WRITE)
            with pytest.raises(StateUnavailable, match="did not answer"):
                await store.reserve(request("G1", "given-up"), now=datetime.now(UTC))

            async def hold_written() -> bool:
                return bool(await _pttls(store, "hold"))

            await eventually(hold_written, what="the given-up reserve to be written")
            ttls = await _pttls(store, "hold", "idem", "held", "owner-held")
            assert all(ttl > 0 for ttl in ttls.values()), ttls

            async def hold_gone() -> bool:
                return not await _pttls(store, "hold", "idem", "held", "owner-held")

            await eventually(hold_gone, what="the hold to expire")
            assert await store.unconfirmed(now=datetime.now(UTC)) == []
            assert await admin.zcard(f"{{{store._namespace}}}:holds") == 0
