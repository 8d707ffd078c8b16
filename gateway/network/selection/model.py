"""The values lender selection works on: requests, candidates, members, rankings.

Everything here is a frozen value.  A strategy reads a ``LendingRequest`` (who asks,
which members could lend, who has already declined) and a ``Snapshot`` (each member's
declared profile, its counters at one instant, which members are off-line) and
returns a ``Ranking``: the rota in order, each entry with the terms and reasons that
put it there, and the members left out with why.

Rules kept here because every strategy shares them:

* A member's **profile** comes from the configuration (``lending.goal_ratio``,
  ``lending.capacity_per_day``); its **stats** come from the counters
  (``counters.py``); neither is ever guessed from the other.
* **Availability** follows OpenRS/DCB: an on-shelf copy is available now (later by
  28 days per hold queued on it); a checked-out copy on its due date (28 days per hold
  after that; 28 days more if overdue); a copy without a live status has no date.
* A ``LendingRequest`` counts the **declines** of each member, so the loop rule
  ("never ask a decliner again before every other lender was asked") needs no other
  state.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from config.consortium import Consortium

__all__ = [
    "DCB_LOAN_DAYS",
    "Availability",
    "Candidate",
    "CounterReading",
    "Exclusion",
    "LendingRequest",
    "MemberProfile",
    "MemberStats",
    "RankedLender",
    "Ranking",
    "Snapshot",
    "Term",
    "days_until_available",
    "great_circle_km",
    "profiles_from_consortium",
]

DCB_LOAN_DAYS = 28.0
"""Days OpenRS/DCB assumes each queued hold keeps a copy."""

_EARTH_RADIUS_KM = 6371.0088


class Availability(enum.Enum):
    """A candidate copy's live status, as the member's ILS reported it."""

    AVAILABLE = "available"  # on the shelf
    CHECKED_OUT = "checked_out"
    UNKNOWN = "unknown"  # no live status (holdings only, or the lookup timed out)


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """A member that holds the requested title, as discovery found it.

    Args:
        member: The holding member's id.
        availability: Its best copy's live status.
        due_in_days: Days until a checked-out copy is due (negative: overdue).
        hold_count: Holds already queued on that copy.
        distance_km: Kilometres from the pickup location (``None``: unknown).
        proximity: Hops from the pickup location in the consortium's tree or the
            courier's zones (Evergreen's proximity; 0 is the pickup library itself).
        network_priority: The requester's priority for the network it shares with
            this member (lower first; CrossLink's shared-network priority).
        cost: What the requester pays this member per loan (0 when reciprocal).
        preference: The requester's preference for this member's location or
            shelving (higher first; CrossLink's location and shelving preferences).
    """

    member: str
    availability: Availability = Availability.UNKNOWN
    due_in_days: float | None = None
    hold_count: int = 0
    distance_km: float | None = None
    proximity: int = 1
    network_priority: int = 0
    cost: float = 0.0
    preference: int = 0


def _frozen_counts(counts: Mapping[str, int] | None = None) -> Mapping[str, int]:
    return MappingProxyType(dict(counts or {}))


@dataclass(frozen=True, slots=True, kw_only=True)
class LendingRequest:
    """A request several members could fill.

    Args:
        id: The request's id; with a strategy's seed it fixes every random draw, so
            the same request is always ranked the same way.
        requester: The borrowing member.
        candidates: The members that hold the title, one entry per member.
        local: Members local to the requester besides itself (its branches).
        declines: How many times each member has declined this request.
    """

    id: str
    requester: str
    candidates: tuple[Candidate, ...]
    local: frozenset[str] = frozenset()
    declines: Mapping[str, int] = field(default_factory=_frozen_counts)

    def is_local(self, member: str) -> bool:
        """Whether ``member`` is the requester or one of its local members."""
        return member == self.requester or member in self.local

    def declined(self, member: str) -> int:
        """How many times ``member`` has declined this request."""
        return self.declines.get(member, 0)

    def with_decline(self, member: str) -> LendingRequest:
        """This request after ``member`` declined it (once more)."""
        counts = dict(self.declines)
        counts[member] = counts.get(member, 0) + 1
        return replace(self, declines=_frozen_counts(counts))


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberProfile:
    """What a member declared about its lending (configuration, not counters).

    Args:
        member: The member's id.
        goal_ratio: Loans it aims to make per loan its patrons receive
            (``lending.goal_ratio``; ReShare's InstitutionalLoanToBorrowRatio).
        capacity_per_day: Requests it can fill per day (``lending.capacity_per_day``;
            ``None``: not declared; 0: not lending).
        weight: Its share of load among equals (Evergreen's org-unit target weight).
    """

    member: str
    goal_ratio: float = 1.0
    capacity_per_day: int | None = None
    weight: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberStats:
    """A member's counters at one instant (see ``counters.py`` for how they move).

    Args:
        lends: Loans it filled, each weighted ``e^(-age/tau)`` (decayed ``L_i``).
        borrows: Loans its patrons received, decayed the same way (``B_i``).
        assigned: Requests assigned to it as lender, decayed.
        filled: Of those, the ones it filled, decayed.
        open_assigned: Requests assigned to it and not yet filled or declined.
        active_lends: Its loans in progress: open assignments and items out on loan
            (ReShare's ACTIVE_LOAN).
        active_borrows: Its patrons' requests in progress, until the item is back
            (ReShare's ACTIVE_BORROW).
        lifetime_lends: Loans filled, never decayed (CrossLink's peer counter).
        lifetime_borrows: Loans received, never decayed.
        recent_turnaround_hours: Hours from assignment to shipping of its last fills.
    """

    lends: float = 0.0
    borrows: float = 0.0
    assigned: float = 0.0
    filled: float = 0.0
    open_assigned: int = 0
    active_lends: int = 0
    active_borrows: int = 0
    lifetime_lends: int = 0
    lifetime_borrows: int = 0
    recent_turnaround_hours: tuple[float, ...] = ()


_NO_STATS = MemberStats()


@dataclass(frozen=True, slots=True, kw_only=True)
class CounterReading:
    """What the counters hold for some members at one instant.

    Args:
        stats: Each member's counters (a member never seen has all zeros).
        consortium_turnaround_hours: The median of the consortium's recent fills.
    """

    stats: Mapping[str, MemberStats]
    consortium_turnaround_hours: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """Everything a strategy reads besides the request, fixed at one instant.

    Args:
        now: Seconds (the counters' clock).
        profiles: Declared profiles by member (a member missing here has defaults).
        reading: The counters.
        offline: Members whose ILS is down (in the gateway: those whose ILS failed or
            was too slow during the discovery that found the candidates).
    """

    now: float
    profiles: Mapping[str, MemberProfile]
    reading: CounterReading
    offline: frozenset[str] = frozenset()

    def profile(self, member: str) -> MemberProfile:
        """``member``'s declared profile, or the defaults."""
        found = self.profiles.get(member)
        return found if found is not None else MemberProfile(member=member)

    def stats(self, member: str) -> MemberStats:
        """``member``'s counters (zeros for a member never counted)."""
        return self.reading.stats.get(member, _NO_STATS)

    def has_stats(self, member: str) -> bool:
        """Whether the counters know ``member`` at all."""
        return member in self.reading.stats


@dataclass(frozen=True, slots=True)
class Term:
    """One input of a candidate's score: its raw value and what it added.

    Args:
        name: What it measures (``deficit``, ``queue``…).
        value: The raw value, in its own unit.
        contribution: What it added to the score (0 for inputs that only order).
        note: The unit or how the value was read, for people.
    """

    name: str
    value: float
    contribution: float = 0.0
    note: str = ""


@dataclass(frozen=True, slots=True)
class RankedLender:
    """One place in a rota.

    Args:
        member: The lender.
        position: 1 for the first lender to ask.
        score: The strategy's score, where it has one.
        key: The sort key that placed it, as compared (lower first).
        terms: The score's inputs.
        reasons: Why it stands where it does, in words.
    """

    member: str
    position: int
    score: float | None
    key: tuple[float | int | str, ...]
    terms: tuple[Term, ...] = ()
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Exclusion:
    """A candidate left out of the rota, and why."""

    member: str
    reason: str


@dataclass(frozen=True, slots=True)
class Ranking:
    """A strategy's answer for one request: the rota and what it left out."""

    strategy: str
    request_id: str
    lenders: tuple[RankedLender, ...]
    excluded: tuple[Exclusion, ...] = ()

    @property
    def members(self) -> tuple[str, ...]:
        """The rota's members, in order."""
        return tuple(lender.member for lender in self.lenders)

    def first(self) -> RankedLender | None:
        """The lender to ask now, or ``None`` when the rota is empty."""
        return self.lenders[0] if self.lenders else None


def days_until_available(candidate: Candidate) -> float | None:
    """Days until the candidate's copy can be lent, by OpenRS/DCB's rule.

    ``None`` for a copy without a live status (DCB sorts those last).
    """
    holds = candidate.hold_count
    match candidate.availability:
        case Availability.AVAILABLE:
            return DCB_LOAN_DAYS * holds
        case Availability.CHECKED_OUT:
            due = candidate.due_in_days
            if due is None:
                return DCB_LOAN_DAYS
            if due < 0:
                return DCB_LOAN_DAYS * (holds + 1)
            return due + DCB_LOAN_DAYS * holds
        case Availability.UNKNOWN:
            return None


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Kilometres between two points on the Earth (haversine, mean radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def profiles_from_consortium(
    consortium: Consortium, members: Iterable[str] | None = None
) -> dict[str, MemberProfile]:
    """Each library's lending profile from its effective ``lending`` settings.

    Args:
        consortium: The validated consortium.
        members: The libraries wanted (default: every library).

    Returns:
        Profiles by member id; an unset goal ratio is 1 (parity).
    """
    profiles: dict[str, MemberProfile] = {}
    for member in consortium.libraries if members is None else members:
        lending = consortium.policy(member).lending
        profiles[member] = MemberProfile(
            member=member,
            goal_ratio=lending.goal_ratio,
            capacity_per_day=lending.capacity_per_day,
        )
    return profiles
