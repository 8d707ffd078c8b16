"""The supervisor's admin port: ``/metrics`` of all the workers, the rest from one.

* ``/healthz``: the supervisor lives.
* ``/readyz``: 200 while at least one worker is ready (its own ``/readyz`` says so),
  503 otherwise.
* ``/metrics``: every ready worker's registry combined (``metrics.py``), with the
  supervisor's own counts (``interlend_workers``, ``interlend_worker_restarts``) and,
  with ``tls``, the expiry of the admin port's certificate, which the front serves.
* everything else (the status page, ``/api/...``) is passed to a ready worker in turn:
  they share the state store, so any of them answers for the whole gateway.

Each call to a worker has a time limit; a worker that does not answer in it is left
out of that scrape, or its forwarded request is answered 502 (the limit is the slowest
route's own: ``FORWARD_TIMEOUT_S``).  The admin port's bearer tokens are checked here
(``for_role``) and sent on to the workers, whose admin sockets are private to this
host's loopback.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import httpx
import structlog
import trio
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from adapters.tls import TlsFileError
from gateway.admin.console.login import Login
from gateway.admin.settlements import READ_TIMEOUT_S
from gateway.workers.metrics import WorkerMetrics, parse, render

if TYPE_CHECKING:
    from collections.abc import Callable

    from prometheus_client.metrics_core import Metric
    from starlette.requests import Request

    from adapters.tls import ServerTls
    from gateway.admin.session import ConsoleSessions

__all__ = ["FORWARD_TIMEOUT_S", "WORKER_CALL_TIMEOUT_S", "Front"]

log = structlog.get_logger("interlend.supervisor")

WORKER_CALL_TIMEOUT_S = 5.0
"""A worker's time to answer a scrape of its metrics."""
FORWARD_TIMEOUT_S = READ_TIMEOUT_S + WORKER_CALL_TIMEOUT_S
"""A worker's time to answer a forwarded request: the slowest route, ``/api/settlements``,
reads the chain for up to ``READ_TIMEOUT_S`` before it answers on its own."""
HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "host", "content-length"})
FORWARDED_DROPPED = HOP_HEADERS - {"host"}
"""Request headers not passed on.  ``Host`` is: the console's forms check that their
``Origin`` is the address the browser reached, which is the supervisor's, not the
worker's loopback socket."""


class Front:
    """The supervisor's admin app (see the module documentation).

    Args:
        workers: Returns the admin URLs of the ready workers, by worker number.
        statistics: Returns the supervisor's own numbers (workers ready, restarts).
        token: Sent to the workers as a bearer token (their admin port wants one).
        client: The HTTP client to the workers (one with a time limit by default).
        sessions: The console sessions the front checks (the workers' key).
        tokens: The admin port's bearer tokens: with ``sessions``, the console's login
            and logout are answered here (see ``login``).
    """

    def __init__(
        self,
        workers: Callable[[], dict[int, str]],
        statistics: Callable[[], tuple[int, int]],
        token: bytes | None = None,
        client: httpx.AsyncClient | None = None,
        *,
        sessions: ConsoleSessions | None = None,
        tokens: tuple[bytes, ...] = (),
    ) -> None:
        self._workers = workers
        self._login = Login(tokens, sessions) if sessions is not None else None
        self.tls: ServerTls | None = None
        """The admin port's TLS, when it has some (read again on SIGHUP)."""
        self._statistics = statistics
        self._headers = {"authorization": f"Bearer {token.decode()}"} if token else {}
        self._turn = itertools.count()
        self.metrics = WorkerMetrics()
        self._last: dict[int, list[Metric]] = {}
        self.client = client or httpx.AsyncClient(timeout=WORKER_CALL_TIMEOUT_S)

    async def reload_certificate(self) -> None:
        """Read the admin port's certificate and key again (SIGHUP); new connections get
        them, and files that cannot be used leave the ones in force."""
        if self.tls is None:
            return
        try:
            info = await trio.to_thread.run_sync(self.tls.reload)
        except TlsFileError as exc:
            log.error(
                "TLS certificate not reloaded: keeping the one in force",
                listener=self.tls.name,
                setting=exc.setting,
                error=exc.message,
                hint=exc.hint,
            )
            return
        log.info("TLS certificate reloaded", listener=self.tls.name, serial=info.serial)

    def retire(self, worker: int) -> None:
        """A worker is gone: keep its last counts in the totals."""
        last = self._last.pop(worker, None)
        if last is not None:
            self.metrics.retire(last)

    def app(self) -> Starlette:
        """The ASGI app."""
        return Starlette(
            routes=[
                Route("/healthz", self.healthz),
                Route("/readyz", self.readyz),
                Route("/metrics", self.prometheus),
                Route("/login", self.login, methods=["GET", "POST"]),
                Route("/logout", self.logout, methods=["POST"]),
                Route("/{path:path}", self.forward, methods=["GET", "POST", "HEAD"]),
            ]
        )

    async def healthz(self, request: Request) -> Response:
        """Liveness of the supervisor."""
        return PlainTextResponse("ok\n")

    async def readyz(self, request: Request) -> Response:
        """Ready while a worker is."""
        ready, _ = self._statistics()
        if ready:
            return PlainTextResponse(f"ok: {ready} worker(s) ready\n")
        return PlainTextResponse("not ready: no worker is ready\n", status_code=503)

    async def _scrape(self, worker: int, url: str, into: dict[int, list[Metric]]) -> None:
        try:
            with trio.fail_after(WORKER_CALL_TIMEOUT_S):
                answer = await self.client.get(f"{url}/metrics", headers=self._headers)
            answer.raise_for_status()
            into[worker] = parse(answer.text)
        except (httpx.HTTPError, trio.TooSlowError, ValueError) as exc:
            log.warning("worker metrics not read", worker=worker, error=str(exc) or repr(exc))

    async def prometheus(self, request: Request) -> Response:
        """Every worker's metrics combined, and the supervisor's."""
        scraped: dict[int, list[Metric]] = {}
        async with trio.open_nursery() as nursery:
            for worker, url in self._workers().items():
                nursery.start_soon(self._scrape, worker, url, scraped)
        self._last.update(scraped)
        families = self.metrics.combine(scraped)
        if self.tls is not None:
            _add_expiry(families, self.tls.name, self.tls.certificate.not_after.timestamp())
        ready, restarts = self._statistics()
        body = render(families) + _own_metrics(ready, restarts)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    async def login(self, request: Request) -> Response:
        """The console's login, answered here: the front sees each browser's own address,
        which the wrong-token throttle counts by (through a worker every browser would
        have the front's address, and each worker would count apart); the session it
        issues is good at every worker."""
        if self._login is None:
            return await self.forward(request)
        return await self._login.login(request)

    async def logout(self, request: Request) -> Response:
        """The console's logout, here: the front checks every page's session, so the
        session revoked here is ended whichever worker would serve the page."""
        if self._login is None:
            return await self.forward(request)
        return await self._login.logout(request)

    async def forward(self, request: Request) -> Response:
        """Pass the request to a ready worker, in turn."""
        workers = sorted(self._workers().items())
        if not workers:
            return PlainTextResponse("no worker is ready\n", status_code=503)
        worker, url = workers[next(self._turn) % len(workers)]
        headers = {k: v for k, v in request.headers.items() if k.lower() not in FORWARDED_DROPPED}
        target = f"{url}{request.url.path}"
        if request.url.query:
            target += f"?{request.url.query}"
        try:
            with trio.fail_after(FORWARD_TIMEOUT_S):
                answer = await self.client.request(
                    request.method,
                    target,
                    headers=headers,
                    content=await request.body(),
                    timeout=FORWARD_TIMEOUT_S,
                )
        except (httpx.HTTPError, trio.TooSlowError) as exc:
            log.warning("worker did not answer", worker=worker, error=str(exc) or repr(exc))
            return PlainTextResponse("the worker did not answer\n", status_code=502)
        kept: dict[str, Any] = {
            k: v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS
        }
        kept.pop("content-encoding", None)  # httpx has decoded the body
        return Response(answer.content, status_code=answer.status_code, headers=kept)


TLS_EXPIRY = "interlend_tls_certificate_expiry_timestamp_seconds"
"""The gauge of each listener's certificate expiry (``gateway/telemetry/metrics.py``)."""


def _add_expiry(families: list[Metric], listener: str, expires: float) -> None:
    """Put the front's own certificate in the workers' expiry gauge (one family)."""
    from prometheus_client.metrics_core import Metric
    from prometheus_client.samples import Sample

    family = next((f for f in families if f.name == TLS_EXPIRY), None)
    if family is None:
        family = Metric(
            TLS_EXPIRY, "When the certificate a listener serves expires (Unix time)", "gauge"
        )
        families.append(family)
    family.samples.append(Sample(TLS_EXPIRY, {"listener": listener}, expires))


def _own_metrics(ready: int, restarts: int) -> bytes:
    return (
        "# HELP interlend_workers Worker processes ready\n"
        "# TYPE interlend_workers gauge\n"
        f"interlend_workers {ready}\n"
        "# HELP interlend_worker_restarts_total Worker processes started again after dying\n"
        "# TYPE interlend_worker_restarts_total counter\n"
        f"interlend_worker_restarts_total {restarts}\n"
    ).encode()
