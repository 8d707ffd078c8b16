"""What discovery and lender ranking answer: frozen values, and their JSON for the admin API.

``discover`` returns a ``Discovery`` (the copies found, each a ``FoundCopy``, and the
members that could not be asked); ``rank_lenders`` a ``LenderRanking`` (that
discovery and the strategy's ``Ranking``).  Flows inside the gateway read their
fields; only the admin routes turn them into JSON (``to_json``), so the API keeps its
shape whatever the values gain later.

Rules:

* A copy's **availability** comes only from its holder's ILS, asked during this
  discovery: ``AVAILABLE`` means it just said the copy is on the shelf (or waiting to
  be reshelved); a copy it was not asked about, or no longer knows, is ``UNKNOWN``.
* The JSON is the API's contract (``tests/gateway/network/test_api_json.py``): keys,
  their order and their values stay as they are; ``available`` is ``true``, ``false``
  or ``null`` and ``source`` is ``"live"`` or ``"index"``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import assert_never

from gateway.network.selection import Ranking, as_dict
from protocols.sip2 import CirculationStatus

__all__ = [
    "CopyAvailability",
    "Discovery",
    "DiscoveryQuery",
    "FoundCopy",
    "LenderRanking",
    "Lookup",
    "Unreachable",
]

ON_SHELF = frozenset({CirculationStatus.AVAILABLE, CirculationStatus.WAITING_TO_BE_RESHELVED})
"""The circulation statuses of a copy that can be lent now."""


class Lookup(enum.Enum):
    """What the holder's ILS said of a copy during this discovery."""

    LIVE = "live"
    """It described the copy just now."""
    NOT_CHECKED = "not_checked"
    """It was not asked (past the live limit, an id it cannot carry) or did not answer:
    the holdings index's word stands."""
    NOT_FOUND = "not_found"
    """It no longer knows the copy the holdings index lists."""


class CopyAvailability(enum.Enum):
    """Whether a copy can be lent now, as far as this discovery knows."""

    AVAILABLE = "available"
    """Its ILS just said it is on the shelf (or waiting to be reshelved)."""
    UNAVAILABLE = "unavailable"
    """Its ILS just gave another status (on loan, in transit, missing…)."""
    UNKNOWN = "unknown"
    """No live status: its ILS was not asked, did not answer, or does not know it."""


_AVAILABLE_JSON = {
    CopyAvailability.AVAILABLE: True,
    CopyAvailability.UNAVAILABLE: False,
    CopyAvailability.UNKNOWN: None,
}


def _status_name(status: int | None) -> str:
    if status is None:
        return "unknown"
    try:
        return CirculationStatus(status).name.lower().replace("_", " ")
    except ValueError:
        return "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class FoundCopy:
    """One copy of the wanted item or title at a member.

    Args:
        member: The holding member.
        item: The copy's barcode.
        title: Its title (the ILS's, when it gave one; else the holdings index's).
        isbn: Its ISBN, as the index holds it.
        author: Its author, from the index.
        location: Its permanent location (the ILS's, when it gave one).
        lookup: What the holder's ILS said of it.
        circulation_status: The circulation status its ILS gave (SIP2 codes; only
            with ``Lookup.LIVE``; ``None`` when the ILS gave none).
    """

    member: str
    item: str
    title: str
    isbn: str | None = None
    author: str | None = None
    location: str | None = None
    lookup: Lookup = Lookup.NOT_CHECKED
    circulation_status: int | None = None

    @property
    def availability(self) -> CopyAvailability:
        """Whether the copy can be lent now (see the module documentation)."""
        if self.lookup is not Lookup.LIVE:
            return CopyAvailability.UNKNOWN
        if self.circulation_status in ON_SHELF:
            return CopyAvailability.AVAILABLE
        return CopyAvailability.UNAVAILABLE

    @property
    def status(self) -> str:
        """The copy's status in words, for people ("available", "charged", "not
        checked"…); nothing is decided on it."""
        match self.lookup:
            case Lookup.LIVE:
                return _status_name(self.circulation_status)
            case Lookup.NOT_CHECKED:
                return "not checked"
            case Lookup.NOT_FOUND:
                return "not found"
        assert_never(self.lookup)

    def to_json(self) -> dict[str, object]:
        """The copy as the admin API writes it (an entry of ``results``)."""
        return {
            "member": self.member,
            "item": self.item,
            "title": self.title,
            "isbn": self.isbn,
            "author": self.author,
            "location": self.location,
            "status": self.status,
            "available": _AVAILABLE_JSON[self.availability],
            "source": "live" if self.lookup is Lookup.LIVE else "index",
        }


@dataclass(frozen=True, slots=True)
class Unreachable:
    """A member whose ILS failed or was too slow during a discovery.

    Args:
        member: The member's id.
        name: Its display name.
        detail: What went wrong, for people.
    """

    member: str
    name: str
    detail: str

    def to_json(self) -> dict[str, object]:
        """The member as the admin API writes it (an entry of ``unreachable``)."""
        return {"member": self.member, "name": self.name, "detail": self.detail}


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscoveryQuery:
    """What was asked: one of an item barcode, an ISBN or title words."""

    item: str | None = None
    isbn: str | None = None
    title: str | None = None

    def to_json(self) -> dict[str, object]:
        """The query as the admin API writes it."""
        return {"item": self.item, "isbn": self.isbn, "title": self.title}


@dataclass(frozen=True, slots=True, kw_only=True)
class Discovery:
    """Who owns and can lend an item, ISBN or title (``discovery.discover``).

    Args:
        query: What was asked.
        holdings: The copies found: those looked up live first (in the index's
            order), then those past the live limit.
        unreachable: The members whose ILS failed or was too slow, by member id.
        elapsed_ms: How long the live lookups took, in milliseconds.
    """

    query: DiscoveryQuery
    holdings: tuple[FoundCopy, ...]
    unreachable: tuple[Unreachable, ...] = ()
    elapsed_ms: int = 0

    @property
    def partial(self) -> bool:
        """Whether some holder could not be asked (the answer may miss copies)."""
        return bool(self.unreachable)

    @property
    def members(self) -> tuple[str, ...]:
        """The members with a copy available now, sorted."""
        return tuple(
            sorted(
                {c.member for c in self.holdings if c.availability is CopyAvailability.AVAILABLE}
            )
        )

    def to_json(self) -> dict[str, object]:
        """The answer of ``/api/discover``."""
        return {
            "query": self.query.to_json(),
            "results": [copy.to_json() for copy in self.holdings],
            "members": list(self.members),
            "unreachable": [member.to_json() for member in self.unreachable],
            "partial": self.partial,
            "elapsed_ms": self.elapsed_ms,
        }


@dataclass(frozen=True, slots=True)
class LenderRanking:
    """The holders of a title ranked for a requester (``lenders.rank_lenders``).

    Args:
        discovery: The discovery the candidates came from.
        ranking: The strategy's rota and exclusions.
    """

    discovery: Discovery
    ranking: Ranking

    def to_json(self) -> dict[str, object]:
        """The answer of ``/api/lenders``."""
        return {"discovery": self.discovery.to_json(), "ranking": as_dict(self.ranking)}
