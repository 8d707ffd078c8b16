"""The gateway's answer to every kiosk request: login, status, forwarding, visitors.

``Dispatcher.handle(session, message)`` returns an ``Answer`` for each SIP2 request; it
never raises for anything a kiosk or a member ILS does.  Where the gateway runs a flow
itself it calls the neutral circulation flows (``gateway/circulation``) with typed
requests and writes their results as SIP2 (``render``); a library's own traffic passes
through as SIP2, vendor fields untouched.  The rule per message:

==========  ===================================================================
93          Checked against the configured terminals (``logins``: scrypt off the
            event loop, lock-outs per terminal and per address); the terminal fixes
            the kiosk's library and location.
99          Answered by the gateway from its own capabilities (the kiosk's library
            name and institution id, every message supported).
97          Answered by the SIP2 codec with the last response (never reaches here).
23, 63      Forwarded to the patron's home ILS (asked through the neutral call when
            it speaks NCIP).  For a visitor (home is not the kiosk's library) the
            consortium's policy is applied on top: a patron who may not borrow here
            gets "charge privileges denied" and the reason on screen.  63 lists
            loans (the ILS's and the reciprocal ones from the registry) only once
            the patron's PIN is verified or to a staff desk.
35          Forwarded to the home ILS; the patron's verified PIN is forgotten.
37, 25, 01  Forwarded to the home ILS.
17, 19      Forwarded to the item's owner.
09          Returned at the owner (forwarded, or the neutral call for an NCIP
            owner); the registry loan is closed; when the item is not at home the
            answer says where it goes (alert, CT, CV, CL, AF).
11, 29      Home = owner: forwarded.  Otherwise a reciprocal loan or renewal
            (``circulation.loans``).
65          Forwarded to the home ILS, then the patron's reciprocal loans renewed.
15          A hold by title the home cannot fill goes to a lender
            (``circulation.holds``); a hold at the patron's own library is
            forwarded; one on another library's item is refused with a pointer to
            the desk.
==========  ===================================================================

Every request that names a patron and may carry a PIN passes the PIN gate first
(``circulation.patrons.admit``): wrong PINs are counted wherever they are sent and a
locked-out patron is refused whatever is sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
import trio

from adapters.errors import IlsError, IlsRequestInvalid
from adapters.ils.base import CheckinOutcome
from adapters.ils.sip2 import patron_record
from adapters.state.base import StateUnavailable
from gateway.circulation import holds, loans, patrons
from gateway.circulation.call import Call
from gateway.circulation.outcomes import Refusal, RefusalCode, refusal_for_failure
from gateway.ledger.outbox import consumer_name
from gateway.sip2 import render
from gateway.sip2.answer import Answer, Result
from gateway.sip2.forwarding import forward
from gateway.sip2.logins import LoginGuard
from gateway.sip2.routing import Route, RouteKind, route
from protocols.sip2 import (
    AcsStatus,
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    EndPatronSessionRequest,
    HoldMode,
    HoldRequest,
    LoginRequest,
    LoginResponse,
    Message,
    PatronEnableRequest,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
    RenewAllRequest,
    RenewAllResponse,
    RenewRequest,
    ScStatus,
    SupportedMessages,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from gateway.circulation.session import Session
    from gateway.runtime.rules import Rules
    from gateway.runtime.services import Services

__all__ = ["INSTANCE", "Dispatcher", "session_id"]

INSTANCE = consumer_name()
"""This gateway process in kiosk session records (host and process id)."""

log = structlog.get_logger("interlend.sip2")

_GUARDED = (
    PatronStatusRequest,
    PatronInformationRequest,
    CheckoutRequest,
    RenewRequest,
    HoldRequest,
    RenewAllRequest,
    PatronEnableRequest,
)
"""The requests the PIN gate admits (35 ends a session: it is never refused)."""
_LOOKUPS = (PatronStatusRequest, PatronInformationRequest)
"""Requests whose answer says whether the PIN was right (``CQ``)."""


def session_id(session: Session) -> str:
    """A kiosk session's id in the store: this gateway and the connection."""
    return f"{INSTANCE}/{session.conn_id}"


def _title_hold(message: Message) -> bool:
    return (
        isinstance(message, HoldRequest)
        and message.hold_mode is HoldMode.ADD
        and not message.item_identifier
        and bool((message.title_identifier or "").strip())
    )


class Dispatcher:
    """Answers kiosk requests with the rules and services in force when each starts.

    Args:
        current: Returns the rules and services in force (they are swapped on reload).
        hash_limiter: Bounds the threads verifying terminal passwords.
    """

    def __init__(
        self,
        current: Callable[[], tuple[Rules, Services]],
        *,
        hash_limiter: trio.CapacityLimiter | None = None,
    ) -> None:
        self._current = current
        self.logins = LoginGuard(hash_limiter=hash_limiter)

    async def handle(self, session: Session, message: Message) -> Answer:
        """Answer one request (never raises for a kiosk's or an ILS's behaviour)."""
        rules, services = self._current()
        call = Call.start(rules, services, session)
        if isinstance(message, LoginRequest):
            return await self._login(call, message)
        await self._record(call)  # the kiosk is alive (99 heartbeats included)
        if isinstance(message, ScStatus):
            return Answer(self._status(call), route=Route(RouteKind.GATEWAY, session.member or ""))
        if session.member is None:  # pragma: no cover - the codec refuses requests first
            raise AssertionError("a request before login reached the dispatcher")
        where = route(rules.consortium, session.member, message)
        try:
            if isinstance(message, _GUARDED):
                refused = await self._admit(call, where, message)
                if refused is not None:
                    return refused.routed(where)
            answer = await self._dispatch(call, where, message)
        except (IlsError, IlsRequestInvalid, StateUnavailable) as exc:
            answer = self._failed(call, message, exc)
        return answer.routed(where)

    def _failed(
        self, call: Call, message: Message, exc: IlsError | IlsRequestInvalid | StateUnavailable
    ) -> Answer:
        why = refusal_for_failure(exc, call.rules)
        conn = call.session.conn_id
        if isinstance(exc, IlsRequestInvalid):  # the kiosk's error: nothing was sent
            log.info("request cannot be sent", conn=conn, detail=exc.detail)
            return self._refused(call, message, why)
        if isinstance(exc, IlsError):
            log.warning(
                "member ILS failed",
                conn=conn,
                member=exc.member,
                error=type(exc).__name__,
                detail=exc.detail,
            )
        else:
            log.error("loan registry unavailable", conn=conn, detail=exc.detail)
        return self._refused(call, message, why)

    def _refused(
        self, call: Call, message: Message, why: Refusal, patron: str | None = None
    ) -> Answer:
        result = Result.UNAVAILABLE if why.code.unavailable else Result.REFUSED
        if why.code is RefusalCode.NOT_RECORDED:
            result = Result.ERROR
        return Answer(render.refused(message, why, call.now), result, why.reason, patron=patron)

    async def _admit(
        self,
        call: Call,
        where: Route,
        message: PatronStatusRequest
        | PatronInformationRequest
        | CheckoutRequest
        | RenewRequest
        | HoldRequest
        | RenewAllRequest
        | PatronEnableRequest,
    ) -> Answer | None:
        home = where.home or where.target
        if home is None or not message.patron_identifier:
            return None
        checked = (
            isinstance(message, _LOOKUPS)
            or where.kind is RouteKind.RECIPROCAL
            or _title_hold(message)
        )
        refused = await patrons.admit(
            call,
            home,
            message.patron_identifier,
            message.patron_password or None,
            checked_by_answer=checked,
        )
        if refused is None:
            return None
        pkey = call.patron_key(home, message.patron_identifier)
        return self._refused(call, message, refused, pkey)

    # --- gateway's own answers ------------------------------------------------------

    async def _login(self, call: Call, request: LoginRequest) -> Answer:
        rules = call.rules
        account = rules.consortium.terminals.get(request.login_user_id)
        refused = await self.logins.login(
            call.services.store,
            rules.settings.limits,
            name=request.login_user_id,
            password=request.login_password,
            account=account,
            address=call.session.address,
        )
        if refused is not None:
            return Answer(LoginResponse(ok=False), Result.REFUSED, refused.reason)
        assert account is not None
        session = call.session
        session.member = account.member
        session.login = request.login_user_id
        session.location = request.location_code or account.terminal.location
        session.staff = account.terminal.staff
        session.verified.clear()
        await self._record(call, opening=True)
        return Answer(LoginResponse(ok=True))

    # --- kiosk sessions in the state store (who is connected, across gateways) -----------

    async def _record(self, call: Call, *, opening: bool = False) -> None:
        """Open the session in the store at login; touch it now and then afterwards."""
        session, store = call.session, call.services.store
        ttl = call.rules.settings.idle_timeout_s
        now = trio.current_time()
        if not opening and (session.touched is None or now - session.touched < ttl / 3):
            return
        session.touched = now
        try:
            if not opening and await store.session_touch(session_id(session), ttl_s=ttl):
                return
            # A new session, or one the store lost (expired, or Redis restarted empty).
            info = {
                "terminal": session.login or "",
                "member": session.member or "",
                "location": session.location or "",
                "peer": session.peer,
                "gateway": INSTANCE,
                "since": call.now.isoformat(),
            }
            await store.session_open(session_id(session), info, ttl_s=ttl)
        except StateUnavailable as exc:
            log.warning("kiosk session not recorded", conn=session.conn_id, detail=exc.detail)

    async def forget(self, session: Session) -> None:
        """The kiosk went away: drop its session from the store (best effort)."""
        if session.touched is None:
            return
        try:
            await self._current()[1].store.session_close(session_id(session))
        except StateUnavailable as exc:
            log.warning("kiosk session left to expire", conn=session.conn_id, detail=exc.detail)

    def _status(self, call: Call) -> AcsStatus:
        member = call.session.member
        rules = call.rules
        settings = rules.settings
        return AcsStatus(
            online_status=True,
            checkin_ok=True,
            checkout_ok=True,
            acs_renewal_policy=True,
            status_update_ok=True,
            offline_ok=False,
            timeout_period=min(999, round(settings.request_timeout_s * 10)),
            retries_allowed=3,
            date_time_sync=call.now,
            institution_id=rules.institution_id(member) if member else settings.institution_id,
            library_name=rules.name(member) if member else None,
            supported_messages=SupportedMessages(0xFFFF),
            terminal_location=call.session.location,
        )

    # --- dispatch ------------------------------------------------------------------------

    async def _dispatch(self, call: Call, where: Route, message: Message) -> Answer:
        match message:
            case PatronStatusRequest() | PatronInformationRequest():
                return await self._patron(call, where, message)
            case EndPatronSessionRequest():
                assert where.target is not None
                call.session.verified.discard(
                    call.patron_key(where.target, message.patron_identifier)
                )
                return Answer(await forward(call, where.target, message))
            case CheckinRequest():
                return await self._checkin(call, where, message)
            case CheckoutRequest() if where.kind is RouteKind.RECIPROCAL:
                return await self._checkout(call, where, message)
            case RenewRequest() if where.kind is RouteKind.RECIPROCAL:
                return await self._renew(call, where, message)
            case RenewAllRequest():
                return await self._renew_all(call, where, message)
            case HoldRequest() if _title_hold(message) and where.home is not None:
                return await self._title_hold(call, where.home, message)
            case HoldRequest() if where.kind is RouteKind.GATEWAY:
                why = Refusal(RefusalCode.ASK_AT_DESK, holds.ASK_AT_DESK)
                return self._refused(call, message, why)
        if where.target is None:  # pragma: no cover - every request has a rule above
            raise AssertionError(f"no route for {message.code}")
        return Answer(await forward(call, where.target, message))

    # --- patrons -----------------------------------------------------------------------

    async def _patron(
        self,
        call: Call,
        where: Route,
        request: PatronStatusRequest | PatronInformationRequest,
    ) -> Answer:
        home = where.target
        assert home is not None
        barcode, pin = request.patron_identifier, request.patron_password or None
        lists = isinstance(request, PatronInformationRequest)
        if call.member(home).forwarding is not None:
            answer = await forward(call, home, request)
            assert isinstance(answer, PatronStatusResponse | PatronInformationResponse)
            record = patron_record(answer, pin_checked=pin is not None)
        else:
            record = await call.member(home).ils.patron_status(
                barcode, pin, timeout=call.budget(home)
            )
            answer = render.patron_answer(request, record, call.now)
        pkey = call.patron_key(home, barcode)
        if not record.found:
            return Answer(answer, patron=pkey)
        view = await patrons.after_lookup(
            call, home, barcode, record, pin_given=pin is not None, lists=lists
        )
        shown = render.patron_view(answer, request, view, call.now)
        if view.refusal is not None:
            return Answer(shown, Result.REFUSED, view.refusal.reason, patron=pkey)
        return Answer(shown, patron=pkey)

    # --- loans ---------------------------------------------------------------------------

    async def _checkout(self, call: Call, where: Route, request: CheckoutRequest) -> Answer:
        home, owner = where.home, where.owner
        assert home is not None
        assert owner is not None
        sent = (
            request.transaction_date.isoformat()
            if request.transaction_date
            else call.now.isoformat()
        )
        made = await loans.checkout(
            call,
            loans.Checkout(
                home=home,
                owner=owner,
                barcode=request.patron_identifier,
                item=request.item_identifier,
                pin=request.patron_password or None,
                sent=sent,
            ),
        )
        pkey = call.patron_key(home, request.patron_identifier)
        if isinstance(made, Refusal):
            return self._refused(call, request, made, pkey)
        return Answer(render.loan_answer(request, made, call.name(owner), call.now), patron=pkey)

    async def _renew(self, call: Call, where: Route, request: RenewRequest) -> Answer:
        home, owner = where.home, where.owner
        assert home is not None
        assert owner is not None
        renewed = await loans.renew(
            call,
            home=home,
            owner=owner,
            barcode=request.patron_identifier,
            item=request.item_identifier,
            pin=request.patron_password or None,
        )
        pkey = call.patron_key(home, request.patron_identifier)
        if isinstance(renewed, Refusal):
            return self._refused(call, request, renewed, pkey)
        return Answer(render.renewal_answer(request, renewed, call.now), patron=pkey)

    async def _renew_all(self, call: Call, where: Route, request: RenewAllRequest) -> Answer:
        home = where.target
        assert home is not None
        answer = await forward(call, home, request)
        pkey = call.patron_key(home, request.patron_identifier)
        if not isinstance(answer, RenewAllResponse) or not answer.ok:
            return Answer(answer, patron=pkey)
        done = await loans.renew_reciprocal(call, pkey)
        if not done.renewed and not done.unrenewed:
            return Answer(answer, patron=pkey)
        return Answer(render.renew_all_answer(answer, done), patron=pkey)

    async def _title_hold(self, call: Call, home: str, request: HoldRequest) -> Answer:
        placed = await holds.place_title_hold(
            call,
            home=home,
            barcode=request.patron_identifier,
            pin=request.patron_password or None,
            title=(request.title_identifier or "").strip(),
            pickup_location=request.pickup_location,
        )
        pkey = call.patron_key(home, request.patron_identifier)
        if placed is None:  # the home library holds it: its own ILS takes the hold
            return Answer(await forward(call, home, request), patron=pkey)
        if isinstance(placed, Refusal):
            return self._refused(call, request, placed, pkey)
        return Answer(render.hold_answer(request, placed, call.now), patron=pkey)

    # --- items ---------------------------------------------------------------------------

    async def _checkin(self, call: Call, where: Route, request: CheckinRequest) -> Answer:
        owner = where.target
        assert owner is not None
        location = request.current_location or call.session.location or ""
        if call.member(owner).forwarding is not None:
            answer = await forward(call, owner, request)
            assert isinstance(answer, CheckinResponse)
            if not answer.ok:
                return Answer(answer)
            loan = await loans.record_return(call, owner, request.item_identifier)
        else:
            returned = await loans.check_in(
                call, owner=owner, item=request.item_identifier, location=location
            )
            if isinstance(returned, Refusal):
                source = returned.source
                if source is not None and not isinstance(source, CheckinOutcome):
                    raise AssertionError("a checkin refusal carries the owner's checkin")
                if source is None:
                    return self._refused(call, request, returned)
                return Answer(render.checkin_answer(request, source, call.now))
            answer = render.checkin_answer(request, returned.owner_answer, call.now)
            loan = returned.loan
        if loan is not None:
            # The ILS names the proxy account; the visitor's card is not the kiosk's business.
            answer = render.without_patron(answer)
        if owner != call.session.member:
            rules = call.rules
            answer = render.in_transit(
                answer, owner, rules.name(owner), rules.institution_id(owner)
            )
        return Answer(answer, patron=loan.patron_key if loan is not None else None)
