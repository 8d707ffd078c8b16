"""The NCIP responder: resource-sharing systems (ReShare, ILLiad, DCB, SHAREit…) talk to
the consortium through the gateway.

A peer (``peers``) proves who it is, then acts for its library through the same
circulation flows, registry and ledger as the library's kiosks: each service calls the
neutral flows with a typed request and writes their typed result as NCIP; a refusal
becomes the Problem its code maps to (``problems``).  An authenticated peer vouches
for the patrons it names: no PIN is asked of them (one it sends is checked, through the
PIN gate).

=====================  ==========================================================
LookupUser             the patron's lookup at home (with the PIN when one is
                       given); the consortium's policy shows as a block for a
                       visitor at the peer's library.
CheckOutItem           a patron's card: the checkout a kiosk of the peer's library
                       would make (a reciprocal loan when the item is another
                       library's).  A library's institutional account at the owner
                       (its proxy patron): the owner lends to that library, recorded
                       in the registry.  ``RequestId`` makes a retry lend once.
CheckInItem            the return at the owner; the registry loan is closed.
RenewItem              a renewal (reciprocal ones within the owner's rules).
LookupItem             the owner's record of the item.
RequestItem            by bibliographic id (ISBN or title): the lender the gateway
                       chooses (``circulation.holds``), else the patron's home; by
                       item: a hold at the patron's home.  CancelRequestItem: at home.
AcceptItem, DeleteItem the peer's library's own ILS, when it keeps item records
                       (NCIP); a SIP2 ILS cannot create items, which the Problem says;
                       a last copy of a jointly owned collection is never deleted.
LookupAgency           the consortium's own directory.
=====================  ==========================================================

A write beyond the peer's library (``peers.authority``) is answered with
"Unauthorized Combination Of Element Values For Agency", and nothing is asked of any
ILS.  Whatever goes wrong, the answer is NCIP: a message-level Problem when the message
cannot be read, a service Problem otherwise; never an HTTP error for bad input.  A
member ILS or the loan registry that cannot answer is a Temporary Processing Failure in
stable words (the library's name, or the registry); what failed (hosts, ports, URLs,
Redis commands) goes to the gateway's log only.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog

from adapters.errors import IlsError, IlsRequestInvalid
from adapters.state.base import StateUnavailable
from config.policy import may_withdraw
from gateway.circulation import holds, items, loans, patrons
from gateway.circulation.call import Call
from gateway.circulation.outcomes import (
    Refusal,
    RefusalCode,
    code_of_decision,
    refusal_for_failure,
)
from gateway.circulation.session import Session
from gateway.ncip.peers import authenticated, authority, home_of, institution_of, owner_of
from gateway.ncip.problems import problem, problem_for
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
from protocols.sip2 import CirculationStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from adapters.ils.base import ItemRecord
    from gateway.ncip.peers import Authority
    from gateway.runtime.rules import Peer, Rules
    from gateway.runtime.services import Services

__all__ = ["NcipResponder"]

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


class NcipResponder:
    """Answers NCIP messages for the gateway (see the module documentation).

    Args:
        current: Returns the rules and services in force (swapped on reload).
    """

    def __init__(self, current: Callable[[], tuple[Rules, Services]]) -> None:
        self._current = current
        self._ids = itertools.count(1)

    async def handle(self, body: bytes, headers: Mapping[str, str], client: str) -> bytes:
        """The response body for one posted message (never raises for bad input)."""
        rules, services = self._current()
        style, reply_header = Style(), None
        try:
            request = read_request(body)
        except NcipUnsupported as exc:
            response: Response = problem("", ProblemType.UNSUPPORTED_SERVICE, str(exc))
        except NcipSyntaxError as exc:
            element = missing_element(exc)
            service = _service_name(body) if element else ""
            response = (
                problem(service, ProblemType.NEEDED_DATA_MISSING, str(exc), element)
                if element and service
                else ProblemResponse("", (Problem(ProblemType.INVALID_MESSAGE_SYNTAX, str(exc)),))
            )
        else:
            service = type(request).__name__
            peer = rules.peers.get((request.header.from_agency or "").casefold())
            if peer is None:
                response = problem(
                    service,
                    ProblemType.UNKNOWN_AGENCY,
                    f"FromAgencyId {request.header.from_agency!r} is not a configured peer",
                    "FromAgencyId",
                )
            elif not authenticated(peer, request.header, headers):
                response = problem(
                    service,
                    ProblemType.AGENCY_AUTHENTICATION_FAILED,
                    "send the peer's API key (X-API-Key or FromAgencyAuthentication) "
                    "or bearer token",
                )
            else:
                style = peer.style
                reply_header = Header(rules.settings.institution_id, peer.agency)
                response = await self._serve(rules, services, peer, request, client)
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
            failed = problem(
                response.service if isinstance(response, ProblemResponse) else "",
                ProblemType.TEMPORARY_PROCESSING_FAILURE,
                "the answer could not be written",
            )
            return write_response(failed, style, reply_header)

    async def _serve(
        self, rules: Rules, services: Services, peer: Peer, request: Request, client: str
    ) -> Response:
        service = type(request).__name__
        session = Session(
            f"n{next(self._ids)}", client, member=peer.member, login=f"ncip:{peer.agency}"
        )
        try:
            allowed = await authority(rules.consortium, services.store, peer.member, request)
            if allowed is not None and peer.member not in allowed.libraries:
                return _beyond_its_library(rules, peer, service, allowed)
            key = _request_id(request)
            call = Call.start(
                rules,
                services,
                session,
                request_key=f"ncip:{peer.agency}:{key}" if key else None,
            )
            return await self._dispatch(call, peer, request)
        except (IlsError, IlsRequestInvalid, StateUnavailable) as exc:
            if isinstance(exc, IlsError):
                # The detail (hosts, ports, URLs) is for the gateway's log only.
                log.warning(
                    "ncip: a member ILS could not answer",
                    service=service,
                    member=exc.member,
                    error=type(exc).__name__,
                    detail=exc.detail,
                )
            elif isinstance(exc, StateUnavailable):
                log.error(
                    "ncip: the loan registry is unavailable", service=service, detail=exc.detail
                )
            return problem_for(service, refusal_for_failure(exc, rules))
        except Exception:
            log.exception("ncip request failed in the gateway", service=service)
            return problem(service, ProblemType.TEMPORARY_PROCESSING_FAILURE, "the gateway failed")

    async def _dispatch(self, call: Call, peer: Peer, request: Request) -> Response:
        consortium = call.rules.consortium
        member = peer.member
        match request:
            case LookupUser(patron=patron):
                return await _lookup_user(call, member, patron.identifier, patron.pin)
            case CheckOutItem():
                return await _checkout(call, member, request)
            case CheckInItem(item=item):
                return await _checkin(call, member, item)
            case RenewItem(patron=patron, item=item):
                home = home_of(consortium, patron.identifier, member)
                _vouch(call, home, patron.identifier)
                renewed = await loans.renew(
                    call,
                    home=home,
                    owner=owner_of(consortium, item, member),
                    barcode=patron.identifier,
                    item=item,
                    pin=patron.pin,
                )
                if isinstance(renewed, Refusal):
                    return problem_for("RenewItem", renewed)
                return RenewItemResponse(item, patron.identifier, renewed.due)
            case LookupItem(item=item) if item is not None:
                found = await items.look_up_item(
                    call, owner=owner_of(consortium, item, member), item=item
                )
                if isinstance(found, Refusal):
                    return problem_for("LookupItem", found)
                return _lookup_item(found, item)
            case LookupItem():
                return problem(
                    "LookupItem",
                    ProblemType.UNKNOWN_REQUEST,
                    "the gateway looks items up by ItemId only",
                    "RequestId",
                )
            case RequestItem():
                return await _request_item(call, member, request)
            case CancelRequestItem():
                return await _cancel_request(call, member, request)
            case AcceptItem() | DeleteItem():
                return await _item_record(call, member, request)
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
                    return problem("LookupAgency", ProblemType.UNKNOWN_AGENCY, None, "AgencyId")
                return LookupAgencyResponse(agency, node.name)


def _request_id(request: Request) -> str | None:
    """The peer's own id of the request, which makes a loan idempotent."""
    return request.request_id if isinstance(request, CheckOutItem) else None


def _vouch(call: Call, home: str, barcode: str) -> None:
    """An authenticated peer vouches for the patron it names: no PIN is asked of them."""
    call.session.verified.add(call.patron_key(home, barcode))


async def _lookup_user(
    call: Call, member: str, barcode: str, pin: str | None
) -> LookupUserResponse | ProblemResponse:
    home = home_of(call.rules.consortium, barcode, member)
    view = await patrons.look_up(call, home, barcode, pin, lists=True)
    if isinstance(view, Refusal):
        return problem_for("LookupUser", view)
    record = view.record
    if pin is not None and record.pin_ok is False:
        return problem("LookupUser", ProblemType.USER_AUTHENTICATION_FAILED)
    reason = (
        view.refusal.reason
        if view.refusal is not None
        else (" ".join(record.screen_messages) or "Charge privileges denied")
        if record.blocked
        else None
    )
    blocks = ((home, reason),) if reason is not None else ()
    return LookupUserResponse(
        barcode,
        home,
        record.name or None,
        (Privilege(home, "Borrower", "Blocked" if blocks else "Active"),),
        blocks,
    )


async def _checkout(call: Call, member: str, request: CheckOutItem) -> Response:
    consortium = call.rules.consortium
    owner = owner_of(consortium, request.item, member)
    account = request.patron.identifier
    borrower = institution_of(consortium, owner, account)
    if borrower is not None:  # the peer's authority let only the owner's peer through
        made = await loans.lend_to_library(
            call,
            owner=owner,
            borrower=borrower,
            item=request.item,
            account=account,
            request_id=request.request_id,
            due=request.desired_due,
        )
    else:
        home = home_of(consortium, account, member)
        _vouch(call, home, account)
        made = await loans.checkout(
            call,
            loans.Checkout(
                home=home,
                owner=owner,
                barcode=account,
                item=request.item,
                pin=request.patron.pin,
                sent=call.now.isoformat(),
            ),
        )
    if isinstance(made, Refusal):
        return problem_for("CheckOutItem", made)
    due = made.due or call.now + timedelta(days=loans.DEFAULT_LOAN_DAYS)
    return CheckOutItemResponse(request.item, account, due)


async def _checkin(call: Call, member: str, item: str) -> Response:
    owner = owner_of(call.rules.consortium, item, member)
    returned = await loans.check_in(call, owner=owner, item=item, location=member)
    if isinstance(returned, Refusal):
        if returned.code is RefusalCode.RETURN_REFUSED:
            # Not checked out, or not known at all: the owner's record says which.
            known = await items.look_up_item(call, owner=owner, item=item)
            if isinstance(known, Refusal):
                return problem_for("CheckInItem", known)
        return problem_for("CheckInItem", returned)
    # A reciprocal loan's borrower is the home library's proxy account: not the peer's.
    patron = returned.owner_answer.previous_patron if returned.loan is None else None
    return CheckInItemResponse(item, patron or None)


async def _request_item(call: Call, member: str, request: RequestItem) -> Response:
    consortium = call.rules.consortium
    barcode = request.patron.identifier
    home = home_of(consortium, barcode, member)
    _vouch(call, home, barcode)
    item = request.items[0] if request.items else None
    title = request.bibliographic_ids[0] if item is None and request.bibliographic_ids else None
    if item is None and title is None:
        return problem(
            "RequestItem",
            ProblemType.NEEDED_DATA_MISSING,
            "the gateway needs an ItemId or a BibliographicId",
            "ItemId",
        )
    refused = await patrons.admit(
        call, home, barcode, request.patron.pin, checked_by_answer=title is not None
    )
    if refused is not None:
        return problem_for("RequestItem", refused)
    placed: holds.HoldPlaced | Refusal | None = None
    if title is not None:
        placed = await holds.place_title_hold(
            call,
            home=home,
            barcode=barcode,
            pin=request.patron.pin,
            title=title,
            pickup_location=request.pickup_location,
        )
    if placed is None:
        placed = await holds.place_hold_at_home(
            call,
            home=home,
            barcode=barcode,
            item=item,
            title=title,
            pickup_location=request.pickup_location,
        )
    if isinstance(placed, Refusal):
        return problem_for("RequestItem", placed)
    return RequestItemResponse(
        barcode,
        request.request_type,
        request.scope_type,
        request_id=request.request_id,
        item=placed.item or (title if not request.request_id else None),
    )


async def _cancel_request(call: Call, member: str, request: CancelRequestItem) -> Response:
    barcode = request.patron.identifier
    home = home_of(call.rules.consortium, barcode, member)
    if request.item is None:
        return problem(
            "CancelRequestItem",
            ProblemType.NEEDED_DATA_MISSING,
            "the gateway cancels requests by ItemId",
            "ItemId",
        )
    _vouch(call, home, barcode)
    refused = await patrons.admit(call, home, barcode, request.patron.pin, checked_by_answer=False)
    if refused is not None:
        return problem_for("CancelRequestItem", refused)
    cancelled = await holds.cancel_hold_at_home(call, home=home, barcode=barcode, item=request.item)
    if isinstance(cancelled, Refusal):
        return problem_for("CancelRequestItem", cancelled)
    return CancelRequestItemResponse(barcode, request_id=request.request_id, item=request.item)


async def _item_record(call: Call, member: str, request: AcceptItem | DeleteItem) -> Response:
    """Temporary items at the peer's own library's ILS (its authority was checked)."""
    service = type(request).__name__
    records = call.member(member).item_records
    if records is None:
        return problem(
            service,
            ProblemType.UNSUPPORTED_SERVICE,
            f"{call.name(member)}'s ILS speaks SIP2, which cannot create or delete item "
            "records; make the temporary record at the desk",
        )
    budget = call.budget(member)
    if isinstance(request, AcceptItem):
        if request.patron is None or request.item is None:
            return problem(
                service,
                ProblemType.NEEDED_DATA_MISSING,
                "the gateway needs the patron (UserId) and the item (ItemId) to accept",
                "UserId" if request.patron is None else "ItemId",
            )
        accepted = await records.accept_item(
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
            return problem(service, ProblemType.CANNOT_ACCEPT_ITEM, detail)
        return AcceptItemResponse(request.request_id, accepted.item or request.item)
    kept = may_withdraw(call.rules.consortium, request.item)
    if not kept.allowed:
        return problem_for(service, Refusal(code_of_decision(kept.code), kept.reason))
    deleted = await records.delete_item(request.item, timeout=budget)
    if not deleted.ok:
        detail = " ".join(deleted.screen_messages) or None
        return problem(service, ProblemType.UNKNOWN_ITEM, detail)
    return DeleteItemResponse(request.item)


def _lookup_item(record: ItemRecord, item: str) -> LookupItemResponse:
    status = record.circulation_status
    named = (
        _STATUS_NAMES.get(CirculationStatus(status))
        if status is not None and status in {s.value for s in CirculationStatus}
        else None
    )
    return LookupItemResponse(
        item, record.title or None, named, record.due, record.permanent_location or None
    )


def _beyond_its_library(
    rules: Rules, peer: Peer, service: str, allowed: Authority
) -> ProblemResponse:
    """The refusal of a write for another library than the peer's."""
    log.warning(
        "ncip peer refused: the write is not for its library",
        agency=peer.agency,
        member=peer.member,
        service=service,
        element=allowed.element,
    )
    return problem(
        service,
        ProblemType.UNAUTHORIZED_FOR_AGENCY,
        f"{peer.agency} acts for {rules.name(peer.member)}, which is not {allowed.needs}",
        allowed.element,
    )


def _service_name(body: bytes) -> str:
    from protocols.ncip.initiator import service_name

    try:
        return service_name(body)
    except NcipSyntaxError:
        return ""
