"""A synthetic consortium and 90 days of its interlibrary requests, for the benchmark.

``generate_trace(seed)`` is deterministic: the same seed gives the same trace in any
process (every generator is seeded from text, never from Python's salted ``hash``).
The trace holds facts only -- who holds what, what each patron asked for and when,
what the holders' own circulation left on the shelf at that moment -- and nothing a
strategy decides; ``bench/lender_selection.py`` replays it against each strategy.

The model, and why:

* **Members of unequal size.** Collection sizes are log-normal (a few large libraries,
  many small ones), normalised to a mean of 1.  Patron demand grows more slowly than
  the collection (``size^0.8``) with a member's own factor (0.6-1.5x), so borrowing is
  not simply proportional to holdings.  Members sit in regional clusters on a map
  (about 550 x 450 km) and each region is one courier zone.
* **Declared settings.** Goal ratios are mostly 1; some members aim to lend more (1.5)
  or less (0.75).  Capacities (``capacity = "agreement"``, the default) are what a
  membership agreement asks for: each member's goal share of its own borrowing per
  day on-line, times a slack of its own (1.2-2.5x), so fair shares are reachable but
  some members have little room.  ``capacity = "staff"`` draws them from size instead
  (``size^0.7``, 0.6-1.6x, the whole consortium able to ship ``capacity_factor``
  times the patrons' requests), independent of borrowing: then some members borrow
  more than they could ever lend, and no strategy can be fair to them.
* **Zipf demand.** Title ``r`` (0 is the most wanted) is asked for with weight
  ``1/(r+q)^s`` (Zipf-Mandelbrot, ``s`` = 0.9, ``q`` = 30: the offset keeps the head
  from taking a tenth of all requests, which no interlibrary service sees).  Wanted
  titles are widely held: member ``i`` holds title ``r`` with probability
  ``1 - exp(-3 * size_i / (r+1)^0.45)`` (every title has a holder), with more copies
  of the wanted titles at the large members.  A patron whose own library holds the
  title borrows it there: no request.
* **Local circulation.** At each request every holding's copies are on the shelf with
  a probability that falls with popularity (35 % for the top title, 85 % in the
  tail); a checked-out copy comes back in -3..21 days (negative: overdue), and popular
  ones have holds queued.  Catalogues are imperfect: 8 % of on-shelf copies are not
  found when the lender goes to the shelf.
* **Live status.** Every member's ILS answers item-status lookups (SIP2 17, NCIP
  LookupItem) by default, but 5 % of lookups miss discovery's time budget, and the
  strategy sees that holding's status as unknown; ``live_status_share`` below 1 gives
  members that show holdings only (no lookups, no auto-responder).
* **Off-line stretches.** ``offline_members`` members are down for one or two
  stretches of 2-7 days; while down they neither lend nor send requests.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass, replace
from typing import Literal

from gateway.network.selection.ordering import seeded_random

__all__ = [
    "Holding",
    "Trace",
    "TraceMember",
    "TraceRequest",
    "TraceSettings",
    "generate_trace",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceSettings:
    """The synthetic consortium's size and behaviour (see the module documentation)."""

    members: int = 60
    days: int = 90
    titles: int = 50000
    requests_per_day: float = 700.0
    zipf_exponent: float = 0.9
    zipf_offset: float = 30.0
    regions: int = 8
    capacity: Literal["agreement", "staff"] = "agreement"
    capacity_slack: tuple[float, float] = (1.2, 2.5)
    capacity_factor: float = 1.1
    offline_members: int = 8
    live_status_share: float = 1.0
    lookup_failure_rate: float = 0.05
    not_found_rate: float = 0.08


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceMember:
    """One member library of the synthetic consortium.

    Args:
        id: Its id (``m00``...).
        size: Relative collection size (the consortium's mean is 1).
        demand: Relative rate of its patrons' requests.
        lat: Latitude of the library.
        lon: Longitude.
        region: Its courier zone.
        capacity_per_day: Requests it declared it can handle per day.
        goal_ratio: Loans it aims to make per loan received.
        live_status: Whether its ILS reports item status (lookups and the lender's
            own auto-responder).
        offline: ``[start, end)`` day ranges when its ILS is down.
        slack: Its declared capacity over its goal share (``agreement`` capacities).
    """

    id: str
    size: float
    demand: float
    lat: float
    lon: float
    region: int
    capacity_per_day: int
    goal_ratio: float
    live_status: bool
    offline: tuple[tuple[float, float], ...]
    slack: float

    def offline_at(self, day: float) -> bool:
        """Whether the member is down at ``day`` (fractional days)."""
        return any(start <= day < end for start, end in self.offline)


@dataclass(frozen=True, slots=True, kw_only=True)
class Holding:
    """A member's copies of the requested title, as they stood when it was asked for.

    Args:
        member: Index of the member in ``Trace.members``.
        copies: Copies it owns.
        on_shelf: Copies its own circulation left on the shelf.
        due_in_days: When the first checked-out copy is due (when none is on shelf).
        hold_count: Holds queued on it locally.
        found: Whether staff find an on-shelf copy when they look.
        status_known: Whether the gateway's live lookup of it answered in time.
    """

    member: int
    copies: int
    on_shelf: int
    due_in_days: float | None
    hold_count: int
    found: bool
    status_known: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceRequest:
    """One patron request that other members could fill.

    Args:
        id: Its id.
        at: When it was placed, in days from the start.
        borrower: Index of the patron's home member.
        title: The title's popularity rank (0 is the most wanted).
        holdings: Every other member holding it, with its shelf at that moment.
    """

    id: str
    at: float
    borrower: int
    title: int
    holdings: tuple[Holding, ...]


@dataclass(frozen=True, slots=True)
class Trace:
    """A generated consortium and its requests, in time order."""

    seed: int
    settings: TraceSettings
    members: tuple[TraceMember, ...]
    requests: tuple[TraceRequest, ...]


def _members(seed: int, settings: TraceSettings) -> tuple[TraceMember, ...]:
    rng = seeded_random(seed, "members")
    count = settings.members
    centres = [
        (rng.uniform(39.0, 43.0), rng.uniform(-94.0, -88.0)) for _ in range(settings.regions)
    ]
    raw_sizes = [rng.lognormvariate(0.0, 0.9) for _ in range(count)]
    mean_size = sum(raw_sizes) / count
    sizes = [s / mean_size for s in raw_sizes]
    demand = [s**0.8 * rng.uniform(0.6, 1.5) for s in sizes]
    staff = [s**0.7 * rng.uniform(0.6, 1.6) for s in sizes]
    scale = settings.capacity_factor * settings.requests_per_day / sum(staff)
    offline_ids = set(rng.sample(range(count), min(settings.offline_members, count)))
    members = []
    for index in range(count):
        region = rng.randrange(settings.regions)
        lat, lon = centres[region]
        spells: list[tuple[float, float]] = []
        if index in offline_ids:
            for _ in range(rng.choice((1, 2))):
                start = rng.uniform(0.0, max(0.0, settings.days - 7.0))
                spells.append((start, start + rng.uniform(2.0, 7.0)))
        members.append(
            TraceMember(
                id=f"m{index:02d}",
                size=sizes[index],
                demand=demand[index],
                lat=lat + rng.gauss(0.0, 0.3),
                lon=lon + rng.gauss(0.0, 0.4),
                region=region,
                capacity_per_day=max(2, round(scale * staff[index])),
                goal_ratio=rng.choices((1.0, 1.5, 0.75), weights=(0.7, 0.15, 0.15))[0],
                live_status=rng.random() < settings.live_status_share,
                offline=tuple(sorted(spells)),
                slack=rng.uniform(*settings.capacity_slack),
            )
        )
    return tuple(members)


def _holders(seed: int, title: int, members: tuple[TraceMember, ...]) -> dict[int, int]:
    """Which members hold ``title``, and how many copies each."""
    rng = seeded_random(seed, "title", title)
    breadth = 3.0 / (title + 1) ** 0.45
    held: dict[int, int] = {}
    for index, member in enumerate(members):
        if rng.random() < 1.0 - math.exp(-breadth * member.size):
            held[index] = 1 + int(rng.random() * 3.0 * member.size / (1.0 + title / 200.0))
    if not held:
        chosen = rng.choices(range(len(members)), weights=[m.size for m in members])[0]
        held[chosen] = 1
    return held


def _shelf(title: int, titles: int) -> float:
    """Chance that a copy of ``title`` is on its owner's shelf (popular: often out)."""
    return 0.35 + 0.5 * min(1.0, math.log(title + 1) / math.log(titles))


def generate_trace(seed: int, settings: TraceSettings | None = None) -> Trace:
    """The synthetic consortium and its requests for ``seed`` (deterministic)."""
    settings = settings if settings is not None else TraceSettings()
    members = _members(seed, settings)
    rng = seeded_random(seed, "requests")
    cumulative = list(
        itertools.accumulate(
            1.0 / (r + settings.zipf_offset) ** settings.zipf_exponent
            for r in range(settings.titles)
        )
    )
    holders_cache: dict[int, dict[int, int]] = {}
    requests: list[TraceRequest] = []
    serial = 0
    for day in range(settings.days):
        count = round(settings.requests_per_day * rng.uniform(0.8, 1.2))
        times = sorted(day + rng.random() for _ in range(count))
        titles = rng.choices(range(settings.titles), cum_weights=cumulative, k=count)
        for at, title in zip(times, titles, strict=True):
            online = [i for i, m in enumerate(members) if not m.offline_at(at)]
            borrower = rng.choices(online, weights=[members[i].demand for i in online])[0]
            held = holders_cache.get(title)
            if held is None:
                held = holders_cache[title] = _holders(seed, title, members)
            if borrower in held:
                continue  # the patron's own library has it: not an interlibrary request
            serial += 1
            draw = seeded_random(seed, "request", serial)
            p_shelf = _shelf(title, settings.titles)
            holdings = []
            for member, copies in sorted(held.items()):
                on_shelf = sum(draw.random() < p_shelf for _ in range(copies))
                due = None if on_shelf else round(draw.uniform(-3.0, 21.0), 1)
                holds = 0 if on_shelf else int(draw.random() < 1.0 - p_shelf)
                holdings.append(
                    Holding(
                        member=member,
                        copies=copies,
                        on_shelf=on_shelf,
                        due_in_days=due,
                        hold_count=holds,
                        found=draw.random() >= settings.not_found_rate,
                        status_known=draw.random() >= settings.lookup_failure_rate,
                    )
                )
            requests.append(
                TraceRequest(
                    id=f"r{serial:06d}",
                    at=at,
                    borrower=borrower,
                    title=title,
                    holdings=tuple(holdings),
                )
            )
    if settings.capacity == "agreement":
        members = _agreed_capacities(members, requests, settings)
    return Trace(seed, settings, members, tuple(requests))


def _agreed_capacities(
    members: tuple[TraceMember, ...], requests: list[TraceRequest], settings: TraceSettings
) -> tuple[TraceMember, ...]:
    """Capacities as a membership agreement sets them: the member's goal share of its
    own borrowing (its requests per day on-line), times its slack."""
    asked = Counter(r.borrower for r in requests)
    agreed = []
    for index, member in enumerate(members):
        down = sum(min(end, settings.days) - start for start, end in member.offline)
        per_day = asked[index] / max(1.0, settings.days - down)
        capacity = max(2, round(member.goal_ratio * per_day * member.slack))
        agreed.append(replace(member, capacity_per_day=capacity))
    return tuple(agreed)
