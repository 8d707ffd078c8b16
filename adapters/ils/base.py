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

Members that speak SIP2 can also forward a kiosk's message untouched
(``Sip2Forwarding``), which is how a library's own traffic passes through the gateway
with its vendor fields intact.  A client that spreads requests over several endpoints
(``Balanced``: the SIP2 and NCIP clients) shows its balancer, whose breakers the
gateways of a consortium share.  These capabilities are runtime-checkable Protocols:
find them with ``isinstance`` once, where the member clients are listed, never per
request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from protocols.sip2 import Message, PatronStatus

if TYPE_CHECKING:
    from adapters.ils.balancing import EndpointBalancer

NO_STATUS = PatronStatus(0)

__all__ = [
    "Balanced",
    "CheckinOutcome",
    "CirculationOutcome",
    "ItemRecord",
    "MemberIls",
    "PatronRecord",
    "Sip2Forwarding",
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


@runtime_checkable
class Sip2Forwarding(Protocol):
    """A member ILS that can take a kiosk's SIP2 message as it is."""

    async def forward(self, message: Message, *, timeout: float) -> Message:
        """Send ``message`` to the ILS and return its answer, both untouched."""
        ...


@runtime_checkable
class Balanced(Protocol):
    """A member ILS client that spreads requests over several endpoints, each behind a
    circuit breaker (``Sip2MemberIls`` and ``NcipMemberIls``).

    Its balancer holds the endpoints' breakers, which the gateways of a consortium
    share through the state store: an endpoint one gateway finds down is opened on
    the others too.
    """

    @property
    def balancer(self) -> EndpointBalancer:
        """The endpoints' balancer and their breakers."""
        ...
