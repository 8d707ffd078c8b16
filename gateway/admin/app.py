"""The gateway's HTTP app: the NCIP endpoint, and the admin routes (health, readiness,
metrics, a status page and a small API).

One Starlette app serves both, each on its own port (DESIGN.md "Contracts"): the NCIP
port answers ``POST /ncip`` (and ``/healthz``) only, the admin port everything else,
so the port opened to resource-sharing systems never shows the admin API.  Bodies
posted to ``/ncip`` are read up to ``gateway.ncip.max_body`` bytes (413 with an NCIP
Problem past it) within the request time-out (408 past it).

Routes:

* ``/ncip``: NCIP 2.02 messages (``gateway/ncip/responder.py``).

* ``/healthz``: 200 while the process serves (liveness).
* ``/readyz``: 200 when the listeners are up, the state store answers, at least
  one member ILS is reachable and the ledger outbox is draining; 503 with the reason
  otherwise (the outbox is not draining when its consumer's calls have failed for
  ``gateway.outbox.STALL_AFTER_S`` while loan events wait; ``gateway/ledger/outbox.py``).
* ``/metrics``: Prometheus text format.
* ``/api/members``: each member's ILS health, endpoints and bulkhead use (JSON).
* ``/api/loans?limit=…&offset=…``: the registry's loans, newest first, a page at a
  time (JSON; patrons are keyed hashes): ``{"loans": […], "returned", "limit",
  "offset", "more", "next"}``.  ``limit`` is 50 unless asked (at most 200; the answer
  says the limit applied); ``more`` says whether older loans follow, ``next`` is the
  offset of the next page (``null`` on the last page, or past the 1,000 most recent
  loans, the deepest the API lists).  Offsets count from the newest loan when each
  page is asked.
* ``/api/discover?item=…|isbn=…|title=…``: which members own and can lend it now (the
  holdings index and live lookups at the members; ``gateway/network/discovery.py``).
* ``/api/lenders?requester=…&title=…|isbn=…[&strategy=…]``: the holders ranked by a
  lender-selection strategy, each with the reasons (``gateway/network/lenders.py``).
  These two only read at the members; a value holding a control character or a SIP2
  field delimiter, or longer than ``QUERY_MAX``, is refused with 400 before any member
  is asked.
* ``/api/kiosks``: the kiosks connected to every gateway sharing the state store
  (terminal, library, location, address, gateway, since).
* ``/api/loans/unconfirmed``: checkouts held past their hold time, whose outcome at
  the owner is unknown (a gateway died in between): for the desk to check, for a week
  (``UNCONFIRMED_KEPT_S``), after which the hold expires.
* ``/api/loans/{loan_id}/proof``: the loan's ledger receipts, their anchors on chain
  and the verification result (``gateway/ledger/proof.py``): 200 once an event is
  anchored (``verified`` says whether it holds), 202 while none is, 404 for a loan
  the registry does not hold, 503 when the store or the chain cannot be read.
* ``/api/ledger``: the ledger worker's statistics (backend, member, queued events,
  batches anchored, the last batch and the last error) and, under ``outbox``, the
  outbox consumer's health (events waiting, seconds since its last read and
  acknowledgement, failures in a row, the last error, whether it is draining).
* ``/``: a status page for people.

It runs on hypercorn's trio worker inside the daemon's nursery and listens on
loopback unless configured otherwise.  Nothing it returns holds a PIN or a barcode
of a patron.

Authentication: with ``[gateway.admin] tokens`` (bearer tokens from the environment
or files, read when the port starts and never logged), every route of the admin port
but ``/healthz`` and ``/readyz`` needs ``Authorization: Bearer <token>`` with one of
them, compared in constant time; anything else is 401 with ``WWW-Authenticate:
Bearer``.  ``/metrics`` too: Prometheus sends the token from its scrape
configuration (``authorization: { credentials_file: … }``).  An admin port that
listens beyond loopback must have tokens (the configuration is refused without);
on loopback they are optional, and enforced when given.  The NCIP port is not
concerned: its peers prove who they are per message (``gateway/ncip/responder.py``).
"""

from __future__ import annotations

import contextlib
import hmac
import html
import unicodedata
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import structlog
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from adapters.ledger.chain import ChainError
from adapters.state.base import StateUnavailable
from config.errors import ConfigError, ConfigIssue
from config.loader import admin_tokens
from config.models import AdminListener, is_loopback
from gateway.circulation.context import utc_now
from gateway.network.discovery import discover
from gateway.network.lenders import rank_lenders
from gateway.network.selection import STRATEGY_NAMES
from protocols.ncip import Problem, ProblemResponse, ProblemType, write_response

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from starlette.requests import Request

    from adapters.state.base import Loan
    from config.models import NcipListener
    from gateway.app.daemon import Gateway
    from gateway.app.runtime import Runtime

__all__ = ["admin_app", "bearer_tokens", "serve_admin"]

log = structlog.get_logger("interlend.admin")

NCIP_TYPE = "application/xml; charset=utf-8"


def problem_message(detail: str) -> bytes:
    """A message-level NCIP Problem (the body could not be taken as a message)."""
    problem = Problem(ProblemType.INVALID_MESSAGE_SYNTAX, detail)
    return write_response(ProblemResponse("", (problem,)))


LOANS_PAGE = 50
"""Loans on a page of ``/api/loans`` unless ``limit`` says otherwise."""
LOANS_PAGE_MAX = 200
"""The most loans one page holds, whatever ``limit`` asks."""
LOANS_LISTED = 1000
"""How deep ``/api/loans`` pages go into the registry's history (newest first): the
store reads a page's loans and all newer ones at once, so the depth bounds one read."""


def _loans_page(params: Mapping[str, str]) -> tuple[int, int] | str:
    """The page ``/api/loans`` is asked for, as (limit, offset), or why it cannot be."""
    try:
        limit = int(params.get("limit", LOANS_PAGE))
        offset = int(params.get("offset", 0))
    except ValueError:
        return "limit and offset must be whole numbers"
    if not 0 <= offset < LOANS_LISTED:
        return (
            f"offset must be from 0 to {LOANS_LISTED - 1} "
            f"(the {LOANS_LISTED} most recent loans are listed)"
        )
    return max(1, min(limit, LOANS_PAGE_MAX)), offset


QUERY_MAX = 256
"""The longest ``item=``, ``isbn=`` or ``title=`` taken (no barcode, ISBN or title is
longer)."""


def _sip2_delimiters(runtime: Runtime) -> frozenset[str]:
    """The field delimiters of every member's SIP2 dialect (``|`` unless configured)."""
    consortium = runtime.consortium
    return frozenset(
        {"|"} | {consortium.policy(m).ils.dialect.delimiter for m in consortium.libraries}
    )


def _unsafe_query(
    runtime: Runtime, params: Mapping[str, str], names: tuple[str, ...]
) -> str | None:
    """Why a query value that may reach a member ILS is refused (``None``: none is).

    A lookup at a member is a read; a SIP2 field delimiter or a control character (a
    CR ends a SIP2 message) in a value could make it carry another field or another
    request, so such a value is refused here, before any member is asked, and so is
    one longer than any real barcode, ISBN or title.
    """
    delimiters = _sip2_delimiters(runtime)
    for name in names:
        value = params.get(name)
        if value is None:
            continue
        if len(value) > QUERY_MAX:
            return f"{name}= is longer than {QUERY_MAX} characters"
        if any(ch in delimiters or unicodedata.category(ch) == "Cc" for ch in value):
            shown = " ".join(sorted(delimiters))
            return f"{name}= must not hold control characters or a SIP2 field delimiter ({shown})"
    return None


def _loan_json(loan: Loan) -> dict[str, Any]:
    """A registry loan for the admin API (the patron as its keyed hash)."""
    return {
        "loan_id": loan.loan_id,
        "owner": loan.owner,
        "home": loan.home,
        "item": loan.item,
        "patron": loan.patron_key,
        "terminal": loan.terminal,
        "checked_out": loan.checked_out.isoformat(),
        "due": loan.due.isoformat(),
        "renewals": loan.renewals,
        "state": loan.state.value,
        "returned": loan.returned.isoformat() if loan.returned else None,
    }


def _members(gateway: Gateway) -> dict[str, Any]:
    runtime = gateway.runtime
    found: dict[str, Any] = {}
    for member, client in runtime.members.items():
        stats = client.statistics() if hasattr(client, "statistics") else {}
        healthy = bool(getattr(client, "healthy", False))
        gateway.metrics.member_up.labels(member).set(1 if healthy else 0)
        gateway.metrics.member_in_flight.labels(member).set(float(stats.get("in_flight", 0)))
        found[member] = {
            "name": runtime.name(member),
            "adapter": runtime.consortium.policy(member).ils.adapter,
            "healthy": healthy,
            "reason": getattr(client, "reason", None),
            **stats,
        }
    return found


def admin_app(gateway: Gateway) -> Starlette:
    """The ASGI app for a gateway."""

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        if not gateway.ready:
            return PlainTextResponse("not ready: listeners are not up\n", status_code=503)
        members = _members(gateway)
        if members and not any(m["healthy"] for m in members.values()):
            return PlainTextResponse("not ready: no member ILS is reachable\n", status_code=503)
        # The probe is open to all: its answers say what is wrong in stable words, and
        # the detail (hosts, ports, Redis errors) goes to the log and /api/ledger.
        try:
            await gateway.runtime.store.check()
            stalled = await _outbox_stalled(gateway)
        except StateUnavailable as exc:
            log.warning("not ready: the state store is unavailable", detail=exc.detail)
            return PlainTextResponse("not ready: the state store is unavailable\n", status_code=503)
        if stalled is not None:
            log.warning("not ready", why=stalled)
            return PlainTextResponse(
                "not ready: the ledger outbox is not draining (see /api/ledger)\n",
                status_code=503,
            )
        return PlainTextResponse("ready\n")

    async def metrics(request: Request) -> Response:
        _members(gateway)
        worker = gateway.ledger_worker
        if worker is None:
            gateway.metrics.ledger_queued.set(gateway.runtime.ledger.statistics().queued)
        else:
            gateway.metrics.ledger_observe(worker.statistics())
        return Response(gateway.metrics.render(), media_type="text/plain; version=0.0.4")

    async def members(request: Request) -> Response:
        return JSONResponse(_members(gateway))

    async def discover_route(request: Request) -> Response:
        unsafe = _unsafe_query(gateway.runtime, request.query_params, ("item", "isbn", "title"))
        if unsafe is not None:
            return JSONResponse({"error": unsafe}, status_code=400)
        query = {k: request.query_params.get(k) for k in ("item", "isbn", "title")}
        asked = {k: v.strip() for k, v in query.items() if v and v.strip()}
        if len(asked) != 1:
            return JSONResponse(
                {"error": "ask for exactly one of item=, isbn= or title="}, status_code=400
            )
        found = await discover(
            gateway.runtime,
            gateway.holdings,
            item=asked.get("item"),
            isbn=asked.get("isbn"),
            title=asked.get("title"),
        )
        return JSONResponse(found)

    async def lenders(request: Request) -> Response:
        params = request.query_params
        runtime = gateway.runtime
        unsafe = _unsafe_query(runtime, params, ("title", "isbn"))
        if unsafe is not None:
            return JSONResponse({"error": unsafe}, status_code=400)
        requester = params.get("requester", "")
        strategy = params.get("strategy") or "fair-share"
        asked = [k for k in ("title", "isbn") if params.get(k, "").strip()]
        if requester not in runtime.consortium.libraries or len(asked) != 1:
            return JSONResponse(
                {"error": "give requester=<library> and exactly one of title= or isbn="},
                status_code=400,
            )
        if strategy not in STRATEGY_NAMES:
            return JSONResponse(
                {"error": f"strategy must be one of {', '.join(STRATEGY_NAMES)}"},
                status_code=400,
            )
        ranked = await rank_lenders(
            runtime,
            gateway.holdings,
            runtime.lending_counters,
            requester=requester,
            title=params.get("title"),
            isbn=params.get("isbn"),
            strategy=strategy,
        )
        return JSONResponse(ranked)

    async def kiosks(request: Request) -> Response:
        try:
            return JSONResponse(await gateway.runtime.store.sessions())
        except StateUnavailable as exc:
            return JSONResponse({"error": exc.detail}, status_code=503)

    async def ncip(request: Request) -> Response:
        if request.method != "POST":
            return PlainTextResponse(
                "POST an NCIP message here\n", status_code=405, headers={"Allow": "POST"}
            )
        listener = gateway.runtime.settings.ncip
        limit = listener.max_body if listener is not None else 1 << 20
        client = f"{request.client.host}:{request.client.port}" if request.client else "-"
        with trio.move_on_after(gateway.runtime.settings.request_timeout_s):
            body = await _read_capped(request, limit)
            if body is None:
                answer = problem_message(f"the message is over {limit} bytes")
                return Response(answer, status_code=413, media_type=NCIP_TYPE)
            answer = await gateway.ncip.handle(body, request.headers, client)
            return Response(answer, media_type=NCIP_TYPE)
        answer = problem_message("the request took too long")
        return Response(answer, status_code=408, media_type=NCIP_TYPE)

    async def unconfirmed(request: Request) -> Response:
        try:
            held = await gateway.runtime.store.unconfirmed(now=utc_now())
        except StateUnavailable as exc:
            return JSONResponse({"error": exc.detail}, status_code=503)
        return JSONResponse(
            [
                {
                    "owner": r.owner,
                    "home": r.home,
                    "item": r.item,
                    "proxy_patron": r.proxy_patron,
                    "terminal": r.terminal,
                    "patron_key": r.patron_key,
                }
                for r in held
            ]
        )

    async def loans(request: Request) -> Response:
        asked = _loans_page(request.query_params)
        if isinstance(asked, str):
            return JSONResponse({"error": asked}, status_code=400)
        limit, offset = asked
        end = min(offset + limit, LOANS_LISTED)
        try:
            # One loan past the page tells whether another page follows.
            found = await gateway.runtime.store.recent_loans(end + 1)
        except StateUnavailable as exc:
            return JSONResponse({"error": exc.detail}, status_code=503)
        page = found[offset:end]
        more = len(found) > end
        return JSONResponse(
            {
                "loans": [_loan_json(loan) for loan in page],
                "returned": len(page),
                "limit": limit,
                "offset": offset,
                "more": more,
                "next": end if more and end < LOANS_LISTED else None,
            }
        )

    async def proof(request: Request) -> Response:
        loan_id = request.path_params["loan_id"]
        worker = gateway.ledger_worker
        if worker is None:
            return JSONResponse(
                {"error": "no ledger: gateway.ledger.backend is none"}, status_code=404
            )
        try:
            found = await worker.prove(loan_id)
        except StateUnavailable as exc:
            return JSONResponse({"error": exc.detail}, status_code=503)
        except ChainError as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
        if found.loan is None:
            return JSONResponse({"error": f"unknown loan {loan_id}"}, status_code=404)
        return JSONResponse(found.to_json(), status_code=202 if not found.checks else 200)

    async def ledger(request: Request) -> Response:
        health = gateway.outbox_health
        with contextlib.suppress(StateUnavailable):  # the figures say when they were seen
            health.saw_pending(await gateway.runtime.store.outbox_pending())
        worker = gateway.ledger_worker
        if worker is None:
            stats = gateway.runtime.ledger.statistics()
            return JSONResponse(
                {
                    "backend": "none",
                    "queued": stats.queued,
                    "recorded": stats.recorded,
                    "dropped": stats.dropped,
                    "outbox": health.statistics().to_json(),
                }
            )
        return JSONResponse(worker.statistics().to_json())

    async def status(request: Request) -> Response:
        rows = "".join(
            f"<tr><td>{html.escape(m)}</td><td>{html.escape(str(info['name']))}</td>"
            f"<td>{'up' if info['healthy'] else 'DOWN'}</td>"
            f"<td>{html.escape(str(info.get('in_flight', '')))}</td></tr>"
            for m, info in _members(gateway).items()
        )
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>interlend</title></head>"
            "<body><h1>interlend gateway</h1>"
            f"<p>Kiosk connections: {gateway.kiosks.open_connections}. "
            f"Ledger: {html.escape(_ledger_line(gateway))}.</p>"
            "<table><tr><th>member</th><th>name</th><th>ILS</th><th>in flight</th></tr>"
            f"{rows}</table>"
            "<p><a href='/api/members'>members</a> · <a href='/api/loans'>loans</a> · "
            "<a href='/api/ledger'>ledger</a> · "
            "<a href='/metrics'>metrics</a></p></body></html>"
        )
        return HTMLResponse(page)

    return Starlette(
        routes=[
            Route("/", status),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/api/members", members),
            Route("/api/loans", loans),
            Route("/api/loans/unconfirmed", unconfirmed),
            Route("/api/loans/{loan_id}/proof", proof),
            Route("/api/ledger", ledger),
            Route("/api/kiosks", kiosks),
            Route("/api/discover", discover_route),
            Route("/api/lenders", lenders),
            Route("/ncip", ncip, methods=["GET", "POST"]),
        ]
    )


async def _outbox_stalled(gateway: Gateway) -> str | None:
    """Why the ledger outbox is not draining, or ``None`` (the number of waiting events
    is asked only once the consumer has been failing long enough to matter).

    Raises:
        StateUnavailable: The outbox cannot be read.
    """
    health = gateway.outbox_health
    if not health.stalling:
        return None
    return health.not_draining(await gateway.runtime.store.outbox_pending())


def _ledger_line(gateway: Gateway) -> str:
    worker = gateway.ledger_worker
    if worker is None:
        stats = gateway.runtime.ledger.statistics()
        return f"none ({stats.queued} events in memory, {stats.recorded} handed over)"
    s = worker.statistics()
    line = (
        f"{s.backend}, member {s.member_id or '(connecting)'}: {s.queued} queued, "
        f"{s.batches_anchored} batches ({s.events_anchored} events) anchored"
    )
    if s.last_batch_seq is not None:
        line += f", last batch #{s.last_batch_seq} in {s.last_tx_hash}"
    if s.last_error:
        line += f"; last error: {s.last_error}"
    return line


NCIP_PATHS = frozenset({"/ncip", "/healthz"})
"""What the NCIP port serves; the admin port serves everything else."""


OPEN_PATHS = frozenset({"/healthz", "/readyz"})
"""What the admin port answers without a bearer token: the liveness and readiness probes."""

REALM = 'Bearer realm="interlend-admin"'


def _bearer(scope: Any) -> bytes | None:
    """The credentials of a request's ``Authorization: Bearer …`` header, if it has one."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, credentials = bytes(value).strip().partition(b" ")
            return credentials.strip() if scheme.lower() == b"bearer" else None
    return None


def _admitted(given: bytes, tokens: tuple[bytes, ...]) -> bool:
    """Whether ``given`` is one of ``tokens``; every token is compared in constant time,
    so how long it takes says neither how much of one matched nor which one did."""
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(given, token)
    return matched


def _refusal(scope: Any, tokens: tuple[bytes, ...]) -> Response | None:
    """The 401 for a request without a valid bearer token (``None``: it has one)."""
    given = _bearer(scope)
    if given is not None and _admitted(given, tokens):
        return None
    client = scope.get("client") or ("-", 0)
    log.warning(
        "admin request refused",
        path=scope.get("path", ""),
        client=f"{client[0]}:{client[1]}",
        reason="no bearer token" if given is None else "wrong bearer token",
    )
    challenge = REALM if given is None else f'{REALM}, error="invalid_token"'
    return PlainTextResponse(
        "this route needs Authorization: Bearer <token>\n",
        status_code=401,
        headers={"WWW-Authenticate": challenge},
    )


def for_role(app: Starlette, role: str, tokens: tuple[bytes, ...] = ()) -> Any:
    """The app as one port serves it: ``ncip`` (the NCIP endpoint and liveness only) or
    ``admin`` (everything but NCIP), so a port opened to resource-sharing systems never
    shows the admin API.  With ``tokens``, the admin port answers only ``OPEN_PATHS``
    without one of them as a bearer token (401 with ``WWW-Authenticate: Bearer``)."""

    async def serve(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "")
            allowed = path == "/healthz" or (path in NCIP_PATHS) == (role == "ncip")
            if not allowed:
                await PlainTextResponse("not found\n", status_code=404)(scope, receive, send)
                return
            refusal = (
                _refusal(scope, tokens)
                if role == "admin" and tokens and path not in OPEN_PATHS
                else None
            )
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await app(scope, receive, send)

    return serve


def bearer_tokens(listener: AdminListener) -> tuple[bytes, ...]:
    """The admin port's bearer tokens, read now (never logged).

    Raises:
        ConfigError: A token cannot be read or is too short, or the port listens
            beyond loopback without any (a configuration made in code, which skipped
            the check of ``AdminListener``).
    """
    tokens = admin_tokens(listener)
    if not tokens and not is_loopback(listener.host):
        raise ConfigError.of(
            [
                ConfigIssue(
                    ("gateway", "admin", "tokens"),
                    f"the admin port listens on {listener.host!r}, beyond loopback, "
                    "without a bearer token: nothing started",
                )
            ]
        )
    return tuple(token.strip().encode("utf-8", "surrogatepass") for token in tokens)


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """The body, or ``None`` once it grows past ``limit`` (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    async with aclosing(request.stream()) as stream:
        async for chunk in stream:
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
    return b"".join(chunks)


async def serve_admin(
    gateway: Gateway,
    listener: AdminListener | NcipListener,
    *,
    role: str = "admin",
    shutdown: Callable[[], Awaitable[None]] | None = None,
    grace_s: float = 10.0,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the app on one listener until cancelled, or until ``shutdown`` returns:
    then no new connection is taken and requests in flight get ``grace_s`` to finish.
    Reports its base URL once bound.

    Raises:
        ConfigError: The admin port's tokens cannot be read (``bearer_tokens``).
    """
    config = HypercornConfig()
    host = f"[{listener.host}]" if ":" in listener.host else listener.host
    config.bind = [f"{host}:{listener.port}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = grace_s

    class _Started:
        """Passes hypercorn's bound URLs on as the first one."""

        def started(self, value: list[str] | None = None) -> None:
            task_status.started(value[0] if value else f"http://{host}:{listener.port}")

    tokens = bearer_tokens(listener) if isinstance(listener, AdminListener) else ()
    app = for_role(admin_app(gateway), role, tokens)
    await serve(app, config, shutdown_trigger=shutdown, task_status=_Started())
