"""NCIP 2.02 messages the gateway reads and writes, as typed immutable values.

Requests are read leniently (``read_request``): any namespace or none, any child order,
``UserId`` or ``AuthenticationInput`` (or both, as some clients send), NCIP 1 style
``UniqueUserId``/``UniqueItemId`` where they map plainly.  The service is the root's
first child element.

Responses are written strictly (``write_response``): the 2.02 schema's element order,
``Problem`` elements in place of the payload when the service failed, and a
message-level ``Problem`` when no service could be read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .errors import (
    GENERAL_SCHEME,
    MESSAGING_SCHEME,
    NcipSyntaxError,
    NcipUnsupported,
    service_scheme,
)
from .xml import Builder, Node, Style, parse

if TYPE_CHECKING:
    from lxml import etree

__all__ = [
    "SERVICES",
    "AcceptItem",
    "AcceptItemResponse",
    "CancelRequestItem",
    "CancelRequestItemResponse",
    "CheckInItem",
    "CheckInItemResponse",
    "CheckOutItem",
    "CheckOutItemResponse",
    "DeleteItem",
    "DeleteItemResponse",
    "Header",
    "LookupAgency",
    "LookupAgencyResponse",
    "LookupItem",
    "LookupItemResponse",
    "LookupUser",
    "LookupUserResponse",
    "Patron",
    "Privilege",
    "Problem",
    "ProblemResponse",
    "RenewItem",
    "RenewItemResponse",
    "Request",
    "RequestItem",
    "RequestItemResponse",
    "Response",
    "format_datetime",
    "parse_datetime",
    "read_request",
    "write_response",
]


# --- values ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    """The ``InitiationHeader`` of a request (or the ``ResponseHeader`` written back)."""

    from_agency: str | None = None
    to_agency: str | None = None
    from_agency_authentication: str | None = None
    application_profile: str | None = None
    from_system: str | None = None


@dataclass(frozen=True)
class Patron:
    """Who a request names: ``UserId`` or ``AuthenticationInput`` (barcode, PIN)."""

    identifier: str
    agency: str | None = None
    pin: str | None = None

    def __repr__(self) -> str:
        shown = "…" if self.pin is not None else None
        return f"Patron(identifier={self.identifier!r}, agency={self.agency!r}, pin={shown!r})"


@dataclass(frozen=True)
class Problem:
    """One NCIP ``Problem``."""

    type: str
    detail: str | None = None
    element: str | None = None
    value: str | None = None
    scheme: str | None = None


def parse_datetime(text: str | None) -> datetime | None:
    """An NCIP date: xs:dateTime, with or without zone (UTC assumed), or a bare date."""
    if not text:
        return None
    cleaned = text.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(cleaned)
        moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        moment.astimezone(UTC)  # 9999-12-31T23:59:59-12:00 has no UTC form
    except (ValueError, OverflowError):
        return None
    return moment


def format_datetime(moment: datetime, style: Style) -> str:
    """An NCIP date in the peer's style (UTC ``…Z``, or ``YYYY-MM-DD``)."""
    utc = moment.astimezone(UTC)
    if style.date_only:
        return utc.strftime("%Y-%m-%d")
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- requests ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LookupUser:
    """Who is this patron (and, with a PIN, is it really them)?"""

    header: Header
    patron: Patron
    element_types: tuple[str, ...] = ()
    loaned_items_desired: bool = False


@dataclass(frozen=True)
class CheckOutItem:
    """Lend an item to a patron (or a borrowing library's institutional patron)."""

    header: Header
    patron: Patron
    item: str
    request_id: str | None = None
    desired_due: datetime | None = None


@dataclass(frozen=True)
class CheckInItem:
    """An item came back."""

    header: Header
    item: str


@dataclass(frozen=True)
class RenewItem:
    """Renew an item a patron has."""

    header: Header
    patron: Patron
    item: str
    desired_due: datetime | None = None


@dataclass(frozen=True)
class LookupItem:
    """What is this item and where is it?"""

    header: Header
    item: str | None
    request_id: str | None = None


@dataclass(frozen=True)
class AcceptItem:
    """The borrowing library receives an item from another: a temporary record."""

    header: Header
    request_id: str
    requested_action: str
    patron: Patron | None = None
    item: str | None = None
    title: str | None = None
    author: str | None = None
    date_for_return: datetime | None = None
    pickup_location: str | None = None


@dataclass(frozen=True)
class RequestItem:
    """Place a request (a hold) on an item or a title."""

    header: Header
    patron: Patron
    items: tuple[str, ...] = ()
    bibliographic_ids: tuple[str, ...] = ()
    request_id: str | None = None
    request_type: str = "Hold"
    scope_type: str = "Item"
    pickup_location: str | None = None


@dataclass(frozen=True)
class CancelRequestItem:
    """Cancel a request."""

    header: Header
    patron: Patron
    item: str | None = None
    request_id: str | None = None
    request_type: str = "Hold"


@dataclass(frozen=True)
class DeleteItem:
    """Remove an item record (a temporary one, after its return)."""

    header: Header
    item: str


@dataclass(frozen=True)
class LookupAgency:
    """Who is this agency?"""

    header: Header
    agency: str


Request = (
    LookupUser
    | CheckOutItem
    | CheckInItem
    | RenewItem
    | LookupItem
    | AcceptItem
    | RequestItem
    | CancelRequestItem
    | DeleteItem
    | LookupAgency
)

SERVICES = (
    "LookupUser",
    "CheckOutItem",
    "CheckInItem",
    "RenewItem",
    "LookupItem",
    "AcceptItem",
    "RequestItem",
    "CancelRequestItem",
    "DeleteItem",
    "LookupAgency",
)


def _header(service: Node) -> Header:
    node = service.child("InitiationHeader")
    if node is None:
        return Header()
    return Header(
        from_agency=node.value("FromAgencyId", "AgencyId")
        or node.value("FromAgencyId", "UniqueAgencyId", "Value")
        or node.value("FromAgencyId"),
        to_agency=node.value("ToAgencyId", "AgencyId")
        or node.value("ToAgencyId", "UniqueAgencyId", "Value")
        or node.value("ToAgencyId"),
        from_agency_authentication=node.value("FromAgencyAuthentication"),
        application_profile=node.value("ApplicationProfileType"),
        from_system=node.value("FromSystemId"),
    )


def _patron(service: Node, *, required: bool = True) -> Patron | None:
    """``UserId`` first; else ``AuthenticationInput`` barcode / user id; PIN from inputs."""
    identifier = service.value("UserId", "UserIdentifierValue") or service.value(
        "UniqueUserId", "UserIdentifierValue"
    )
    agency = service.value("UserId", "AgencyId") or service.value(
        "UniqueUserId", "UniqueAgencyId", "Value"
    )
    pin: str | None = None
    for entry in service.children("AuthenticationInput"):
        kind = (entry.value("AuthenticationInputType") or "").strip().lower()
        data = entry.value("AuthenticationInputData")
        if data is None:
            continue
        if kind in ("pin", "password"):
            pin = data
        elif kind in ("barcode id", "user id", "username") and identifier is None:
            identifier = data
    if identifier is None:
        if required:
            raise _missing("UserId or AuthenticationInput")
        return None
    return Patron(identifier, agency, pin)


def _item(service: Node, *, required: bool = True) -> str | None:
    found = service.value("ItemId", "ItemIdentifierValue") or service.value(
        "UniqueItemId", "ItemIdentificationCode"
    )
    if found is None and required:
        raise _missing("ItemId")
    return found


class _MissingData(NcipSyntaxError):
    def __init__(self, element: str) -> None:
        super().__init__(f"{element} is required")
        self.element = element


def _missing(element: str) -> _MissingData:
    return _MissingData(element)


def _read(name: str, node: Node) -> Request:
    header = _header(node)
    if name == "LookupUser":
        patron = _patron(node)
        assert patron is not None
        return LookupUser(
            header,
            patron,
            tuple(n.text for n in node.children("UserElementType") if n.text),
            node.child("LoanedItemsDesired") is not None,
        )
    if name == "CheckOutItem":
        patron = _patron(node)
        item = _item(node)
        assert patron is not None
        assert item is not None
        return CheckOutItem(
            header,
            patron,
            item,
            node.value("RequestId", "RequestIdentifierValue"),
            parse_datetime(node.value("DesiredDateDue")),
        )
    if name == "CheckInItem":
        item = _item(node)
        assert item is not None
        return CheckInItem(header, item)
    if name == "RenewItem":
        patron = _patron(node)
        item = _item(node)
        assert patron is not None
        assert item is not None
        return RenewItem(header, patron, item, parse_datetime(node.value("DesiredDateDue")))
    if name == "LookupItem":
        request_id = node.value("RequestId", "RequestIdentifierValue")
        item = _item(node, required=request_id is None)
        return LookupItem(header, item, request_id)
    if name == "AcceptItem":
        request_id = node.value("RequestId", "RequestIdentifierValue")
        if request_id is None:
            raise _missing("RequestId")
        description = ("ItemOptionalFields", "BibliographicDescription")
        return AcceptItem(
            header,
            request_id,
            node.value("RequestedActionType") or "Hold For Pickup",
            _patron(node, required=False),
            _item(node, required=False),
            node.value(*description, "Title"),
            node.value(*description, "Author"),
            parse_datetime(node.value("DateForReturn")),
            node.value("PickupLocation"),
        )
    if name == "RequestItem":
        patron = _patron(node)
        assert patron is not None
        items = tuple(v for n in node.children("ItemId") if (v := n.value("ItemIdentifierValue")))
        bibs = tuple(
            v
            for n in node.children("BibliographicId")
            if (
                v := n.value("BibliographicRecordId", "BibliographicRecordIdentifier")
                or n.value("BibliographicItemId", "BibliographicItemIdentifier")
            )
        )
        if not items and not bibs:
            raise _missing("ItemId or BibliographicId")
        return RequestItem(
            header,
            patron,
            items,
            bibs,
            node.value("RequestId", "RequestIdentifierValue"),
            node.value("RequestType") or "Hold",
            node.value("RequestScopeType") or ("Item" if items else "Bibliographic Item"),
            node.value("PickupLocation"),
        )
    if name == "CancelRequestItem":
        patron = _patron(node)
        assert patron is not None
        request_id = node.value("RequestId", "RequestIdentifierValue")
        item = _item(node, required=request_id is None)
        return CancelRequestItem(
            header, patron, item, request_id, node.value("RequestType") or "Hold"
        )
    if name == "DeleteItem":
        item = _item(node)
        assert item is not None
        return DeleteItem(header, item)
    agency = node.value("AgencyId") or header.to_agency
    if agency is None:
        raise _missing("AgencyId")
    return LookupAgency(header, agency)


def service_of(root: Node) -> Node:
    """The service element: the root's first child element (NCIP 1 and 2 alike).

    Raises:
        NcipSyntaxError: The root is not ``NCIPMessage`` or has no service.
    """
    if root.name != "NCIPMessage":
        raise NcipSyntaxError(f"the root element is {root.name!r}, not NCIPMessage")
    service = next(root.children(), None)
    if service is None:
        raise NcipSyntaxError("NCIPMessage carries no service")
    return service


def read_request(body: bytes, **limits: int) -> Request:
    """Read a request leniently (see the module documentation).

    Raises:
        NcipSyntaxError: Not readable as NCIP, or a required element is missing
            (``element`` names it then).
        NcipUnsupported: A service the gateway does not offer.
    """
    service = service_of(parse(body, **limits))
    if service.name not in SERVICES:
        raise NcipUnsupported(service.name)
    return _read(service.name, service)


def missing_element(error: NcipSyntaxError) -> str | None:
    """The element a ``read_request`` error says is missing, if that was the cause."""
    return error.element if isinstance(error, _MissingData) else None


# --- responses ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Privilege:
    """One ``UserPrivilege``: a type at an agency and its status."""

    agency: str
    type: str
    status: str | None = None


@dataclass(frozen=True)
class LookupUserResponse:
    """The patron as the gateway (or the home ILS) knows them."""

    user: str
    agency: str | None = None
    name: str | None = None
    privileges: tuple[Privilege, ...] = ()
    blocks: tuple[tuple[str, str], ...] = ()
    """(agency, block type) pairs."""


@dataclass(frozen=True)
class CheckOutItemResponse:
    """The loan: item, patron, due date."""

    item: str
    user: str
    due: datetime
    agency: str | None = None


@dataclass(frozen=True)
class CheckInItemResponse:
    """The item is back."""

    item: str
    user: str | None = None
    agency: str | None = None


@dataclass(frozen=True)
class RenewItemResponse:
    """The renewed loan."""

    item: str
    user: str | None = None
    due: datetime | None = None
    agency: str | None = None


@dataclass(frozen=True)
class LookupItemResponse:
    """An item's title, status and due date (when out)."""

    item: str
    title: str | None = None
    circulation_status: str | None = None
    due: datetime | None = None
    location: str | None = None
    agency: str | None = None


@dataclass(frozen=True)
class AcceptItemResponse:
    """The temporary item was accepted."""

    request_id: str
    item: str | None = None
    agency: str | None = None


@dataclass(frozen=True)
class RequestItemResponse:
    """The request was placed."""

    user: str
    request_type: str
    scope_type: str
    request_id: str | None = None
    item: str | None = None
    agency: str | None = None


@dataclass(frozen=True)
class CancelRequestItemResponse:
    """The request was cancelled."""

    user: str
    request_id: str | None = None
    item: str | None = None
    agency: str | None = None


@dataclass(frozen=True)
class DeleteItemResponse:
    """The item record is gone."""

    item: str
    agency: str | None = None


@dataclass(frozen=True)
class LookupAgencyResponse:
    """An agency and its name."""

    agency: str
    name: str | None = None


@dataclass(frozen=True)
class ProblemResponse:
    """A service that failed: ``<Service>Response`` holding Problems.

    ``service`` is empty for a message-level Problem (nothing could be read).
    """

    service: str
    problems: tuple[Problem, ...] = field(default_factory=tuple)


Response = (
    LookupUserResponse
    | CheckOutItemResponse
    | CheckInItemResponse
    | RenewItemResponse
    | LookupItemResponse
    | AcceptItemResponse
    | RequestItemResponse
    | CancelRequestItemResponse
    | DeleteItemResponse
    | LookupAgencyResponse
    | ProblemResponse
)


class _Writer:
    def __init__(self, style: Style, header: Header | None) -> None:
        self.b = Builder(style)
        self.style = style
        self.header = header

    def response_header(self) -> etree._Element | None:
        h = self.header
        if h is None or h.from_agency is None or h.to_agency is None:
            return None
        b = self.b
        return b.element(
            "ResponseHeader",
            b.element("FromAgencyId", b.text("AgencyId", h.from_agency)),
            b.element("ToAgencyId", b.text("AgencyId", h.to_agency)),
        )

    def ident(self, kind: str, value: str, agency: str | None) -> etree._Element:
        b = self.b
        return b.element(
            f"{kind}Id", b.text("AgencyId", agency), b.text(f"{kind}IdentifierValue", value)
        )

    def date(self, name: str, moment: datetime | None) -> etree._Element | None:
        if moment is None:
            return None
        return self.b.text(name, format_datetime(moment, self.style))

    def problem(self, problem: Problem, service: str) -> etree._Element:
        b = self.b
        scheme = problem.scheme or (service_scheme(service) if service else MESSAGING_SCHEME)
        return b.element(
            "Problem",
            b.text("ProblemType", problem.type, scheme),
            b.text("ProblemDetail", problem.detail),
            b.text("ProblemElement", problem.element),
            b.text("ProblemValue", problem.value),
        )

    def payload(self, response: Response) -> etree._Element | list[etree._Element]:
        b = self.b
        match response:
            case ProblemResponse(service="", problems=problems):
                return [self.problem(p, "") for p in problems]
            case ProblemResponse(service=service, problems=problems):
                return b.element(
                    f"{service}Response",
                    self.response_header(),
                    *(self.problem(p, service) for p in problems),
                )
            case LookupUserResponse():
                return self.lookup_user(response)
            case CheckOutItemResponse(item=item, user=user, due=due, agency=agency):
                return b.element(
                    "CheckOutItemResponse",
                    self.response_header(),
                    self.ident("Item", item, agency),
                    self.ident("User", user, agency),
                    self.date("DateDue", due),
                )
            case CheckInItemResponse(item=item, user=user, agency=agency):
                return b.element(
                    "CheckInItemResponse",
                    self.response_header(),
                    self.ident("Item", item, agency),
                    self.ident("User", user, agency) if user else None,
                )
            case RenewItemResponse(item=item, user=user, due=due, agency=agency):
                return b.element(
                    "RenewItemResponse",
                    self.response_header(),
                    self.ident("Item", item, agency),
                    self.ident("User", user, agency) if user else None,
                    self.date("DateDue", due),
                )
            case LookupItemResponse():
                return self.lookup_item(response)
            case AcceptItemResponse(request_id=request_id, item=item, agency=agency):
                return b.element(
                    "AcceptItemResponse",
                    self.response_header(),
                    self.ident("Request", request_id, agency),
                    self.ident("Item", item, agency) if item else None,
                )
            case RequestItemResponse():
                return b.element(
                    "RequestItemResponse",
                    self.response_header(),
                    *self.item_or_request(response.item, response.request_id, response.agency),
                    self.ident("User", response.user, response.agency),
                    b.text("RequestType", response.request_type, _scheme("requesttype")),
                    b.text("RequestScopeType", response.scope_type, _scheme("requestscopetype")),
                )
            case CancelRequestItemResponse():
                return b.element(
                    "CancelRequestItemResponse",
                    self.response_header(),
                    *self.item_or_request(response.item, response.request_id, response.agency),
                    self.ident("User", response.user, response.agency),
                )
            case DeleteItemResponse(item=item, agency=agency):
                return b.element(
                    "DeleteItemResponse", self.response_header(), self.ident("Item", item, agency)
                )
            case LookupAgencyResponse(agency=agency, name=name):
                return b.element(
                    "LookupAgencyResponse",
                    self.response_header(),
                    b.text("AgencyId", agency),
                    b.element(
                        "OrganizationNameInformation",
                        b.text("OrganizationNameType", "Formal", _scheme("organizationnametype")),
                        b.text("OrganizationName", name),
                    )
                    if name
                    else None,
                )

    def item_or_request(
        self, item: str | None, request_id: str | None, agency: str | None
    ) -> list[etree._Element]:
        if request_id is not None:
            found = [self.ident("Request", request_id, agency)]
            return found + ([self.ident("Item", item, agency)] if item else [])
        assert item is not None, "a response names the item or the request"
        return [self.ident("Item", item, agency)]

    def lookup_user(self, response: LookupUserResponse) -> etree._Element:
        b = self.b
        name = (
            b.element(
                "NameInformation",
                b.element(
                    "PersonalNameInformation",
                    b.text("UnstructuredPersonalUserName", response.name),
                ),
            )
            if response.name
            else None
        )
        privileges = [
            b.element(
                "UserPrivilege",
                b.text("AgencyId", p.agency),
                b.text("AgencyUserPrivilegeType", p.type, _scheme("agencyuserprivilegetype")),
                b.element("UserPrivilegeStatus", b.text("UserPrivilegeStatusType", p.status))
                if p.status
                else None,
            )
            for p in response.privileges
        ]
        blocks = [
            b.element("BlockOrTrap", b.text("AgencyId", agency), b.text("BlockOrTrapType", kind))
            for agency, kind in response.blocks
        ]
        optional = (
            b.element("UserOptionalFields", name, *privileges, *blocks)
            if name is not None or privileges or blocks
            else None
        )
        return b.element(
            "LookupUserResponse",
            self.response_header(),
            self.ident("User", response.user, response.agency),
            optional,
        )

    def lookup_item(self, response: LookupItemResponse) -> etree._Element:
        b = self.b
        description = (
            b.element("BibliographicDescription", b.text("Title", response.title))
            if response.title
            else None
        )
        location = (
            b.element(
                "Location",
                b.text("LocationType", "Permanent Location", _scheme("locationtype")),
                b.element(
                    "LocationName",
                    b.element(
                        "LocationNameInstance",
                        b.text("LocationNameLevel", "1"),
                        b.text("LocationNameValue", response.location),
                    ),
                ),
            )
            if response.location
            else None
        )
        status = b.text(
            "CirculationStatus", response.circulation_status, _scheme("circulationstatus")
        )
        optional_parts = [description, status, location, self.date("DateDue", response.due)]
        optional = (
            b.element("ItemOptionalFields", *optional_parts)
            if any(p is not None for p in optional_parts)
            else None
        )
        return b.element(
            "LookupItemResponse",
            self.response_header(),
            self.ident("Item", response.item, response.agency),
            optional,
        )


def _scheme(name: str) -> str:
    return f"http://www.niso.org/ncip/v1_0/imp1/schemes/{name}/{name}.scm"


def write_response(
    response: Response, style: Style | None = None, header: Header | None = None
) -> bytes:
    """The bytes of a response message (schema-valid 2.02 in the default style).

    Args:
        response: The payload, or a ``ProblemResponse``.
        style: The peer's style (default: qualified ``ns1``).
        header: The ``ResponseHeader`` agencies (from = the gateway's side, to = the
            caller); omitted unless both are known.
    """
    writer = _Writer(style or Style(), header)
    return writer.b.message(writer.payload(response))


GENERAL = GENERAL_SCHEME
"""The general processing-error scheme (re-exported for responders)."""
