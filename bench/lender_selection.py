"""Lender selection: every strategy replayed over the same synthetic 90-day trace.

Run by hand: ``.venv/bin/python bench/lender_selection.py [--jobs N] [--seed S ...]
[--variants default harsh] [--capacity agreement|staff] [--live-status-share 1.0]
[--svg PATH]``.  By default every strategy replays both trace variants (``default``
and ``harsh``) on the tuning seeds (``TUNING_SEEDS``, looked at while B8's rule was
chosen) and on the held-out seeds (``CHECK_SEEDS``, never run while choosing): 90
replays of about 20 s of CPU each.  ``--seed`` runs chosen seeds instead;
``--capacity``/``--live-status-share`` one custom variant.  The chart shows the harsh
trace of the first seed.

The trace (``gateway.selection.trace``: 60 members of unequal size, Zipf demand,
declared capacities, members going off-line) is generated once from the seed; each
strategy then routes the same requests through the same simulated lenders, with its
own counters (``CounterBook``, 30-day half-life) and the same seed for its random
draws.  ``--capacity staff --live-status-share 0.85`` is the harsher variant:
capacities independent of borrowing, and 15 % of members showing holdings only.
The simulated lenders:

* work through their queue once a day, first come first served, up to their declared
  capacity (a decline costs a slot too);
* answer at once, "too busy", when ``backlog_days`` of work is already queued, and,
  when their ILS reports live status, "not available" when the copy is not on the
  shelf (ReShare's auto-responder);
* otherwise go to the shelf when the request comes up: the copy may be out (members
  without live status) or missing; either way a decline;
* stop while off-line: what is queued there is declined after ``stale_days``, and the
  gateway's health checks keep new requests away;
* ship what they find: the borrower has it after a courier trip of
  ``1 + km/300`` days, and the copy is back ``loan_days`` later.

What a strategy sees of each holder is what the gateway's discovery would give it: the
live status of members whose ILS reports one (when the lookup answers in time), and, for
a holder without one, the loans the gateway itself made (its registry): when every copy
the holdings index lists there is out on such a loan, the holder is checked out until
the first is due back; otherwise its status is unknown.  Never the simulator's own
shelf, nor local holds behind an unknown status.  ``--no-registry`` takes the registry
away (every strategy is given the same discovery).

A declined request is ranked again at once (minus the decliner, for the baselines that
never return; last, for Evergreen and fair-share, who ask a decliner again only on the
next day's run, after everyone else).  A request not shipped within ``expire_days``,
or with no lender left, is unfilled.

Reported per strategy: fill rate; first-to-fill (filled by the first lender asked, of
all requests); mean and p95 turnaround (request to delivery, days); lenders asked per
request; the largest queue any lender had; Jain's index of normalised net lending
``x_i = L_i / (g_i * B_i)`` over members that borrowed (1 is perfectly fair); the Gini
coefficient of the same ``x_i`` (0 is perfectly even); the mean ``x_i`` of the members
without a live status (and the lowest) against the mean of those with one: a starved
group sits well below 1.  Then B8's verdict per trace: Jain >= 0.95 and a fill rate at
least the best baseline's.  The chart shows each member's net lending against its goal,
``L_i - g_i * B_i``, one panel per strategy, members without live status in purple.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import heapq
import inspect
import itertools
import json
import math
import statistics
import sys
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.selection_trace import Holding, Trace, TraceRequest, TraceSettings, generate_trace
from gateway.network.selection import (
    Availability,
    Candidate,
    CounterBook,
    LendingRequest,
    MemberProfile,
    Snapshot,
    make_strategy,
)
from gateway.network.selection.counters import DEFAULT_HALF_LIFE_S
from gateway.network.selection.model import great_circle_km
from gateway.network.selection.strategies import STRATEGY_NAMES

if TYPE_CHECKING:
    from gateway.network.selection import LenderStrategy

DAY_S = 86400.0
ROOT = Path(__file__).resolve().parent.parent
LABELS = {
    "fair-share": "B8 fair-share",
    "reshare-ratio": "B1 ReShare",
    "crosslink": "B2 CrossLink",
    "dcb-availability": "B3 DCB",
    "evergreen-proximity": "B4 Evergreen",
}
JAIN_TARGET = 0.95
VARIANTS = {
    "default": TraceSettings(),
    "harsh": TraceSettings(capacity="staff", live_status_share=0.85),
}
"""The two traces B8 must be fair on: agreed capacities with live status everywhere, and
capacities from size alone with 15 % of members showing holdings only."""
TUNING_SEEDS = (7, 101, 102, 103)
"""Seeds looked at while B8's rule and weights were chosen (7 from the start; 101-103,
the first held-out seeds, once they had been reported and were looked at while the
harsh trace's fairness was worked on)."""
CHECK_SEEDS = (401, 402, 403, 404, 405)
"""Seeds never run while choosing: the held-out check (fixed before that work began)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LenderModel:
    """How the simulated lenders behave (see the module documentation)."""

    work_at: float = 0.75  # fraction of the day when the queue is worked
    backlog_days: float = 3.0
    stale_days: float = 2.0
    expire_days: float = 14.0
    loan_days: float = 21.0


@dataclass(slots=True)
class _Open:
    trace: TraceRequest
    request: LendingRequest
    holdings: dict[int, Holding]
    lender: int | None = None
    assigned_at: float = 0.0
    attempts: int = 0
    declined_on: int = -1


@dataclass(slots=True)
class Outcome:
    """One strategy's run."""

    strategy: str
    requests: int = 0
    filled: int = 0
    first_filled: int = 0
    turnaround_days: list[float] = field(default_factory=list)
    attempts: int = 0
    max_queue: int = 0
    lent: list[int] = field(default_factory=list)
    borrowed: list[int] = field(default_factory=list)
    seconds: float = 0.0


class Replay:
    """One strategy routing the trace's requests through the simulated lenders."""

    def __init__(
        self, trace: Trace, strategy: LenderStrategy, model: LenderModel, *, registry: bool = True
    ) -> None:
        self.trace = trace
        self.registry = registry
        self.members = trace.members
        self.strategy = strategy
        self.model = model
        self.book = CounterBook(half_life_s=DEFAULT_HALF_LIFE_S)
        self.profiles = {
            m.id: MemberProfile(
                member=m.id, goal_ratio=m.goal_ratio, capacity_per_day=m.capacity_per_day
            )
            for m in self.members
        }
        self.index = {m.id: i for i, m in enumerate(self.members)}
        self.queues: list[deque[_Open]] = [deque() for _ in self.members]
        # Copies out on interlibrary loan, by (lender, title): the days they come back.
        self.lent_out: dict[tuple[int, int], list[float]] = {}
        # (day back, serial, lender, borrower, title): a heap of loans out
        self.returns: list[tuple[float, int, int, int, int]] = []
        self.deferred: list[_Open] = []
        self.km = [
            [great_circle_km(a.lat, a.lon, b.lat, b.lon) for b in self.members]
            for a in self.members
        ]
        self.outcome = Outcome(
            strategy.name, lent=[0] * len(self.members), borrowed=[0] * len(self.members)
        )
        self._serial = 0

    # --- the requests --------------------------------------------------------------

    def _candidates(self, item: _Open, day: float) -> tuple[Candidate, ...]:
        borrower = self.members[item.trace.borrower]
        out = []
        for holding in item.trace.holdings:
            member = self.members[holding.member]
            available = self._on_shelf(holding, item.trace.title) > 0
            lent = self.lent_out.get((holding.member, item.trace.title), ())
            live = member.live_status and holding.status_known
            if not live:
                # No live status; but the gateway knows the loans it made itself (its
                # registry), and the holdings its index lists (the copies).
                if self.registry and lent and len(lent) >= holding.copies:
                    status, due = Availability.CHECKED_OUT, min(lent) - day
                else:
                    status, due = Availability.UNKNOWN, None
            elif available:
                status, due = Availability.AVAILABLE, None
            else:
                status = Availability.CHECKED_OUT
                if holding.on_shelf:  # on the shelf locally, but lent to another member
                    due = min(lent) - day
                else:
                    local = holding.due_in_days if holding.due_in_days is not None else 0.0
                    due = local - (day - item.trace.at)
            out.append(
                Candidate(
                    member=member.id,
                    availability=status,
                    due_in_days=due,
                    hold_count=holding.hold_count if live and not available else 0,
                    distance_km=self.km[item.trace.borrower][holding.member],
                    proximity=1 if member.region == borrower.region else 2,
                )
            )
        return tuple(out)

    def _on_shelf(self, holding: Holding, title: int) -> int:
        return holding.on_shelf - len(self.lent_out.get((holding.member, title), ()))

    def arrive(self, trace_request: TraceRequest) -> None:
        """A patron places a request."""
        self.outcome.requests += 1
        borrower = self.members[trace_request.borrower].id
        self.book.requested(borrower, trace_request.at * DAY_S)
        item = _Open(
            trace=trace_request,
            request=LendingRequest(id=trace_request.id, requester=borrower, candidates=()),
            holdings={h.member: h for h in trace_request.holdings},
        )
        self.route(item, trace_request.at)

    def route(self, item: _Open, day: float) -> None:
        """Ask lenders in the strategy's order until one accepts the request or none is left."""
        model = self.model
        while True:
            if day - item.trace.at > model.expire_days:
                self._unfilled(item, day)
                return
            now = day * DAY_S
            request = LendingRequest(
                id=item.request.id,
                requester=item.request.requester,
                candidates=self._candidates(item, day),
                declines=item.request.declines,
            )
            members = [c.member for c in request.candidates]
            offline = frozenset(
                c.member
                for c in request.candidates
                if self.members[self.index[c.member]].offline_at(day)
            )
            snapshot = Snapshot(
                now=now,
                profiles=self.profiles,
                reading=self.book.read(members, now),
                offline=offline,
            )
            first = self.strategy.rank(request, snapshot).first()
            if first is None:
                self._unfilled(item, day)
                return
            if request.declined(first.member) and item.declined_on == math.floor(day):
                self.deferred.append(item)  # asked again on the next day's run
                return
            lender = self.index[first.member]
            item.attempts += 1
            self.outcome.attempts += 1
            self.book.assigned(first.member, now)
            holding = item.holdings[lender]
            queue = self.queues[lender]
            busy = len(queue) >= model.backlog_days * self.members[lender].capacity_per_day
            not_there = (
                self.members[lender].live_status and self._on_shelf(holding, item.trace.title) <= 0
            )
            if busy or not_there:
                self._declined(item, lender, day)
                continue
            item.lender, item.assigned_at = lender, day
            queue.append(item)
            self.outcome.max_queue = max(self.outcome.max_queue, len(queue))
            return

    def _declined(self, item: _Open, lender: int, day: float) -> None:
        member = self.members[lender].id
        self.book.declined(member, day * DAY_S)
        item.request = item.request.with_decline(member)
        item.lender = None
        item.declined_on = math.floor(day)

    def _unfilled(self, item: _Open, day: float) -> None:
        self.book.unfilled(item.request.requester, day * DAY_S)

    # --- the lenders ---------------------------------------------------------------

    def work(self, day: float) -> None:
        """Each on-line lender works through its queue; off-line ones let it go stale."""
        for index, member in enumerate(self.members):
            queue = self.queues[index]
            if not queue:
                continue
            if member.offline_at(day):
                while queue and day - queue[0].assigned_at >= self.model.stale_days:
                    stale = queue.popleft()
                    self._declined(stale, index, day)
                    self.route(stale, day)
                continue
            for _ in range(min(len(queue), member.capacity_per_day)):
                item = queue.popleft()
                holding = item.holdings[index]
                if holding.found and self._on_shelf(holding, item.trace.title) > 0:
                    self._ship(item, index, day)
                else:
                    self._declined(item, index, day)
                    self.route(item, day)

    def _ship(self, item: _Open, lender: int, day: float) -> None:
        borrower = item.trace.borrower
        key = (lender, item.trace.title)
        transit = 1.0 + self.km[lender][borrower] / 300.0
        self.book.filled(
            self.members[lender].id,
            self.members[borrower].id,
            (day - item.assigned_at) * 24.0,
            day * DAY_S,
        )
        outcome = self.outcome
        outcome.filled += 1
        outcome.first_filled += item.attempts == 1
        outcome.turnaround_days.append(day + transit - item.trace.at)
        outcome.lent[lender] += 1
        outcome.borrowed[borrower] += 1
        self._serial += 1
        back = day + 2 * transit + self.model.loan_days
        self.lent_out.setdefault(key, []).append(back)
        heapq.heappush(self.returns, (back, self._serial, lender, borrower, item.trace.title))

    def give_back(self, day: float) -> None:
        """Loans due back by ``day`` return to their lenders' shelves."""
        while self.returns and self.returns[0][0] <= day:
            back, _, lender, borrower, title = heapq.heappop(self.returns)
            self.lent_out[lender, title].remove(back)
            self.book.returned(self.members[lender].id, self.members[borrower].id, back * DAY_S)

    def run(self) -> Outcome:
        """Replay the whole trace, then let the last requests run their course."""
        started = time.perf_counter()
        requests = self.trace.requests
        position = 0
        last_day = self.trace.settings.days + int(self.model.expire_days) + 1
        for today in range(last_day):
            self.give_back(float(today))
            retry, self.deferred = self.deferred, []
            for item in retry:
                self.route(item, float(today))
            work_at = today + self.model.work_at
            while position < len(requests) and requests[position].at < work_at:
                self.arrive(requests[position])
                position += 1
            self.work(work_at)
            while position < len(requests) and requests[position].at < today + 1:
                self.arrive(requests[position])
                position += 1
        self.outcome.seconds = time.perf_counter() - started
        return self.outcome


# --- figures -------------------------------------------------------------------------


def jain(values: list[float]) -> float:
    """Jain's fairness index: 1 when all values are equal, 1/n when one has all."""
    total = sum(values)
    squares = sum(v * v for v in values)
    return total * total / (len(values) * squares) if squares else 1.0


def gini(values: list[float]) -> float:
    """The Gini coefficient of non-negative values (0: all equal)."""
    ordered = sorted(values)
    n, total = len(ordered), sum(ordered)
    if n == 0 or total == 0:
        return 0.0
    weighted = sum((2 * (i + 1) - n - 1) * v for i, v in enumerate(ordered))
    return weighted / (n * total)


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (nearest rank)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


@dataclass(frozen=True, slots=True)
class Figures:
    """One strategy's reported figures.

    ``share_unknown`` and ``share_known`` are the mean normalised net lending
    ``L / (g x B)`` of the members without and with a live status (1 is each member's
    fair share); ``min_unknown`` the lowest of the former (``nan`` when every member
    reports a live status).  A starved group sits well below 1.
    """

    strategy: str
    fill_rate: float
    first_to_fill: float
    mean_turnaround: float
    p95_turnaround: float
    asked_per_request: float
    max_queue: int
    jain: float
    gini: float
    share_known: float
    share_unknown: float
    min_unknown: float
    seconds: float


def normalised_net_lending(outcome: Outcome, trace: Trace) -> list[float]:
    """``L_i / (g_i * B_i)`` of every member that borrowed."""
    return [x for x, _ in _shares(outcome, trace)]


def _shares(outcome: Outcome, trace: Trace) -> list[tuple[float, bool]]:
    """``(L_i / (g_i * B_i), live status)`` of every member that borrowed."""
    return [
        (lent / (member.goal_ratio * borrowed), member.live_status)
        for lent, borrowed, member in zip(
            outcome.lent, outcome.borrowed, trace.members, strict=True
        )
        if borrowed
    ]


def figures(outcome: Outcome, trace: Trace) -> Figures:
    """The reported figures of one run."""
    shares = _shares(outcome, trace)
    x = [value for value, _ in shares]
    known = [value for value, live in shares if live]
    unknown = [value for value, live in shares if not live]
    requests = max(1, outcome.requests)
    return Figures(
        strategy=outcome.strategy,
        fill_rate=outcome.filled / requests,
        first_to_fill=outcome.first_filled / requests,
        mean_turnaround=statistics.fmean(outcome.turnaround_days)
        if outcome.turnaround_days
        else math.nan,
        p95_turnaround=percentile(outcome.turnaround_days, 0.95),
        asked_per_request=outcome.attempts / requests,
        max_queue=outcome.max_queue,
        jain=jain(x),
        gini=gini(x),
        share_known=statistics.fmean(known) if known else math.nan,
        share_unknown=statistics.fmean(unknown) if unknown else math.nan,
        min_unknown=min(unknown) if unknown else math.nan,
        seconds=outcome.seconds,
    )


def _share_text(f: Figures) -> str:
    if math.isnan(f.share_unknown):
        return f"- | {f.share_known:.3f}"
    return f"{f.share_unknown:.3f} / {f.min_unknown:.3f} | {f.share_known:.3f}"


def table(rows: list[Figures]) -> str:
    """The figures of one trace as a Markdown table."""
    lines = [
        "| strategy | fill rate | first-to-fill | turnaround mean / p95 (days) "
        "| lenders asked per request | max queue | Jain | Gini "
        "| share without live status (mean / min) | share with |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines.extend(
        f"| {LABELS.get(f.strategy, f.strategy)} | {f.fill_rate:.2%} | {f.first_to_fill:.1%} "
        f"| {f.mean_turnaround:.2f} / {f.p95_turnaround:.2f} | {f.asked_per_request:.2f} "
        f"| {f.max_queue} | {f.jain:.3f} | {f.gini:.3f} | {_share_text(f)} |"
        for f in rows
    )
    return "\n".join(lines)


def targets_met(rows: list[Figures]) -> tuple[bool, bool] | None:
    """Whether B8 keeps Jain >= 0.95, and the best fill rate, on one trace."""
    ours = next((f for f in rows if f.strategy == "fair-share"), None)
    baselines = [f for f in rows if f.strategy != "fair-share"]
    if ours is None or not baselines:
        return None
    best = max(f.fill_rate for f in baselines)
    return ours.jain >= JAIN_TARGET, ours.fill_rate >= best


def verdict(rows: list[Figures]) -> str:
    """Whether B8 meets its targets: Jain >= 0.95, fill rate >= the best baseline's."""
    met = targets_met(rows)
    if met is None:
        return "targets: need fair-share and at least one baseline"
    ours = next(f for f in rows if f.strategy == "fair-share")
    best = max((f for f in rows if f.strategy != "fair-share"), key=lambda f: f.fill_rate)
    jain_ok = "met" if met[0] else "NOT met"
    fill_ok = "met" if met[1] else "NOT met"
    return (
        f"targets: Jain {ours.jain:.4f} >= {JAIN_TARGET} {jain_ok}; fill {ours.fill_rate:.2%} "
        f">= best baseline ({LABELS.get(best.strategy, best.strategy)} {best.fill_rate:.2%}) "
        f"{fill_ok}"
    )


# --- the chart -----------------------------------------------------------------------


_NO_STATUS_COLOUR = "#6b46c1"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def svg_chart(outcomes: list[Outcome], rows: list[Figures], trace: Trace) -> str:
    """Net lending against the goal, ``L_i - g_i * B_i``, per member, one panel per
    strategy, members ordered by collection size (largest left), one shared scale."""
    order = sorted(range(len(trace.members)), key=lambda i: -trace.members[i].size)
    nets = [
        [o.lent[i] - trace.members[i].goal_ratio * o.borrowed[i] for i in order] for o in outcomes
    ]
    extreme = max(1.0, max(abs(v) for row in nets for v in row))
    step = 10 ** math.floor(math.log10(extreme))
    top = math.ceil(extreme / step) * step
    unknown = sum(not m.live_status for m in trace.members)
    width, left, right = 760, 64, 16
    panel_h, half, gap, head = 126, 50, 18, 62 if unknown else 46
    plot_w = width - left - right
    bar_w = plot_w / len(order)
    height = head + len(outcomes) * (panel_h + gap) + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{left}" y="18" font-size="14" font-weight="bold">Net lending against '
        f"each member's goal, L - g x B, over {trace.settings.days} days</text>",
        f'<text x="{left}" y="34" fill="#555555">{trace.settings.capacity} capacities, '
        f"{len(order)} members, largest collection "
        f"on the left; seed {trace.seed}; bars above the line lent more than their goal"
        "</text>",
    ]
    if unknown:
        out.append(
            f'<text x="{left}" y="50" fill="{_NO_STATUS_COLOUR}">purple: the {unknown} '
            "members without live status (holdings only)</text>"
        )
    for p, (outcome, row, values) in enumerate(zip(outcomes, rows, nets, strict=True)):
        y0 = head + p * (panel_h + gap)
        mid = y0 + 18 + half
        label = LABELS.get(outcome.strategy, outcome.strategy)
        out.append(
            f'<text x="{left}" y="{y0 + 6}" font-weight="bold">{_escape(label)}</text>'
            f'<text x="{width - right}" y="{y0 + 6}" text-anchor="end" fill="#555555">'
            f"Jain {row.jain:.3f}, Gini {row.gini:.3f}, fill {row.fill_rate:.2%}</text>"
        )
        for tick in (top, 0, -top):
            y = mid - tick / top * half
            out.append(
                f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                f'stroke="{"#333333" if tick == 0 else "#dddddd"}" stroke-width="1"/>'
                f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
                f'fill="#555555">{f"{tick:+g}" if tick else "0"}</text>'
            )
        for k, value in enumerate(values):
            h = abs(value) / top * half
            y = mid - h if value >= 0 else mid
            if not trace.members[order[k]].live_status:
                colour = _NO_STATUS_COLOUR
            else:
                colour = "#2b6cb0" if value >= 0 else "#c05621"
            out.append(
                f'<rect x="{left + k * bar_w + 1:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" '
                f'height="{max(h, 0.5):.1f}" fill="{colour}"/>'
            )
    out.append(
        f'<text x="{left + plot_w / 2}" y="{height - 10}" text-anchor="middle" '
        'fill="#555555">members (by collection size)</text>'
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


@dataclass(frozen=True, slots=True)
class Job:
    """One strategy over one trace."""

    variant: str
    settings: TraceSettings
    seed: int
    role: str  # "tuning", "held-out" or "chosen"
    strategy: str
    registry: bool = True  # discovery reads the gateway's own loans (--no-registry: not)


@functools.lru_cache(maxsize=2)
def _trace(seed: int, settings: TraceSettings) -> Trace:
    return generate_trace(seed, settings)


# The sources a replay's result depends on.  Every replay is deterministic, so a saved
# result stays valid while these files are unchanged; the baselines do not read B8's.
_REPLAY_SOURCES = (
    "bench/selection_trace.py",
    "gateway/network/selection/model.py",
    "gateway/network/selection/ordering.py",
    "gateway/network/selection/counters.py",
)
_STRATEGY_SOURCES = {
    "fair-share": (
        "gateway/network/selection/fairshare.py",
        "gateway/network/selection/estimate.py",
    ),
}
_BASELINE_SOURCES = ("gateway/network/selection/baselines.py",)


def fingerprint(job: Job) -> str:
    """A digest of the job (but its role, which changes nothing in the replay) and of
    every source file its result depends on."""
    digest = hashlib.blake2b(repr(replace(job, role="")).encode(), digest_size=12)
    for replayed in (LenderModel, _Open, Outcome, Replay, Figures, figures, _shares, jain, gini):
        digest.update(inspect.getsource(replayed).encode())
    for name in (*_REPLAY_SOURCES, *_STRATEGY_SOURCES.get(job.strategy, _BASELINE_SOURCES)):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def run_job(job: Job, reuse: Path | None = None) -> tuple[Job, Outcome, Figures]:
    """Replay one strategy over one trace (in a worker process with ``--jobs``).

    With ``reuse``, a result saved there by a run of the same sources is read back
    instead, and a fresh one is saved.
    """
    saved = (
        reuse / f"{job.variant}-{job.seed}-{job.strategy}-{fingerprint(job)}.json"
        if reuse
        else None
    )
    if saved is not None and saved.exists():
        data = json.loads(saved.read_text(encoding="utf-8"))
        return job, Outcome(**data["outcome"]), Figures(**data["figures"])
    trace = _trace(job.seed, job.settings)
    outcome = Replay(
        trace, make_strategy(job.strategy, seed=job.seed), LenderModel(), registry=job.registry
    ).run()
    result = figures(outcome, trace)
    if saved is not None:
        saved.write_text(
            json.dumps({"outcome": asdict(outcome), "figures": asdict(result)}), encoding="utf-8"
        )
    return job, outcome, result


def _run_all(
    jobs: list[Job], workers: int, reuse: Path | None
) -> list[tuple[Job, Outcome, Figures]]:
    if reuse is not None:
        reuse.mkdir(parents=True, exist_ok=True)
    if workers <= 1:
        return [_report(run_job(job, reuse)) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return [_report(done) for done in pool.map(run_job, jobs, itertools.repeat(reuse))]


def _report(done: tuple[Job, Outcome, Figures]) -> tuple[Job, Outcome, Figures]:
    job, outcome, _ = done
    print(
        f"  {job.variant} seed {job.seed} {job.strategy}: {outcome.seconds:.1f} s",
        file=sys.stderr,
    )
    return done


def summary(results: list[tuple[Job, Outcome, Figures]]) -> str:
    """B8's verdict on every trace, tuning and held-out seeds apart."""
    lines = [
        "| variant | seed | role | B8 Jain | best baseline Jain | B8 fill | best baseline fill "
        "| B8 share without live status | Jain >= 0.95 | best fill |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|---|",
    ]
    keys = list(dict.fromkeys((job.variant, job.seed, job.role) for job, _, _ in results))
    for key in keys:
        variant, seed, role = key
        rows = [f for job, _, f in results if (job.variant, job.seed, job.role) == key]
        met = targets_met(rows)
        ours = next((f for f in rows if f.strategy == "fair-share"), None)
        others = [f for f in rows if f.strategy != "fair-share"]
        if met is None or ours is None:
            continue
        unknown = "-" if math.isnan(ours.share_unknown) else f"{ours.share_unknown:.3f}"
        lines.append(
            f"| {variant} | {seed} | {role} | {ours.jain:.3f} | "
            f"{max(f.jain for f in others):.3f} | {ours.fill_rate:.2%} | "
            f"{max(f.fill_rate for f in others):.2%} | {unknown} | "
            f"{'met' if met[0] else 'NOT met'} | {'met' if met[1] else 'NOT met'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Replay every strategy over both trace variants on the tuning and the held-out
    seeds (or one chosen trace), print the tables, write the chart."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument(
        "--seed",
        type=int,
        action="append",
        help="run only these seeds (repeatable; default: the tuning and held-out seeds)",
    )
    parser.add_argument("--svg", type=Path, default=ROOT / "docs" / "lender-selection.svg")
    parser.add_argument("--no-svg", action="store_true", help="do not write the chart")
    parser.add_argument(
        "--strategies", nargs="+", default=list(STRATEGY_NAMES), choices=STRATEGY_NAMES
    )
    parser.add_argument("--days", type=int, default=TraceSettings().days)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument(
        "--capacity",
        choices=("agreement", "staff"),
        help="one custom variant instead: declared capacities from each member's goal "
        "share, or from its size alone",
    )
    parser.add_argument(
        "--live-status-share",
        type=float,
        help="one custom variant instead: share of members whose ILS reports item status",
    )
    parser.add_argument(
        "--no-registry",
        action="store_true",
        help="discovery does not read the gateway's own loans: a copy without live status "
        "stays unknown even when the gateway lent every copy of it",
    )
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--reuse",
        type=Path,
        help="save each replay's result in this folder and read it back on later runs "
        "while the sources it depends on are unchanged",
    )
    args = parser.parse_args(argv)
    if args.live_status_share is not None and not 0.0 <= args.live_status_share <= 1.0:
        parser.error("--live-status-share must be between 0 and 1")

    if args.capacity is not None or args.live_status_share is not None:
        variants = {
            "custom": TraceSettings(
                capacity=args.capacity or "agreement",
                live_status_share=1.0 if args.live_status_share is None else args.live_status_share,
            )
        }
    else:
        variants = {name: VARIANTS[name] for name in args.variants}
    if args.seed:
        seeds = [
            (
                seed,
                "tuning"
                if seed in TUNING_SEEDS
                else "held-out"
                if seed in CHECK_SEEDS
                else "chosen",
            )
            for seed in args.seed
        ]
    else:
        seeds = [(seed, "tuning") for seed in TUNING_SEEDS]
        seeds += [(seed, "held-out") for seed in CHECK_SEEDS]
    jobs = [
        Job(name, replace(settings, days=args.days), seed, role, strategy, not args.no_registry)
        for name, settings in variants.items()
        for seed, role in seeds
        for strategy in args.strategies
    ]
    print(
        f"{len(jobs)} replays: variants {', '.join(variants)}; seeds "
        f"{', '.join(f'{seed} ({role})' for seed, role in seeds)}",
        file=sys.stderr,
    )
    results = _run_all(jobs, args.jobs, args.reuse)
    print(f"tuning seeds (looked at while choosing B8's rule): {list(TUNING_SEEDS)}")
    print(f"held-out seeds (never run while choosing): {list(CHECK_SEEDS)}")
    for name, settings in variants.items():
        for seed, role in seeds:
            rows = [f for job, _, f in results if (job.variant, job.seed) == (name, seed)]
            print(
                f"\n{name} trace ({settings.capacity} capacities, live status at "
                f"{settings.live_status_share:.0%} of members), seed {seed} ({role}):\n"
            )
            print(table(rows))
            print(verdict(rows))
    print()
    print(summary(results))
    if not args.no_svg:
        chart_variant = "harsh" if "harsh" in variants else next(iter(variants))
        chart_seed = seeds[0][0]
        chosen = [
            (outcome, f)
            for job, outcome, f in results
            if (job.variant, job.seed) == (chart_variant, chart_seed)
        ]
        trace = _trace(
            chart_seed,
            variants[chart_variant]
            if args.days == TraceSettings().days
            else replace(variants[chart_variant], days=args.days),
        )
        args.svg.parent.mkdir(parents=True, exist_ok=True)
        args.svg.write_text(
            svg_chart([o for o, _ in chosen], [f for _, f in chosen], trace), encoding="utf-8"
        )
        print(f"chart: {args.svg} ({chart_variant} trace, seed {chart_seed})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
