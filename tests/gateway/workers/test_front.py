"""The supervisor's admin port (``gateway/workers/front.py``) over ASGI, with the workers'
admin ports played by an ``httpx.MockTransport``."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import httpx
import trio
import trio.testing
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from adapters.tls import ServerTls
from gateway.admin.session import ConsoleSessions
from gateway.admin.settlements import READ_TIMEOUT_S
from gateway.workers.front import Front
from tests.helpers.tls import Authority

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

TOKEN = b"a-token-for-the-workers"


def _worker_metrics(count: int) -> bytes:
    registry = CollectorRegistry()
    Counter("demo_requests", "requests", registry=registry).inc(count)
    return generate_latest(registry)


class Workers:
    """Two workers' admin ports: metrics, and an echo of what was forwarded."""

    def __init__(self) -> None:
        self.counts = {"w0": 3, "w1": 4}
        self.seen: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        host = request.url.host
        if request.url.path == "/metrics":
            return httpx.Response(200, content=_worker_metrics(self.counts[host]))
        return httpx.Response(200, json={"worker": host, "query": request.url.query.decode()})


def _front(workers: Workers, urls: dict[int, str], ready: int = 2) -> Front:
    client = httpx.AsyncClient(transport=httpx.MockTransport(workers.handle))
    return Front(lambda: dict(urls), lambda: (ready, 1), TOKEN, client=client)


@asynccontextmanager
async def _supervisor(front: Front) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the front's app; the front's own client is closed after."""
    transport = httpx.ASGITransport(app=front.app())
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
            yield client
    finally:
        await front.client.aclose()


async def test_metrics_combine_the_workers_and_keep_a_dead_ones_counts() -> None:
    """/metrics sums the workers' counters (read with the token), adds the supervisor's
    own, and keeps a retired worker's last counts."""
    workers = Workers()
    urls = {0: "http://w0", 1: "http://w1"}
    front = _front(workers, urls)
    async with _supervisor(front) as supervisor:
        first = (await supervisor.get("/metrics")).text
        front.retire(0)
        workers.counts["w0"] = 1  # its replacement starts from zero
        second = (await supervisor.get("/metrics")).text
    assert "demo_requests_total 7.0" in first
    assert "interlend_workers 2" in first
    assert "interlend_worker_restarts_total 1" in first
    assert "demo_requests_total 8.0" in second
    assert {r.headers["authorization"] for r in workers.seen} == {f"Bearer {TOKEN.decode()}"}


async def test_other_routes_go_to_the_ready_workers_in_turn() -> None:
    """The API is answered by a ready worker, each in turn, query string kept."""
    workers = Workers()
    front = _front(workers, {0: "http://w0", 1: "http://w1"})
    async with _supervisor(front) as supervisor:
        answers = [(await supervisor.get("/api/loans?limit=5")).json() for _ in range(4)]
    assert [a["worker"] for a in answers] == ["w0", "w1", "w0", "w1"]
    assert {a["query"] for a in answers} == {"limit=5"}


async def test_without_a_ready_worker_it_is_not_ready() -> None:
    """No worker ready: /readyz is 503, the API 503, /healthz still 200."""
    front = _front(Workers(), {}, ready=0)
    async with _supervisor(front) as supervisor:
        ready = await supervisor.get("/readyz")
        api = await supervisor.get("/api/members")
        health = await supervisor.get("/healthz")
    assert ready.status_code == 503
    assert api.status_code == 503
    assert health.status_code == 200


async def test_a_worker_that_fails_is_left_out_of_the_scrape() -> None:
    """A worker whose port does not answer: the others' metrics are still given."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "w1":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, content=_worker_metrics(3))

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    front = Front(lambda: {0: "http://w0", 1: "http://w1"}, lambda: (1, 0), client=client)
    async with _supervisor(front) as supervisor:
        text = (await supervisor.get("/metrics")).text
    assert "demo_requests_total 3.0" in text


async def test_a_slow_route_is_given_the_time_the_worker_gives_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``/api/settlements`` may take up to its own read limit at the worker (the chain's
    answers): the front waits that long instead of answering 502 first."""

    async def handle(request: httpx.Request) -> httpx.Response:
        await trio.sleep(READ_TIMEOUT_S - 1)
        return httpx.Response(200, json={"rounds": []})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    front = Front(lambda: {0: "http://w0"}, lambda: (1, 0), client=client)
    async with _supervisor(front) as supervisor:
        answer = await supervisor.get("/api/settlements")
    assert answer.status_code == 200
    assert answer.json() == {"rounds": []}


async def test_wrong_tokens_lock_out_their_own_address_only() -> None:
    """The console login is answered at the front, which sees each browser's address:
    ten wrong tokens from one address earn it a 429, while a person at another address
    still logs in (through a worker, every browser would share the front's address and
    be locked out together, and each worker would count apart)."""
    workers = Workers()
    client = httpx.AsyncClient(transport=httpx.MockTransport(workers.handle))
    front = Front(
        lambda: {0: "http://w0"},
        lambda: (1, 0),
        TOKEN,
        client=client,
        sessions=ConsoleSessions(),
        tokens=(TOKEN,),
    )
    app = front.app()
    origin = {"origin": "http://s"}

    def browser(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 50000))
        return httpx.AsyncClient(transport=transport, base_url="http://s")

    async with browser("192.0.2.1") as guesser, browser("192.0.2.2") as person:
        guesses = [
            (await guesser.post("/login", data={"token": f"wrong-{n}"}, headers=origin)).status_code
            for n in range(11)
        ]
        login = await person.post("/login", data={"token": TOKEN.decode()}, headers=origin)
    await front.client.aclose()
    assert guesses == [401] * 10 + [429]
    assert login.status_code == 303
    assert login.headers["set-cookie"].startswith("interlend_session=")
    assert [r for r in workers.seen if r.url.path == "/login"] == []


async def test_the_admin_certificates_expiry_is_in_the_combined_metrics(tmp_path: Path) -> None:
    """Under ``serve --workers`` the admin port's certificate is served by the front, not
    by a worker: its expiry joins the workers' listeners' in the one gauge family that
    certificate alerts read."""
    authority = Authority.new(tmp_path / "pki")
    registry = CollectorRegistry()
    Gauge(
        "interlend_tls_certificate_expiry_timestamp_seconds",
        "When the certificate a listener serves expires (Unix time)",
        ["listener"],
        registry=registry,
    ).labels("gateway.sip2[0].tls").set(1.9e9)
    scraped = generate_latest(registry)
    client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda request: httpx.Response(200, content=scraped))
    )
    front = Front(lambda: {0: "http://w0"}, lambda: (1, 0), client=client)
    front.tls = ServerTls("gateway.admin.tls", authority.tls("admin"))
    async with _supervisor(front) as supervisor:
        text = (await supervisor.get("/metrics")).text
    (family,) = [
        f
        for f in text_string_to_metric_families(text)
        if f.name == "interlend_tls_certificate_expiry_timestamp_seconds"
    ]
    expiry = {s.labels["listener"]: s.value for s in family.samples}
    assert expiry["gateway.sip2[0].tls"] == 1.9e9
    assert expiry["gateway.admin.tls"] == front.tls.certificate.not_after.timestamp()
