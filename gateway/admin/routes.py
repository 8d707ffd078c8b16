"""The admin routes: health, readiness, metrics, the status page and the API.

Routes:

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
* ``/`` and the other console pages: ``console/``.

It runs on hypercorn's trio worker inside the daemon's nursery and listens on
loopback unless configured otherwise.  Nothing it returns holds a PIN or a barcode
of a patron.

Every route reads the gateway through an ``AdminView`` (``view.py``); JSON is written
here, from the typed results the services return.  Authentication and which port
serves which route are ``auth.py``'s.
"""

from __future__ import annotations

import contextlib
import unicodedata
from typing import TYPE_CHECKING, Any

import structlog
from starlette.responses import JSONResponse, PlainTextResponse, Response

from adapters.ledger.chain import ChainError
from adapters.state.base import StateUnavailable
from gateway.network.discovery import discover
from gateway.network.lenders import rank_lenders
from gateway.network.selection import STRATEGY_NAMES
from gateway.runtime.clock import utc_now
from gateway.runtime.directory import MemberDirectory

if TYPE_CHECKING:
    from collections.abc import Mapping

    from starlette.requests import Request

    from adapters.state.base import Loan
    from gateway.admin.view import AdminView
    from gateway.runtime.rules import Rules

__all__ = ["AdminRoutes"]

log = structlog.get_logger("interlend.admin")

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


def _sip2_delimiters(rules: Rules) -> frozenset[str]:
    """The field delimiters of every member's SIP2 dialect (``|`` unless configured)."""
    consortium = rules.consortium
    return frozenset(
        {"|"} | {consortium.policy(m).ils.dialect.delimiter for m in consortium.libraries}
    )


def unsafe_query(rules: Rules, params: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    """Why a query value that may reach a member ILS is refused (``None``: none is).

    A lookup at a member is a read; a SIP2 field delimiter or a control character (a
    CR ends a SIP2 message) in a value could make it carry another field or another
    request, so such a value is refused here, before any member is asked, and so is
    one longer than any real barcode, ISBN or title.
    """
    delimiters = _sip2_delimiters(rules)
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


class AdminRoutes:
    """The admin routes' handlers, over one gateway's view (see the module docs)."""

    def __init__(self, view: AdminView) -> None:
        self._view = view

    def members_now(self) -> dict[str, Any]:
        """Each member's ILS health and figures (the metrics' gauges set on the way)."""
        view = self._view
        rules, services = view.current()
        found: dict[str, Any] = {}
        for member, handle in services.members.items():
            supervised = handle.supervised
            stats = supervised.statistics() if supervised is not None else {}
            healthy = supervised.healthy if supervised is not None else False
            view.metrics.member_up.labels(member).set(1 if healthy else 0)
            in_flight = stats.get("in_flight", 0)
            view.metrics.member_in_flight.labels(member).set(
                float(in_flight) if isinstance(in_flight, int | float) else 0.0
            )
            found[member] = {
                "name": rules.name(member),
                "adapter": rules.policy(member).ils.adapter,
                "healthy": healthy,
                **stats,
            }
        return found

    async def healthz(self, request: Request) -> Response:
        """Liveness: the process serves."""
        return PlainTextResponse("ok\n")

    async def readyz(self, request: Request) -> Response:
        """Readiness, in stable words (the detail goes to the log and ``/api/ledger``:
        the probe is open to all)."""
        view = self._view
        if not view.ready:
            return PlainTextResponse("not ready: listeners are not up\n", status_code=503)
        members = self.members_now()
        if members and not any(m["healthy"] for m in members.values()):
            return PlainTextResponse("not ready: no member ILS is reachable\n", status_code=503)
        store = view.current()[1].store
        try:
            await store.check()
            stalled = await self._outbox_stalled()
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

    async def _outbox_stalled(self) -> str | None:
        """Why the ledger outbox is not draining, or ``None`` (the number of waiting
        events is asked only once the consumer has been failing long enough to matter).

        Raises:
            StateUnavailable: The outbox cannot be read.
        """
        health = self._view.outbox_health
        if not health.stalling:
            return None
        return health.not_draining(await self._view.current()[1].store.outbox_pending())

    async def metrics(self, request: Request) -> Response:
        """Prometheus text."""
        view = self._view
        self.members_now()
        worker = view.ledger_worker
        if worker is None:
            view.metrics.ledger_queued.set(view.current()[1].ledger.statistics().queued)
        else:
            stats = worker.statistics()
            view.metrics.ledger_observe(
                queued=stats.queued,
                batches=stats.batches_anchored,
                events=stats.events_anchored,
                last_batch_seq=stats.last_batch_seq,
                up=stats.connected and stats.last_error is None,
            )
        return Response(view.metrics.render(), media_type="text/plain; version=0.0.4")

    async def members(self, request: Request) -> Response:
        """``/api/members``."""
        return JSONResponse(self.members_now())

    async def discover(self, request: Request) -> Response:
        """``/api/discover``."""
        rules, services = self._view.current()
        unsafe = unsafe_query(rules, request.query_params, ("item", "isbn", "title"))
        if unsafe is not None:
            return JSONResponse({"error": unsafe}, status_code=400)
        query = {k: request.query_params.get(k) for k in ("item", "isbn", "title")}
        asked = {k: v.strip() for k, v in query.items() if v and v.strip()}
        if len(asked) != 1:
            return JSONResponse(
                {"error": "ask for exactly one of item=, isbn= or title="}, status_code=400
            )
        found = await discover(
            MemberDirectory(rules, services),
            services.holdings,
            item=asked.get("item"),
            isbn=asked.get("isbn"),
            title=asked.get("title"),
        )
        return JSONResponse(found.to_json())

    async def lenders(self, request: Request) -> Response:
        """``/api/lenders``."""
        rules, services = self._view.current()
        params = request.query_params
        unsafe = unsafe_query(rules, params, ("title", "isbn"))
        if unsafe is not None:
            return JSONResponse({"error": unsafe}, status_code=400)
        requester = params.get("requester", "")
        strategy = params.get("strategy") or "fair-share"
        asked = [k for k in ("title", "isbn") if params.get(k, "").strip()]
        if requester not in rules.consortium.libraries or len(asked) != 1:
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
            MemberDirectory(rules, services),
            services.holdings,
            services.counters,
            requester=requester,
            title=params.get("title"),
            isbn=params.get("isbn"),
            strategy=strategy,
            loans=services.store,
        )
        return JSONResponse(ranked.to_json())

    async def kiosks(self, request: Request) -> Response:
        """``/api/kiosks``: every gateway's kiosks sharing the state store."""
        try:
            return JSONResponse(await self._view.current()[1].store.sessions())
        except StateUnavailable as exc:
            return JSONResponse({"error": exc.detail}, status_code=503)

    async def unconfirmed(self, request: Request) -> Response:
        """``/api/loans/unconfirmed``."""
        try:
            held = await self._view.current()[1].store.unconfirmed(now=utc_now())
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

    async def loans(self, request: Request) -> Response:
        """``/api/loans``: one page of the registry's loans, newest first."""
        asked = _loans_page(request.query_params)
        if isinstance(asked, str):
            return JSONResponse({"error": asked}, status_code=400)
        limit, offset = asked
        end = min(offset + limit, LOANS_LISTED)
        try:
            # One loan past the page tells whether another page follows.
            found = await self._view.current()[1].store.recent_loans(end + 1)
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

    async def proof(self, request: Request) -> Response:
        """``/api/loans/{loan_id}/proof``."""
        loan_id = request.path_params["loan_id"]
        worker = self._view.ledger_worker
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

    async def ledger(self, request: Request) -> Response:
        """``/api/ledger``."""
        view = self._view
        services = view.current()[1]
        health = view.outbox_health
        with contextlib.suppress(StateUnavailable):  # the figures say when they were seen
            health.saw_pending(await services.store.outbox_pending())
        worker = view.ledger_worker
        if worker is None:
            stats = services.ledger.statistics()
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

    def ledger_summary(self) -> str:
        """The ledger's state in one line, for people."""
        worker = self._view.ledger_worker
        if worker is None:
            stats = self._view.current()[1].ledger.statistics()
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
