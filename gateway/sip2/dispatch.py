"""The gateway's answer to every kiosk request: login, status, forwarding, visitors.

``Circulation.handle(session, message)`` returns an ``Outcome`` for each SIP2 request;
it never raises for anything a kiosk or a member ILS does.  The rule per message:

==========  ===================================================================
93          Checked against the configured terminals (``logins``: scrypt off the
            event loop, lock-outs per terminal and per address); the terminal fixes
            the kiosk's library and location.
99          Answered by the gateway from its own capabilities (the kiosk's library
            name and institution id, every message supported).
97          Answered by the SIP2 codec with the last response (never reaches here).
23, 63      Forwarded to the patron's home ILS.  For a visitor (home is not the
            kiosk's library) the consortium's policy is applied on top: a patron who
            may not borrow here gets "charge privileges denied" and the reason on
            screen.  63 lists loans (the ILS's and the reciprocal ones from the
            registry) only once the patron's PIN is verified or to a staff desk.
35          Forwarded to the home ILS; the patron's verified PIN is forgotten.
37, 25, 01  Forwarded to the home ILS.
17, 19      Forwarded to the item's owner.
09          Forwarded to the owner; the registry loan is closed; when the item is
            not at home the answer says where it goes (alert, CT, CV, CL, AF).
11, 29      Home = owner: forwarded.  Otherwise a reciprocal loan (``lending``).
65          Forwarded to the home ILS, then the patron's reciprocal loans renewed.
15          A hold at the patron's own library is forwarded; a hold on another
            library's item is refused with a pointer to the desk.
==========  ===================================================================

Every request that names a patron and may carry a PIN passes the PIN gate first
(``pins``): wrong PINs are counted wherever they are sent and a locked-out patron is
refused whatever is sent.

Forwarded messages lose the kiosk's terminal password (AC: a secret between the kiosk
and the gateway) and, when they go to another library, get that library's
institution id (AO); the answer gets the kiosk's AO back.  Every other field, known or
not, passes through untouched.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import structlog
import trio

from adapters.errors import IlsError, IlsRequestInvalid
from adapters.ils.sip2 import patron_record
from adapters.state.base import StateUnavailable
from config.policy import PatronStanding, may_borrow
from gateway.circulation import lending
from gateway.circulation.context import Outcome, RequestContext, Result
from gateway.circulation.holds import hold_by_title
from gateway.circulation.pins import GUARDED, admit_patron, record_answer
from gateway.circulation.temporary import remove_at_home
from gateway.ledger.outbox import consumer_name
from gateway.sip2.forwarding import forward, invalid_reason, unavailable_reason
from gateway.sip2.logins import LoginGuard
from gateway.sip2.responses import REGISTRY_UNAVAILABLE, refusal, with_fields
from gateway.sip2.routing import Route, RouteKind, route
from gateway.sip2.translate import checkin_answer, patron_answer, speaks_sip2
from protocols.sip2 import (
    AcsStatus,
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    EndPatronSessionRequest,
    HoldRequest,
    LoginRequest,
    LoginResponse,
    Message,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatus,
    PatronStatusRequest,
    PatronStatusResponse,
    RenewAllRequest,
    RenewRequest,
    ScStatus,
    Summary,
    SupportedMessages,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from gateway.app.runtime import Runtime
    from gateway.circulation.session import TerminalSession
    from gateway.network.discovery import HoldingsIndex

__all__ = ["Circulation"]

INSTANCE = consumer_name()
"""This gateway process in kiosk session records (host and process id)."""


def session_id(session: TerminalSession) -> str:
    """A kiosk session's id in the store: this gateway and the connection."""
    return f"{INSTANCE}/{session.conn_id}"


log = structlog.get_logger("interlend.circulation")


class Circulation:
    """Answers kiosk requests with the runtime in force when each one starts.

    Args:
        runtime: Returns the current ``Runtime`` (it is swapped on reload).
        hash_limiter: Bounds the threads verifying terminal passwords.
    """

    def __init__(
        self,
        runtime: Callable[[], Runtime],
        *,
        hash_limiter: trio.CapacityLimiter | None = None,
        holdings: Callable[[], HoldingsIndex] | None = None,
    ) -> None:
        self._runtime = runtime
        self._holdings = holdings
        self.logins = LoginGuard(hash_limiter=hash_limiter)

    async def handle(
        self, session: TerminalSession, message: Message, *, request_key: str | None = None
    ) -> Outcome:
        """Answer one request (never raises for a kiosk's or an ILS's behaviour).

        ``request_key`` is the caller's own id of the request (an NCIP ``RequestId``):
        a checkout is idempotent by it instead of by the kiosk's transaction date.
        """
        ctx = RequestContext.start(self._runtime(), session, message, request_key)
        if isinstance(message, LoginRequest):
            return await self._login(ctx, message)
        await self._record(ctx)  # the kiosk is alive (99 heartbeats included)
        if isinstance(message, ScStatus):
            return Outcome(self._status(ctx), route=Route(RouteKind.GATEWAY, session.member or ""))
        if session.member is None:  # pragma: no cover - the codec refuses requests first
            raise AssertionError("a request before login reached circulation")
        where = route(ctx.runtime.consortium, session.member, message)
        try:
            if isinstance(message, GUARDED):
                refused = await admit_patron(ctx, where, message)
                if refused is not None:
                    return refused.routed(where)
            outcome = await self._dispatch(ctx, where)
        except IlsError as exc:
            reason = unavailable_reason(ctx, exc)
            log.warning(
                "member ILS failed",
                conn=session.conn_id,
                member=exc.member,
                error=type(exc).__name__,
                detail=exc.detail,
            )
            return Outcome(refusal(message, reason, ctx.now), Result.UNAVAILABLE, reason, where)
        except IlsRequestInvalid as exc:  # the kiosk's error: nothing was sent to the ILS
            reason = invalid_reason(ctx, exc)
            log.info("request cannot be sent", conn=session.conn_id, detail=exc.detail)
            return Outcome(refusal(message, reason, ctx.now), Result.REFUSED, reason, where)
        except StateUnavailable as exc:
            reason = REGISTRY_UNAVAILABLE
            log.error("loan registry unavailable", conn=session.conn_id, detail=exc.detail)
            return Outcome(refusal(message, reason, ctx.now), Result.UNAVAILABLE, reason, where)
        return outcome.routed(where)

    # --- gateway's own answers ------------------------------------------------------

    async def _login(self, ctx: RequestContext, request: LoginRequest) -> Outcome:
        runtime = ctx.runtime
        account = runtime.consortium.terminals.get(request.login_user_id)
        refused = await self.logins.login(
            runtime.store,
            runtime.settings.limits,
            name=request.login_user_id,
            password=request.login_password,
            account=account,
            address=ctx.session.address,
        )
        if refused is not None:
            return Outcome(LoginResponse(ok=False), Result.REFUSED, refused.reason)
        assert account is not None
        session = ctx.session
        session.member = account.member
        session.login = request.login_user_id
        session.location = request.location_code or account.terminal.location
        session.staff = account.terminal.staff
        session.verified.clear()
        await self._record(ctx, opening=True)
        return Outcome(LoginResponse(ok=True))

    # --- kiosk sessions in the state store (who is connected, across gateways) -----------

    async def _record(self, ctx: RequestContext, *, opening: bool = False) -> None:
        """Open the session in the store at login; touch it now and then afterwards."""
        session, settings = ctx.session, ctx.runtime.settings
        ttl = settings.idle_timeout_s
        now = trio.current_time()
        if not opening and (not session.touched or now - session.touched < ttl / 3):
            return
        session.touched = now
        try:
            if not opening and await ctx.runtime.store.session_touch(
                session_id(session), ttl_s=ttl
            ):
                return
            # A new session, or one the store lost (expired, or Redis restarted empty).
            info = {
                "terminal": session.login or "",
                "member": session.member or "",
                "location": session.location or "",
                "peer": session.peer,
                "gateway": INSTANCE,
                "since": ctx.now.isoformat(),
            }
            await ctx.runtime.store.session_open(session_id(session), info, ttl_s=ttl)
        except StateUnavailable as exc:
            log.warning("kiosk session not recorded", conn=session.conn_id, detail=exc.detail)

    async def forget(self, session: TerminalSession) -> None:
        """The kiosk went away: drop its session from the store (best effort)."""
        if not session.touched:
            return
        try:
            await self._runtime().store.session_close(session_id(session))
        except StateUnavailable as exc:
            log.warning("kiosk session left to expire", conn=session.conn_id, detail=exc.detail)

    def _status(self, ctx: RequestContext) -> AcsStatus:
        member = ctx.session.member
        settings = ctx.runtime.settings
        return AcsStatus(
            online_status=True,
            checkin_ok=True,
            checkout_ok=True,
            acs_renewal_policy=True,
            status_update_ok=True,
            offline_ok=False,
            timeout_period=min(999, round(settings.request_timeout_s * 10)),
            retries_allowed=3,
            date_time_sync=ctx.now,
            institution_id=ctx.runtime.institution_id(member)
            if member
            else settings.institution_id,
            library_name=ctx.name(member) if member else None,
            supported_messages=SupportedMessages(0xFFFF),
            terminal_location=ctx.session.location,
        )

    # --- dispatch ------------------------------------------------------------------------

    async def _dispatch(self, ctx: RequestContext, where: Route) -> Outcome:
        message = ctx.message
        if isinstance(message, HoldRequest) and self._holdings is not None and where.home:
            held = await hold_by_title(ctx, where.home, message, self._holdings)
            if held is not None:
                if held.ok:
                    return Outcome(held)
                return Outcome(held, Result.REFUSED, " ".join(held.screen_messages))
        match message:
            case PatronStatusRequest() | PatronInformationRequest():
                return await self._patron(ctx, where, message)
            case EndPatronSessionRequest():
                assert where.target is not None
                ctx.session.verified.discard(
                    ctx.runtime.patron_key(where.target, message.patron_identifier)
                )
                return Outcome(await forward(ctx, where.target, message))
            case CheckinRequest():
                return await self._checkin(ctx, where, message)
            case CheckoutRequest() if where.kind is RouteKind.RECIPROCAL:
                return await lending.checkout(ctx, where, message)
            case RenewRequest() if where.kind is RouteKind.RECIPROCAL:
                return await lending.renew(ctx, where, message)
            case RenewAllRequest():
                return await lending.renew_all(ctx, where, message)
            case HoldRequest() if where.kind is RouteKind.GATEWAY:
                reason = "Ask at the desk to request items from other libraries"
                return Outcome(refusal(message, reason, ctx.now), Result.REFUSED, reason)
        if where.target is None:  # pragma: no cover - every request has a rule above
            raise AssertionError(f"no route for {message.code}")
        return Outcome(await forward(ctx, where.target, message))

    # --- patrons -----------------------------------------------------------------------

    async def _patron(
        self,
        ctx: RequestContext,
        where: Route,
        request: PatronStatusRequest | PatronInformationRequest,
    ) -> Outcome:
        home = where.target
        assert home is not None
        ils = ctx.member(home)
        if speaks_sip2(ils):
            answer = await forward(ctx, home, request)
        else:
            found = await ils.patron_status(
                request.patron_identifier,
                request.patron_password or None,
                timeout=ctx.budget(home),
            )
            answer = patron_answer(request, found, ctx.now)
        assert isinstance(answer, PatronStatusResponse | PatronInformationResponse)
        pkey = ctx.runtime.patron_key(home, request.patron_identifier)
        record = patron_record(answer, pin_checked=bool(request.patron_password))
        if not record.found:
            return Outcome(answer, patron=pkey)
        if request.patron_password:
            await record_answer(ctx, pkey, record)
        member = ctx.session.member
        visiting = member is not None and home != member
        private = isinstance(answer, PatronInformationResponse) and not (
            pkey in ctx.session.verified or ctx.session.staff
        )
        if private:
            # 63 lists loans only to the patron (PIN verified) or a staff desk.
            assert isinstance(answer, PatronInformationResponse)
            answer = without_lists(answer)
        wants_loans = isinstance(answer, PatronInformationResponse) and not private
        # The registry is read only when its loans are shown (64) or counted (a visitor).
        loans = await ctx.runtime.store.active_loans(pkey) if wants_loans or visiting else []
        if isinstance(answer, PatronInformationResponse) and wants_loans and loans:
            assert isinstance(request, PatronInformationRequest)
            answer = _with_reciprocal_loans(answer, request, loans, ctx)
        if not visiting:
            return Outcome(answer, patron=pkey)
        decision = may_borrow(
            ctx.runtime.consortium,
            home,
            member,
            standing=PatronStanding(
                patron_type=record.patron_type,
                fines=record.fines,
                expired=record.expired,
                blocked=record.blocked,
            ),
            loans_at_owner=sum(1 for loan in loans if loan.owner == member),
            loans_total=len(loans),
        )
        if decision.allowed:
            return Outcome(answer, patron=pkey)
        denied = with_fields(
            answer,
            patron_status=answer.patron_status | PatronStatus.CHARGE_PRIVILEGES_DENIED,
            screen_messages=(*answer.screen_messages, decision.reason),
        )
        return Outcome(denied, Result.REFUSED, decision.reason, patron=pkey)

    # --- items ---------------------------------------------------------------------------

    async def _checkin(self, ctx: RequestContext, where: Route, request: CheckinRequest) -> Outcome:
        owner = where.target
        assert owner is not None
        ils = ctx.member(owner)
        if speaks_sip2(ils):
            answer = await forward(ctx, owner, request)
        else:
            outcome = await ils.checkin(
                request.item_identifier,
                request.current_location or ctx.session.location or "",
                timeout=ctx.budget(owner),
            )
            answer = checkin_answer(request, outcome, ctx.now)
        assert isinstance(answer, CheckinResponse)
        if not answer.ok:
            return Outcome(answer)
        try:
            loan = await ctx.runtime.store.close(owner, request.item_identifier, now=ctx.now)
        except StateUnavailable as exc:
            # The item is back at its owner: say so.  The registry's loan, if any, stays
            # open until the item's next checkin or checkout closes it.
            log.error(
                "checkin not recorded in the registry",
                owner=owner,
                item=request.item_identifier,
                detail=exc.detail,
            )
            loan = None
        if loan is not None:
            await remove_at_home(ctx, loan)
            # The ILS names the proxy account; the visitor's card is not the kiosk's business.
            answer = replace(answer, patron_identifier=None)
        if owner != ctx.session.member:
            answer = _in_transit(ctx, owner, answer)
        return Outcome(answer, patron=loan.patron_key if loan is not None else None)


def _in_transit(ctx: RequestContext, owner: str, answer: CheckinResponse) -> CheckinResponse:
    """Tell the kiosk that the item goes back to ``owner`` (3M extension fields)."""
    hold = any(fid == "CV" and value in ("01", "02") for fid, value in answer.extensions)
    kept = tuple((fid, v) for fid, v in answer.extensions if fid not in ("CT", "CV"))
    name = ctx.name(owner)
    return replace(
        answer,
        alert=True,
        sort_bin=answer.sort_bin or f"transit-{owner}",
        screen_messages=(*answer.screen_messages, f"Return to {name}"),
        # CT: where the item goes; CV 02 = hold for another branch, 04 = send it home.
        extensions=(
            *kept,
            ("CT", ctx.runtime.institution_id(owner)),
            ("CV", "02" if hold else "04"),
        ),
    )


def without_lists(answer: PatronInformationResponse) -> PatronInformationResponse:
    """A 64 without what only the patron (or a desk) may read: the items on loan, overdue,
    on hold, fined or recalled, and the patron's address, e-mail and telephone."""
    return replace(
        answer,
        hold_items=(),
        overdue_items=(),
        charged_items=(),
        fine_items=(),
        recall_items=(),
        unavailable_hold_items=(),
        home_address=None,
        email_address=None,
        home_phone_number=None,
    )


def _with_reciprocal_loans(
    answer: PatronInformationResponse,
    request: PatronInformationRequest,
    loans: list[lending.Loan],
    ctx: RequestContext,
) -> PatronInformationResponse:
    """A 64 with the patron's reciprocal loans added to the charged and overdue items."""
    items = tuple(loan.item for loan in loans)
    overdue = tuple(loan.item for loan in loans if loan.due < ctx.now)
    return replace(
        answer,
        charged_items_count=(answer.charged_items_count or 0) + len(items),
        overdue_items_count=(answer.overdue_items_count or 0) + len(overdue),
        charged_items=answer.charged_items + items
        if request.summary & Summary.CHARGED_ITEMS
        else answer.charged_items,
        overdue_items=answer.overdue_items + overdue
        if request.summary & Summary.OVERDUE_ITEMS
        else answer.overdue_items,
    )
