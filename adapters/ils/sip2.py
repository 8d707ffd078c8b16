"""A member ILS that speaks SIP2: pooled logged-in connections, health, bulkhead.

``Sip2MemberIls`` implements ``MemberIls``, ``Sip2Forwarding`` and ``Balanced`` for one
member:

* **Pool.** Each endpoint keeps idle, logged-in connections (up to ``pool_size``, or
  the member's ``concurrency`` when that is more); a request takes one (or opens one)
  and gives it back when the exchange completed cleanly.  A connection whose exchange
  was cut short is closed, never reused.
* **Endpoints.** A member may list several endpoints; ``adapters.ils.balancing``'s
  ``EndpointBalancer`` (the client's ``balancer``) picks one per request (least
  outstanding requests weighted by a latency average) among those whose circuit
  breaker is closed, and keeps the breakers: each request's outcome (an answer, a
  failure, the caller's budget running out, a cancellation) is reported to it.  While
  no breaker is closed requests fail at once with ``IlsUnavailable`` instead of
  waiting for time-outs.
* **Failover.** A request whose endpoint fails is sent once more, to another closed
  endpoint and within the same budget, when that is safe: the request never reached
  the first ILS (connecting or logging in failed, or the link broke before the whole
  frame was written), or it only reads (23, 63, 17, 99).  A checkout, checkin or
  renewal that may have reached an ILS is never sent twice: its outcome there is
  unknown, and the caller hears of the failure.
* **Health.** ``run()`` (started in the daemon's nursery) warms the pool and then, every
  ``keepalive_s``, sends 99 on the idle connections of each endpoint whose breaker is
  closed (or connects and sends 99, when it has none): each check is a keep-alive
  probe for the balancer.  When an endpoint's breaker turns half-open (its cool-down is
  over, or another check found it answering), ``run()`` sends it the *trial probe*: 99
  on a fresh connection, whose answer closes the breaker; a patron's request is never
  the trial.  Without ``run()`` an opened breaker never closes again.
* **TLS.** ``tls://`` endpoints are reached over TLS, the ILS's certificate verified
  against ``ils.tls.ca`` (or the system's trust store) for ``ils.tls.server_name`` (or
  the endpoint's host), presenting ``ils.tls.cert`` where set; a failed handshake is
  an ``IlsUnavailable`` naming the reason, counted by the endpoint's breaker like any
  connection that fails.
* **Bulkhead.** At most ``concurrency`` requests are in flight to the member; a hung
  ILS can hold only its own slots, never the gateway.
* **Time.** Every call takes the caller's ``timeout`` for the whole exchange (waiting
  for a slot, connecting, logging in, the answer); connecting alone is also bounded by
  ``connect_timeout_s``.
* **Errors** are mapped here, at the edge: ``IlsUnavailable``, ``IlsTimeout``,
  ``IlsProtocolError``, ``IlsLoginRefused``.  An ILS refusal is an outcome, not an error.
  A request that cannot be written in the member's dialect (a value too long for it, a
  character it cannot carry) is ``IlsRequestInvalid``, found before a slot or an
  endpoint is taken: it is the caller's fault and never counts against the ILS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, TypeVar

import structlog
import trio

from adapters.errors import (
    IlsError,
    IlsProtocolError,
    IlsRequestInvalid,
    IlsTimeout,
    IlsUnavailable,
)
from adapters.ils.balancing import BreakerSettings, BreakerState, EndpointBalancer, Outcome, Ticket
from adapters.tls import TlsFileError, client_context
from protocols.sip2 import (
    AcsStatus,
    Charset,
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    Dialect,
    EncodedRequest,
    ErrorDetection,
    HoldMode,
    HoldRequest,
    HoldResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    Language,
    LocalProtocolError,
    Message,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
    RenewRequest,
    RenewResponse,
    ScStatus,
    Terminator,
    Unencodable,
    encode_request,
)
from protocols.sip2.fieldtypes import Date

from .base import CheckinOutcome, CirculationOutcome, HoldOutcome, ItemRecord, PatronRecord
from .sip2_link import Credentials, Endpoint, Sip2Link

if TYPE_CHECKING:
    import ssl

    from config.resolved import ResolvedDialect, ResolvedIls

__all__ = ["Sip2MemberIls", "dialect_of", "parse_due_date", "patron_record"]

log = structlog.get_logger("interlend.ils")
M = TypeVar("M", bound=Message)

_READ_ONLY = frozenset({"23", "63", "17", "99"})
"""Requests that change nothing at the ILS (patron status and information, item
information, SC status): safe to send again elsewhere when an answer was lost."""
ATTEMPTS = 2
"""Endpoints one request may be sent to: the balancer's choice, and one more."""


def dialect_of(settings: ResolvedDialect) -> tuple[Dialect, ErrorDetection]:
    """The codec dialect and error detection described by resolved dialect settings (a
    member's, or a kiosk listener's)."""
    from zoneinfo import ZoneInfo

    return (
        Dialect(
            charset=Charset(settings.charset),
            field_delimiter=settings.delimiter,
            terminator=Terminator.CRLF if settings.terminator == "CRLF" else Terminator.CR,
            strict=settings.strict,
            timezone=ZoneInfo(settings.timezone),
            utc_dates=settings.utc_dates,
            unencodable=Unencodable.TRANSLITERATE if settings.transliterate else Unencodable.ERROR,
            max_field_length=settings.max_field_length,
        ),
        ErrorDetection(settings.error_detection),
    )


_DUE = Date()


def parse_due_date(text: str, zone: tzinfo = UTC) -> datetime | None:
    """Read a due date written by an ILS (SIP2's free-text AH), if it is a date.

    Accepts the 18-character SIP2 date and ISO 8601 dates (a bare date means the end of
    that day); anything else (``"13/12/2026"``, empty) gives ``None``.
    """
    text = text.strip()
    if not text:
        return None
    if len(text) == 18:
        try:
            return _DUE.decode(text, Dialect(timezone=zone))
        except ValueError:
            return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if len(text) in (8, 10):  # a bare date (2026-12-14 or 20261214): the end of that day
        value = value.replace(hour=23, minute=59, second=59)
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


@dataclass
class _Exchange:
    """One call's progress: for the time-out's detail, and whether the request may
    have reached the ILS (a complete frame was handed to the transport)."""

    stage: str = "waiting for a free slot"
    delivered: bool = False


@dataclass
class _EndpointState:
    """An endpoint's idle connections and what the logs and the admin API show of it.

    ``failures`` counts failed exchanges and probes since the last success (time-outs
    are not failures here: a slow ILS is not a dead one); the balancer's breaker, not
    this count, decides where requests go.
    """

    endpoint: Endpoint
    idle: list[Sip2Link] = field(default_factory=list)
    failures: int = 0
    last_error: str = ""

    @property
    def name(self) -> str:
        return str(self.endpoint)


class Sip2MemberIls:
    """The SIP2 client of one member library (see the module documentation).

    Args:
        member: The member's id.
        settings: The member's resolved ILS settings.
        password: The gateway's SIP2 password at this member, if it logs in.
        keepalive_s: Seconds between health checks of idle connections.
        backoff_base_s: How long an endpoint's breaker stays open before its trial
            probe (its cool-down); each failed trial doubles it.
        backoff_max_s: The longest cool-down.
        breaker: The breakers' settings in full (instead of ``backoff_base_s`` and
            ``backoff_max_s`` with the default failure threshold).
    """

    def __init__(
        self,
        member: str,
        settings: ResolvedIls,
        password: str | None,
        *,
        keepalive_s: float = 30.0,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        breaker: BreakerSettings | None = None,
    ) -> None:
        self.member = member
        self.settings = settings
        self.dialect, self.error_detection = dialect_of(settings.dialect)
        self.credentials = (
            Credentials(settings.login, password or "", settings.location)
            if settings.login
            else None
        )
        self.institution_id = settings.institution_id or ""
        self._sends_due_date = settings.dialect.due_date == "no-block"
        self.keepalive_s = keepalive_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        parsed = (Endpoint.parse(e) for e in settings.endpoints)
        # One state per distinct endpoint (the balancer needs unique names).
        unique = {str(e): e for e in parsed}
        self._endpoints = [_EndpointState(e) for e in unique.values()]
        self._by_name = {s.name: s for s in self._endpoints}
        self._breaker_changed = trio.Event()
        self._balancer = EndpointBalancer(
            list(self._by_name),
            clock=trio.current_time,
            breaker=breaker
            or BreakerSettings(
                cool_down_s=backoff_base_s, max_cool_down_s=max(backoff_base_s, backoff_max_s)
            ),
            on_change=self._wake_trials,
        )
        self._concurrency = settings.concurrency
        self._limiter = trio.Semaphore(settings.concurrency)
        """The bulkhead: requests in flight to this member at once (a semaphore: a
        free slot costs a fifth of a ``CapacityLimiter``'s, which also tracks who holds
        each)."""
        self._closed = False
        self._ssl_context: ssl.SSLContext | None = None

    # --- health and pool ---------------------------------------------------------------

    @property
    def balancer(self) -> EndpointBalancer:
        """The endpoints' balancer and breakers (``Balanced``: the gateways share their state)."""
        return self._balancer

    def statistics(self) -> dict[str, object]:
        """Health of each endpoint and use of the bulkhead, for the admin API.

        Per endpoint: ``healthy``, ``idle_connections``, ``failures`` (since the last
        success), ``retry_in_s`` (until its trial probe is due), ``last_error``,
        and the balancer's figures: breaker ``state``, ``outstanding`` requests,
        ``latency_s`` (its average) with the ``latency_samples`` behind it.
        """
        figures = {f.endpoint: f for f in self._balancer.statistics()}
        endpoints: list[dict[str, object]] = []
        for s in self._endpoints:
            f = figures[s.name]
            endpoints.append(
                {
                    "endpoint": s.name,
                    "healthy": s.failures == 0 and f.state is not BreakerState.OPEN,
                    "idle_connections": len(s.idle),
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
            "in_flight": self._concurrency - self._limiter.value,
            "concurrency": self._concurrency,
            "endpoints": endpoints,
        }

    @property
    def healthy(self) -> bool:
        """At least one endpoint is believed to be up (no failure since its last
        success, and its breaker not open)."""
        states = {f.endpoint: f.state for f in self._balancer.statistics()}
        return any(
            s.failures == 0 and states[s.name] is not BreakerState.OPEN for s in self._endpoints
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Warm the pool, then check idle connections every ``keepalive_s``, and send
        each half-open endpoint its trial probe (forever)."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._send_trials)
            task_status.started()
            while not self._closed:
                async with trio.open_nursery() as checks:
                    for state in self._endpoints:
                        if self._breaker(state) is BreakerState.CLOSED:
                            checks.start_soon(self._check, state)
                await trio.sleep(self.keepalive_s)

    def _breaker(self, state: _EndpointState) -> BreakerState:
        return next(f.state for f in self._balancer.statistics() if f.endpoint == state.name)

    async def _check(self, state: _EndpointState) -> None:
        """One keep-alive probe of ``state``: 99 on its idle links, or on a fresh one."""
        if not state.idle:
            try:
                link = await self._probe_fresh(state)
            except (IlsError, trio.TooSlowError) as exc:
                self._probed(state, exc)
                return
            self._probed(state, None)
            self._give_back(state, link)
            return
        links, state.idle = state.idle, []
        answered = 0
        error: BaseException | None = None
        try:
            while links:
                link = links[-1]
                try:
                    with trio.fail_after(self.settings.timeout_s):
                        answer = await link.request(ScStatus(max_print_width=0))
                except (IlsError, trio.TooSlowError) as exc:
                    await links.pop().aclose()
                    error = exc
                    continue
                links.pop()
                if isinstance(answer, AcsStatus) and not answer.online_status:
                    await link.aclose()
                    error = IlsUnavailable(self.member, "the ILS reports it is off-line")
                    continue
                answered += 1
                self._give_back(state, link)
        finally:
            # Cancelled half-way (shutdown): the links not checked yet are closed, not lost.
            for link in links:
                await link.aclose()
        # One probe per check: a single link dropped by a firewall while its siblings
        # answer does not make the endpoint look down.
        self._probed(state, None if answered or error is None else error)

    async def _probe_fresh(self, state: _EndpointState) -> Sip2Link:
        """Connect (and log in) to ``state`` and send 99; the link, once it answered.

        Raises:
            IlsError: The endpoint cannot be reached, refused the login, or says it is
                off-line.
            trio.TooSlowError: Connecting or the answer took too long.
        """
        with trio.fail_after(self.settings.connect_timeout_s):
            link = await self._open(state)
        try:
            with trio.fail_after(self.settings.timeout_s):
                answer = await link.request(ScStatus(max_print_width=0))
        except BaseException:
            await link.aclose()
            raise
        if isinstance(answer, AcsStatus) and not answer.online_status:
            await link.aclose()
            raise IlsUnavailable(self.member, "the ILS reports it is off-line")
        return link

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
        """The trial probe of a half-open endpoint: its answer closes the breaker; a
        failure or a time-out opens it again for a longer cool-down."""
        state = self._by_name[ticket.endpoint]
        outcome = Outcome.CANCELLED
        error: BaseException | None = None
        try:
            link = await self._probe_fresh(state)
        except IlsError as exc:
            outcome, error = Outcome.FAILURE, exc
        except trio.TooSlowError as exc:
            outcome, error = Outcome.TIMEOUT, exc
        else:
            outcome = Outcome.SUCCESS
            self._give_back(state, link)
        finally:
            self._balancer.release(ticket, outcome)
        if error is not None:
            self._failed(state, error)  # logged with the breaker's new state
        else:
            self._succeeded(state)

    def _probed(self, state: _EndpointState, error: BaseException | None) -> None:
        self._balancer.record_probe(state.name, error is None)
        if error is None:
            self._succeeded(state)
        else:
            self._failed(state, error)

    async def _open(self, state: _EndpointState) -> Sip2Link:
        return await Sip2Link.open(
            self.member,
            state.endpoint,
            self.dialect,
            self.error_detection,
            self.credentials,
            ssl_context=self._tls_context() if state.endpoint.tls else None,
            server_name=self.settings.tls.server_name,
        )

    def _tls_context(self) -> ssl.SSLContext:
        """The context that verifies the member's TLS endpoints and presents the
        gateway's client certificate, if any (``ils.tls``), built at the first TLS
        connection.

        Raises:
            IlsUnavailable: A file of ``ils.tls`` cannot be used (``check-config`` says so
                before start; the file may have changed since).
        """
        if self._ssl_context is None:
            try:
                tls = self.settings.tls
                self._ssl_context = client_context(tls.ca, tls.cert, tls.key)
            except TlsFileError as exc:
                raise IlsUnavailable(self.member, f"ils.tls.{exc.setting}: {exc.message}") from None
        return self._ssl_context

    def _succeeded(self, state: _EndpointState) -> None:
        if state.failures:
            log.info("member ILS endpoint is back", member=self.member, endpoint=state.name)
        state.failures = 0
        state.last_error = ""

    def _failed(self, state: _EndpointState, error: BaseException) -> None:
        state.failures += 1
        state.last_error = str(error) if not isinstance(error, trio.TooSlowError) else "timed out"
        figures = next(f for f in self._balancer.statistics() if f.endpoint == state.name)
        log.warning(
            "member ILS endpoint failed",
            member=self.member,
            endpoint=state.name,
            error=state.last_error,
            breaker=figures.state.value,
            retry_in_s=round(figures.retry_in_s, 2),
        )

    def _give_back(self, state: _EndpointState, link: Sip2Link) -> None:
        # Keep as many as may be in flight at once: a busy member reuses its logged-in
        # connections instead of paying a connect and a login per request.
        keep = max(self.settings.pool_size, self._concurrency)
        if link.broken or self._closed or len(state.idle) >= keep:
            trio.lowlevel.spawn_system_task(link.aclose)
        else:
            state.idle.append(link)

    async def aclose(self) -> None:
        """Close every pooled connection; the client cannot be used afterwards."""
        self._closed = True
        self._breaker_changed.set()  # ``run()`` ends
        for state in self._endpoints:
            links, state.idle = state.idle, []
            for link in links:
                await link.aclose()

    # --- one exchange ------------------------------------------------------------------

    def _encode(self, message: Message, *, as_read: bool = False) -> EncodedRequest:
        """Write ``message`` for this member's dialect, before any slot or endpoint is
        taken: a request that cannot be written says nothing about the ILS.

        Raises:
            IlsRequestInvalid: A value is too long for the member's dialect, or holds a
                character it cannot carry (the delimiter, one its charset lacks).
        """
        try:
            return encode_request(message, self.dialect, as_read=as_read)
        except LocalProtocolError as exc:
            raise IlsRequestInvalid(self.member, f"{message.code} cannot be sent: {exc}") from None

    async def _call(self, message: Message, timeout: float, *, as_read: bool = False) -> Message:
        request = self._encode(message, as_read=as_read)
        exchange = _Exchange()
        limiter = self._limiter
        with trio.move_on_after(timeout) as budget:
            # A free slot is taken without a trip through the scheduler (the exchange
            # below waits for the answer, which is this call's checkpoint).
            try:
                limiter.acquire_nowait()
            except trio.WouldBlock:
                await limiter.acquire()
            try:
                return await self._send(request, exchange, budget)
            finally:
                limiter.release()
        raise IlsTimeout(
            self.member,
            f"no answer to {message.code} within {timeout:.1f}s ({exchange.stage})",
            reached=exchange.delivered,
        )

    async def _send(
        self, request: EncodedRequest, exchange: _Exchange, budget: trio.CancelScope
    ) -> Message:
        """Send ``request`` to the endpoint the balancer picks, and once more to another
        one when the first failed and the request is safe to send again: it never
        reached the ILS (connecting or logging in failed, or the link broke before the
        request was written), or it only reads (``_READ_ONLY``).  A checkout whose
        outcome at the ILS is unknown is never sent twice.  Both attempts share the
        caller's budget.
        """
        tried: list[str] = []
        error: IlsError | None = None
        while len(tried) < ATTEMPTS:
            ticket = self._balancer.acquire(exclude=tried)
            if ticket is None:
                break
            tried.append(ticket.endpoint)
            try:
                return await self._attempt(ticket, request, exchange, budget)
            except IlsError as exc:
                if exchange.delivered and request.message.code not in _READ_ONLY:
                    exc.reached = True
                    raise
                error = exc
        if error is not None:
            raise error
        retry_in = self._balancer.retry_in()
        raise IlsUnavailable(self.member, f"every endpoint is down (next retry in {retry_in:.1f}s)")

    async def _attempt(
        self,
        ticket: Ticket,
        request: EncodedRequest,
        exchange: _Exchange,
        budget: trio.CancelScope,
    ) -> Message:
        """One exchange with the endpoint of ``ticket``, reported to the balancer."""
        state = self._by_name[ticket.endpoint]
        outcome = Outcome.CANCELLED
        failure: IlsError | None = None
        exchange.delivered = False
        try:
            link = await self._link(state, exchange)
            exchange.stage = "waiting for the answer"
            try:
                answer = await link.request(request, from_a_client=True)
            except BaseException:
                exchange.delivered = link.delivered
                await link.aclose()
                raise
            outcome = Outcome.SUCCESS
            self._succeeded(state)
            self._give_back(state, link)
            return answer
        except IlsError as exc:
            outcome, failure = Outcome.FAILURE, exc
            raise
        except trio.Cancelled:
            # The caller's budget ran out (a time-out), or the caller went away.
            outcome = Outcome.TIMEOUT if budget.cancel_called else Outcome.CANCELLED
            raise
        finally:
            self._balancer.release(ticket, outcome)
            if failure is not None:
                self._failed(state, failure)  # logged with the breaker's new state

    async def _link(self, state: _EndpointState, exchange: _Exchange) -> Sip2Link:
        """An idle link to ``state``, or a new one (connected and logged in)."""
        if state.idle:
            return state.idle.pop()
        exchange.stage = "connecting"
        try:
            with trio.fail_after(self.settings.connect_timeout_s):
                return await self._open(state)
        except trio.TooSlowError:
            raise IlsUnavailable(self.member, f"connecting to {state.endpoint} timed out") from None

    async def _expect(self, message: Message, kind: type[M], timeout: float) -> M:
        answer = await self._call(message, timeout)
        if isinstance(answer, AcsStatus):
            raise IlsUnavailable(
                self.member, "the ILS answered with its status (98): it may be off-line"
            )
        if not isinstance(answer, kind):
            raise IlsProtocolError(self.member, f"{message.code} was answered with {answer.code}")
        return answer

    async def forward(self, message: Message, *, timeout: float, as_read: bool = False) -> Message:
        """Send a kiosk's message as it is (``as_read``: as the kiosk wrote it, where
        this ILS's dialect writes alike) and return the ILS's answer as it is."""
        return await self._call(message, timeout, as_read=as_read)

    # --- neutral operations ----------------------------------------------------------

    async def patron_status(self, patron: str, pin: str | None, *, timeout: float) -> PatronRecord:
        """23 → 24: the patron's standing, and whether the PIN is right."""
        answer = await self._expect(
            PatronStatusRequest(
                language=Language.UNKNOWN,
                transaction_date=datetime.now(UTC).replace(microsecond=0),
                institution_id=self.institution_id,
                patron_identifier=patron,
                patron_password=pin or "",
            ),
            PatronStatusResponse,
            timeout,
        )
        return patron_record(answer, pin_checked=pin is not None)

    async def checkout(
        self, patron: str, item: str, *, due: datetime | None, timeout: float
    ) -> CirculationOutcome:
        """11 → 12 at this member, to ``patron`` (the visitor's proxy account)."""
        now = datetime.now(UTC).replace(microsecond=0)
        answer = await self._expect(
            CheckoutRequest(
                sc_renewal_policy=True,
                # With no_block the ILS takes nb_due_date as the due date (the member's
                # dialect says so: ``due_date = "no-block"``); without it, it ignores it.
                no_block=self._sends_due_date and due is not None,
                transaction_date=now,
                # Strict ILSs refuse a blank date.
                nb_due_date=due.replace(microsecond=0) if due is not None else now,
                institution_id=self.institution_id,
                patron_identifier=patron,
                item_identifier=item,
            ),
            CheckoutResponse,
            timeout,
        )
        return self._circulation(answer)

    async def renew(
        self, patron: str, item: str, *, due: datetime | None = None, timeout: float
    ) -> CirculationOutcome:
        """29 → 30 at this member (``due`` as for ``checkout``)."""
        now = datetime.now(UTC).replace(microsecond=0)
        answer = await self._expect(
            RenewRequest(
                third_party_allowed=False,
                no_block=self._sends_due_date and due is not None,
                transaction_date=now,
                nb_due_date=due.replace(microsecond=0) if due is not None else now,
                institution_id=self.institution_id,
                patron_identifier=patron,
                item_identifier=item,
            ),
            RenewResponse,
            timeout,
        )
        return self._circulation(answer)

    async def checkin(self, item: str, location: str, *, timeout: float) -> CheckinOutcome:
        """09 → 10 at this member."""
        now = datetime.now(UTC).replace(microsecond=0)
        answer = await self._expect(
            CheckinRequest(
                no_block=False,
                transaction_date=now,
                return_date=now,
                current_location=location,
                institution_id=self.institution_id,
                item_identifier=item,
            ),
            CheckinResponse,
            timeout,
        )
        return CheckinOutcome(
            ok=answer.ok,
            permanent_location=answer.permanent_location,
            title=answer.title_identifier,
            previous_patron=answer.patron_identifier,
            sort_bin=answer.sort_bin,
            alert=answer.alert,
            screen_messages=answer.screen_messages,
            extensions=answer.extensions,
            response=answer,
        )

    async def item_information(self, item: str, *, timeout: float) -> ItemRecord:
        """17 → 18 at this member."""
        answer = await self._expect(
            ItemInformationRequest(
                transaction_date=datetime.now(UTC).replace(microsecond=0),
                institution_id=self.institution_id,
                item_identifier=item,
            ),
            ItemInformationResponse,
            timeout,
        )
        return ItemRecord(
            found=bool(answer.title_identifier) or int(answer.circulation_status) != 1,
            title=answer.title_identifier,
            media_type=f"{int(answer.media_type):03d}" if answer.media_type is not None else None,
            current_location=answer.current_location,
            permanent_location=answer.permanent_location,
            circulation_status=int(answer.circulation_status),
            due=parse_due_date(answer.due_date, self.dialect.timezone) if answer.due_date else None,
            response=answer,
        )

    async def place_hold(
        self,
        patron: str,
        *,
        item: str | None = None,
        title: str | None = None,
        pickup_location: str | None = None,
        timeout: float,
    ) -> HoldOutcome:
        """15 (add) → 16 at this member: a hold for ``patron`` on ``item`` or ``title``."""
        return await self._hold(HoldMode.ADD, patron, item, title, pickup_location, timeout)

    async def cancel_hold(
        self, patron: str, *, item: str | None = None, timeout: float
    ) -> HoldOutcome:
        """15 (delete) → 16 at this member."""
        return await self._hold(HoldMode.DELETE, patron, item, None, None, timeout)

    async def _hold(
        self,
        mode: HoldMode,
        patron: str,
        item: str | None,
        title: str | None,
        pickup_location: str | None,
        timeout: float,
    ) -> HoldOutcome:
        answer = await self._expect(
            HoldRequest(
                hold_mode=mode,
                transaction_date=datetime.now(UTC).replace(microsecond=0),
                pickup_location=pickup_location,
                institution_id=self.institution_id,
                patron_identifier=patron,
                item_identifier=item,
                title_identifier=title,
            ),
            HoldResponse,
            timeout,
        )
        return HoldOutcome(
            ok=answer.ok,
            item=answer.item_identifier or item,
            title=answer.title_identifier or title,
            screen_messages=answer.screen_messages,
            response=answer,
        )

    def _circulation(self, answer: CheckoutResponse | RenewResponse) -> CirculationOutcome:
        return CirculationOutcome(
            ok=answer.ok,
            renewal=answer.renewal_ok,
            title=answer.title_identifier,
            due_text=answer.due_date,
            due=parse_due_date(answer.due_date, self.dialect.timezone),
            screen_messages=answer.screen_messages,
            response=answer,
        )


def patron_record(
    answer: PatronStatusResponse | PatronInformationResponse, *, pin_checked: bool
) -> PatronRecord:
    """Read a 24 (or a 64, which carries the same facts) into a ``PatronRecord``."""
    try:
        fines = Decimal(answer.fee_amount) if answer.fee_amount else Decimal(0)
    except InvalidOperation:
        fines = Decimal(0)
    found = answer.valid_patron if answer.valid_patron is not None else bool(answer.personal_name)
    patron_type = next((text for fid, text in answer.extensions if fid == "PC"), None)
    return PatronRecord(
        found=found,
        pin_ok=answer.valid_patron_password if pin_checked else None,
        name=answer.personal_name,
        patron_type=patron_type,
        status=answer.patron_status,
        fines=fines,
        currency=answer.currency_type,
        screen_messages=answer.screen_messages,
        response=answer,
    )
