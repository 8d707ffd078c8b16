"""The initiator's side: write requests to a member's NCIP responder, read its answers.

Requests are written strictly in the peer's ``Style``; responses are read as leniently
as requests are (any namespace, any order), into a ``Reply``: the service, its
Problems, and the payload to read fields from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import NcipSyntaxError
from .messages import (
    AcceptItem,
    CancelRequestItem,
    CheckInItem,
    CheckOutItem,
    DeleteItem,
    Header,
    LookupAgency,
    LookupItem,
    LookupUser,
    Patron,
    Problem,
    RenewItem,
    Request,
    RequestItem,
    format_datetime,
    service_of,
)
from .xml import Builder, Node, Style, parse

if TYPE_CHECKING:
    from lxml import etree

__all__ = ["Reply", "read_reply", "write_request"]

_ALREADY_IN = ("item not checked out", "9022", "not on loan", "item not on loan")


@dataclass(frozen=True)
class Reply:
    """A responder's answer."""

    service: str
    """The response element's name without ``Response`` ('' for a message Problem)."""
    problems: tuple[Problem, ...]
    payload: Node

    @property
    def ok(self) -> bool:
        """No Problem."""
        return not self.problems

    def has_problem(self, *types: str) -> bool:
        """Whether a Problem's type is one of ``types`` (case-insensitive)."""
        wanted = {t.lower() for t in types}
        return any(p.type.strip().lower() in wanted for p in self.problems)

    @property
    def already_checked_in(self) -> bool:
        """The "nothing to check in" variants ILSs report, which mean success."""
        return bool(self.problems) and all(
            p.type.strip().lower() in _ALREADY_IN for p in self.problems
        )


def _problems(node: Node) -> tuple[Problem, ...]:
    return tuple(
        Problem(
            type=p.value("ProblemType") or "Unknown Problem",
            detail=p.value("ProblemDetail"),
            element=p.value("ProblemElement"),
            value=p.value("ProblemValue"),
        )
        for p in node.children("Problem")
    )


def read_reply(body: bytes) -> Reply:
    """Read a response message.

    Raises:
        NcipSyntaxError: Not NCIP (a web server's error page, say).
    """
    root = parse(body)
    if root.name != "NCIPMessage":
        raise NcipSyntaxError(f"the answer's root element is {root.name!r}, not NCIPMessage")
    first = next(root.children(), None)
    if first is None:
        raise NcipSyntaxError("the answer carries nothing")
    if first.name == "Problem":
        return Reply("", _problems(root), root)
    return Reply(first.name.removesuffix("Response"), _problems(first), first)


class _RequestWriter:
    def __init__(self, style: Style) -> None:
        self.b = Builder(style)
        self.style = style

    def header(self, h: Header) -> etree._Element | None:
        if h.from_agency is None or h.to_agency is None:
            return None
        b = self.b
        return b.element(
            "InitiationHeader",
            b.text("FromSystemId", h.from_system),
            b.element("FromAgencyId", b.text("AgencyId", h.from_agency)),
            b.text("FromAgencyAuthentication", h.from_agency_authentication),
            b.element("ToAgencyId", b.text("AgencyId", h.to_agency)),
            b.text("ApplicationProfileType", h.application_profile),
        )

    def patron(self, patron: Patron) -> list[etree._Element]:
        """``UserId`` alone, or barcode + PIN as ``AuthenticationInput`` (a schema choice)."""
        b = self.b
        if patron.pin is None:
            return [
                b.element(
                    "UserId",
                    b.text("AgencyId", patron.agency),
                    b.text("UserIdentifierValue", patron.identifier),
                )
            ]
        return [
            self.auth(patron.identifier, "Barcode Id"),
            self.auth(patron.pin, "PIN"),
        ]

    def auth(self, data: str, kind: str) -> etree._Element:
        b = self.b
        return b.element(
            "AuthenticationInput",
            b.text("AuthenticationInputData", data),
            b.text("AuthenticationDataFormatType", "text"),
            b.text("AuthenticationInputType", kind),
        )

    def bibliographic(self, value: str) -> etree._Element:
        """A ``BibliographicId``: an ISBN as an item id, anything else as a record id."""
        b = self.b
        digits = value.replace("-", "").replace(" ", "")
        if len(digits) in (10, 13) and digits[:-1].isdigit():
            return b.element(
                "BibliographicId",
                b.element(
                    "BibliographicItemId",
                    b.text("BibliographicItemIdentifier", digits),
                    b.text("BibliographicItemIdentifierCode", "ISBN"),
                ),
            )
        return b.element(
            "BibliographicId",
            b.element(
                "BibliographicRecordId",
                b.text("BibliographicRecordIdentifier", value),
                b.text("BibliographicRecordIdentifierCode", "Accession Number"),
            ),
        )

    def ident(self, kind: str, value: str, agency: str | None = None) -> etree._Element:
        b = self.b
        return b.element(
            f"{kind}Id", b.text("AgencyId", agency), b.text(f"{kind}IdentifierValue", value)
        )

    def build(self, request: Request) -> etree._Element:
        b = self.b
        head = self.header(request.header)
        match request:
            case LookupUser(patron=patron, element_types=types):
                return b.element(
                    "LookupUser",
                    head,
                    *self.patron(patron),
                    *(b.text("UserElementType", t) for t in types),
                )
            case CheckOutItem(patron=patron, item=item, request_id=request_id, desired_due=due):
                return b.element(
                    "CheckOutItem",
                    head,
                    *self.patron(patron),
                    self.ident("Item", item),
                    self.ident("Request", request_id) if request_id else None,
                    b.text("DesiredDateDue", format_datetime(due, self.style)) if due else None,
                )
            case CheckInItem(item=item):
                return b.element("CheckInItem", head, self.ident("Item", item))
            case RenewItem(patron=patron, item=item, desired_due=due):
                return b.element(
                    "RenewItem",
                    head,
                    *self.patron(patron),
                    self.ident("Item", item),
                    b.text("DesiredDateDue", format_datetime(due, self.style)) if due else None,
                )
            case LookupItem(item=item, request_id=request_id):
                target = (
                    self.ident("Item", item) if item else self.ident("Request", request_id or "")
                )
                return b.element(
                    "LookupItem",
                    head,
                    target,
                    b.text("ItemElementType", "Bibliographic Description"),
                    b.text("ItemElementType", "Circulation Status"),
                    b.text("ItemElementType", "Location"),
                )
            case AcceptItem():
                return self.accept(request, head)
            case RequestItem():
                return b.element(
                    "RequestItem",
                    head,
                    *self.patron(request.patron),
                    *(self.bibliographic(b) for b in request.bibliographic_ids),
                    *(self.ident("Item", i) for i in request.items),
                    self.ident("Request", request.request_id) if request.request_id else None,
                    b.text("RequestType", request.request_type),
                    b.text("RequestScopeType", request.scope_type),
                    b.text("PickupLocation", request.pickup_location),
                )
            case CancelRequestItem():
                which = (
                    self.ident("Request", request.request_id)
                    if request.request_id
                    else self.ident("Item", request.item or "")
                )
                return b.element(
                    "CancelRequestItem",
                    head,
                    *self.patron(request.patron),
                    which,
                    b.text("RequestType", request.request_type),
                )
            case DeleteItem(item=item):
                return b.element("DeleteItem", head, self.ident("Item", item))
            case LookupAgency(agency=agency):
                return b.element(
                    "LookupAgency",
                    head,
                    b.text("AgencyId", agency),
                    b.text("AgencyElementType", "Organization Name Information"),
                )

    def accept(self, request: AcceptItem, head: etree._Element | None) -> etree._Element:
        b = self.b
        description = (
            b.element(
                "ItemOptionalFields",
                b.element(
                    "BibliographicDescription",
                    b.text("Author", request.author),
                    b.text("Title", request.title),
                ),
            )
            if request.title or request.author
            else None
        )
        return b.element(
            "AcceptItem",
            head,
            self.ident("Request", request.request_id),
            b.text("RequestedActionType", request.requested_action),
            self.patron(request.patron)[0] if request.patron else None,
            self.ident("Item", request.item) if request.item else None,
            b.text("DateForReturn", format_datetime(request.date_for_return, self.style))
            if request.date_for_return
            else None,
            description,
            b.text("PickupLocation", request.pickup_location),
        )


def write_request(request: Request, style: Style | None = None) -> bytes:
    """The bytes of a request message in the peer's style."""
    writer = _RequestWriter(style or Style())
    return writer.b.message(writer.build(request))


def service_name(body: bytes) -> str:
    """The service a message carries (for logs and tests)."""
    return service_of(parse(body)).name
