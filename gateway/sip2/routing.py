"""Where a kiosk's request goes: pure decisions from barcodes and the terminal's library.

``route(consortium, terminal_member, message)`` says which member ILS answers, and
whether the request is a reciprocal one.  The rules, by message:

* **Patron requests** (23, 63, 35, 37, 25, 01) go to the patron's home library: the
  library whose patron barcode rule matches AA; failing that the library whose
  institution id is the request's AO (a hint only); failing that the terminal's own
  library, so that cards the rules do not describe still reach the kiosk's own ILS.
* **Item requests** (17, 19, 09) go to the item's owner (item barcode rules), or to the
  terminal's library when no rule matches.
* **Checkout and renew** (11, 29): when the patron's home and the item's owner are the
  same library it is that library's own loan (local, or forwarded if the kiosk belongs
  to another member); when they differ it is a **reciprocal** loan.
* **Renew all** (65): the patron's home library, plus their reciprocal loans.
* **Hold** (15): a hold by a patron on an item of their own library (or by title) goes
  to that library; a hold across libraries is answered by the gateway with a refusal
  that sends the patron to a desk, until lender selection places such holds.
* **93 and 99** are answered by the gateway itself; **97** by the SIP2 codec.

Every route keeps the terminal's library so that responses can say when an item must
travel.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from protocols.sip2 import (
    BlockPatron,
    CheckinRequest,
    CheckoutRequest,
    EndPatronSessionRequest,
    FeePaidRequest,
    HoldRequest,
    ItemInformationRequest,
    ItemStatusUpdateRequest,
    LoginRequest,
    Message,
    PatronEnableRequest,
    PatronInformationRequest,
    PatronStatusRequest,
    RenewAllRequest,
    RenewRequest,
    ScStatus,
)

if TYPE_CHECKING:
    from config.consortium import Consortium

__all__ = ["Route", "RouteKind", "home_of", "owner_of", "route"]


class RouteKind(enum.Enum):
    """How a request is served."""

    LOCAL = "local"
    """The terminal's own library answers; the message passes through."""

    FORWARD = "forward"
    """Another single library answers (the patron's home, or the item's owner)."""

    RECIPROCAL = "reciprocal"
    """A patron of one library and an item of another: the gateway runs the loan."""

    GATEWAY = "gateway"
    """The gateway answers itself (login, status, a hold it cannot place)."""


@dataclass(frozen=True)
class Route:
    """Where a request goes."""

    kind: RouteKind
    terminal: str
    target: str | None = None
    home: str | None = None
    owner: str | None = None


def home_of(consortium: Consortium, patron: str, institution: str, terminal: str) -> str:
    """The patron's home library (barcode rules, then the AO hint, then the terminal's)."""
    return consortium.home_of(patron) or consortium.institutions.get(institution) or terminal


def owner_of(consortium: Consortium, item: str, terminal: str) -> str:
    """The item's owning library (barcode rules, then the terminal's library)."""
    return consortium.owner_of(item) or terminal


def _kind(target: str, terminal: str) -> RouteKind:
    """How a request that one library answers goes: locally or forwarded."""
    return RouteKind.LOCAL if target == terminal else RouteKind.FORWARD


def route(consortium: Consortium, terminal: str, message: Message) -> Route:
    """Decide where ``message`` from a kiosk of ``terminal`` goes (see module rules)."""
    match message:
        case LoginRequest() | ScStatus():
            return Route(RouteKind.GATEWAY, terminal)
        case (
            PatronStatusRequest()
            | PatronInformationRequest()
            | EndPatronSessionRequest()
            | FeePaidRequest()
            | PatronEnableRequest()
            | BlockPatron()
        ):
            home = home_of(consortium, message.patron_identifier, message.institution_id, terminal)
            return Route(_kind(home, terminal), terminal, target=home, home=home)
        case ItemInformationRequest() | ItemStatusUpdateRequest() | CheckinRequest():
            owner = owner_of(consortium, message.item_identifier, terminal)
            return Route(_kind(owner, terminal), terminal, target=owner, owner=owner)
        case CheckoutRequest() | RenewRequest():
            home = home_of(consortium, message.patron_identifier, message.institution_id, terminal)
            owner = owner_of(consortium, message.item_identifier or "", terminal)
            if home == owner:
                return Route(_kind(owner, terminal), terminal, target=owner, home=home, owner=owner)
            return Route(RouteKind.RECIPROCAL, terminal, target=owner, home=home, owner=owner)
        case RenewAllRequest():
            home = home_of(consortium, message.patron_identifier, message.institution_id, terminal)
            kind = RouteKind.LOCAL if home == terminal else RouteKind.RECIPROCAL
            return Route(kind, terminal, target=home, home=home)
        case HoldRequest():
            home = home_of(consortium, message.patron_identifier, message.institution_id, terminal)
            item = message.item_identifier
            holder = consortium.owner_of(item) if item else None
            if holder is None or holder == home:
                kind = _kind(home, terminal)
                return Route(kind, terminal, target=home, home=home, owner=holder)
            return Route(RouteKind.GATEWAY, terminal, home=home, owner=holder)
    return Route(RouteKind.GATEWAY, terminal)
