"""A member ILS that speaks NCIP 2.02 over HTTP: endpoints, health, bulkhead, dialect.

``NcipMemberIls`` implements ``MemberIls`` and ``Balanced`` for one member, plus the two
NCIP-only calls of the reciprocal flow at a home library (``accept_item``,
``delete_item``):

* **Transport.** One NCIP message per HTTP ``POST`` (``application/xml;
  charset=utf-8``) through a pooled ``httpx.AsyncClient`` (it runs on trio through
  anyio).  ``adapters.ils.balancing``'s ``EndpointBalancer`` picks one of the member's
  endpoints per request (least outstanding requests weighted by a latency average) and
  keeps a circuit breaker per endpoint, told how each request ended; requests go only
  to endpoints whose breaker is closed.  An endpoint that cannot be connected to is a
  failure and the balancer is asked for another closed one not tried yet (each at most
  once per request, within its budget); while no breaker is closed requests fail at
  once.  Once a request may have reached an ILS, only read-only services (lookups) are
  sent again elsewhere; a checkout is never sent twice.
* **Dialect.** ``ils.ncip`` gives the ``InitiationHeader`` (FromAgencyId, ToAgencyId,
  ApplicationProfileType, FromAgencyAuthentication), the transport authentication
  (an API key header or a bearer token, the secret being ``ils.password``) and the
  output ``Style`` (``ns1:`` qualified by default; prefix-free Koha style; date-only).
  Answers are read leniently, whatever their namespace style.
* **Health.** ``run()`` sends ``LookupAgency`` to each endpoint whose breaker is
  closed every ``keepalive_s`` (any NCIP answer, a Problem included, means the endpoint
  is up) and reports the result to the balancer as a keep-alive probe; an endpoint that
  fails is probed again with exponential back-off, and ``healthy`` is false while every
  endpoint is down.  When an endpoint's breaker turns half-open (its cool-down is over,
  or a probe found it answering), ``run()`` sends it the *trial probe* (a
  ``LookupAgency`` too), whose answer closes the breaker; a patron's request is never
  the trial.  Without ``run()`` an opened breaker never closes again.
* **TLS.** ``https://`` endpoints are verified against ``ils.tls.ca`` when it is set
  (else a trust store), for ``ils.tls.server_name`` when it is set (else the URL's
  host), with ``ils.tls.cert`` presented where set; a failed handshake is a
  connection that failed (``IlsUnavailable``, its reason in the detail).
* **Bulkhead and time.** At most ``ils.concurrency`` requests are in flight; every call
  takes the caller's ``timeout`` for the whole exchange (waiting for a slot,
  connecting, the answer); connecting alone is also bounded by ``connect_timeout_s``.
* **Errors** are mapped here, at the edge: a connection that fails is
  ``IlsUnavailable`` (as are HTTP 502/503/504 and ``Temporary Processing Failure``);
  the caller's budget running out is ``IlsTimeout``; HTTP 401/403 and the agency
  authentication Problems are ``IlsLoginRefused``; any other HTTP status from 400 up, a
  body that is not NCIP, and the messaging Problems (the ILS could not read us) are
  ``IlsProtocolError``, whose detail keeps a short, redacted excerpt of the body.  A
  service Problem (unknown user, item out to someone else…) is an outcome with ``ok``
  false and the Problem's detail as the screen message.  A request with a value XML
  cannot carry (a control character) is ``IlsRequestInvalid``, found before a slot or an
  endpoint is taken: the caller's fault, never counted against the ILS.
* **Logs.** Each exchange is logged at debug level with its raw request (``xml``) and
  answer (``body``), after the content of every ``AuthenticationInputData`` (PINs,
  barcodes) and ``FromAgencyAuthentication`` has been masked.  Headers carrying
  secrets are never logged.

NCIP has no place for the return location of a checkin; ``checkin`` ignores it.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Final

import httpx
import structlog
import trio

from adapters.backoff import Backoff
from adapters.errors import (
    IlsError,
    IlsLoginRefused,
    IlsProtocolError,
    IlsRequestInvalid,
    IlsTimeout,
    IlsUnavailable,
)
from adapters.ils.balancing import BreakerSettings, BreakerState, EndpointBalancer, Outcome, Ticket
from adapters.tls import TlsFileError, client_context, failure_reason
from protocols.ncip import (
    AcceptItem,
    CancelRequestItem,
    CheckInItem,
    CheckOutItem,
    DeleteItem,
    Header,
    LookupAgency,
    LookupItem,
    LookupUser,
    NcipSyntaxError,
    Patron,
    RenewItem,
    Reply,
    RequestItem,
    Style,
    parse_datetime,
    read_reply,
    write_request,
)
from protocols.ncip.xml import MAX_BODY
from protocols.sip2 import CirculationStatus, PatronStatus

from .base import (
    CheckinOutcome,
    CirculationOutcome,
    HoldOutcome,
    ItemOutcome,
    ItemRecord,
    PatronRecord,
)

if TYPE_CHECKING:
    from config.resolved import ResolvedIls
    from protocols.ncip import Request
    from protocols.ncip.xml import Node

__all__ = ["ItemOutcome", "NcipMemberIls", "patron_record", "redact_ncip"]

log = structlog.get_logger("interlend.ils")

CONTENT_TYPE: Final = "application/xml; charset=utf-8"
USER_ELEMENTS: Final = ("Name Information", "User Privilege", "Block Or Trap")
EXCERPT: Final = 200
"""Characters of an unreadable body kept in an error's detail."""

# --- Problem types, matched case-insensitively ---------------------------------------------

_LOGIN_REFUSED = frozenset(
    {
        "agency authentication failed",
        "system authentication failed",
        "unauthorized service for agency",
        "unauthorized service for system",
        "unauthorized combination of element values for agency",
        "unauthorized combination of element values for system",
        "unknown agency",
        "unknown system",
    }
)
_UNAVAILABLE = frozenset({"temporary processing failure"})
_NOT_UNDERSTOOD = frozenset(
    {
        "invalid message syntax error",
        "protocol error",
        "unknown element",
        "unknown scheme",
        "unknown service",
        "unknown value from known scheme",
        "unsupported service",
        "needed data missing",
        "invalid date",
        "invalid amount",
    }
)
_UNKNOWN_USER = ("Unknown User",)
_WRONG_PIN = ("User Authentication Failed",)
_USER_BLOCKED = ("User Blocked", "UserBlocked", "User Access Denied")
_UNKNOWN_ITEM = ("Unknown Item",)

# --- LookupUser privileges (README §5.13: every ILS says it differently) -------------------

_PROFILE_TYPES = frozenset(
    {
        "profile",
        "user profile",
        "patron type",
        "patrontype",
        "patron group",
        "patron_group",
        "user group",
        "borrower type",
        "borrower category",
        "category",
    }
)
_STATUS_TYPES = frozenset({"status", "user status", "patron status"})
_AGENCY_TYPES = frozenset({"library", "agency", "home library", "branch"})
_ACTIVE = frozenset({"active", "ok", "valid", "current", "y", "yes"})
_BLOCKED = frozenset({"blocked", "barred", "suspended", "inactive", "denied", "delinquent"})
_EXPIRED = frozenset({"expired"})

_BLOCKED_STATUS = PatronStatus.CHARGE_PRIVILEGES_DENIED

# --- LookupItem circulation status → SIP2's numbers ---------------------------------------

_CIRCULATION: Final[dict[str, CirculationStatus]] = {
    "available on shelf": CirculationStatus.AVAILABLE,
    "available": CirculationStatus.AVAILABLE,
    "on loan": CirculationStatus.CHARGED,
    "on order": CirculationStatus.ON_ORDER,
    "in process": CirculationStatus.IN_PROCESS,
    "being processed": CirculationStatus.IN_PROCESS,
    "recalled": CirculationStatus.RECALLED,
    "available for pickup": CirculationStatus.WAITING_ON_HOLD_SHELF,
    "waiting to be reshelved": CirculationStatus.WAITING_TO_BE_RESHELVED,
    "in transit between library locations": CirculationStatus.IN_TRANSIT,
    "in transit": CirculationStatus.IN_TRANSIT,
    "pending transfer": CirculationStatus.IN_TRANSIT,
    "claimed returned": CirculationStatus.CLAIMED_RETURNED,
    "lost": CirculationStatus.LOST,
    "missing": CirculationStatus.MISSING,
    "circulation status undefined": CirculationStatus.OTHER,
    "not available": CirculationStatus.OTHER,
}
_MEDIA: Final[dict[str, int]] = {
    "book": 1,
    "magazine": 2,
    "audio tape": 4,
    "video tape": 5,
    "compact disc": 6,
    "cd-rom": 6,
    "diskette": 7,
}

# --- redaction --------------------------------------------------------------------------

_SECRET_ELEMENTS = re.compile(
    r"(<(?:[\w.-]+:)?(AuthenticationInputData|FromAgencyAuthentication)\b[^>]*>)"
    r"(.*?)"
    r"(</(?:[\w.-]+:)?\2\s*>)",
    re.DOTALL,
)


def redact_ncip(body: bytes | str) -> str:
    """NCIP XML as text, with the content of every secret-bearing element masked.

    ``AuthenticationInputData`` (PINs, passwords, barcodes) and
    ``FromAgencyAuthentication`` become ``***``; everything else is kept.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return _SECRET_ELEMENTS.sub(lambda m: f"{m.group(1)}***{m.group(4)}", text)


def _excerpt(body: bytes) -> str:
    text = " ".join(redact_ncip(body[: EXCERPT * 4]).split())
    if not text:
        return "(empty)"
    return text[:EXCERPT] + ("…" if len(text) > EXCERPT else "")


# --- outcomes ---------------------------------------------------------------------------


def _messages(reply: Reply) -> tuple[str, ...]:
    return tuple(
        f"{p.type}: {p.detail}" if p.detail and p.detail != p.type else p.type
        for p in reply.problems
    )


def _due(text: str | None) -> datetime | None:
    """A due date as an ILS writes it; a bare date means the end of that day."""
    moment = parse_datetime(text)
    if moment is not None and text is not None and len(text.strip()) == 10:
        moment = moment.replace(hour=23, minute=59, second=59)
    return moment


# --- endpoints --------------------------------------------------------------------------


def _url(endpoint: str) -> str:
    return endpoint if "://" in endpoint else f"http://{endpoint}"


@dataclass
class _EndpointState:
    """An endpoint's figures for the logs and the admin API.

    ``failures`` counts failed exchanges and probes since the last answer (time-outs
    are not failures here: a slow ILS is not a dead one); the balancer's breaker, not
    this count, decides where requests go.
    """

    url: str
    failures: int = 0
    last_error: str = ""
    requests: int = 0


@dataclass
class _Exchange:
    """One call's progress: for the time-out's detail, and whether the request may have
    reached the ILS (it was being posted when the time ran out)."""

    service: str
    stage: str = "waiting for a free slot"
    sent: bool = False


class _NotSent(Exception):
    """The request never reached the endpoint (it could not be connected to)."""


class _Lost(Exception):
    """The exchange broke after the request may have reached the ILS."""


@dataclass
class _Answer:
    status: int
    body: bytes
    elapsed_ms: float = 0.0


class NcipMemberIls:
    """The NCIP client of one member library (see the module documentation).

    Args:
        member: The member's id.
        settings: The member's resolved ILS settings (``ils.ncip`` for the dialect).
        secret: ``ils.password``: the API key, bearer token or agency password that
            ``ils.ncip.auth`` names.
        keepalive_s: Seconds between health checks of an endpoint that is up.
        backoff_base_s: How long an endpoint's breaker stays open before its trial
            probe (its cool-down; each failed trial doubles it), and the first delay
            before probing a failed endpoint again (doubling with each failure).
        backoff_max_s: The longest cool-down and the longest delay between probes.
        breaker: The breakers' settings in full (instead of ``backoff_base_s`` and
            ``backoff_max_s`` with the default failure threshold).
        transport: An httpx transport to use instead of the network (tests).
    """

    def __init__(
        self,
        member: str,
        settings: ResolvedIls,
        secret: str | None,
        *,
        keepalive_s: float = 30.0,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        breaker: BreakerSettings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.member = member
        self.settings = settings
        ncip = settings.ncip
        auth = ncip.auth
        self.style = Style(prefix=None if ncip.prefix_free else "ns1", date_only=ncip.date_only)
        self.to_agency = ncip.to_agency or settings.institution_id or member
        self.header = Header(
            from_agency=ncip.from_agency,
            to_agency=self.to_agency,
            from_agency_authentication=secret if auth == "agency" else None,
            application_profile=ncip.application_profile,
        )
        self._headers = {"Content-Type": CONTENT_TYPE, "Accept": "application/xml, text/xml"}
        if auth != "none" and not secret:
            log.warning(
                "NCIP authentication is configured without a secret (ils.password)",
                member=member,
                auth=auth,
            )
        elif auth == "api-key" and secret:
            self._headers[ncip.api_key_header] = secret
        elif auth == "bearer" and secret:
            self._headers["Authorization"] = f"Bearer {secret}"
        self.keepalive_s = keepalive_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        # A base above the maximum waits the maximum every time.
        self._probe_backoff = Backoff(min(backoff_base_s, backoff_max_s), backoff_max_s)
        # One state per distinct endpoint (the balancer needs unique names).
        urls = dict.fromkeys(_url(e) for e in settings.endpoints)
        self._endpoints = [_EndpointState(url) for url in urls]
        self._by_url = {s.url: s for s in self._endpoints}
        self._breaker_changed = trio.Event()
        self._balancer = EndpointBalancer(
            list(urls),
            clock=trio.current_time,
            breaker=breaker
            or BreakerSettings(
                cool_down_s=backoff_base_s, max_cool_down_s=max(backoff_base_s, backoff_max_s)
            ),
            on_change=self._wake_trials,
        )
        self._limiter = trio.CapacityLimiter(settings.concurrency)
        self._transport = transport
        server_name = settings.tls.server_name
        # The name an https endpoint's certificate must carry, sent as SNI.
        self._tls_name = {"sni_hostname": server_name} if server_name else {}
        self._client: httpx.AsyncClient | None = None
        self._calls: dict[str, int] = {}
        self._closed = False

    # --- health ---------------------------------------------------------------------------

    def _healthy(self, state: _EndpointState, breaker: BreakerState) -> bool:
        return state.failures == 0 and breaker is not BreakerState.OPEN

    @property
    def healthy(self) -> bool:
        """At least one endpoint is believed to be up (no failure since its last
        success, and its breaker not open)."""
        states = {f.endpoint: f.state for f in self._balancer.statistics()}
        return any(self._healthy(s, states[s.url]) for s in self._endpoints)

    @property
    def balancer(self) -> EndpointBalancer:
        """The endpoints' balancer and breakers (``Balanced``: the gateways share their state)."""
        return self._balancer

    def statistics(self) -> dict[str, object]:
        """Health of each endpoint, use of the bulkhead and calls per service.

        Per endpoint: ``healthy``, ``requests`` sent, ``failures`` (since the last
        success), ``retry_in_s`` (until its trial probe is due), ``last_error``,
        and the balancer's figures: breaker ``state``, ``outstanding`` requests,
        ``latency_s`` (its average) with the ``latency_samples`` behind it.
        """
        figures = {f.endpoint: f for f in self._balancer.statistics()}
        endpoints: list[dict[str, object]] = []
        for s in self._endpoints:
            f = figures[s.url]
            endpoints.append(
                {
                    "endpoint": s.url,
                    "healthy": self._healthy(s, f.state),
                    "requests": s.requests,
                    "failures": s.failures,
                    "retry_in_s": round(f.retry_in_s, 1),
                    "last_error": s.last_error,
                    "state": f.state.value,
                    "outstanding": f.outstanding,
                    "latency_s": round(f.latency_s, 4),
                    "latency_samples": f.samples,
                }
            )
        return {
            "in_flight": self._limiter.borrowed_tokens,
            "concurrency": self._limiter.total_tokens,
            "calls": dict(self._calls),
            "endpoints": endpoints,
        }

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Check every endpoint now, then each one when it is due, and send each
        half-open endpoint its trial probe (forever).

        An endpoint that answers is checked again after ``keepalive_s``; one that fails,
        after a back-off that doubles from ``backoff_base_s`` up to ``backoff_max_s``.
        Endpoints whose breaker is not closed are left to their trial probe.
        """
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._send_trials)
            task_status.started()
            await self._keep_alive()

    async def _keep_alive(self) -> None:
        due = dict.fromkeys(range(len(self._endpoints)), trio.current_time())
        while not self._closed:
            now = trio.current_time()
            closed = {
                f.endpoint for f in self._balancer.statistics() if f.state is BreakerState.CLOSED
            }
            async with trio.open_nursery() as nursery:
                for index, state in enumerate(self._endpoints):
                    if due[index] <= now and state.url in closed:
                        nursery.start_soon(self._probe, state)
            checked = now
            now = trio.current_time()
            for index, state in enumerate(self._endpoints):
                if due[index] <= checked:
                    due[index] = now + self._next_probe_in(state)
            await trio.sleep_until(min(due.values(), default=now + self.keepalive_s))

    def _next_probe_in(self, state: _EndpointState) -> float:
        if not state.failures:
            return self.keepalive_s
        return self._probe_backoff.delay_for(state.failures - 1)

    async def _lookup_agency(self, state: _EndpointState) -> tuple[Outcome, str]:
        """One ``LookupAgency`` to ``state``: how it ended, and the error if it failed."""
        body = write_request(LookupAgency(self.header, self.to_agency), self.style)
        limit = self.settings.connect_timeout_s + self.settings.timeout_s
        try:
            with trio.fail_after(limit):
                answer = await self._post(state, body)
            # Any NCIP answer, a Problem included, means the endpoint is up.
            self._read(answer, "LookupAgency", state)
        except (_NotSent, _Lost) as exc:
            return Outcome.FAILURE, str(exc)
        except IlsError as exc:
            return Outcome.FAILURE, exc.detail
        except trio.TooSlowError:
            return Outcome.TIMEOUT, f"no answer to LookupAgency within {limit:.1f}s"
        return Outcome.SUCCESS, ""

    async def _probe(self, state: _EndpointState) -> None:
        """A keep-alive probe of ``state``."""
        outcome, error = await self._lookup_agency(state)
        self._balancer.record_probe(state.url, outcome is Outcome.SUCCESS)
        if outcome is Outcome.SUCCESS:
            self._succeeded(state)
        else:
            self._failed(state, error)

    def _wake_trials(self) -> None:
        """A breaker changed state: ``_send_trials`` looks again (the balancer calls it)."""
        self._breaker_changed.set()

    async def _send_trials(self) -> None:
        """Send the trial probe of each endpoint whose breaker turns half-open."""
        async with trio.open_nursery() as nursery:
            while not self._closed:
                changed = self._breaker_changed = trio.Event()
                for ticket in self._balancer.take_trials():
                    nursery.start_soon(self._trial, ticket)
                with trio.move_on_after(self._balancer.next_trial_in()):
                    await changed.wait()

    async def _trial(self, ticket: Ticket) -> None:
        """The trial probe of a half-open endpoint: an answer closes the breaker; a
        failure or a time-out opens it again for a longer cool-down."""
        state = self._by_url[ticket.endpoint]
        outcome = Outcome.CANCELLED
        try:
            outcome, error = await self._lookup_agency(state)
        finally:
            self._balancer.release(ticket, outcome)
        if outcome is Outcome.SUCCESS:
            self._succeeded(state)
        else:
            self._failed(state, error)  # logged with the breaker's new state

    def _failed(self, state: _EndpointState, error: str) -> None:
        state.failures += 1
        state.last_error = error
        figures = next(f for f in self._balancer.statistics() if f.endpoint == state.url)
        log.warning(
            "member ILS endpoint failed",
            member=self.member,
            endpoint=state.url,
            error=error,
            breaker=figures.state.value,
            retry_in_s=round(figures.retry_in_s, 2),
        )

    def _succeeded(self, state: _EndpointState) -> None:
        if state.failures:
            log.info("member ILS endpoint is back", member=self.member, endpoint=state.url)
        state.failures = 0
        state.last_error = ""

    def _all_down(self) -> IlsUnavailable:
        if not self._endpoints:
            return IlsUnavailable(self.member, "no NCIP endpoint is configured")
        retry_in = self._balancer.retry_in()
        return IlsUnavailable(
            self.member, f"every endpoint is down (next retry in {retry_in:.1f}s)"
        )

    async def aclose(self) -> None:
        """Close the HTTP connections; the client cannot be used afterwards."""
        self._closed = True
        self._breaker_changed.set()  # ``run()``'s trials end
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    # --- one exchange ---------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._closed:
            raise IlsUnavailable(self.member, "the NCIP client is closed")
        if self._client is None:
            # Made on first use: building one loads the TLS trust store.
            concurrency = self._limiter.total_tokens
            self._client = httpx.AsyncClient(
                transport=self._transport,
                verify=self._verify(),
                timeout=httpx.Timeout(None, connect=self.settings.connect_timeout_s),
                limits=httpx.Limits(
                    max_connections=None,
                    max_keepalive_connections=max(int(concurrency), self.settings.pool_size),
                    keepalive_expiry=4.0,
                ),
                follow_redirects=False,
            )
        return self._client

    def _verify(self) -> ssl.SSLContext | bool:
        """How ``https://`` endpoints are verified (against ``ils.tls.ca`` when set,
        else the system's trust store; httpx's own when ``ils.tls`` names no file), and
        the client certificate presented (``ils.tls.cert``).

        Raises:
            IlsUnavailable: A file of ``ils.tls`` cannot be used (``check-config`` says so
                before start; the file may have changed since).
        """
        tls = self.settings.tls
        if tls.ca is None and tls.cert is None and tls.key is None:
            return True
        try:
            return client_context(tls.ca, tls.cert, tls.key)
        except TlsFileError as exc:
            raise IlsUnavailable(self.member, f"ils.tls.{exc.setting}: {exc.message}") from None

    async def _post(self, state: _EndpointState, body: bytes) -> _Answer:
        client = self._http()
        started = trio.current_time()
        state.requests += 1
        try:
            request = client.build_request(
                "POST", state.url, content=body, headers=self._headers, extensions=self._tls_name
            )
            request.stream = _Body(body)
            response = await client.send(request, stream=True)
            try:
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_BODY:
                        raise IlsProtocolError(
                            self.member, f"the answer is larger than {MAX_BODY} bytes"
                        )
                status = response.status_code
            finally:
                await response.aclose()
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol) as exc:
            raise _NotSent(f"cannot connect to {state.url}: {_reason(exc)}") from None
        except httpx.InvalidURL as exc:
            raise _NotSent(f"{state.url} is not a usable URL: {exc}") from None
        except httpx.TransportError as exc:
            raise _Lost(f"the exchange with {state.url} broke: {_reason(exc)}") from None
        return _Answer(status, bytes(data), (trio.current_time() - started) * 1000)

    async def _call(self, request: Request, *, timeout: float, idempotent: bool = False) -> Reply:
        service = type(request).__name__
        self._calls[service] = self._calls.get(service, 0) + 1
        exchange = _Exchange(service)
        body = self._write(request, service)
        limiter = self._limiter
        with trio.move_on_after(timeout) as budget:
            async with limiter:
                return await self._send(exchange, body, idempotent, budget)
        raise IlsTimeout(
            self.member,
            f"no answer to {service} within {timeout:.1f}s ({exchange.stage})",
            reached=exchange.sent,
        )

    def _write(self, request: Request, service: str) -> bytes:
        """The request's XML, written before any slot or endpoint is taken.

        Raises:
            IlsRequestInvalid: A value XML cannot carry (a control character, a lone
                surrogate): the caller's fault, which says nothing about the ILS.
        """
        try:
            return write_request(request, self.style)
        except ValueError as exc:  # lxml's refusal, and UnicodeEncodeError
            raise IlsRequestInvalid(self.member, f"{service} cannot be written: {exc}") from None

    async def _send(
        self, exchange: _Exchange, body: bytes, idempotent: bool, budget: trio.CancelScope
    ) -> Reply:
        self._http()  # made before a ticket's clock starts: it is not the ILS's latency
        error: IlsError | None = None
        tried: set[str] = set()
        while True:
            ticket = self._balancer.acquire(exclude=tried)
            if ticket is None:
                raise error if error is not None else self._all_down()
            tried.add(ticket.endpoint)
            state = self._by_url[ticket.endpoint]
            outcome = Outcome.CANCELLED
            failure: str | None = None
            try:
                exchange.stage = f"connecting to {state.url}"
                exchange.sent = True  # from here an answer may be lost after the ILS acted
                try:
                    answer = await self._post(state, body)
                except _NotSent as exc:
                    exchange.sent = False
                    outcome, failure = Outcome.FAILURE, str(exc)
                    error = IlsUnavailable(self.member, failure)
                    continue
                except _Lost as exc:
                    outcome, failure = Outcome.FAILURE, str(exc)
                    error = IlsUnavailable(self.member, failure, reached=True)
                    if idempotent:
                        continue
                    raise error from None
                exchange.stage = f"reading the answer of {state.url}"
                self._log(exchange.service, state, body, answer)
                if answer.status in (502, 503, 504):
                    failure = f"{state.url} answered HTTP {answer.status}: {_excerpt(answer.body)}"
                    outcome = Outcome.FAILURE
                    error = IlsUnavailable(self.member, failure)
                    if idempotent:
                        continue
                    raise error
                self._succeeded(state)
                try:
                    reply = self._read(answer, exchange.service, state)
                    self._raise_general(reply, exchange.service)
                except IlsError:
                    # An answer that is no NCIP reply, or the ILS's own failure: the
                    # endpoint is at fault, though it is up.
                    outcome = Outcome.FAILURE
                    raise
                outcome = Outcome.SUCCESS
                return reply
            except trio.Cancelled:
                # The caller's budget ran out (a time-out), or the caller went away.
                outcome = Outcome.TIMEOUT if budget.cancel_called else Outcome.CANCELLED
                raise
            finally:
                self._balancer.release(ticket, outcome)
                if failure is not None:
                    self._failed(state, failure)  # logged with the breaker's new state

    def _log(self, service: str, state: _EndpointState, body: bytes, answer: _Answer) -> None:
        log.debug(
            "NCIP exchange",
            member=self.member,
            endpoint=state.url,
            service=service,
            status=answer.status,
            latency_ms=round(answer.elapsed_ms, 1),
            xml=redact_ncip(body),
            body=redact_ncip(answer.body),
        )

    def _read(self, answer: _Answer, service: str, state: _EndpointState) -> Reply:
        """The NCIP reply in an HTTP answer (HTTP failures and non-NCIP bodies raised)."""
        status, body = answer.status, answer.body
        if status in (401, 403):
            raise IlsLoginRefused(
                self.member, f"{state.url} refused the gateway (HTTP {status}): {_excerpt(body)}"
            )
        if status >= 300:
            raise IlsProtocolError(
                self.member, f"{state.url} answered HTTP {status}: {_excerpt(body)}"
            )
        try:
            reply = read_reply(body)
        except NcipSyntaxError as exc:
            raise IlsProtocolError(
                self.member,
                f"{service} was answered with something not NCIP ({exc}): {_excerpt(body)}",
            ) from None
        return reply

    def _raise_general(self, reply: Reply, service: str) -> None:
        """Problems that are not about the patron or the item: the gateway's or the ILS's."""
        if reply.service and reply.service != service:
            raise IlsProtocolError(self.member, f"{service} was answered with {reply.service}")
        for problem in reply.problems:
            kind = problem.type.strip().lower()
            what = f"{service}: {problem.type}" + (f" ({problem.detail})" if problem.detail else "")
            if kind in _LOGIN_REFUSED:
                raise IlsLoginRefused(self.member, what)
            if kind in _UNAVAILABLE:
                raise IlsUnavailable(self.member, what)
            if kind in _NOT_UNDERSTOOD or not reply.service:
                raise IlsProtocolError(self.member, what)

    def _patron(self, patron: str, pin: str | None = None) -> Patron:
        return Patron(patron, self.to_agency, pin)

    # --- the neutral operations -----------------------------------------------------------

    async def patron_status(self, patron: str, pin: str | None, *, timeout: float) -> PatronRecord:
        """LookupUser (with the PIN as ``AuthenticationInput`` when one is given)."""
        reply = await self._call(
            LookupUser(self.header, self._patron(patron, pin), USER_ELEMENTS),
            timeout=timeout,
            idempotent=True,
        )
        return patron_record(reply, pin_checked=pin is not None)

    async def checkout(
        self, patron: str, item: str, *, due: datetime | None, timeout: float
    ) -> CirculationOutcome:
        """CheckOutItem of ``item`` to the account ``patron`` (DesiredDateDue when given)."""
        reply = await self._call(
            CheckOutItem(self.header, self._patron(patron), item, desired_due=due),
            timeout=timeout,
        )
        return _circulation(reply)

    async def renew(
        self, patron: str, item: str, *, due: datetime | None = None, timeout: float
    ) -> CirculationOutcome:
        """RenewItem of ``item`` for ``patron`` (DesiredDateDue when given)."""
        reply = await self._call(
            RenewItem(self.header, self._patron(patron), item, desired_due=due), timeout=timeout
        )
        if reply.ok and reply.payload.child("Pending") is not None:
            return CirculationOutcome(ok=False, screen_messages=("The renewal is pending",))
        outcome = _circulation(reply)
        return (
            outcome
            if not outcome.ok
            else CirculationOutcome(
                ok=True,
                renewal=True,
                title=outcome.title,
                due_text=outcome.due_text,
                due=outcome.due,
            )
        )

    async def checkin(self, item: str, location: str, *, timeout: float) -> CheckinOutcome:
        """CheckInItem; the "already checked in" variants are a success."""
        reply = await self._call(CheckInItem(self.header, item), timeout=timeout)
        if reply.already_checked_in:
            return CheckinOutcome(ok=True, screen_messages=("Item was not checked out",))
        if not reply.ok:
            return CheckinOutcome(ok=False, screen_messages=_messages(reply))
        payload = reply.payload
        fields = payload.child("ItemOptionalFields")
        routing = payload.child("RoutingInformation")
        instructions = tuple(routing.values("RoutingInstructions")) if routing else ()
        permanent, _ = _locations(fields)
        return CheckinOutcome(
            ok=True,
            permanent_location=permanent or "",
            title=fields.value("BibliographicDescription", "Title") if fields else None,
            previous_patron=payload.value("UserId", "UserIdentifierValue"),
            sort_bin=routing.value("Destination", "BinNumber") if routing else None,
            alert=routing is not None,
            screen_messages=instructions,
        )

    async def item_information(self, item: str, *, timeout: float) -> ItemRecord:
        """LookupItem: title, circulation status (as SIP2's number), locations."""
        reply = await self._call(LookupItem(self.header, item), timeout=timeout, idempotent=True)
        if not reply.ok:
            return ItemRecord(found=False)
        fields = reply.payload.child("ItemOptionalFields")
        if fields is None:
            return ItemRecord(found=True)
        status_text = (fields.value("CirculationStatus") or "").strip().lower()
        status = _CIRCULATION.get(status_text)
        medium = (fields.value("BibliographicDescription", "MediumType") or "").strip().lower()
        media = _MEDIA.get(medium)
        permanent, current = _locations(fields)
        return ItemRecord(
            found=True,
            title=fields.value("BibliographicDescription", "Title") or "",
            media_type=f"{media:03d}" if media is not None else None,
            current_location=current,
            permanent_location=permanent,
            circulation_status=int(status) if status is not None else None,
            due=_due(reply.payload.value("ItemOptionalFields", "DateDue")),
        )

    async def lookup_agency(self, *, timeout: float) -> tuple[str, str | None]:
        """LookupAgency of the agency the gateway addresses (``ToAgencyId``): the id
        and the name the ILS answers with (onboarding checks, ``probe-ils``).

        Raises:
            IlsError: No answer, or a Problem (an unknown agency, a refusal).
        """
        reply = await self._call(
            LookupAgency(self.header, self.to_agency), timeout=timeout, idempotent=True
        )
        if not reply.ok:
            raise IlsProtocolError(
                self.member, "LookupAgency: " + "; ".join(_messages(reply) or ("a Problem",))
            )
        agency = reply.payload.value("AgencyId") or self.to_agency
        return agency.strip(), reply.payload.value(
            "OrganizationNameInformation", "OrganizationName"
        )

    # --- holds -----------------------------------------------------------------------------

    async def place_hold(
        self,
        patron: str,
        *,
        item: str | None = None,
        title: str | None = None,
        pickup_location: str | None = None,
        timeout: float,
    ) -> HoldOutcome:
        """RequestItem: a hold for ``patron`` on ``item`` (or on ``title``, by
        bibliographic id, when no item is given)."""
        request = RequestItem(
            self.header,
            self._patron(patron),
            items=(item,) if item else (),
            bibliographic_ids=(title,) if title and not item else (),
            scope_type="Item" if item else "Bibliographic Item",
            pickup_location=pickup_location,
        )
        reply = await self._call(request, timeout=timeout)
        if not reply.ok:
            return HoldOutcome(ok=False, item=item, title=title, screen_messages=_messages(reply))
        return HoldOutcome(
            ok=True,
            item=reply.payload.value("ItemId", "ItemIdentifierValue") or item,
            title=title,
            request_id=reply.payload.value("RequestId", "RequestIdentifierValue"),
        )

    async def cancel_hold(
        self, patron: str, *, item: str | None = None, timeout: float
    ) -> HoldOutcome:
        """CancelRequestItem of ``patron``'s hold on ``item``."""
        reply = await self._call(
            CancelRequestItem(self.header, self._patron(patron), item=item), timeout=timeout
        )
        if not reply.ok:
            return HoldOutcome(ok=False, item=item, screen_messages=_messages(reply))
        return HoldOutcome(ok=True, item=item)

    # --- NCIP-only: the home library's temporary item ------------------------------------

    async def accept_item(
        self,
        request_id: str,
        patron: str,
        item: str,
        *,
        title: str | None = None,
        due: datetime | None = None,
        pickup_location: str | None = None,
        action: str = "Hold For Pickup",
        timeout: float,
    ) -> ItemOutcome:
        """AcceptItem: a temporary item for ``patron``, so the loan shows at home.

        Args:
            request_id: The consortium's id of the loan (RequestId).
            patron: The patron at this (home) library.
            item: The temporary item's id (the owner's barcode, usually).
            title: The title to show in the patron's account.
            due: When the item must go back (DateForReturn).
            pickup_location: Where the patron collects it.
            action: RequestedActionType: ``Hold For Pickup`` (the default) or
                ``Circulate`` (charged to the patron at once), or their ``… And
                Notify`` forms.
            timeout: The caller's time budget.
        """
        reply = await self._call(
            AcceptItem(
                self.header,
                request_id,
                action,
                patron=self._patron(patron),
                item=item,
                title=title,
                date_for_return=due,
                pickup_location=pickup_location,
            ),
            timeout=timeout,
        )
        if not reply.ok:
            return ItemOutcome(ok=False, request_id=request_id, screen_messages=_messages(reply))
        return ItemOutcome(
            ok=True,
            item=reply.payload.value("ItemId", "ItemIdentifierValue") or item,
            request_id=reply.payload.value("RequestId", "RequestIdentifierValue") or request_id,
        )

    async def delete_item(self, item: str, *, timeout: float) -> ItemOutcome:
        """DeleteItem of a temporary item; one already gone (Unknown Item) is a success."""
        reply = await self._call(DeleteItem(self.header, item), timeout=timeout)
        if reply.ok:
            return ItemOutcome(ok=True, item=item)
        if reply.has_problem(*_UNKNOWN_ITEM):
            return ItemOutcome(ok=True, item=item, screen_messages=("Item was not there",))
        return ItemOutcome(ok=False, item=item, screen_messages=_messages(reply))


class _Body(httpx.AsyncByteStream):
    """A request body handed to httpx whole, through a plain iterator object.

    httpx's own (``ByteStream``) iterates with an async generator; when the connection
    breaks while the body is being written (a TLS server refusing the gateway's client
    certificate after the handshake, under TLS 1.3), that generator is left
    unexhausted and trio reports it when it is collected (encode/httpx#3686).
    """

    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        data, self._data = self._data, None
        if data is None:
            raise StopAsyncIteration
        return data


def _reason(exc: BaseException) -> str:
    """What went wrong, in words: a TLS handshake's reason where one is behind the
    transport error (httpx's own message is often empty then)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed: {failure_reason(cause)}"
        cause = cause.__cause__ or cause.__context__
    return str(exc) or type(exc).__name__


# --- reading replies --------------------------------------------------------------------


def _circulation(reply: Reply) -> CirculationOutcome:
    if not reply.ok:
        return CirculationOutcome(ok=False, screen_messages=_messages(reply))
    payload = reply.payload
    due_text = payload.value("DateDue") or ""
    return CirculationOutcome(
        ok=True,
        title=payload.value("ItemOptionalFields", "BibliographicDescription", "Title") or "",
        due_text=due_text,
        due=_due(due_text),
    )


def _locations(fields: Node | None) -> tuple[str | None, str | None]:
    """(permanent, current) from ``Location`` elements: the deepest level of each."""
    if fields is None:
        return None, None
    found: dict[str, str] = {}
    for location in fields.children("Location"):
        kind = (
            "current"
            if "current" in (location.value("LocationType") or "").lower()
            else "permanent"
        )
        name = location.child("LocationName")
        if name is None:
            continue
        levels = [
            (_level(n.value("LocationNameLevel")), value)
            for n in name.children("LocationNameInstance")
            if (value := n.value("LocationNameValue"))
        ]
        if levels and kind not in found:
            found[kind] = max(levels)[1]
    return found.get("permanent"), found.get("current")


def _level(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def _name(fields: Node) -> str:
    personal = fields.child("NameInformation", "PersonalNameInformation")
    if personal is not None:
        unstructured = personal.value("UnstructuredPersonalUserName")
        if unstructured:
            return unstructured
        structured = personal.child("StructuredPersonalUserName")
        if structured is not None:
            parts = ("Prefix", "GivenName", "Initials", "Surname", "Suffix")
            return " ".join(v for p in parts if (v := structured.value(p)))
    return fields.value("NameInformation", "OrganizationNameInformation", "OrganizationName") or ""


def _past(text: str | None, now: datetime) -> bool:
    moment = _due(text)
    return moment is not None and moment < now


def _fines(payload: Node) -> tuple[Decimal, str | None]:
    """The balance owed, from ``UserFiscalAccount`` (MonetaryValue is in minor units)."""
    total, currency = Decimal(0), None
    for account in payload.children("UserFiscalAccount"):
        text = account.value("AccountBalance", "MonetaryValue")
        currency = currency or account.value("AccountBalance", "CurrencyCode")
        if not text:
            continue
        try:
            value = Decimal(text)
        except InvalidOperation:
            continue
        # The schema says integer minor units; a decimal point means a major-unit value.
        amount = value if "." in text else value / 100
        total += -amount if amount < 0 else amount
    return total, currency


def patron_record(reply: Reply, *, pin_checked: bool) -> PatronRecord:
    """Read a LookupUser reply into a ``PatronRecord`` (leniently; README §5.13)."""
    if reply.has_problem(*_UNKNOWN_USER):
        return PatronRecord(
            found=False, pin_ok=False if pin_checked else None, screen_messages=_messages(reply)
        )
    if reply.has_problem(*_WRONG_PIN):
        return PatronRecord(found=True, pin_ok=False, screen_messages=_messages(reply))
    if reply.has_problem(*_USER_BLOCKED):
        return PatronRecord(
            found=True, pin_ok=None, status=_BLOCKED_STATUS, screen_messages=_messages(reply)
        )
    if not reply.ok:
        return PatronRecord(found=False, pin_ok=None, screen_messages=_messages(reply))
    payload = reply.payload
    fields = payload.child("UserOptionalFields")
    now = datetime.now(UTC)
    blocked = expired = False
    profile: str | None = None
    privilege: str | None = None
    messages: list[str] = []
    if fields is not None:
        for node in fields.children("UserPrivilege"):
            kind = (node.value("AgencyUserPrivilegeType") or "").strip()
            state = (node.value("UserPrivilegeStatus", "UserPrivilegeStatusType") or "").strip()
            lowered_kind, lowered_state = kind.lower(), state.lower()
            if lowered_state in _BLOCKED:
                blocked = True
            if lowered_state in _EXPIRED or _past(node.value("ValidToDate"), now):
                expired = True
            if lowered_kind in _PROFILE_TYPES:
                profile = profile or state or None
            elif lowered_kind in _STATUS_TYPES or lowered_kind in _AGENCY_TYPES or not kind:
                continue
            elif privilege is None:
                privilege = kind
        for node in fields.children("BlockOrTrap"):
            kind = (node.value("BlockOrTrapType") or "").strip()
            if kind and not _past(node.value("ValidToDate"), now):
                blocked = True
                messages.append(kind)
    fines, currency = _fines(payload)
    return PatronRecord(
        found=True,
        pin_ok=True if pin_checked else None,
        name=_name(fields) if fields is not None else "",
        patron_type=profile or privilege,
        status=_BLOCKED_STATUS if blocked else PatronStatus(0),
        fines=fines,
        currency=currency,
        expired=expired,
        screen_messages=tuple(messages),
    )
