"""The baselines B1-B4 of ``consortium.md`` section (b), as lender-selection strategies.

Each one ranks as the system it is named after does, over the same ``LendingRequest``
and ``Snapshot`` as the gateway's own strategy (``fairshare.py``), so the benchmark
compares routing rules and nothing else.  The parts of those systems that sit outside
ranking (directory and cost-tier filters, lenders of last resort, patron limits) are
upstream of a strategy here and left out.

* **B1, ReShare** (``ReshareRatio``): a local holder scores 10000; any other
  ``floor(ACTIVE_BORROW * goal_ratio) - ACTIVE_LOAN`` over requests in progress; a
  member without statistics 0.  Highest first; ties keep discovery's order.  A
  decliner is dropped: the rota moves on and never comes back.
* **B2, CrossLink** (``CrossLink``): lexicographic -- local first, cost ascending,
  shared-network priority ascending, location/shelving preference descending,
  lifetime ``loans / borrows`` ascending (a member that never borrowed goes last),
  member id.  Decliners are dropped.
* **B3, OpenRS/DCB** (``DcbAvailability``): the requester's own library is skipped
  (unless own-library borrowing is on); sort by the DCB availability date, unknown
  dates last; when the first two tie, the tied group is re-sorted on-shelf first, then
  by great-circle distance (unknown: 10,000,000 km).  A decliner is excluded on
  re-resolution.
* **B4, Evergreen** (``EvergreenProximity``): only targetable copies (on shelf, or of
  unknown status: the gateway cannot see the shelf); members that declined ``k``
  times are considered only after every member with fewer declines, up to
  ``max_loops``; inside a loop, proximity tiers nearest first, and inside a tier a
  random order weighted by each member's target weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.network.selection.model import (
    Availability,
    Candidate,
    Exclusion,
    RankedLender,
    Ranking,
    Term,
    days_until_available,
)
from gateway.network.selection.ordering import eligible, seeded_random, weighted_order

if TYPE_CHECKING:
    from gateway.network.selection.model import LendingRequest, Snapshot

__all__ = ["CrossLink", "DcbAvailability", "EvergreenProximity", "ReshareRatio"]

_NO_RETURN = "declined this request: the rota moved on and does not come back"
_MISSING_KM = 1e7  # DCB's distance for an agency without coordinates


def _drop_decliners(
    request: LendingRequest, candidates: list[Candidate], excluded: list[Exclusion]
) -> list[Candidate]:
    kept = []
    for candidate in candidates:
        if request.declined(candidate.member):
            excluded.append(Exclusion(candidate.member, _NO_RETURN))
        else:
            kept.append(candidate)
    return kept


@dataclass(frozen=True, slots=True, kw_only=True)
class ReshareRatio:
    """B1: ReShare mod-rs's ratio score (see the module documentation).

    Args:
        local_score: The fixed score of a local holder.
    """

    local_score: int = 10000

    @property
    def name(self) -> str:
        """The strategy's name."""
        return "reshare-ratio"

    def rank(self, request: LendingRequest, snapshot: Snapshot) -> Ranking:
        """The rota for ``request``."""
        candidates, excluded = eligible(request, snapshot)
        candidates = _drop_decliners(request, candidates, excluded)
        scored: list[tuple[int, Candidate, tuple[Term, ...], str]] = []
        for candidate in candidates:
            member = candidate.member
            if request.is_local(member):
                score = self.local_score
                terms: tuple[Term, ...] = (Term("local", 1.0, float(score)),)
                why = f"local holder: fixed score {score}"
            elif snapshot.has_stats(member):
                stats = snapshot.stats(member)
                ratio = snapshot.profile(member).goal_ratio
                target = math.floor(stats.active_borrows * ratio)
                score = target - stats.active_lends
                terms = (
                    Term("active_borrows", stats.active_borrows, note="requests in progress"),
                    Term("goal_ratio", ratio, note="loans per borrow"),
                    Term("target", target, float(target), note="floor(borrows x ratio)"),
                    Term("active_lends", stats.active_lends, -float(stats.active_lends)),
                )
                why = (
                    f"owes {score} loans in progress"
                    if score > 0
                    else f"{-score} loans in progress beyond its target"
                )
            else:
                score = 0
                terms = ()
                why = "no statistics: treated as at parity (score 0)"
            scored.append((score, candidate, terms, why))
        # sorted() is stable: equal scores keep discovery's (the shared index's) order.
        ordered = sorted(scored, key=lambda entry: -entry[0])
        lenders = tuple(
            RankedLender(
                member=candidate.member,
                position=position,
                score=float(score),
                key=(-score,),
                terms=terms,
                reasons=(why,),
            )
            for position, (score, candidate, terms, why) in enumerate(ordered, 1)
        )
        return Ranking(self.name, request.id, lenders, tuple(excluded))


@dataclass(frozen=True, slots=True, kw_only=True)
class CrossLink:
    """B2: the CrossLink broker's supplier order (see the module documentation)."""

    @property
    def name(self) -> str:
        """The strategy's name."""
        return "crosslink"

    def rank(self, request: LendingRequest, snapshot: Snapshot) -> Ranking:
        """The rota for ``request``."""
        candidates, excluded = eligible(request, snapshot)
        candidates = _drop_decliners(request, candidates, excluded)
        keyed: list[tuple[tuple[float | int | str, ...], Candidate, float]] = []
        for candidate in candidates:
            stats = snapshot.stats(candidate.member)
            ratio = (
                stats.lifetime_lends / stats.lifetime_borrows
                if stats.lifetime_borrows
                else math.inf  # CrossLink uses MaxFloat: a member that never borrowed is last
            )
            key: tuple[float | int | str, ...] = (
                0 if request.is_local(candidate.member) else 1,
                candidate.cost,
                candidate.network_priority,
                -candidate.preference,
                ratio,
                candidate.member,
            )
            keyed.append((key, candidate, ratio))
        keyed.sort(key=lambda entry: entry[0])
        lenders = []
        for position, (key, candidate, ratio) in enumerate(keyed, 1):
            local = key[0] == 0
            lenders.append(
                RankedLender(
                    member=candidate.member,
                    position=position,
                    score=None,
                    key=key,
                    terms=(
                        Term("local", 1.0 if local else 0.0),
                        Term("cost", candidate.cost),
                        Term("network_priority", candidate.network_priority),
                        Term("preference", candidate.preference),
                        Term("loan_borrow_ratio", ratio, note="lifetime loans / borrows"),
                    ),
                    reasons=(
                        ("local supplier first; " if local else "")
                        + f"cost {candidate.cost:g}, network priority "
                        f"{candidate.network_priority}, preference {candidate.preference}, "
                        f"loans/borrows {ratio:.2f}",
                    ),
                )
            )
        return Ranking(self.name, request.id, tuple(lenders), tuple(excluded))


@dataclass(frozen=True, slots=True, kw_only=True)
class DcbAvailability:
    """B3: OpenRS/DCB's resolution order (see the module documentation).

    Args:
        own_library_borrowing: Whether the requester's own library may supply.
        select_unavailable: Whether copies not on the shelf may be chosen.
    """

    own_library_borrowing: bool = False
    select_unavailable: bool = True

    @property
    def name(self) -> str:
        """The strategy's name."""
        return "dcb-availability"

    def rank(self, request: LendingRequest, snapshot: Snapshot) -> Ranking:
        """The rota for ``request``."""
        candidates, excluded = eligible(request, snapshot)
        candidates = _drop_decliners(request, candidates, excluded)
        dated: list[tuple[tuple[bool, float], Candidate, float | None]] = []
        for candidate in candidates:
            if request.is_local(candidate.member) and not self.own_library_borrowing:
                excluded.append(Exclusion(candidate.member, "the requester's own library"))
                continue
            if not self.select_unavailable and candidate.availability is not Availability.AVAILABLE:
                excluded.append(Exclusion(candidate.member, "not on the shelf"))
                continue
            days = days_until_available(candidate)
            dated.append(((days is None, days if days is not None else 0.0), candidate, days))
        dated.sort(key=lambda entry: entry[0])
        tied = 0
        if len(dated) >= 2 and dated[0][0] == dated[1][0]:
            tied = sum(1 for entry in dated if entry[0] == dated[0][0])
            head = sorted(
                dated[:tied],
                key=lambda entry: (
                    entry[1].availability is not Availability.AVAILABLE,
                    _km(entry[1]),
                ),
            )
            dated = head + dated[tied:]
        lenders = []
        for position, ((_, sort_days), candidate, days) in enumerate(dated, 1):
            on_shelf = candidate.availability is Availability.AVAILABLE
            key: tuple[float | int | str, ...] = (days is None, sort_days)
            when = "no availability date" if days is None else f"available in {days:g} days"
            reasons = [when]
            if position <= tied:
                key = (*key, not on_shelf, _km(candidate))
                reasons.append(
                    f"tied for first: {'on shelf' if on_shelf else 'not on shelf'}, "
                    f"{_km(candidate):g} km"
                )
            lenders.append(
                RankedLender(
                    member=candidate.member,
                    position=position,
                    score=None,
                    key=key,
                    terms=(
                        Term("days_until_available", days if days is not None else math.inf),
                        Term("distance_km", _km(candidate)),
                    ),
                    reasons=tuple(reasons),
                )
            )
        return Ranking(self.name, request.id, tuple(lenders), tuple(excluded))


def _km(candidate: Candidate) -> float:
    return candidate.distance_km if candidate.distance_km is not None else _MISSING_KM


@dataclass(frozen=True, slots=True, kw_only=True)
class EvergreenProximity:
    """B4: Evergreen's hold targeter (see the module documentation).

    Args:
        max_loops: Evergreen's ``circ.holds.max_org_unit_target_loops``; ``None`` turns
            the loop rule off (declines are then ignored).
        seed: Fixes the weighted random draws, with the request's id.
    """

    max_loops: int | None = 2
    seed: int = 0

    @property
    def name(self) -> str:
        """The strategy's name."""
        return "evergreen-proximity"

    def rank(self, request: LendingRequest, snapshot: Snapshot) -> Ranking:
        """The rota for ``request``."""
        candidates, excluded = eligible(request, snapshot)
        groups: dict[tuple[int, int], list[Candidate]] = {}
        for candidate in candidates:
            member = candidate.member
            if candidate.availability is Availability.CHECKED_OUT:
                excluded.append(Exclusion(member, "not targetable: checked out"))
                continue
            loop = request.declined(member) if self.max_loops is not None else 0
            if self.max_loops is not None and loop >= self.max_loops:
                excluded.append(
                    Exclusion(member, f"declined {loop} times: the loop limit is reached")
                )
                continue
            groups.setdefault((loop, candidate.proximity), []).append(candidate)
        rng = seeded_random(self.seed, request.id, sum(request.declines.values()))
        lenders: list[RankedLender] = []
        for (loop, proximity), bucket in sorted(groups.items()):
            weights = [snapshot.profile(c.member).weight for c in bucket]
            for candidate in weighted_order(bucket, weights, rng):
                weight = snapshot.profile(candidate.member).weight
                lenders.append(
                    RankedLender(
                        member=candidate.member,
                        position=len(lenders) + 1,
                        score=None,
                        key=(loop, proximity),
                        terms=(
                            Term("loop", loop, note="times declined"),
                            Term("proximity", proximity),
                            Term("weight", weight),
                        ),
                        reasons=(
                            f"loop {loop}, proximity {proximity}: drawn at random among "
                            f"{len(bucket)} with weight {weight:g}",
                        ),
                    )
                )
        return Ranking(self.name, request.id, tuple(lenders), tuple(excluded))
