"""The neutral interface to a member's ILS, whatever protocol it speaks.

The gateway asks a member's ILS the same questions whether it speaks SIP2 or NCIP:
who is this patron (and is the PIN right), lend this item to this account, take this
item back, renew it, what is this item.  ``MemberIls`` is that interface; the answers
are plain dataclasses with what the gateway needs for its policy and for building the
kiosk's response.

Every call takes ``timeout``: the caller owns the time budget of a request and passes
what is left of it.  An adapter raises only ``adapters.errors.IlsError`` subclasses
(the ILS could not answer) and ``IlsRequestInvalid`` (the request cannot be put to
this ILS: the caller's fault, raised before anything is sent); a refusal by the ILS is
an outcome with ``ok`` false.

Beyond that, a client may declare capabilities (``typing.Protocol``s below), which the
gateway resolves once per member when its runtime is built: ``Sip2Forwarding`` (a
kiosk's SIP2 message passed untouched: a library's own traffic keeps its vendor
fields), ``Holds`` (placing and cancelling holds), ``ItemRecords`` (temporary items,
NCIP AcceptItem/DeleteItem), ``Balanced`` (requests spread over several endpoints, whose
breakers the gateways of a consortium share) and ``Supervised`` (a client with
connections and health checks of its own, run in the daemon's nursery).  They are
runtime-checkable: found with ``isinstance`` once, never probed per request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from protocols.sip2 import Message, PatronStatus

if TYPE_CHECKING:
    import trio

    from adapters.ils.balancing import EndpointBalancer

NO_STATUS = PatronStatus(0)

__all__ = [
    "Balanced",
    "CheckinOutcome",
    "CirculationOutcome",
    "HoldOutcome",
    "Holds",
    "ItemOutcome",
    "ItemRecord",
    "ItemRecords",
    "MemberIls",
    "PatronRecord",
    "Sip2Forwarding",
    "Supervised",
]


@dataclass(frozen=True)
class PatronRecord:
    """What the home ILS says about a patron.

    Attributes:
        found: The ILS knows the patron.
        pin_ok: Whether the PIN was right (``None`` when no PIN was checked).
        name: The patron's name, for the kiosk's greeting.
        patron_type: The patron's type or class, if the ILS says.
        status: The ILS's patron status flags.
        fines: The amount the patron owes at home.
        currency: The currency of ``fines``.
        expired: The card has expired, if the ILS says so.
        screen_messages: Messages the ILS wants shown.
        charged_items: Items on loan at home, when asked for.
        response: The raw response, when it came over SIP2.
    """

    found: bool
    pin_ok: bool | None
    name: str = ""
    patron_type: str | None = None
    status: PatronStatus = NO_STATUS
    fines: Decimal = Decimal(0)
    currency: str | None = None
    expired: bool = False
    screen_messages: tuple[str, ...] = ()
    charged_items: tuple[str, ...] = ()
    response: Message | None = None

    @property
    def blocked(self) -> bool:
        """The home ILS denies this patron charge privileges (or the card is lost)."""
        return bool(
            self.status & (PatronStatus.CHARGE_PRIVILEGES_DENIED | PatronStatus.CARD_REPORTED_LOST)
        )


@dataclass(frozen=True)
class CirculationOutcome:
    """The ILS's answer to a checkout or a renewal.

    Attributes:
        ok: The loan was made (or renewed).
        renewal: The item was already out to this account (the checkout renewed it).
        title: The item's title, as the ILS gives it.
        due_text: The due date exactly as the ILS wrote it (free text in SIP2).
        due: The due date, when the text is a date the gateway can read.
        screen_messages: Messages the ILS wants shown.
        response: The raw response, when it came over SIP2.
    """

    ok: bool
    renewal: bool = False
    title: str = ""
    due_text: str = ""
    due: datetime | None = None
    screen_messages: tuple[str, ...] = ()
    response: Message | None = None


@dataclass(frozen=True)
class CheckinOutcome:
    """The ILS's answer to a checkin.

    Attributes:
        ok: The item was checked in.
        permanent_location: Where the item lives.
        title: The item's title.
        previous_patron: Who had it, if the ILS says.
        sort_bin: The sort bin the ILS suggests.
        alert: The ILS asks for an alert (a hold, a transfer).
        screen_messages: Messages the ILS wants shown.
        extensions: Vendor fields of the answer (CT, CV, …), untouched.
        response: The raw response, when it came over SIP2.
    """

    ok: bool
    permanent_location: str = ""
    title: str | None = None
    previous_patron: str | None = None
    sort_bin: str | None = None
    alert: bool = False
    screen_messages: tuple[str, ...] = ()
    extensions: tuple[tuple[str, str], ...] = field(default=())
    response: Message | None = None


@dataclass(frozen=True)
class ItemRecord:
    """What the owner's ILS says about an item."""

    found: bool
    title: str = ""
    media_type: str | None = None
    current_location: str | None = None
    permanent_location: str | None = None
    circulation_status: int | None = None
    due: datetime | None = None
    """When the item is due back, if it is out and the ILS says."""
    response: Message | None = None


class MemberIls(Protocol):
    """A member library's ILS, as the gateway uses it."""

    member: str

    async def patron_status(self, patron: str, pin: str | None, *, timeout: float) -> PatronRecord:
        """Look the patron up, checking the PIN when one is given."""
        ...

    async def checkout(
        self, patron: str, item: str, *, due: datetime | None, timeout: float
    ) -> CirculationOutcome:
        """Lend ``item`` to the account ``patron`` (a proxy account for visitors), until
        ``due`` where the ILS takes a due date from the gateway; the outcome carries the
        date the ILS set."""
        ...

    async def renew(
        self, patron: str, item: str, *, due: datetime | None = None, timeout: float
    ) -> CirculationOutcome:
        """Renew the loan of ``item`` to ``patron`` (until ``due``, where the ILS takes a
        due date from the gateway)."""
        ...

    async def checkin(self, item: str, location: str, *, timeout: float) -> CheckinOutcome:
        """Take ``item`` back, returned at ``location``."""
        ...

    async def item_information(self, item: str, *, timeout: float) -> ItemRecord:
        """Describe ``item``."""
        ...


@dataclass(frozen=True)
class HoldOutcome:
    """The ILS's answer to placing or cancelling a hold.

    Attributes:
        ok: The hold was placed (or cancelled).
        item: The item the hold is on, when the ILS names one.
        title: The title, when the ILS names it.
        request_id: The ILS's id of the request, when it gives one.
        screen_messages: The ILS's messages, for people.
        response: The raw response, when it came over SIP2.
    """

    ok: bool
    item: str | None = None
    title: str | None = None
    request_id: str | None = None
    screen_messages: tuple[str, ...] = ()
    response: Message | None = None


@dataclass(frozen=True)
class ItemOutcome:
    """The ILS's answer to ``AcceptItem`` or ``DeleteItem``.

    Attributes:
        ok: The temporary item was created (or deleted).
        item: The item id the ILS uses (it may assign its own on AcceptItem).
        request_id: The request the item belongs to (AcceptItem).
        screen_messages: The ILS's Problems, for people.
    """

    ok: bool
    item: str | None = None
    request_id: str | None = None
    screen_messages: tuple[str, ...] = ()


# --- capabilities beyond ``MemberIls``: declared here, resolved once per member when the
# runtime is built (``gateway/app/members.py``), never probed on a request's path.


@runtime_checkable
class Sip2Forwarding(Protocol):
    """A member ILS that can take a kiosk's SIP2 message as it is."""

    async def forward(self, message: Message, *, timeout: float, as_read: bool = False) -> Message:
        """Send ``message`` to the ILS and return its answer, both untouched; with
        ``as_read``, a message decoded from a kiosk goes as the kiosk wrote it where
        the ILS's dialect writes alike (the codec's ``encode_body``)."""
        ...


@runtime_checkable
class Holds(Protocol):
    """A member ILS that places and cancels holds for the gateway (SIP2 15, NCIP
    RequestItem / CancelRequestItem)."""

    async def place_hold(
        self,
        patron: str,
        *,
        item: str | None = None,
        title: str | None = None,
        pickup_location: str | None = None,
        timeout: float,
    ) -> HoldOutcome:
        """Place a hold for ``patron`` on ``item``, or on ``title`` when no item."""
        ...

    async def cancel_hold(
        self, patron: str, *, item: str | None = None, timeout: float
    ) -> HoldOutcome:
        """Cancel ``patron``'s hold on ``item``."""
        ...


@runtime_checkable
class ItemRecords(Protocol):
    """A member ILS that creates and deletes item records for the gateway (NCIP
    AcceptItem and DeleteItem): the temporary item at a patron's home library."""

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
        """Create a temporary item for ``patron`` (see ``NcipMemberIls.accept_item``)."""
        ...

    async def delete_item(self, item: str, *, timeout: float) -> ItemOutcome:
        """Delete a temporary item (one already gone is a success)."""
        ...


@runtime_checkable
class Balanced(Protocol):
    """A member ILS client that spreads requests over endpoints with circuit breakers
    (whose state the gateways share through the state store)."""

    @property
    def balancer(self) -> EndpointBalancer:
        """The endpoints' balancer and breakers."""
        ...


@runtime_checkable
class Supervised(Protocol):
    """A member ILS client with a life of its own in the daemon: a task that keeps its
    connections and health checks (``run``), and figures for the admin API."""

    @property
    def healthy(self) -> bool:
        """At least one endpoint is believed up."""
        ...

    def statistics(self) -> dict[str, object]:
        """Figures for the admin API (endpoints, in flight, …)."""
        ...

    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None:
        """Keep the client's connections and health checks until cancelled."""
        ...

    async def aclose(self) -> None:
        """Close every connection; the client cannot be used afterwards."""
        ...
