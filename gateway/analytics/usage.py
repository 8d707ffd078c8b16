"""How the network was used in a period: who lent to whom, each library's balance
against its goal, fill rate, turnaround, refusals, busiest hours and the weekly trend.

Definitions (the report states them too; ``docs/analytics.md``):

* **Loans** are the registry's loans between libraries checked out in the period
  (the owner lends, the home library's patron or account borrows).
* **Flows**: ``flows[lender][borrower]``, the loans each library lent to each other
  library's patrons.  Every loan is in exactly one cell.
* **Net position**: a library's loans lent minus borrowed; its ratio lent/borrowed
  against its goal ratio (``lending.goal_ratio``); ``goal_gap`` is ``lent - goal *
  borrowed``, the loans it lent beyond (positive) or short of (negative) its goal.
* **Fill rate** = filled / (filled + refused), over the requests resolved in the
  period (DCB's denominator): filled is a loan made, refused a request for an item
  refused by a checkout, a loan to a library or a title hold (``REQUEST_FLOWS``);
  refusals of who the patron is (unknown patron, PIN) are not requests for an item
  and are left out (``NOT_ITEM_REQUESTS``).  Per borrower (the requesting library)
  and per lender (the library asked: a refusal with no lender, "no library can lend",
  counts for the borrower only).
* **Turnaround**: checkout to return in hours, for the period's loans already
  returned (how long a lent item is away from its owner); mean, median, p95.
* **Title holds** placed at lenders that ended in the period, by outcome (``filled``,
  ``withdrawn``, ``expired``), and the time to fill (placed to filled, hours); per
  lender.  (Their unfilled ends are refusals too, in the fill rate.)
* **Busiest hours**: loans by hour of checkout (UTC).  **Weeks**: loans, refusals and
  fill rate per ISO week (every week with a day in the period, zero-filled).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from gateway.analytics.stats import Summary, summarize

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import date

    from adapters.state.base import ClosedHold, Loan, RefusalRecord
    from gateway.history.reader import PeriodLoans

__all__ = [
    "HOLD_OUTCOMES",
    "NOT_ITEM_REQUESTS",
    "REQUEST_FLOWS",
    "FillRate",
    "HoldsEnded",
    "NetPosition",
    "UsageReport",
    "WeekTrend",
    "iso_week",
    "usage_report",
]

REQUEST_FLOWS = frozenset({"checkout", "lend", "hold"})
"""The flows whose refusals are unfilled requests for an item."""
NOT_ITEM_REQUESTS = frozenset({"patron-unknown", "pin-required", "pin-wrong", "pin-locked"})
"""Refusal codes about who the patron is, not about an item (``RefusalCode`` values)."""
HOLD_OUTCOMES = ("filled", "withdrawn", "expired")
"""How a title hold ends."""


@dataclass(frozen=True)
class FillRate:
    """Requests filled and refused."""

    filled: int = 0
    refused: int = 0

    @property
    def requests(self) -> int:
        """Requests resolved."""
        return self.filled + self.refused

    @property
    def rate(self) -> float | None:
        """filled / (filled + refused), in [0, 1]; ``None`` with no request."""
        return self.filled / self.requests if self.requests else None

    def to_json(self) -> dict[str, float | int | None]:
        """A JSON-ready form."""
        rate = self.rate
        return {
            "filled": self.filled,
            "refused": self.refused,
            "requests": self.requests,
            "rate": None if rate is None else round(rate, 4),
        }


@dataclass(frozen=True)
class NetPosition:
    """A library's lending balance against its goal."""

    library: str
    lent: int
    borrowed: int
    goal_ratio: float | None

    @property
    def net(self) -> int:
        """Loans lent minus loans borrowed."""
        return self.lent - self.borrowed

    @property
    def ratio(self) -> float | None:
        """Lent per borrowed (``None`` when it borrowed nothing)."""
        return self.lent / self.borrowed if self.borrowed else None

    @property
    def goal_gap(self) -> float | None:
        """``lent - goal * borrowed``: above (positive) or short of its goal."""
        if self.goal_ratio is None:
            return None
        return self.lent - self.goal_ratio * self.borrowed

    @property
    def position(self) -> str:
        """``net lender``, ``net borrower`` or ``balanced``."""
        if self.net > 0:
            return "net lender"
        return "net borrower" if self.net < 0 else "balanced"

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form."""
        ratio, gap = self.ratio, self.goal_gap
        return {
            "library": self.library,
            "lent": self.lent,
            "borrowed": self.borrowed,
            "net": self.net,
            "ratio": None if ratio is None else round(ratio, 4),
            "goal_ratio": self.goal_ratio,
            "goal_gap": None if gap is None else round(gap, 4),
            "position": self.position,
        }


@dataclass(frozen=True)
class HoldsEnded:
    """Title holds that ended: how many of each outcome, and their time to fill."""

    outcomes: Mapping[str, int]
    time_to_fill: Summary

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form."""
        return {**self.outcomes, "time_to_fill": self.time_to_fill.to_json()}


def _holds_ended(closed: Iterable[ClosedHold]) -> HoldsEnded:
    ended = list(closed)
    counts = Counter(c.outcome for c in ended)
    fills = [(c.ended - c.hold.placed) / timedelta(hours=1) for c in ended if c.outcome == "filled"]
    return HoldsEnded({o: counts[o] for o in HOLD_OUTCOMES}, summarize(fills))


@dataclass(frozen=True)
class WeekTrend:
    """One ISO week's loans and refusals."""

    week: str
    """``YYYY-Www``."""
    fill: FillRate

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form."""
        return {"week": self.week, "loans": self.fill.filled, **self.fill.to_json()}


@dataclass(frozen=True)
class UsageReport:
    """A period's usage (see the module documentation for each definition)."""

    period: str
    libraries: tuple[str, ...]
    loans: int
    flows: Mapping[str, Mapping[str, int]]
    net: tuple[NetPosition, ...]
    fill: FillRate
    fill_by_borrower: Mapping[str, FillRate]
    fill_by_lender: Mapping[str, FillRate]
    turnaround: Summary
    turnaround_by_lender: Mapping[str, Summary]
    refusals_by_borrower: Mapping[str, Mapping[str, int]]
    """``[code][requesting library]``: every refusal recorded, whatever its flow."""
    refusals_by_lender: Mapping[str, Mapping[str, int]]
    """``[code][library asked]`` (refusals with no lender are left out)."""
    hours: tuple[int, ...]
    """Loans by hour of checkout, 0 to 23 (UTC)."""
    weeks: tuple[WeekTrend, ...]
    holds: HoldsEnded
    holds_by_lender: Mapping[str, HoldsEnded]

    def to_json(self) -> dict[str, object]:
        """The documented JSON form (``docs/analytics.md``)."""
        return {
            "period": self.period,
            "libraries": list(self.libraries),
            "loans": self.loans,
            "flows": {k: dict(v) for k, v in self.flows.items()},
            "net": [n.to_json() for n in self.net],
            "fill_rate": {
                "consortium": self.fill.to_json(),
                "by_borrower": {k: v.to_json() for k, v in self.fill_by_borrower.items()},
                "by_lender": {k: v.to_json() for k, v in self.fill_by_lender.items()},
            },
            "turnaround": {
                "consortium": self.turnaround.to_json(),
                "by_lender": {k: v.to_json() for k, v in self.turnaround_by_lender.items()},
            },
            "refusals": {
                "by_borrower": {k: dict(v) for k, v in self.refusals_by_borrower.items()},
                "by_lender": {k: dict(v) for k, v in self.refusals_by_lender.items()},
            },
            "busiest_hours": list(self.hours),
            "weeks": [w.to_json() for w in self.weeks],
            "holds": {
                "consortium": self.holds.to_json(),
                "by_lender": {k: v.to_json() for k, v in self.holds_by_lender.items()},
            },
        }


def iso_week(day: date) -> str:
    """``YYYY-Www``, the ISO week of ``day``."""
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def _counts_item_request(record: RefusalRecord) -> bool:
    return record.flow in REQUEST_FLOWS and record.code not in NOT_ITEM_REQUESTS


def _fill(loans: Iterable[Loan], refused: Iterable[RefusalRecord]) -> FillRate:
    return FillRate(sum(1 for _ in loans), sum(1 for _ in refused))


def _hours(loan: Loan) -> float | None:
    if loan.returned is None:
        return None
    return (loan.returned - loan.checked_out) / timedelta(hours=1)


def _nested(pairs: Iterable[tuple[str, str]]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for (outer, inner), count in sorted(Counter(pairs).items()):
        table.setdefault(outer, {})[inner] = count
    return table


def usage_report(
    history: PeriodLoans,
    refusals: Sequence[RefusalRecord],
    *,
    libraries: Sequence[str] = (),
    goal_ratios: Mapping[str, float | None] | None = None,
    closed_holds: Sequence[ClosedHold] = (),
) -> UsageReport:
    """The period's usage report.

    Args:
        history: The period's loans (``gateway.history.read_period``).
        refusals: The refusals recorded in the period (others are ignored).
        libraries: The consortium's libraries (each one is listed even without a loan;
            any other library found in the data is added).
        goal_ratios: Each library's goal ratio (lent per borrowed).
        closed_holds: The title holds that ended in the period (others are ignored).
    """
    period = history.period
    loans = [x for x in history.loans if x.checked_out in period and x.owner != x.home]
    refused = [r for r in refusals if r.at in period]
    wanted = [r for r in refused if _counts_item_request(r)]
    ended = [c for c in closed_holds if c.ended in period]
    found = {x.owner for x in loans} | {x.home for x in loans} | {r.home for r in refused}
    found |= {r.owner for r in refused if r.owner is not None}
    found |= {c.hold.lender for c in ended} | {c.hold.home for c in ended}
    members = tuple(dict.fromkeys([*libraries, *sorted(found - set(libraries))]))
    goals = goal_ratios or {}

    flows = {
        lender: {borrower: 0 for borrower in members if borrower != lender} for lender in members
    }
    for loan in loans:
        flows[loan.owner][loan.home] += 1
    lent = Counter(x.owner for x in loans)
    borrowed = Counter(x.home for x in loans)
    net = tuple(NetPosition(m, lent[m], borrowed[m], goals.get(m)) for m in members)

    fill_by_borrower = {
        m: _fill((x for x in loans if x.home == m), (r for r in wanted if r.home == m))
        for m in members
    }
    fill_by_lender = {
        m: _fill((x for x in loans if x.owner == m), (r for r in wanted if r.owner == m))
        for m in members
    }
    durations = [(x.owner, h) for x in loans if (h := _hours(x)) is not None]

    hours = Counter(x.checked_out.hour for x in loans)
    weeks: dict[str, tuple[list[Loan], list[RefusalRecord]]] = {}
    for day in range(period.days):
        weeks.setdefault(iso_week(period.first + timedelta(days=day)), ([], []))
    for loan in loans:
        weeks[iso_week(loan.checked_out.date())][0].append(loan)
    for record in wanted:
        weeks[iso_week(record.at.date())][1].append(record)

    return UsageReport(
        period=period.label,
        libraries=members,
        loans=len(loans),
        flows=flows,
        net=net,
        fill=_fill(loans, wanted),
        fill_by_borrower=fill_by_borrower,
        fill_by_lender=fill_by_lender,
        turnaround=summarize([h for _, h in durations]),
        turnaround_by_lender={
            m: summarize([h for owner, h in durations if owner == m]) for m in members
        },
        refusals_by_borrower=_nested((r.code, r.home) for r in refused),
        refusals_by_lender=_nested((r.code, r.owner) for r in refused if r.owner is not None),
        hours=tuple(hours[h] for h in range(24)),
        weeks=tuple(WeekTrend(week, _fill(*pair)) for week, pair in weeks.items()),
        holds=_holds_ended(ended),
        holds_by_lender={m: _holds_ended(c for c in ended if c.hold.lender == m) for m in members},
    )
