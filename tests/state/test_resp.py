"""The small hiredis client (``adapters.state.resp``) and the store that sends its
scripts through it: what the contract suite does not show (error replies, cut
connections, lost scripts, settings)."""

from __future__ import annotations

import dataclasses
import shutil
import socket
import ssl
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

import pydantic
import pytest
import trio
import trustme
from structlog.testing import capture_logs

from adapters.state.base import CapExceeded, LoanRequest, Reservation, StateUnavailable
from adapters.state.connect import open_state
from adapters.state.redis import RedisStateStore
from adapters.state.redis_resp import RespRedisStateStore
from adapters.state.resp import ConnectionLost, ReplyError, RespClient
from config.models import StateSettings
from tests.helpers.polling import eventually, eventually_blocking
from tests.helpers.services import (
    RedisServer,
    dead_port,
    free_port,
    missing_service,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator
    from pathlib import Path

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _request(item: str) -> LoanRequest:
    return LoanRequest(
        owner="beta",
        home="alpha",
        item=item,
        patron_key="b" * 32,
        proxy_patron="ILL-alpha",
        terminal="beta-kiosk",
        idempotency_key=f"resp-{uuid.uuid4().hex}",
        cap_at_owner=None,
        cap_total=None,
    )


async def test_an_error_reply_is_raised_and_the_connection_kept(redis_url: str) -> None:
    """Redis's error text is the exception's; the same connection answers next."""
    client = RespClient(redis_url, pool_size=1)
    try:
        with pytest.raises(ReplyError, match="unknown command"):
            await client.execute("NO-SUCH-COMMAND")
        assert await client.execute("PING") == "PONG"
        assert await client.execute("CLIENT", "ID") == await client.execute("CLIENT", "ID")
    finally:
        await client.aclose()


async def test_a_command_and_a_reply_larger_than_the_socket_s_buffers(redis_url: str) -> None:
    """A command the kernel takes in parts (the send waits for room) and a reply read
    in many chunks arrive whole; the connection is kept for the next command."""
    key = f"resp-test:{uuid.uuid4().hex}"
    value = "0123456789abcdef" * (1 << 18)  # 4 MiB
    client = RespClient(redis_url, pool_size=1)
    try:
        first = await client.execute("CLIENT", "ID")
        assert await client.execute("SET", key, value) == "OK"
        assert await client.execute("GET", key) == value
        assert await client.execute("CLIENT", "ID") == first
    finally:
        await client.execute("DEL", key)
        await client.aclose()


async def test_a_command_cut_off_closes_its_connection(redis_url: str) -> None:
    """A caller cancelled while Redis still owes a reply leaves no stray reply behind:
    its connection is closed, so the next caller gets its own answer."""
    key = f"resp-test:{uuid.uuid4().hex}"
    client, other = RespClient(redis_url, pool_size=1), RespClient(redis_url)
    try:
        blocked_before = await _blocked(other)
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.execute, "BLPOP", key, 0)
                await eventually(
                    lambda: _more_blocked(other, blocked_before), what="BLPOP to block"
                )
                scope.cancel()
        await other.execute("RPUSH", key, "kept")
        # The cut connection popped nothing: its BLPOP died with it.
        assert await client.execute("LRANGE", key, 0, -1) == ["kept"]
        assert await client.execute("GET", key + ":none") is None
    finally:
        await other.execute("DEL", key)
        await client.aclose()
        await other.aclose()


async def test_a_connection_redis_closed_while_idle_is_replaced_unseen(redis_url: str) -> None:
    """Redis dropping an idle connection (a restart, ``timeout``, CLIENT KILL) costs the
    next caller nothing: the dead connection is noticed before the command is sent."""
    client, other = RespClient(redis_url, pool_size=1), RespClient(redis_url)
    try:
        first = await client.execute("CLIENT", "ID")
        await other.execute("CLIENT", "KILL", "ID", first)

        async def gone() -> bool:
            listed: str = await other.execute("CLIENT", "LIST")
            return f"id={first} " not in listed

        await eventually(gone, what="Redis to close the killed connection")
        assert await client.execute("PING") == "PONG"
        assert await client.execute("CLIENT", "ID") != first
    finally:
        await client.aclose()
        await other.aclose()


async def _blocked(client: RespClient) -> int:
    info: str = await client.execute("INFO", "clients")
    line = next(x for x in info.splitlines() if x.startswith("blocked_clients:"))
    return int(line.split(":")[1])


async def _more_blocked(client: RespClient, before: int) -> bool:
    return await _blocked(client) > before


async def test_no_server_is_connection_lost() -> None:
    client = RespClient(f"redis://127.0.0.1:{dead_port()}/0")
    with pytest.raises(ConnectionLost, match="cannot connect to Redis"):
        await client.execute("PING")


async def test_a_closed_client_refuses_calls(redis_url: str) -> None:
    client = RespClient(redis_url)
    await client.execute("PING")
    await client.aclose()
    with pytest.raises(ConnectionLost, match="closed"):
        await client.execute("PING")


async def test_a_command_running_while_the_client_closes_leaves_nothing_open(
    redis_url: str,
) -> None:
    """The connection of a command still running at ``aclose`` is closed once it ends."""
    key = f"resp-test:{uuid.uuid4().hex}"
    client, other = RespClient(redis_url, pool_size=1), RespClient(redis_url)
    try:
        before = await _blocked(other)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.execute, "BLPOP", key, 0)
            await eventually(lambda: _more_blocked(other, before), what="BLPOP to block")
            await client.aclose()
            await other.execute("RPUSH", key, "v")
        assert client._idle == []  # the BLPOP's connection was closed, not kept
    finally:
        await other.execute("DEL", key)
        await other.aclose()


async def test_a_password_redis_does_not_expect_is_a_clear_error(redis_url: str) -> None:
    client = RespClient(redis_url, password="not-set-on-this-server")
    with pytest.raises(ReplyError, match="AUTH"):
        await client.execute("PING")
    assert client._idle == []  # the connection that failed to log in is not kept


async def test_the_url_s_database_is_selected(redis_url: str) -> None:
    base = redis_url.rsplit("/", 1)[0] if redis_url.count("/") > 2 else redis_url
    client = RespClient(base + "/3")
    try:
        info: str = await client.execute("CLIENT", "INFO")
        assert " db=3 " in f" {info} "
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:6379", "not a redis:// or rediss:// URL"),
        ("redis://", "not a redis:// or rediss:// URL"),
        ("redis://127.0.0.1:6379/zero", "the database must be a number"),
    ],
)
def test_a_bad_url_is_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RespClient(url)


def test_a_pool_of_no_connections_is_refused() -> None:
    with pytest.raises(ValueError, match="pool_size"):
        RespClient("redis://127.0.0.1", pool_size=0)


async def test_scripts_redis_forgot_are_sent_again(redis_url: str) -> None:
    """After SCRIPT FLUSH (or a Redis restart) the store still reserves and commits."""
    settings = StateSettings(
        backend="redis", url=redis_url, client="resp", namespace=f"resp-{uuid.uuid4().hex[:8]}"
    )
    async with open_state(settings, None) as store:
        assert isinstance(store, RespRedisStateStore)
        admin = RespClient(redis_url)
        try:
            await admin.execute("SCRIPT", "FLUSH")
        finally:
            await admin.aclose()
        held = await store.reserve(_request("I1"), now=T0)
        assert isinstance(held, Reservation)
        loan = await store.commit(held, due=T0 + timedelta(days=21), now=T0)
        assert (await store.active_loan("beta", "I1")) == loan
        assert await store.hit("resp-bucket", window_s=60) == 1
        assert await store.count("resp-bucket") == 1


async def test_the_resp_store_fails_clearly_when_nothing_listens() -> None:
    settings = StateSettings(
        backend="redis", url=f"redis://127.0.0.1:{dead_port()}/0", client="resp", timeout_s=1.0
    )
    async with open_state(settings, None) as store:
        with trio.fail_after(5):
            with pytest.raises(StateUnavailable, match=r"Redis failed \(reserve\)"):
                await store.reserve(_request("I1"), now=T0)
            with pytest.raises(StateUnavailable, match=r"Redis failed \(get\)"):
                await store.count("b")


@pytest.mark.parametrize("topology", [{"cluster": True}, {"sentinels": ("127.0.0.1:26379",)}])
def test_the_resp_client_is_refused_with_cluster_or_sentinels(
    topology: dict[str, object],
) -> None:
    with pytest.raises(pydantic.ValidationError, match='client = "resp" speaks to one plain'):
        StateSettings.model_validate({"backend": "redis", "client": "resp", **topology})


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0?db=2", "rediss://h:6380/0?ssl_ca_certs=/ca.pem", "unix:///s"]
)
def test_the_resp_client_is_refused_with_a_url_it_would_misread(url: str) -> None:
    """resp reads no query options (coredis does): asked for, it refuses them at load
    rather than dropping them."""
    with pytest.raises(pydantic.ValidationError, match="without query options"):
        StateSettings.model_validate({"backend": "redis", "client": "resp", "url": url})


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, "resp"),
        ({"url": "redis://user:pw@redis.example.org:6380/3"}, "resp"),
        ({"cluster": True}, "coredis"),
        ({"sentinels": ("127.0.0.1:26379",)}, "coredis"),
        ({"url": "rediss://redis.example.org:6380/0"}, "coredis"),
        ({"url": "redis://127.0.0.1:6379/0?db=2"}, "coredis"),
        ({"client": "coredis"}, "coredis"),
        ({"client": "resp", "url": "rediss://redis.example.org:6380/0"}, "resp"),
    ],
)
def test_the_default_client_is_resp_for_one_plain_redis_only(
    settings: dict[str, object], expected: str
) -> None:
    """``client = "auto"`` (the default) takes resp where it behaves as coredis would;
    an explicit choice is kept."""
    chosen, why = StateSettings.model_validate({"backend": "redis", **settings}).script_client()
    assert (chosen, bool(why)) == (expected, True)


async def test_the_default_opens_resp_on_a_plain_redis(redis_url: str) -> None:
    settings = StateSettings(backend="redis", url=redis_url, namespace=_namespace())
    assert settings.client == "auto"
    with capture_logs() as logs:
        async with open_state(settings, None) as store:
            assert isinstance(store, RespRedisStateStore)
    opened = [x for x in logs if x["event"] == "state store open"]
    assert [(x["client"], x["why"]) for x in opened] == [("resp", "one plain Redis")]


async def test_the_default_opens_coredis_on_a_cluster(redis_cluster_url: str) -> None:
    settings = StateSettings(
        backend="redis", url=redis_cluster_url, cluster=True, namespace=_namespace()
    )
    async with open_state(settings, None) as store:
        assert isinstance(store, RedisStateStore)
        assert not isinstance(store, RespRedisStateStore)
        assert isinstance(await store.reserve(_request("I1"), now=T0), Reservation)


async def test_the_default_opens_coredis_through_sentinels(redis_sentinel: str) -> None:
    settings = StateSettings(backend="redis", sentinels=(redis_sentinel,), namespace=_namespace())
    async with open_state(settings, None) as store:
        assert isinstance(store, RedisStateStore)
        assert not isinstance(store, RespRedisStateStore)
        assert isinstance(await store.reserve(_request("I1"), now=T0), Reservation)


def _namespace() -> str:
    return f"resp-{uuid.uuid4().hex[:8]}"


# --- the default's robustness: a Redis of the test's own ------------------------------------


async def test_the_default_store_survives_a_redis_restart(own_redis: RedisServer) -> None:
    """Redis stopped: calls fail with ``StateUnavailable`` at once.  Redis started
    again on its data: the same store reads the loan it had and lends again, on new
    connections (the pooled ones died with the old process), scripts loaded again."""
    settings = StateSettings(backend="redis", url=own_redis.url, timeout_s=2.0)
    async with open_state(settings, None) as store:
        assert isinstance(store, RespRedisStateStore)
        held = await store.reserve(_request("I1"), now=T0)
        assert isinstance(held, Reservation)
        loan = await store.commit(held, due=T0 + timedelta(days=21), now=T0)
        own_redis.stop()
        with trio.fail_after(10):
            with pytest.raises(StateUnavailable, match=r"Redis failed \(loans\): cannot connect"):
                await store.active_loan("beta", "I1")
        own_redis.start(appendonly=True)
        assert await store.active_loan("beta", "I1") == loan
        again = await store.reserve(_request("I2"), now=T0)
        assert isinstance(again, Reservation)
        assert await store.commit(again, due=T0 + timedelta(days=21), now=T0)


async def test_an_error_reply_from_redis_is_state_unavailable(own_redis: RedisServer) -> None:
    """A Redis that refuses (here: an ACL taking scripts away from the gateway's user)
    makes each call fail with Redis's own words; once it accepts again, the same store
    goes on."""
    settings = StateSettings(backend="redis", url=own_redis.url)
    admin = RespClient(own_redis.url)
    try:
        async with open_state(settings, None) as store:
            assert isinstance(store, RespRedisStateStore)
            await admin.execute("ACL", "SETUSER", "default", "-evalsha", "-eval")
            with pytest.raises(StateUnavailable, match=r"Redis failed \(reserve\): NOPERM"):
                await store.reserve(_request("I1"), now=T0)
            await admin.execute("ACL", "SETUSER", "default", "+@all")
            assert isinstance(await store.reserve(_request("I1"), now=T0), Reservation)
    finally:
        await admin.aclose()


async def test_a_server_that_never_answers_times_out_every_call(nursery: trio.Nursery) -> None:
    """Every call of the resp store (scripts and the counters' GET) gives up at
    ``timeout_s``, each on its own cancel scope."""

    async def silent(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()  # the silent peer itself, not a wait of the test's

    listeners = await nursery.start(trio.serve_tcp, silent, 0)
    port = listeners[0].socket.getsockname()[1]
    settings = StateSettings(
        backend="redis", url=f"redis://127.0.0.1:{port}/0", client="resp", timeout_s=0.3
    )
    async with open_state(settings, None) as store:
        assert isinstance(store, RespRedisStateStore)
        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "reserve": lambda: store.reserve(_request("I1"), now=T0),
            "loans": lambda: store.active_loan("beta", "I1"),
            "hit": lambda: store.hit("b", window_s=1),
            "get": lambda: store.count("b"),
        }
        for what, call in calls.items():
            started = trio.current_time()
            with pytest.raises(StateUnavailable, match=rf"did not answer \({what}\) within 0.3s"):
                await call()
            assert trio.current_time() - started < 2


async def test_user_password_and_database_from_the_url(own_redis: RedisServer) -> None:
    """An ACL user and its password, and the database, written in the URL: resp (the
    default) and coredis log in alike and write to that database; a password in the
    URL is taken as written (``%41`` is not decoded) and wins over ``password``, as
    coredis has always done."""
    admin = RespClient(own_redis.url)
    try:
        await admin.execute("ACL", "SETUSER", "desk", "on", ">s3cr%41t", "~*", "&*", "+@all")
        await admin.execute("CONFIG", "SET", "requirepass", "default-pw")
    finally:
        await admin.aclose()
    url = f"redis://desk:s3cr%41t@127.0.0.1:{own_redis.port}/5"
    clients: tuple[Literal["auto", "coredis"], ...] = ("auto", "coredis")
    for client in clients:
        namespace = _namespace()
        settings = StateSettings(backend="redis", url=url, client=client, namespace=namespace)
        async with open_state(settings, "not-this-one") as store:
            assert isinstance(store, RespRedisStateStore) == (client == "auto")
            assert isinstance(await store.reserve(_request("I1"), now=T0), Reservation)
        check = RespClient(f"redis://127.0.0.1:{own_redis.port}/5", password="default-pw")
        try:
            found = await check.execute("KEYS", f"{{{namespace}}}:hold:*")
            assert len(found) == 1, (client, found)
        finally:
            await check.aclose()


async def test_callers_beyond_the_pool_wait_their_turn(redis_url: str) -> None:
    """Six callers on a pool of four: four commands run at once on four connections,
    two wait for a free one; every caller gets its own reply."""
    keys = [f"resp-pool:{uuid.uuid4().hex}" for _ in range(6)]
    client, other = RespClient(redis_url, pool_size=4), RespClient(redis_url)
    got: dict[str, list[str]] = {}

    async def pop(key: str) -> None:
        got[key] = await client.execute("BLPOP", key, 0)

    try:
        before = await _blocked(other)

        async def four_blocked_two_waiting() -> bool:
            waiting = client._slots.statistics().tasks_waiting
            return await _blocked(other) == before + 4 and waiting == 2

        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                for key in keys:
                    nursery.start_soon(pop, key)
                await eventually(four_blocked_two_waiting, what="four blocked, two waiting")
                for key in keys:
                    await other.execute("RPUSH", key, f"value-of-{key}")
        assert got == {key: [key, f"value-of-{key}"] for key in keys}
        assert len(client._idle) == 4
    finally:
        await other.execute("DEL", *keys)
        await client.aclose()
        await other.aclose()


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ssl.SSLContext]]:
    """A redis-server of its own serving TLS only, and a context trusting its CA."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing_service("redis-server is not installed")
        return
    folder: Path = tmp_path_factory.mktemp("tls-redis")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    cert.private_key_and_cert_chain_pem.write_to_path(str(folder / "server.pem"))
    port = free_port()
    pem = str(folder / "server.pem")
    options = {"port": "0", "tls-port": str(port), "save": "", "appendonly": "no"}
    options |= {"tls-cert-file": pem, "tls-key-file": pem, "tls-auth-clients": "no"}
    options["dir"] = str(folder)
    server = subprocess.Popen(
        [binary, *(x for name, value in options.items() for x in (f"--{name}", value))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def listening() -> bool:
        if server.poll() is not None:
            return True  # it exited: no TLS in this build; told below
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    try:
        eventually_blocking(listening, what="the TLS redis-server to listen")
        if server.poll() is not None:
            missing_service("this redis-server cannot serve TLS")
            return
        context = ssl.create_default_context()
        ca.configure_trust(context)
        yield f"rediss://127.0.0.1:{port}/1", context
    finally:
        server.terminate()
        server.wait(timeout=10)


async def test_tls_with_the_operator_s_ca(tls_redis: tuple[str, ssl.SSLContext]) -> None:
    """rediss:// works, selects the URL's database, and keeps its connection."""
    url, context = tls_redis
    client = RespClient(url, ssl_context=context, pool_size=1)
    try:
        info: str = await client.execute("CLIENT", "INFO")
        assert " db=1 " in f" {info} "
        first = await client.execute("CLIENT", "ID")
        assert await client.execute("PING") == "PONG"
        assert await client.execute("CLIENT", "ID") == first
    finally:
        await client.aclose()


async def test_tls_without_trust_in_the_server_is_connection_lost(
    tls_redis: tuple[str, ssl.SSLContext],
) -> None:
    url, _ = tls_redis
    client = RespClient(url)  # the system's trust store: it does not know this CA
    with pytest.raises(ConnectionLost, match="connection to Redis failed"):
        await client.execute("PING")


async def test_a_resp_gateway_and_a_coredis_gateway_share_one_registry(redis_url: str) -> None:
    """Two gateways on one Redis namespace, one with ``client = "resp"`` and one with
    coredis (a rolling change of the setting): each sees the other's loans and held
    slots, so a patron's cap holds whichever gateway is asked."""
    namespace = f"mixed-{uuid.uuid4().hex[:8]}"
    resp = StateSettings(backend="redis", url=redis_url, client="resp", namespace=namespace)
    plain = resp.model_copy(update={"client": "coredis"})
    async with open_state(resp, None) as first, open_state(plain, None) as second:
        assert isinstance(first, RespRedisStateStore)
        assert not isinstance(second, RespRedisStateStore)
        capped = dataclasses.replace(_request("I1"), cap_at_owner=1)
        held = await first.reserve(capped, now=T0)
        assert isinstance(held, Reservation)
        over = dataclasses.replace(_request("I2"), cap_at_owner=1)
        assert isinstance(await second.reserve(over, now=T0), CapExceeded)
        loan = await first.commit(held, due=T0 + timedelta(days=21), now=T0)
        assert await second.active_loan("beta", "I1") == loan
        closed = await second.close("beta", "I1", now=T0 + timedelta(days=2))
        assert closed is not None
        assert closed.loan_id == loan.loan_id
        assert await first.active_loan("beta", "I1") is None
        again = await first.reserve(over, now=T0 + timedelta(days=3))
        assert isinstance(again, Reservation)
