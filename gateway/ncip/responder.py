"""The NCIP responder: resource-sharing systems (ReShare, ILLiad, DCB, SHAREit…) talk to
the consortium through the gateway.

A peer is a system configured under a library's ``ncip_peers`` (its ``FromAgencyId``,
and an API key or bearer token).  It proves who it is with the key in ``X-API-Key``,
the token in ``Authorization: Bearer``, or the key as ``FromAgencyAuthentication``;
then it acts for that library, through the same routing, policy, registry and ledger
as the library's own kiosks: each NCIP service is carried out as the SIP2 request a
kiosk of that library would send (``Circulation.handle``) and the answer is written
back as NCIP.

=====================  ==========================================================
LookupUser             63 at the patron's home (with the PIN when one is given);
                       the consortium's policy shows as a block for visitors.
CheckOutItem           a patron's card: the reciprocal checkout a kiosk would make
                       (the peer is trusted for the PIN).  A library's
                       institutional account at the owner (its proxy patron): the
                       owner lends to that library, recorded in the registry.
                       ``RequestId`` makes a retry lend once.
CheckInItem            09 at the owner; the registry loan is closed.
RenewItem              29 (reciprocal renewals within the owner's rules).
LookupItem             17 at the owner.
RequestItem            15 (add) for the item; by bibliographic id (ISBN or title),
                       the lender the gateway chooses (``title_holds``).
                       CancelRequestItem: 15 (delete).
AcceptItem, DeleteItem the library's own ILS, when it speaks NCIP; a SIP2 ILS cannot
                       create items, which the Problem says.
LookupAgency           the consortium's own directory.
=====================  ==========================================================

A peer acts for its own library only.  Reads (LookupUser, LookupItem, LookupAgency)
are open to every authenticated peer; a write is carried out only when the peer's
library is one the write concerns, decided before anything is asked of an ILS by the
consortium's barcode rules (``owner_of``, ``home_of``, exactly as the request will be
routed: a barcode no rule claims is the peer's own library's) and the registry:

==============================  ===================================================
CheckOutItem to a patron        the item's owner (the lender) or the patron's home
CheckOutItem to a library       the item's owner: only the lender's own system lends
                                its stock to another library's institutional account
CheckInItem                     the item's owner, or the library the registry's
                                active loan of the item is lent to (its ``home``)
RenewItem                       the item's owner or the patron's home
RequestItem, CancelRequestItem  the patron's home (the hold is placed for its patron)
AcceptItem                      the patron's home (where the temporary item is made)
DeleteItem                      always the peer's own library's ILS
==============================  ===================================================

Anything else is answered with the general processing error "Unauthorized Combination
Of Element Values For Agency" naming the element (``UserId`` or ``ItemId``), and
nothing is asked of any ILS.

Whatever goes wrong, the answer is NCIP: a message-level Problem when the message
cannot be read, a service Problem otherwise; never an HTTP error for bad input.  A
member ILS or the loan registry that cannot answer is a Temporary Processing Failure
in stable words (the library's name, or the registry); what failed (hosts, ports,
URLs, Redis commands) goes to the gateway's log only.
"""

from __future__ import annotations

import hmac
import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
import trio

from adapters.errors import IlsError, IlsRequestInvalid, IlsTimeout
from adapters.ils.sip2 import parse_due_date
from adapters.state.base import CapExceeded, LoanRequest, StateUnavailable
from config.policy import proxy_patron
from gateway.circulation.context import Outcome, RequestContext, Result, utc_now
from gateway.sip2.responses import REGISTRY_UNAVAILABLE
from gateway.sip2.routing import home_of, owner_of
from gateway.sip2.session import TerminalSession
from protocols.ncip import (
    AcceptItem,
    AcceptItemResponse,
    CancelRequestItem,
    CancelRequestItemResponse,
    CheckInItem,
    CheckInItemResponse,
    CheckOutItem,
    CheckOutItemResponse,
    DeleteItem,
    DeleteItemResponse,
    Header,
    LookupAgency,
    LookupAgencyResponse,
    LookupItem,
    LookupItemResponse,
    LookupUser,
    LookupUserResponse,
    NcipSyntaxError,
    NcipUnsupported,
    Patron,
    Privilege,
    Problem,
    ProblemResponse,
    ProblemType,
    RenewItem,
    RenewItemResponse,
    Request,
    RequestItem,
    RequestItemResponse,
    Response,
    Style,
    missing_element,
    read_request,
    write_response,
)
from protocols.ncip.errors import GENERAL_SCHEME
from protocols.sip2 import (
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    CirculationStatus,
    HoldMode,
    HoldRequest,
    HoldResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    Message,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatus,
    RenewRequest,
    RenewResponse,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from config.consortium import Consortium
    from config.models import NcipPeer
    from gateway.app.runtime import Runtime
    from gateway.sip2.dispatch import Circulation

__all__ = ["NcipResponder", "Peer"]

log = structlog.get_logger("interlend.ncip")

_STATUS_NAMES = {
    CirculationStatus.AVAILABLE: "Available On Shelf",
    CirculationStatus.CHARGED: "On Loan",
    CirculationStatus.CHARGED_NOT_TO_BE_RECALLED: "On Loan",
    CirculationStatus.ON_ORDER: "On Order",
    CirculationStatus.IN_PROCESS: "In Process",
    CirculationStatus.RECALLED: "On Loan",
    CirculationStatus.WAITING_ON_HOLD_SHELF: "Available For Pickup",
    CirculationStatus.IN_TRANSIT: "In Transit Between Library Locations",
    CirculationStatus.MISSING: "Missing",
    CirculationStatus.LOST: "Lost",
}
INSTITUTIONAL_LOAN_DAYS = 28


class _Unavailable(Exception):
    """Circulation could not reach a member ILS or the registry (its kiosk refusal)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Peer:
    """A resource-sharing system allowed to call, and the library it acts for."""

    agency: str
    member: str
    api_key: str | None
    bearer_token: str | None
    style: Style


def peers_of(runtime: Runtime) -> dict[str, Peer]:
    """Every configured NCIP peer by its agency id (case-insensitive)."""
    found: dict[str, Peer] = {}
    for node_id, node in runtime.consortium.nodes.items():
        for index, peer in enumerate(node.ncip_peers):
            found[peer.agency_id.casefold()] = Peer(
                peer.agency_id,
                node_id,
                runtime.ncip_secret(node_id, index, "api_key"),
                runtime.ncip_secret(node_id, index, "bearer_token"),
                _style(peer),
            )
    return found


def _style(peer: NcipPeer) -> Style:
    return Style(prefix=None if peer.prefix_free else "ns1", date_only=peer.date_only)


def _same(given: str | None, expected: str | None) -> bool:
    """Whether a credential matches, in constant time; compared as UTF-8 bytes, since
    ``compare_digest`` refuses strings outside ASCII (a peer may send anything, and an
    environment variable may hold undecodable bytes as surrogates)."""
    if given is None or expected is None:
        return False
    return hmac.compare_digest(_utf8(given), _utf8(expected))


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def authenticated(peer: Peer, header: Header, headers: Mapping[str, str]) -> bool:
    """Whether the caller proved it is ``peer`` (a peer without credentials never is)."""
    key = headers.get("x-api-key")
    authorization = headers.get("authorization", "")
    token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
    if peer.api_key is not None and (
        _same(key, peer.api_key) or _same(header.from_agency_authentication, peer.api_key)
    ):
        return True
    return peer.bearer_token is not None and _same(token, peer.bearer_token)


def _problem(
    service: str, kind: str, detail: str | None = None, element: str | None = None
) -> ProblemResponse:
    general = {
        ProblemType.AGENCY_AUTHENTICATION_FAILED,
        ProblemType.UNAUTHORIZED_FOR_AGENCY,
        ProblemType.UNKNOWN_AGENCY,
        ProblemType.UNSUPPORTED_SERVICE,
        ProblemType.NEEDED_DATA_MISSING,
        ProblemType.TEMPORARY_PROCESSING_FAILURE,
    }
    scheme = GENERAL_SCHEME if kind in general else None
    return ProblemResponse(service, (Problem(kind, detail, element, scheme=scheme),))


def _screen(message: Message) -> str | None:
    lines: tuple[str, ...] = getattr(message, "screen_messages", ())
    return " ".join(lines) or None


class NcipResponder:
    """Answers NCIP messages for the gateway (see the module documentation)."""

    def __init__(self, circulation: Circulation, runtime: Callable[[], Runtime]) -> None:
        self._circulation = circulation
        self._runtime = runtime
        self._ids = itertools.count(1)
        self._peers: tuple[Runtime, dict[str, Peer]] | None = None

    def peers(self, runtime: Runtime) -> dict[str, Peer]:
        """The peers of ``runtime``, worked out once per configuration (not per message)."""
        if self._peers is None or self._peers[0] is not runtime:
            self._peers = (runtime, peers_of(runtime))
        return self._peers[1]

    async def handle(self, body: bytes, headers: Mapping[str, str], client: str) -> bytes:
        """The response body for one posted message (never raises for bad input)."""
        runtime = self._runtime()
        style, reply_header = Style(), None
        try:
            request = read_request(body)
        except NcipUnsupported as exc:
            response: Response = _problem("", ProblemType.UNSUPPORTED_SERVICE, str(exc))
        except NcipSyntaxError as exc:
            element = missing_element(exc)
            service = _service_name(body) if element else ""
            response = (
                _problem(service, ProblemType.NEEDED_DATA_MISSING, str(exc), element)
                if element and service
                else ProblemResponse("", (Problem(ProblemType.INVALID_MESSAGE_SYNTAX, str(exc)),))
            )
        else:
            service = type(request).__name__
            peer = self.peers(runtime).get((request.header.from_agency or "").casefold())
            if peer is None:
                response = _problem(
                    service,
                    ProblemType.UNKNOWN_AGENCY,
                    f"FromAgencyId {request.header.from_agency!r} is not a configured peer",
                    "FromAgencyId",
                )
            elif not authenticated(peer, request.header, headers):
                response = _problem(
                    service,
                    ProblemType.AGENCY_AUTHENTICATION_FAILED,
                    "send the peer's API key (X-API-Key or FromAgencyAuthentication) "
                    "or bearer token",
                )
            else:
                style = peer.style
                reply_header = Header(runtime.settings.institution_id, peer.agency)
                response = await self._serve(runtime, peer, request, client)
        if isinstance(response, ProblemResponse):
            log.info(
                "ncip problem",
                service=response.service or None,
                problems=[p.type for p in response.problems],
                client=client,
            )
        try:
            return write_response(response, style, reply_header)
        except (ValueError, OverflowError) as exc:  # a value no answer can carry
            log.error("ncip answer could not be written", error=str(exc))
            failed = _problem(
                response.service if isinstance(response, ProblemResponse) else "",
                ProblemType.TEMPORARY_PROCESSING_FAILURE,
                "the answer could not be written",
            )
            return write_response(failed, style, reply_header)

    async def _serve(self, runtime: Runtime, peer: Peer, request: Request, client: str) -> Response:
        service = type(request).__name__
        session = TerminalSession(
            f"n{next(self._ids)}", client, member=peer.member, login=f"ncip:{peer.agency}"
        )
        try:
            authority = await _authority(runtime, peer.member, request)
            if authority is not None and peer.member not in authority.libraries:
                return _beyond_its_library(runtime, peer, service, authority)
            return await self._dispatch(runtime, peer, session, request)
        except IlsError as exc:
            # The detail (hosts, ports, URLs) is for the gateway's log only.
            log.warning(
                "ncip: a member ILS could not answer",
                service=service,
                member=exc.member,
                error=type(exc).__name__,
                detail=exc.detail,
            )
            detail = _member_unavailable(runtime, exc)
            return _problem(service, ProblemType.TEMPORARY_PROCESSING_FAILURE, detail)
        except IlsRequestInvalid as exc:  # the peer's error: nothing was sent to the ILS
            detail = f"{runtime.name(exc.member)} cannot take this request: {exc.detail}"
            return _problem(service, "Element Rule Violated", detail)
        except StateUnavailable as exc:
            log.error("ncip: the loan registry is unavailable", service=service, detail=exc.detail)
            return _problem(service, ProblemType.TEMPORARY_PROCESSING_FAILURE, REGISTRY_UNAVAILABLE)
        except _Unavailable as exc:
            return _problem(service, ProblemType.TEMPORARY_PROCESSING_FAILURE, exc.reason)
        except Exception:
            log.exception("ncip request failed in the gateway", service=service)
            return _problem(service, ProblemType.TEMPORARY_PROCESSING_FAILURE, "the gateway failed")

    async def _sip2(
        self, session: TerminalSession, message: Message, request_key: str | None = None
    ) -> Outcome:
        """The service as the library's kiosk would ask it; a member ILS or the registry
        that could not answer is a Temporary Processing Failure for every service."""
        outcome = await self._circulation.handle(session, message, request_key=request_key)
        if outcome.result is Result.UNAVAILABLE:
            raise _Unavailable(outcome.reason)
        return outcome

    async def _dispatch(
        self, runtime: Runtime, peer: Peer, session: TerminalSession, request: Request
    ) -> Response:
        now = utc_now()
        consortium = runtime.consortium
        match request:
            case LookupUser(patron=patron):
                outcome = await self._sip2(
                    session,
                    PatronInformationRequest(
                        transaction_date=now,
                        patron_identifier=patron.identifier,
                        patron_password=patron.pin,
                    ),
                )
                home = home_of(consortium, patron.identifier, "", peer.member)
                return _lookup_user(outcome, patron.identifier, patron.pin is not None, home)
            case CheckOutItem():
                return await self._checkout(runtime, peer, session, request, now)
            case CheckInItem(item=item):
                outcome = await self._sip2(
                    session,
                    CheckinRequest(
                        no_block=False,
                        transaction_date=now,
                        return_date=now,
                        current_location=peer.member,
                        item_identifier=item,
                    ),
                )
                answer = outcome.response
                if isinstance(answer, CheckinResponse) and answer.ok:
                    return CheckInItemResponse(item, answer.patron_identifier or None)
                return _problem("CheckInItem", _item_problem(answer), _screen(answer))
            case RenewItem(patron=patron, item=item):
                self._trust(runtime, session, patron.identifier, peer.member)
                outcome = await self._sip2(
                    session,
                    RenewRequest(
                        third_party_allowed=False,
                        no_block=False,
                        transaction_date=now,
                        nb_due_date=now,
                        patron_identifier=patron.identifier,
                        patron_password=patron.pin,
                        item_identifier=item,
                    ),
                )
                answer = outcome.response
                if isinstance(answer, RenewResponse) and answer.ok:
                    due = parse_due_date(answer.due_date or "")
                    return RenewItemResponse(item, patron.identifier, due)
                return _problem("RenewItem", ProblemType.ITEM_NOT_RENEWABLE, _screen(answer))
            case LookupItem(item=item) if item is not None:
                outcome = await self._sip2(
                    session, ItemInformationRequest(transaction_date=now, item_identifier=item)
                )
                return _lookup_item(outcome.response, item)
            case LookupItem():
                return _problem(
                    "LookupItem",
                    ProblemType.UNKNOWN_REQUEST,
                    "the gateway looks items up by ItemId only",
                    "RequestId",
                )
            case RequestItem() | CancelRequestItem():
                return await self._hold(runtime, session, request, now)
            case AcceptItem() | DeleteItem():
                return await self._item_record(runtime, peer, request)
            case LookupAgency(agency=agency):
                node = consortium.nodes.get(agency) or next(
                    (
                        consortium.nodes[n]
                        for n, v in consortium.nodes.items()
                        if agency in v.institution_ids
                    ),
                    None,
                )
                if node is None:
                    return _problem("LookupAgency", ProblemType.UNKNOWN_AGENCY, None, "AgencyId")
                return LookupAgencyResponse(agency, node.name)

    def _trust(self, runtime: Runtime, session: TerminalSession, patron: str, member: str) -> None:
        """An authenticated peer vouches for the patron: no PIN is asked of it."""
        home = home_of(runtime.consortium, patron, "", member)
        session.verified.add(runtime.patron_key(home, patron))

    async def _checkout(
        self,
        runtime: Runtime,
        peer: Peer,
        session: TerminalSession,
        request: CheckOutItem,
        now: datetime,
    ) -> Response:
        owner = owner_of(runtime.consortium, request.item, peer.member)
        borrower = _institution(runtime.consortium, owner, request.patron.identifier)
        if borrower is not None:  # the gate let only the owner's peer through
            return await self._lend_to_library(runtime, session, request, owner, borrower, now)
        self._trust(runtime, session, request.patron.identifier, peer.member)
        key = f"ncip:{peer.agency}:{request.request_id}" if request.request_id else None
        outcome = await self._sip2(
            session,
            CheckoutRequest(
                sc_renewal_policy=True,
                no_block=False,
                transaction_date=now,
                nb_due_date=now,
                patron_identifier=request.patron.identifier,
                item_identifier=request.item,
                patron_password=request.patron.pin,
            ),
            request_key=key,
        )
        answer = outcome.response
        if isinstance(answer, CheckoutResponse) and answer.ok:
            due = parse_due_date(answer.due_date or "") or now + timedelta(days=21)
            return CheckOutItemResponse(request.item, request.patron.identifier, due)
        return _problem("CheckOutItem", _checkout_problem(outcome), _screen(answer))

    async def _lend_to_library(
        self,
        runtime: Runtime,
        session: TerminalSession,
        request: CheckOutItem,
        owner: str,
        borrower: str,
        now: datetime,
    ) -> Response:
        """The owner lends to another library's institutional account (an ILL loan)."""
        proxy = request.patron.identifier
        ctx = RequestContext.start(
            runtime, session, ItemInformationRequest(transaction_date=now, item_identifier="")
        )
        store = runtime.store
        # Without a RequestId each request stands alone (no retry can be recognised).
        key = request.request_id or f"{request.item}:{now.isoformat()}:{uuid.uuid4().hex}"
        reservation = await store.reserve(
            LoanRequest(
                owner=owner,
                home=borrower,
                item=request.item,
                patron_key=runtime.patron_key(borrower, proxy),
                proxy_patron=proxy,
                terminal=session.name,
                idempotency_key=f"ncip\x1f{session.name}\x1f{key}",
                cap_at_owner=None,
                cap_total=None,
                quota_at_owner=runtime.consortium.policy(owner).circulation.visitor_loan_quota,
            ),
            now=now,
        )
        if isinstance(reservation, CapExceeded):
            detail = f"{runtime.name(owner)} has no more items to lend to other libraries now"
            return _problem("CheckOutItem", ProblemType.MAXIMUM_CHECK_OUTS_EXCEEDED, detail)
        if reservation.existing is not None:
            return CheckOutItemResponse(request.item, proxy, reservation.existing.due)
        due = request.desired_due or now + timedelta(days=INSTITUTIONAL_LOAN_DAYS)
        try:
            lent = await ctx.member(owner).checkout(
                proxy, request.item, due=due, timeout=ctx.budget(owner)
            )
        except BaseException:
            with trio.CancelScope(shield=True):
                await store.release(reservation)
            raise
        if not lent.ok:
            await store.release(reservation)
            refused = " ".join(lent.screen_messages) or None
            return _problem("CheckOutItem", ProblemType.RESOURCE_CANNOT_BE_PROVIDED, refused)
        with trio.CancelScope(shield=True):  # lent at the owner: record it whatever happens
            loan = await store.commit(reservation, due=lent.due or due, now=now)
        return CheckOutItemResponse(request.item, proxy, loan.due)

    async def _hold(
        self,
        runtime: Runtime,
        session: TerminalSession,
        request: RequestItem | CancelRequestItem,
        now: datetime,
    ) -> Response:
        service = type(request).__name__
        item = request.items[0] if isinstance(request, RequestItem) and request.items else None
        if isinstance(request, CancelRequestItem):
            item = request.item
        # A request by bibliographic id (an ISBN or a title) goes to the lender the
        # gateway chooses (``title_holds``); cancelling needs the item.
        title = (
            request.bibliographic_ids[0]
            if isinstance(request, RequestItem) and item is None and request.bibliographic_ids
            else None
        )
        if item is None and title is None:
            return _problem(
                service,
                ProblemType.NEEDED_DATA_MISSING,
                "the gateway cancels requests by ItemId",
                "ItemId",
            )
        self._trust(runtime, session, request.patron.identifier, session.member or "")
        outcome = await self._sip2(
            session,
            HoldRequest(
                hold_mode=HoldMode.ADD if isinstance(request, RequestItem) else HoldMode.DELETE,
                transaction_date=now,
                patron_identifier=request.patron.identifier,
                patron_password=request.patron.pin,
                item_identifier=item,
                title_identifier=title,
                pickup_location=getattr(request, "pickup_location", None),
            ),
        )
        answer = outcome.response
        if not (isinstance(answer, HoldResponse) and answer.ok):
            kind = (
                "User Ineligible To Request This Item"
                if isinstance(request, RequestItem)
                else ProblemType.UNKNOWN_REQUEST
            )
            return _problem(service, kind, _screen(answer))
        if isinstance(request, RequestItem):
            return RequestItemResponse(
                request.patron.identifier,
                request.request_type,
                request.scope_type,
                request_id=request.request_id,
                item=item or answer.item_identifier or (title if not request.request_id else None),
            )
        return CancelRequestItemResponse(
            request.patron.identifier, request_id=request.request_id, item=item
        )

    async def _item_record(
        self, runtime: Runtime, peer: Peer, request: AcceptItem | DeleteItem
    ) -> Response:
        service = type(request).__name__
        member = peer.member  # the gate let AcceptItem through for its patrons only
        client: Any = runtime.members.get(member)
        budget = runtime.consortium.policy(member).ils.timeout_s
        if isinstance(request, AcceptItem):
            accept = getattr(client, "accept_item", None)
            if accept is None:
                return _unsupported(runtime, service, member)
            if request.patron is None or request.item is None:
                return _problem(
                    service,
                    ProblemType.NEEDED_DATA_MISSING,
                    "the gateway needs the patron (UserId) and the item (ItemId) to accept",
                    "UserId" if request.patron is None else "ItemId",
                )
            accepted = await accept(
                request.request_id,
                request.patron.identifier,
                request.item,
                title=request.title,
                due=request.date_for_return,
                pickup_location=request.pickup_location,
                action=request.requested_action,
                timeout=budget,
            )
            if not accepted.ok:
                detail = " ".join(accepted.screen_messages) or None
                return _problem(service, ProblemType.CANNOT_ACCEPT_ITEM, detail)
            return AcceptItemResponse(request.request_id, accepted.item or request.item)
        delete = getattr(client, "delete_item", None)
        if delete is None:
            return _unsupported(runtime, service, member)
        deleted = await delete(request.item, timeout=budget)
        if not deleted.ok:
            detail = " ".join(deleted.screen_messages) or None
            return _problem(service, ProblemType.UNKNOWN_ITEM, detail)
        return DeleteItemResponse(request.item)


@dataclass(frozen=True)
class _Authority:
    """The libraries whose peers may ask for one write, and how a refusal says it."""

    libraries: frozenset[str]
    needs: str
    """Who the peer must act for, in words (for the Problem's detail)."""
    element: str
    """The element whose value puts the write beyond the peer's library."""


def _institution(consortium: Consortium, owner: str, patron: str) -> str | None:
    """The library whose institutional account (proxy patron) at ``owner`` ``patron``
    is, if it is one."""
    return next(
        (
            home
            for home in consortium.libraries
            if home != owner and proxy_patron(consortium, owner, home) == patron
        ),
        None,
    )


async def _authority(runtime: Runtime, member: str, request: Request) -> _Authority | None:
    """Which libraries' peers may make the write ``request`` asks for (``None``: any
    peer, for reads and for DeleteItem, which only ever reaches the peer's own ILS).

    Decided by the consortium's barcode rules and the registry, exactly as the request
    will be routed: a barcode no rule claims belongs to ``member`` (the peer's own
    library), as it does for the library's kiosks.

    Raises:
        StateUnavailable: CheckInItem by a peer that is not the owner needs the
            registry's loan, and the registry cannot answer.
    """
    consortium = runtime.consortium
    match request:
        case CheckOutItem(patron=patron, item=item):
            owner = owner_of(consortium, item, member)
            if _institution(consortium, owner, patron.identifier) is not None:
                return _Authority(frozenset({owner}), "the item's owner", "ItemId")
            home = home_of(consortium, patron.identifier, "", member)
            return _Authority(
                frozenset({owner, home}), "the item's owner or the patron's home library", "UserId"
            )
        case CheckInItem(item=item):
            owner = owner_of(consortium, item, member)
            holders = {owner}
            if member != owner:
                loan = await runtime.store.active_loan(owner, item)
                holders |= {loan.home} if loan is not None else set()
            return _Authority(
                frozenset(holders), "the item's owner or the library it is lent to", "ItemId"
            )
        case RenewItem(patron=patron, item=item):
            owner = owner_of(consortium, item, member)
            home = home_of(consortium, patron.identifier, "", member)
            return _Authority(
                frozenset({owner, home}), "the item's owner or the patron's home library", "UserId"
            )
        case (
            RequestItem(patron=patron)
            | CancelRequestItem(patron=patron)
            | AcceptItem(patron=Patron() as patron)
        ):
            home = home_of(consortium, patron.identifier, "", member)
            return _Authority(frozenset({home}), "the patron's home library", "UserId")
    return None


def _beyond_its_library(
    runtime: Runtime, peer: Peer, service: str, authority: _Authority
) -> ProblemResponse:
    """The refusal of a write for another library than the peer's."""
    log.warning(
        "ncip peer refused: the write is not for its library",
        agency=peer.agency,
        member=peer.member,
        service=service,
        element=authority.element,
    )
    return _problem(
        service,
        ProblemType.UNAUTHORIZED_FOR_AGENCY,
        f"{peer.agency} acts for {runtime.name(peer.member)}, which is not {authority.needs}",
        authority.element,
    )


def _member_unavailable(runtime: Runtime, error: IlsError) -> str:
    """A peer's stable text for a member ILS that did not answer (never its detail)."""
    nodes = runtime.consortium.nodes
    name = runtime.name(error.member) if error.member in nodes else "A member library"
    if isinstance(error, IlsTimeout):
        return f"{name} is not answering; please try again later"
    return f"{name} cannot be reached; please try again later"


def _unsupported(runtime: Runtime, service: str, member: str) -> ProblemResponse:
    return _problem(
        service,
        ProblemType.UNSUPPORTED_SERVICE,
        f"{runtime.name(member)}'s ILS speaks SIP2, which cannot create or delete item "
        "records; make the temporary record at the desk",
    )


def _service_name(body: bytes) -> str:
    from protocols.ncip.initiator import service_name

    try:
        return service_name(body)
    except NcipSyntaxError:
        return ""


def _lookup_user(
    outcome: Outcome, patron: str, pin_given: bool, home: str
) -> LookupUserResponse | ProblemResponse:
    answer = outcome.response
    if not isinstance(answer, PatronInformationResponse) or not answer.valid_patron:
        return _problem("LookupUser", ProblemType.UNKNOWN_USER, _screen(answer), "UserId")
    if pin_given and answer.valid_patron_password is False:
        return _problem("LookupUser", ProblemType.USER_AUTHENTICATION_FAILED)
    blocked = bool(answer.patron_status & PatronStatus.CHARGE_PRIVILEGES_DENIED)
    reason = outcome.reason if outcome.result is Result.REFUSED else None
    blocks = ((home, reason or _screen(answer) or "Charge privileges denied"),) if blocked else ()
    return LookupUserResponse(
        patron,
        home,
        answer.personal_name or None,
        (Privilege(home, "Borrower", "Blocked" if blocked else "Active"),),
        blocks,
    )


def _lookup_item(answer: Message, item: str) -> LookupItemResponse | ProblemResponse:
    if not isinstance(answer, ItemInformationResponse):
        return _problem("LookupItem", ProblemType.UNKNOWN_ITEM, _screen(answer))
    status = answer.circulation_status
    if not answer.title_identifier and status in (CirculationStatus.OTHER, 1):
        return _problem("LookupItem", ProblemType.UNKNOWN_ITEM, _screen(answer), "ItemId")
    named = (
        _STATUS_NAMES.get(CirculationStatus(status)) if status in list(CirculationStatus) else None
    )
    return LookupItemResponse(
        item,
        answer.title_identifier or None,
        named,
        parse_due_date(answer.due_date or "") if answer.due_date else None,
        answer.permanent_location or None,
    )


def _item_problem(answer: Message) -> str:
    text = (_screen(answer) or "").lower()
    if "not found" in text or "not recognised" in text or "unknown" in text:
        return ProblemType.UNKNOWN_ITEM
    return ProblemType.ITEM_NOT_CHECKED_OUT


def _checkout_problem(outcome: Outcome) -> str:
    text = f"{outcome.reason} {_screen(outcome.response) or ''}".lower()
    if "pin" in text:
        return ProblemType.USER_AUTHENTICATION_FAILED
    if "card not recognised" in text or "patron not found" in text:
        return ProblemType.UNKNOWN_USER
    if "blocked" in text or "fines" in text or "expired" in text:
        return ProblemType.USER_BLOCKED
    if "limit of" in text or "no more items" in text:
        return ProblemType.MAXIMUM_CHECK_OUTS_EXCEEDED
    if "not recognised" in text or "not found" in text:
        return ProblemType.UNKNOWN_ITEM
    if "does not circulate" in text or "do not circulate" in text:
        return ProblemType.ITEM_DOES_NOT_CIRCULATE
    if outcome.result is Result.REFUSED:
        return ProblemType.USER_INELIGIBLE
    return ProblemType.RESOURCE_CANNOT_BE_PROVIDED
