"""The simulated ILS's NCIP face: ``POST /ncip`` over the same catalogue as its SIP2 side.

``NcipSimulator`` answers NCIP 2.02 requests from a ``SimulatedIls``'s ``library``
(patrons and items are read and changed in place, so a loan made over NCIP shows over
SIP2 and the other way round).  It behaves like the SIP2 engine, service by service:

* LookupUser: ``Unknown User``; with a PIN (``AuthenticationInput``), a wrong one is
  ``User Authentication Failed``; a known patron gets the name, the patron type as a
  ``UserPrivilege`` (status ``Active``, ``Blocked`` for a blocked one) and, when
  blocked, a ``BlockOrTrap``.
* CheckOutItem: refused for an unknown patron or item, a wrong PIN, a blocked patron
  (``User Blocked``), an item out to someone else or on hold for someone else
  (``Resource Cannot Be Provided``); an item already out to the same account is renewed.
  The due date is ``DesiredDateDue`` when one is asked for, else ``loan_days`` ahead.
* CheckInItem: the item is back; one that was not out is ``Item Not Checked Out``.
* RenewItem: up to ``max_renewals``, not while someone waits for the item, only for
  the account that has it (``Item Not Checked Out``).
* LookupItem: title, circulation status, location, due date (by item or request id).
* AcceptItem: a temporary item record on hold for the patron (``Circulate`` charges it
  to the patron at once); an item id that exists already is ``Cannot Accept Item``.
* DeleteItem: removes an item record that is not on loan.
* RequestItem / CancelRequestItem: a hold on an item, and its cancellation.
* LookupAgency: the library's name (``Unknown Agency`` for another agency).

Answers are schema-valid NCIP 2.02 (``write_response``).  A body that cannot be read
gets a message-level Problem (HTTP 200); one over the size cap gets HTTP 413.

``serve_simulator_ncip`` serves the app with hypercorn's trio worker and reports the
bound ``(host, port)``.  ``NcipSimulator.delay_s`` slows every answer down,
``NcipSimulator.fault`` makes every answer an HTTP error page, and
``NcipSimulator.required_headers`` plays an ILS that wants an API key or a token.
For tests, ``NcipSimulator.on_arrival`` hears of each request body once it is read
whole, and ``NcipSimulator.gate`` holds the answers (after ``delay_s``) until a test
sets it, as on the SIP2 side.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, assert_never
from urllib.parse import urlsplit

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from starlette.applications import Starlette
from starlette.responses import Response as HttpResponse
from starlette.routing import Route

from gateway.demo.simulator.data import SimItem
from gateway.demo.simulator.engine import SimulatedIls
from protocols.ncip import (
    SERVICES,
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
    missing_element,
    read_request,
    write_response,
)
from protocols.ncip.errors import GENERAL_SCHEME
from protocols.ncip.xml import MAX_BODY, parse

if TYPE_CHECKING:
    from starlette.requests import Request as HttpRequest

    from config.models import TlsSettings
    from gateway.demo.simulator.data import LibraryData, SimPatron

__all__ = ["NcipSimulator", "ncip_app", "serve_simulator_ncip"]

CONTENT_TYPE = "application/xml; charset=utf-8"
UNREADABLE = "(unreadable)"
"""What ``calls`` records for a body that could not be read as a request."""

_MASK = re.compile(
    rb"(<(?:[\w.-]+:)?AuthenticationInputData\b[^>]*>).*?(</(?:[\w.-]+:)?AuthenticationInputData\s*>)",
    re.DOTALL,
)
_CIRCULATE = ("circulate", "circulate and notify")
_DUPLICATE_REQUEST = "Duplicate Request"
_ELEMENT_RULE_VIOLATED = "Element Rule Violated"
_MAXIMUM_RENEWALS = "Maximum Renewals Exceeded"
_OUTSTANDING_REQUESTS = "Renewal Not Allowed - Item Has Outstanding Requests"
_UNKNOWN_REQUEST = "Unknown Request"


@dataclass
class _Hold:
    """A request placed over NCIP (RequestItem) or made by AcceptItem."""

    patron: str | None
    item: str


@dataclass
class NcipSimulator:
    """The NCIP responder of one simulated ILS (see the module documentation).

    Attributes:
        ils: The simulated ILS whose ``library`` is read and changed.
        calls: The service of each request, in order (``(unreadable)`` for a body that
            could not be read), for tests.
        delay_s: Seconds to wait before each answer (to play a slow ILS).
        on_arrival: Called with each request body once it is read whole, before
            ``delay_s`` and ``gate`` (tests wait on it for a request to be "at the
            ILS now").
        gate: While this is an event not yet set, each request waits for it before
            being answered (``None``: answer at once).
        fault: ``(status, body)`` to answer every request with instead of NCIP.
        required_headers: Headers (name → value) a request must carry, else HTTP 401.
        last_headers: The headers of the last request (names in lower case).
        last_body: The last request's body, with ``AuthenticationInputData`` masked.
        temporary: The ids of the items AcceptItem created.
    """

    ils: SimulatedIls
    calls: list[str] = field(default_factory=list)
    delay_s: float = 0.0
    on_arrival: Callable[[bytes], None] | None = None
    gate: trio.Event | None = None
    fault: tuple[int, bytes] | None = None
    required_headers: dict[str, str] = field(default_factory=dict)
    last_headers: dict[str, str] = field(default_factory=dict)
    last_body: bytes = b""
    temporary: set[str] = field(default_factory=set)
    _requests: dict[str, _Hold] = field(default_factory=dict)
    _serial: int = 0

    @property
    def library(self) -> LibraryData:
        """The catalogue shared with the SIP2 side."""
        return self.ils.library

    # --- one message ----------------------------------------------------------------------

    def answer(self, body: bytes, now: datetime) -> bytes:
        """The response message to one request body (never raises for bad input)."""
        self.last_body = _MASK.sub(rb"\1***\2", body)
        try:
            request = read_request(body)
        except NcipUnsupported as exc:
            self.calls.append(exc.service)
            problem = Problem(
                ProblemType.UNSUPPORTED_SERVICE,
                f"{exc.service} is not offered",
                scheme=GENERAL_SCHEME,
            )
            return write_response(ProblemResponse("", (problem,)))
        except NcipSyntaxError as exc:
            return self._unreadable(body, exc)
        self.calls.append(type(request).__name__)
        header = (
            Header(from_agency=self.library.institution_id, to_agency=request.header.from_agency)
            if request.header.from_agency
            else None
        )
        return write_response(self.handle(request, now), header=header)

    def _unreadable(self, body: bytes, error: NcipSyntaxError) -> bytes:
        element = missing_element(error)
        service = _service(body) if element is not None else None
        if service is not None:
            self.calls.append(service)
            problem = Problem(
                ProblemType.NEEDED_DATA_MISSING, str(error), element, scheme=GENERAL_SCHEME
            )
            return write_response(ProblemResponse(service, (problem,)))
        self.calls.append(UNREADABLE)
        problem = Problem(ProblemType.INVALID_MESSAGE_SYNTAX, str(error)[:200])
        return write_response(ProblemResponse("", (problem,)))

    def handle(self, request: Request, now: datetime) -> Response:
        """Answer one typed request, changing the catalogue as it says."""
        match request:
            case LookupUser():
                return self._lookup_user(request)
            case CheckOutItem():
                return self._check_out(request, now)
            case CheckInItem():
                return self._check_in(request)
            case RenewItem():
                return self._renew(request, now)
            case LookupItem():
                return self._lookup_item(request)
            case AcceptItem():
                return self._accept(request, now)
            case DeleteItem():
                return self._delete(request)
            case RequestItem():
                return self._request(request)
            case CancelRequestItem():
                return self._cancel(request)
            case LookupAgency():
                return self._lookup_agency(request)
            case unreachable:
                assert_never(unreachable)

    # --- helpers --------------------------------------------------------------------------

    @property
    def _agency(self) -> str:
        return self.library.institution_id

    def _due(self, now: datetime) -> datetime:
        return (now + timedelta(days=self.library.loan_days)).replace(
            hour=23, minute=59, second=59, microsecond=0
        )

    def _who(self, service: str, patron: Patron) -> SimPatron | ProblemResponse:
        """The patron a request names, or the Problem (unknown, wrong PIN)."""
        found = self.library.patrons.get(patron.identifier)
        if found is None:
            return _problem(service, ProblemType.UNKNOWN_USER, "UserIdentifierValue")
        if patron.pin is not None and patron.pin != found.pin:
            return _problem(
                service, ProblemType.USER_AUTHENTICATION_FAILED, "AuthenticationInputData"
            )
        return found

    def _request_id(self) -> str:
        self._serial += 1
        return f"{self._agency}-request-{self._serial}"

    # --- services -------------------------------------------------------------------------

    def _lookup_user(self, request: LookupUser) -> Response:
        patron = self._who("LookupUser", request.patron)
        if isinstance(patron, ProblemResponse):
            return patron
        blocks = ((self._agency, _block_reason(patron)),) if patron.blocked else ()
        return LookupUserResponse(
            user=patron.id,
            agency=self._agency,
            name=patron.name,
            privileges=(
                Privilege(self._agency, patron.type, "Blocked" if patron.blocked else "Active"),
            ),
            blocks=blocks,
        )

    def _check_out(self, request: CheckOutItem, now: datetime) -> Response:
        service = "CheckOutItem"
        patron = self._who(service, request.patron)
        if isinstance(patron, ProblemResponse):
            return patron
        if patron.blocked:
            return _problem(
                service, ProblemType.USER_BLOCKED, "UserIdentifierValue", _block_reason(patron)
            )
        item = self.library.items.get(request.item)
        if item is None:
            return _problem(service, ProblemType.UNKNOWN_ITEM, "ItemIdentifierValue")
        if item.holder is not None and item.holder != patron.id:
            return _problem(
                service,
                ProblemType.RESOURCE_CANNOT_BE_PROVIDED,
                "ItemIdentifierValue",
                "Item is checked out to another patron",
            )
        if item.holds and item.holds[0] != patron.id:
            return _problem(
                service,
                ProblemType.RESOURCE_CANNOT_BE_PROVIDED,
                "ItemIdentifierValue",
                "Item is on hold for another patron",
            )
        renewal = item.holder == patron.id
        if item.holds and item.holds[0] == patron.id:
            item.holds.pop(0)
        item.holder = patron.id
        item.renewals = item.renewals + 1 if renewal else 0
        item.due = request.desired_due or self._due(now)
        return CheckOutItemResponse(item.id, patron.id, item.due, self._agency)

    def _check_in(self, request: CheckInItem) -> Response:
        service = "CheckInItem"
        item = self.library.items.get(request.item)
        if item is None:
            return _problem(service, ProblemType.UNKNOWN_ITEM, "ItemIdentifierValue")
        if item.holder is None:
            return _problem(service, ProblemType.ITEM_NOT_CHECKED_OUT, "ItemIdentifierValue")
        previous = item.holder
        item.holder = None
        item.due = None
        item.renewals = 0
        return CheckInItemResponse(item.id, previous, self._agency)

    def _renew(self, request: RenewItem, now: datetime) -> Response:
        service = "RenewItem"
        patron = self._who(service, request.patron)
        if isinstance(patron, ProblemResponse):
            return patron
        item = self.library.items.get(request.item)
        if item is None:
            return _problem(service, ProblemType.UNKNOWN_ITEM, "ItemIdentifierValue")
        if item.holder != patron.id:
            return _problem(service, ProblemType.ITEM_NOT_CHECKED_OUT, "ItemIdentifierValue")
        if item.holds:
            return _problem(service, _OUTSTANDING_REQUESTS, "ItemIdentifierValue")
        if item.renewals >= self.library.max_renewals:
            return _problem(service, _MAXIMUM_RENEWALS, "ItemIdentifierValue")
        item.renewals += 1
        item.due = request.desired_due or self._due(now)
        return RenewItemResponse(item.id, patron.id, item.due, self._agency)

    def _lookup_item(self, request: LookupItem) -> Response:
        service = "LookupItem"
        item_id = request.item
        if item_id is None and request.request_id is not None:
            hold = self._requests.get(request.request_id)
            if hold is None:
                return _problem(service, _UNKNOWN_REQUEST, "RequestIdentifierValue")
            item_id = hold.item
        item = self.library.items.get(item_id or "")
        if item is None:
            return _problem(service, ProblemType.UNKNOWN_ITEM, "ItemIdentifierValue")
        if item.holder is not None:
            status = "On Loan"
        elif item.holds:
            status = "Available For Pickup"
        else:
            status = "Available On Shelf"
        return LookupItemResponse(
            item=item.id,
            title=item.title,
            circulation_status=status,
            due=item.due,
            location=item.location,
            agency=self._agency,
        )

    def _accept(self, request: AcceptItem, now: datetime) -> Response:
        service = "AcceptItem"
        if request.request_id in self._requests:
            return _problem(service, _DUPLICATE_REQUEST, "RequestIdentifierValue")
        patron: SimPatron | None = None
        if request.patron is not None:
            found = self._who(service, request.patron)
            if isinstance(found, ProblemResponse):
                return found
            patron = found
        item_id = request.item or f"TMP-{request.request_id}"
        if item_id in self.library.items:
            return _problem(
                service,
                ProblemType.CANNOT_ACCEPT_ITEM,
                "ItemIdentifierValue",
                "An item with this id exists already",
            )
        item = SimItem(
            id=item_id,
            title=request.title or f"Interlibrary loan {request.request_id}",
            location=request.pickup_location or "ill-shelf",
        )
        if patron is not None:
            if request.requested_action.strip().lower() in _CIRCULATE:
                item.holder = patron.id
                item.due = request.date_for_return or self._due(now)
            else:
                item.holds.append(patron.id)
        self.library.items[item_id] = item
        self.temporary.add(item_id)
        self._requests[request.request_id] = _Hold(patron.id if patron else None, item_id)
        return AcceptItemResponse(request.request_id, item_id, self._agency)

    def _delete(self, request: DeleteItem) -> Response:
        service = "DeleteItem"
        item = self.library.items.get(request.item)
        if item is None:
            return _problem(service, ProblemType.UNKNOWN_ITEM, "ItemIdentifierValue")
        if item.holder is not None:
            return _problem(
                service,
                _ELEMENT_RULE_VIOLATED,
                "ItemIdentifierValue",
                "The item is on loan; check it in first",
            )
        del self.library.items[item.id]
        self.temporary.discard(item.id)
        for key in [k for k, hold in self._requests.items() if hold.item == item.id]:
            del self._requests[key]
        return DeleteItemResponse(item.id, self._agency)

    def _request(self, request: RequestItem) -> Response:
        service = "RequestItem"
        patron = self._who(service, request.patron)
        if isinstance(patron, ProblemResponse):
            return patron
        if patron.blocked:
            return _problem(
                service, ProblemType.USER_BLOCKED, "UserIdentifierValue", _block_reason(patron)
            )
        if not request.items:
            return _problem(
                service,
                ProblemType.UNKNOWN_ITEM,
                "BibliographicRecordIdentifier",
                "Only item-level requests are supported",
            )
        item = self.library.items.get(request.items[0])
        if item is None:
            return _problem(service, ProblemType.UNKNOWN_ITEM, "ItemIdentifierValue")
        if patron.id in item.holds or (
            request.request_id is not None and request.request_id in self._requests
        ):
            return _problem(service, _DUPLICATE_REQUEST, "ItemIdentifierValue")
        item.holds.append(patron.id)
        request_id = request.request_id or self._request_id()
        self._requests[request_id] = _Hold(patron.id, item.id)
        return RequestItemResponse(
            user=patron.id,
            request_type=request.request_type,
            scope_type="Item",
            request_id=request_id,
            item=item.id,
            agency=self._agency,
        )

    def _cancel(self, request: CancelRequestItem) -> Response:
        service = "CancelRequestItem"
        patron = self._who(service, request.patron)
        if isinstance(patron, ProblemResponse):
            return patron
        request_id = request.request_id
        if request_id is None:
            request_id = next(
                (
                    key
                    for key, hold in self._requests.items()
                    if hold.item == request.item and hold.patron == patron.id
                ),
                None,
            )
        hold = self._requests.get(request_id) if request_id is not None else None
        if hold is None or hold.patron != patron.id:
            item = self.library.items.get(request.item or "")
            if item is None or patron.id not in item.holds:
                return _problem(service, _UNKNOWN_REQUEST, "RequestIdentifierValue")
            item.holds.remove(patron.id)
            return CancelRequestItemResponse(patron.id, None, item.id, self._agency)
        assert request_id is not None
        del self._requests[request_id]
        item = self.library.items.get(hold.item)
        if item is not None and patron.id in item.holds:
            item.holds.remove(patron.id)
        return CancelRequestItemResponse(patron.id, request_id, hold.item, self._agency)

    def _lookup_agency(self, request: LookupAgency) -> Response:
        if request.agency != self._agency:
            return ProblemResponse(
                "LookupAgency",
                (
                    Problem(
                        ProblemType.UNKNOWN_AGENCY,
                        f"this is {self._agency}",
                        "AgencyId",
                        scheme=GENERAL_SCHEME,
                    ),
                ),
            )
        return LookupAgencyResponse(self._agency, self.library.name)


def _problem(
    service: str, kind: str, element: str | None = None, detail: str | None = None
) -> ProblemResponse:
    return ProblemResponse(service, (Problem(kind, detail, element),))


def _block_reason(patron: SimPatron) -> str:
    return "Excessive fines" if patron.fines > 0 else "Blocked"


def _service(body: bytes) -> str | None:
    """The offered service a (partly unreadable) body names, if any."""
    try:
        root = parse(body)
    except NcipSyntaxError:
        return None
    first = next(root.children(), None)
    return first.name if first is not None and first.name in SERVICES else None


# --- HTTP -----------------------------------------------------------------------------------


async def _body(request: HttpRequest, limit: int) -> bytes | None:
    """The request body, or ``None`` once it grows past ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            return None
    return bytes(data)


def ncip_app(simulator: NcipSimulator) -> Starlette:
    """The ASGI app: ``POST /ncip`` answered by ``simulator``."""

    async def ncip(request: HttpRequest) -> HttpResponse:
        headers = {k.lower(): v for k, v in request.headers.items()}
        simulator.last_headers = headers
        for name, value in simulator.required_headers.items():
            if headers.get(name.lower()) != value:
                return HttpResponse(b"unauthorized\n", status_code=401, media_type="text/plain")
        body = await _body(request, MAX_BODY)
        if body is None:
            simulator.calls.append(UNREADABLE)
            return HttpResponse(
                b"the message is larger than the limit\n", status_code=413, media_type="text/plain"
            )
        if simulator.on_arrival is not None:
            simulator.on_arrival(body)
        if simulator.delay_s:
            await trio.sleep(simulator.delay_s)
        gate = simulator.gate
        if gate is not None:
            await gate.wait()
        if simulator.fault is not None:
            status, page = simulator.fault
            return HttpResponse(page, status_code=status, media_type="text/html")
        answer = simulator.answer(body, datetime.now(UTC).replace(microsecond=0))
        return HttpResponse(answer, media_type=CONTENT_TYPE)

    return Starlette(routes=[Route("/ncip", ncip, methods=["POST"])])


async def serve_simulator_ncip(
    ils: SimulatedIls | NcipSimulator,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: TlsSettings | None = None,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``POST /ncip`` for a simulated ILS until cancelled (HTTPS with ``tls``).

    Args:
        ils: The simulated ILS (a fresh ``NcipSimulator`` is made over it), or an
            ``NcipSimulator`` whose counters and knobs a test wants to use.
        host: The address to listen on (loopback by default).
        port: The port (0 picks a free one).
        tls: The certificate and key to serve HTTPS with (and the CA of the clients'
            certificates, when they are checked).
        task_status: Receives the bound ``(host, port)``; the endpoint is
            ``http://host:port/ncip``.
    """
    simulator = ils if isinstance(ils, NcipSimulator) else NcipSimulator(ils)
    config = HypercornConfig()
    bind_host = f"[{host}]" if ":" in host else host
    config.bind = [f"{bind_host}:{port}"]
    config.accesslog = None
    config.errorlog = None
    if tls is not None:
        config.certfile, config.keyfile = str(tls.cert), str(tls.key)
        if tls.client_ca is not None:
            config.ca_certs = str(tls.client_ca)
            config.verify_mode = (
                ssl.CERT_REQUIRED if tls.requires_client_cert else ssl.CERT_OPTIONAL
            )

    class _Started:
        """Turns hypercorn's bound URLs into the (host, port) of the first one."""

        def started(self, value: list[str] | None = None) -> None:
            url = urlsplit(value[0]) if value else None
            if url is None or url.hostname is None or url.port is None:
                task_status.started((host, port))
                return
            task_status.started((url.hostname, url.port))

    await serve(ncip_app(simulator), config, task_status=_Started())  # type: ignore[arg-type]
