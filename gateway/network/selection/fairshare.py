"""B8, fair-share deficit routing: the gateway's own lender-selection strategy.

Each member lends in proportion to what its patrons borrow, by the goal ratio it
declared, over a window that remembers but forgets (``consortium.md`` section (b),
B8).  For every eligible candidate ``i``:

====================  ==============================================================
shortfall ``D_i``      ``log((g_i * B_i + 1) / (L_i + 1))``: decayed borrows times the
                       goal ratio against decayed loans, as a ratio.  Positive: the
                       member owes loans.  A ratio because fairness is judged on
                       ``L / (g B)`` (Jain's index in the benchmark): 20 loans owed is
                       a small lag for a member that borrows 2,000 and starvation for
                       one that borrows 50, and an absolute deficit put them level.
                       The one loan on each side keeps a member without history at
                       parity and a near-empty ratio from swinging.
queue ``q_i``          open requests assigned to it / its declared daily capacity.
turnaround ``t_i``     median hours from assignment to shipping over its recent
                       fills, shrunk towards the consortium's median with the weight
                       of ``turnaround_prior_fills`` fills (a member with two lucky
                       fills is not the fastest in the consortium).
fill rate ``f_i``      ``(filled + alpha) / (assigned + alpha + beta)``: Bayesian, so a
                       new member starts at ``alpha / (alpha + beta)``, not 0 or 1.
distance ``d_i``       km from the pickup location (unknown: the median of the known).
readiness ``a_i``      days until the copy can go (the DCB formula: 0 on the shelf);
                       without a live status, the expected delay of asking it,
                       ``(1 - p) * (1 + q_i)`` with ``p`` the title's estimated chance
                       of being on the shelf, from this request's holders with a live
                       status (``estimate.py``: why, and why not a fixed number).
====================  ==============================================================

``score_i = w1*z(D_i) - w2*q_i - w3*z(t_i) + w4*f_i - w5*z(d_i) - w6*a_i``, with ``z``
the robust z-score among this request's candidates, clipped to ``[-z_clip, z_clip]``.

A copy without live status is priced once, by its readiness (the expected delay of
asking it).  Its holder's claim counts in full: it used to count times the chance the
copy is on the shelf, which priced the same risk twice and kept members without live
status below their share.  What made that discount look needed is gone: the copies
the gateway lent itself come to the strategy as checked out with their due date
(``gateway/network/lenders.py`` reads them from the loan registry), not as unknown.

The rota is ordered by, in turn:

1. the **loop rule**: a member that declined this request ``k`` times comes after
   every member that declined fewer times; one that declined ``max_loops`` times is
   not asked again;
2. **local first** (the requester and its local members);
3. the requester's **network priority**, then **cost**, ascending;
4. **score**, descending.  Candidates of the same tier whose scores are within
   ``tie_margin`` of the best of their group are equals: their order is drawn at
   random, weighted by declared daily capacity (1 when undeclared), from a generator
   seeded with ``seed``, the request's id and its number of declines.  Equal lenders
   share the load in proportion to what they can handle, and the same request
   always gets the same rota.

Each ranked lender carries its terms (raw value and contribution) and reasons, which
``explain.py`` renders.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.network.selection.estimate import estimate_shelf
from gateway.network.selection.model import (
    Candidate,
    Exclusion,
    RankedLender,
    Ranking,
    Term,
    days_until_available,
)
from gateway.network.selection.ordering import eligible, robust_z, seeded_random, weighted_order

if TYPE_CHECKING:
    from gateway.network.selection.model import LendingRequest, Snapshot

__all__ = ["FairShare", "FairShareSettings"]

# The terms' notes: what the raw value is.  A term's robust z, where it has one, is its
# contribution divided by its weight.
_DEFICIT = "log((goal ratio x decayed borrows + 1) / (decayed loans + 1))"
_QUEUE = "days of queued work: open requests / capacity per day"
_TURNAROUND = "hours from assignment to shipping, shrunk to the consortium's median"
_FILL = "Bayesian fill rate"
_DISTANCE = "km from the pickup location"
_READINESS = "days until the copy is available"
_EXPECTED_DELAY = "expected days lost if the copy without live status is out"


@dataclass(frozen=True, slots=True, kw_only=True)
class FairShareSettings:
    """B8's weights and priors (defaults chosen on ``bench/lender_selection.py``).

    Args:
        w_deficit: ``w1``, per robust z of the deficit.
        w_queue: ``w2``, per day of queued work (open requests / daily capacity).
        w_turnaround: ``w3``, per robust z of the turnaround.
        w_fill: ``w4``, per unit of Bayesian fill rate (0..1).
        w_distance: ``w5``, per robust z of the distance.
        w_readiness: ``w6``, per day until the copy is available.
        turnaround_prior_fills: Weight, in fills, of the consortium's median.
        fill_alpha: Prior fills (``alpha``).
        fill_beta: Prior declines (``beta``).
        default_capacity_per_day: Capacity of a member that declared none, when no
            candidate declared one either (otherwise their median is used).
        z_clip: Robust z-scores are clipped to ``[-z_clip, z_clip]`` (``None``: not
            clipped).  When most candidates are alike their MAD is tiny and the one
            that differs gets a z in the hundreds, which would override every other
            term (a copy on loan for weeks, a queue days long); clipped, it counts as
            "far from the rest" and no more.
        tie_margin: Score difference within which lenders count as equal.
        max_loops: Declines after which a member is not asked again (``None``: no
            limit; the loop rule still orders by declines).
        seed: Fixes the tie-break draws, with the request's id.
    """

    w_deficit: float = 1.0
    w_queue: float = 1.0
    w_turnaround: float = 0.25
    w_fill: float = 1.0
    w_distance: float = 0.25
    w_readiness: float = 0.5
    turnaround_prior_fills: float = 5.0
    fill_alpha: float = 4.0
    fill_beta: float = 1.0
    default_capacity_per_day: float = 10.0
    z_clip: float | None = 3.0
    tie_margin: float = 0.1
    max_loops: int | None = 2
    seed: int = 0


@dataclass(slots=True)
class _Scored:
    candidate: Candidate
    loop: int
    local: bool
    score: float
    terms: tuple[Term, ...]
    owed: float
    weight: float
    estimate: str | None = None

    def tier(self) -> tuple[int, int, int, float]:
        c = self.candidate
        return (self.loop, 0 if self.local else 1, c.network_priority, c.cost)


@dataclass(frozen=True, slots=True)
class FairShare:
    """B8 (see the module documentation)."""

    settings: FairShareSettings = FairShareSettings()

    @property
    def name(self) -> str:
        """The strategy's name."""
        return "fair-share"

    def rank(self, request: LendingRequest, snapshot: Snapshot) -> Ranking:
        """The rota for ``request``, each lender with its explanation."""
        s = self.settings
        candidates, excluded = eligible(request, snapshot)
        kept: list[Candidate] = []
        for candidate in candidates:
            loop = request.declined(candidate.member)
            if s.max_loops is not None and loop >= s.max_loops:
                excluded.append(
                    Exclusion(candidate.member, f"declined {loop} times: not asked again")
                )
            else:
                kept.append(candidate)
        scored = self._score(request, snapshot, kept)
        scored.sort(key=lambda e: (e.tier(), -e.score))
        return Ranking(self.name, request.id, self._break_ties(request, scored), tuple(excluded))

    def _score(
        self, request: LendingRequest, snapshot: Snapshot, candidates: list[Candidate]
    ) -> list[_Scored]:
        s = self.settings
        if not candidates:
            return []
        profiles = [snapshot.profile(c.member) for c in candidates]
        stats = [snapshot.stats(c.member) for c in candidates]
        declared = [p.capacity_per_day for p in profiles if p.capacity_per_day]
        fallback_capacity = (
            float(statistics.median(declared)) if declared else s.default_capacity_per_day
        )
        consortium_t = snapshot.reading.consortium_turnaround_hours
        known_km = [c.distance_km for c in candidates if c.distance_km is not None]
        fallback_km = statistics.median(known_km) if known_km else 0.0

        deficits = [
            p.goal_ratio * st.borrows - st.lends for p, st in zip(profiles, stats, strict=True)
        ]
        turnarounds = [self._turnaround(st.recent_turnaround_hours, consortium_t) for st in stats]
        distances = [
            c.distance_km if c.distance_km is not None else fallback_km for c in candidates
        ]
        # Fairness is judged on the ratio L / (g B) (Jain's index over it), so the
        # deficit is z-scored as a ratio too: log((g B + 1) / (L + 1)), one loan of
        # prior on each side so a member without history sits at parity.
        shortfalls = [
            math.log((p.goal_ratio * st.borrows + 1.0) / (st.lends + 1.0))
            for p, st in zip(profiles, stats, strict=True)
        ]
        z_deficit = robust_z(shortfalls, clip=s.z_clip)
        z_turnaround = robust_z(turnarounds, clip=s.z_clip)
        z_distance = robust_z(distances, clip=s.z_clip)
        shelf = estimate_shelf(candidates)

        scored = []
        for index, candidate in enumerate(candidates):
            profile, st = profiles[index], stats[index]
            capacity = float(profile.capacity_per_day or fallback_capacity)
            queue = st.open_assigned / capacity
            fill = (st.filled + s.fill_alpha) / (st.assigned + s.fill_alpha + s.fill_beta)
            days = days_until_available(candidate)
            if days is None:
                readiness, readiness_note = shelf.expected_delay_days(queue), _EXPECTED_DELAY
                estimate: str | None = shelf.describe()
            else:
                readiness, readiness_note, estimate = days, _READINESS, None
            terms = (
                Term("deficit", shortfalls[index], s.w_deficit * z_deficit[index], _DEFICIT),
                Term("queue", queue, -s.w_queue * queue, _QUEUE),
                Term(
                    "turnaround",
                    turnarounds[index],
                    -s.w_turnaround * z_turnaround[index],
                    _TURNAROUND,
                ),
                Term("fill_rate", fill, s.w_fill * fill, _FILL),
                Term("distance", distances[index], -s.w_distance * z_distance[index], _DISTANCE),
                Term("readiness", readiness, -s.w_readiness * readiness, readiness_note),
            )
            scored.append(
                _Scored(
                    candidate=candidate,
                    loop=request.declined(candidate.member),
                    local=request.is_local(candidate.member),
                    score=sum(term.contribution for term in terms),
                    terms=terms,
                    owed=deficits[index],
                    weight=float(profile.capacity_per_day or 1),
                    estimate=estimate,
                )
            )
        return scored

    def _turnaround(self, recent: tuple[float, ...], consortium: float | None) -> float:
        prior = self.settings.turnaround_prior_fills
        if not recent:
            return consortium if consortium is not None else 0.0
        own = statistics.median(recent)
        if consortium is None:
            return own
        return (len(recent) * own + prior * consortium) / (len(recent) + prior)

    def _break_ties(
        self, request: LendingRequest, scored: list[_Scored]
    ) -> tuple[RankedLender, ...]:
        s = self.settings
        rng = seeded_random(s.seed, request.id, sum(request.declines.values()))
        ordered: list[tuple[_Scored, str | None]] = []
        start = 0
        while start < len(scored):
            top = scored[start]
            end = start + 1
            while (
                end < len(scored)
                and scored[end].tier() == top.tier()
                and top.score - scored[end].score <= s.tie_margin
            ):
                end += 1
            group = scored[start:end]
            if len(group) == 1:
                ordered.append((top, None))
            else:
                note = (
                    f"within {s.tie_margin:g} of {top.candidate.member}'s score: one of "
                    f"{len(group)} equals, order drawn at random by capacity"
                )
                drawn = weighted_order(group, [e.weight for e in group], rng)
                ordered.extend((entry, note) for entry in drawn)
            start = end
        return tuple(
            RankedLender(
                member=entry.candidate.member,
                position=position,
                score=entry.score,
                key=(*entry.tier(), -round(entry.score, 6)),
                terms=entry.terms,
                reasons=_reasons(entry, tie),
            )
            for position, (entry, tie) in enumerate(ordered, 1)
        )


def _reasons(entry: _Scored, tie: str | None) -> tuple[str, ...]:
    reasons = [
        "not asked yet"
        if entry.loop == 0
        else f"declined {entry.loop} time(s): after every lender asked fewer times"
    ]
    if entry.local:
        reasons.append("local to the requester: ahead of every other lender")
    candidate = entry.candidate
    reasons.append(f"network priority {candidate.network_priority}, cost {candidate.cost:g}")
    reasons.append(
        f"owes {entry.owed:.1f} loans" if entry.owed >= 0 else f"{-entry.owed:.1f} loans ahead"
    )
    if entry.estimate is not None:
        reasons.append(entry.estimate)
    reasons.append(f"score {entry.score:+.2f}")
    if tie is not None:
        reasons.append(tie)
    return tuple(reasons)
