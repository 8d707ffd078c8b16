"""Lender selection: the counters, the shared helpers, B8's rules and each baseline's
documented order, the explanation, and the benchmark's trace generator."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from bench.lender_selection import LenderModel, Replay, _Open
from bench.selection_trace import TraceSettings, generate_trace
from config.loader import load_consortium
from gateway.network.selection import (
    STRATEGY_NAMES,
    Availability,
    Candidate,
    CounterBook,
    CounterReading,
    FairShare,
    FairShareSettings,
    LenderStrategy,
    LendingRequest,
    MemberProfile,
    MemberStats,
    MemorySelectionCounters,
    Ranking,
    Snapshot,
    as_dict,
    explain,
    make_strategy,
    profiles_from_consortium,
)
from gateway.network.selection.baselines import (
    CrossLink,
    DcbAvailability,
    EvergreenProximity,
    ReshareRatio,
)
from gateway.network.selection.model import days_until_available, great_circle_km
from gateway.network.selection.ordering import eligible, robust_z, seeded_random, weighted_order

if TYPE_CHECKING:
    from pathlib import Path

DAY = 86400.0
HALF_LIFE = 30 * DAY


def snapshot(
    stats: dict[str, MemberStats] | None = None,
    *,
    profiles: list[MemberProfile] | None = None,
    offline: frozenset[str] = frozenset(),
    turnaround: float | None = None,
) -> Snapshot:
    """A snapshot at t = 0 with the given counters, profiles and off-line members."""
    return Snapshot(
        now=0.0,
        profiles={p.member: p for p in profiles or []},
        reading=CounterReading(stats=stats or {}, consortium_turnaround_hours=turnaround),
        offline=offline,
    )


def on_shelf(member: str, **fields: Any) -> Candidate:
    """A candidate whose copy is on the shelf, 10 km away (unless ``fields`` say else)."""
    values: dict[str, Any] = {"availability": Availability.AVAILABLE, "distance_km": 10.0}
    values.update(fields)
    return Candidate(member=member, **values)


def request(*candidates: Candidate, requester: str = "req", **declines: int) -> LendingRequest:
    """A request by ``requester`` with ``candidates`` and the given decline counts."""
    made = LendingRequest(id="r1", requester=requester, candidates=candidates)
    for member, times in declines.items():
        for _ in range(times):
            made = made.with_decline(member)
    return made


def owing(lends: float, borrows: float, **fields: Any) -> MemberStats:
    """Counters with the given decayed loans and borrows."""
    return MemberStats(lends=lends, borrows=borrows, **fields)


# --- the model --------------------------------------------------------------------------


class TestModel:
    @pytest.mark.parametrize(
        ("candidate", "days"),
        [
            (Candidate(member="a", availability=Availability.AVAILABLE), 0.0),
            (Candidate(member="a", availability=Availability.AVAILABLE, hold_count=2), 56.0),
            (
                Candidate(member="a", availability=Availability.CHECKED_OUT, due_in_days=5.0),
                5.0,
            ),
            (
                Candidate(
                    member="a",
                    availability=Availability.CHECKED_OUT,
                    due_in_days=5.0,
                    hold_count=1,
                ),
                33.0,
            ),
            (
                Candidate(
                    member="a",
                    availability=Availability.CHECKED_OUT,
                    due_in_days=-2.0,
                    hold_count=1,
                ),
                56.0,
            ),
            (Candidate(member="a", availability=Availability.CHECKED_OUT), 28.0),
            (Candidate(member="a", availability=Availability.UNKNOWN), None),
        ],
    )
    def test_days_until_available_follow_dcb(self, candidate: Candidate, days: float) -> None:
        """On shelf: 28 days per hold; out: due date plus 28 per hold (overdue: 28 per hold
        and one more; no due date: 28); unknown: no date."""
        assert days_until_available(candidate) == days

    def test_great_circle(self) -> None:
        """One degree of latitude is about 111 km."""
        assert great_circle_km(40.0, -90.0, 41.0, -90.0) == pytest.approx(111.2, abs=0.2)

    def test_declines_are_counted_per_member(self) -> None:
        """``with_decline`` returns a new request with that member's count raised."""
        first = request(on_shelf("a"))
        later = first.with_decline("a").with_decline("a").with_decline("b")
        assert (later.declined("a"), later.declined("b"), later.declined("c")) == (2, 1, 0)
        assert first.declined("a") == 0

    def test_snapshot_defaults(self) -> None:
        """A member unknown to the snapshot has the default profile and zero counters."""
        snap = snapshot()
        assert snap.profile("x") == MemberProfile(member="x")
        assert snap.stats("x") == MemberStats()
        assert not snap.has_stats("x")

    def test_profiles_from_the_configuration(self, tmp_path: Path) -> None:
        """Goal ratio and capacity come from the effective ``lending`` settings; an unset
        goal is parity."""
        config = tmp_path / "lending.toml"
        config.write_text(
            """
[nodes.net]
kind = "consortium"
name = "Net"
circulation.proxy_patron_template = "ILL-{home}"
lending.capacity_per_day = 20

[nodes.north]
kind = "member"
name = "North"
memberships = ["net"]
patrons = ["221*"]
items = ["321*"]
ils.endpoints = ["sip.north.example.org:6001"]
lending.goal_ratio = 1.5
lending.capacity_per_day = 12

[nodes.south]
kind = "member"
name = "South"
memberships = ["net"]
patrons = ["222*"]
items = ["322*"]
ils.endpoints = ["sip.south.example.org:6001"]
"""
        )
        profiles = profiles_from_consortium(load_consortium(config, check_secrets=False))
        assert profiles["north"] == MemberProfile(
            member="north", goal_ratio=1.5, capacity_per_day=12
        )
        assert profiles["south"] == MemberProfile(
            member="south", goal_ratio=1.0, capacity_per_day=20
        )


# --- counters ----------------------------------------------------------------------------


class TestCounterBook:
    def test_a_loan_counts_half_after_one_half_life(self) -> None:
        """Decayed loans and borrows halve every half-life; lifetime counts do not."""
        book = CounterBook(half_life_s=HALF_LIFE)
        book.assigned("lender", now=0.0)
        book.filled("lender", "borrower", turnaround_hours=30.0, now=0.0)
        lender = book.stats("lender", now=HALF_LIFE)
        borrower = book.stats("borrower", now=2 * HALF_LIFE)
        assert lender.lends == pytest.approx(0.5)
        assert lender.filled == pytest.approx(0.5)
        assert lender.assigned == pytest.approx(0.5)
        assert borrower.borrows == pytest.approx(0.25)
        assert (lender.lifetime_lends, borrower.lifetime_borrows) == (1, 1)

    def test_events_add_up_at_their_own_times(self) -> None:
        """An event now and one a half-life ago make 1.5."""
        book = CounterBook(half_life_s=HALF_LIFE)
        book.filled("l", "b", turnaround_hours=1.0, now=0.0)
        book.filled("l", "b", turnaround_hours=1.0, now=HALF_LIFE)
        assert book.stats("l", now=HALF_LIFE).lends == pytest.approx(1.5)

    def test_open_and_active_counts(self) -> None:
        """Assignments open; a decline or a fill closes; a return ends the activity."""
        book = CounterBook()
        book.requested("b", now=0.0)
        book.assigned("l1", now=0.0)
        book.declined("l1", now=1.0)
        book.assigned("l2", now=1.0)
        assert book.stats("l1", 1.0).open_assigned == 0
        assert book.stats("l2", 1.0).open_assigned == 1
        assert book.stats("l2", 1.0).active_lends == 1
        book.filled("l2", "b", turnaround_hours=24.0, now=2.0)
        assert book.stats("l2", 2.0).open_assigned == 0
        assert book.stats("l2", 2.0).active_lends == 1  # on loan until it comes back
        assert book.stats("b", 2.0).active_borrows == 1
        book.returned("l2", "b", now=3.0)
        assert book.stats("l2", 3.0).active_lends == 0
        assert book.stats("b", 3.0).active_borrows == 0

    def test_counts_never_go_negative(self) -> None:
        """Events replayed out of order leave zeros, not negative queues."""
        book = CounterBook()
        book.declined("l", now=0.0)
        book.returned("l", "b", now=0.0)
        book.unfilled("b", now=0.0)
        stats = book.stats("l", 0.0)
        assert (stats.open_assigned, stats.active_lends) == (0, 0)
        assert book.stats("b", 0.0).active_borrows == 0

    def test_withdrawal_takes_the_assignment_back(self) -> None:
        """A cancelled request frees the lender's slot without lowering its fill rate."""
        book = CounterBook()
        book.requested("b", now=0.0)
        book.assigned("l", now=0.0)
        book.withdrawn("b", "l", now=0.0)
        stats = book.stats("l", 0.0)
        assert (stats.open_assigned, stats.active_lends, stats.assigned) == (0, 0, 0.0)
        assert book.stats("b", 0.0).active_borrows == 0

    def test_turnaround_windows(self) -> None:
        """A member keeps its last fills; the consortium's median spans every member."""
        book = CounterBook(turnaround_window=2)
        for hours in (10.0, 20.0, 30.0):
            book.filled("a", "b", turnaround_hours=hours, now=0.0)
        book.filled("c", "b", turnaround_hours=100.0, now=0.0)
        assert book.stats("a", 0.0).recent_turnaround_hours == (20.0, 30.0)
        assert book.consortium_turnaround_hours() == 25.0
        assert CounterBook().consortium_turnaround_hours() is None

    def test_half_life_must_be_positive(self) -> None:
        """A zero half-life is refused."""
        with pytest.raises(ValueError, match="half_life_s"):
            CounterBook(half_life_s=0.0)


async def test_memory_counters_implement_the_protocol() -> None:
    """The async in-memory counters record each event and read them back together."""
    counters = MemorySelectionCounters(CounterBook(half_life_s=HALF_LIFE))
    await counters.record_requested("b", now=0.0)
    await counters.record_assigned("l", now=0.0)
    await counters.record_filled("l", "b", turnaround_hours=12.0, now=0.0)
    await counters.record_requested("b", now=0.0)
    await counters.record_assigned("m", now=0.0)
    await counters.record_declined("m", now=0.0)
    await counters.record_unfilled("b", now=0.0)
    await counters.record_returned("l", "b", now=0.0)
    await counters.record_requested("b", now=0.0)
    await counters.record_assigned("m", now=0.0)
    await counters.record_withdrawn("b", "m", now=0.0)
    reading = await counters.read(["l", "m", "b"], now=HALF_LIFE)
    assert reading.stats["l"].lends == pytest.approx(0.5)
    assert reading.stats["b"].borrows == pytest.approx(0.5)
    assert reading.stats["b"].active_borrows == 0
    assert reading.stats["m"].open_assigned == 0
    assert reading.stats["m"].assigned == pytest.approx(0.5)
    assert reading.consortium_turnaround_hours == 12.0


# --- shared helpers ----------------------------------------------------------------------


class TestHelpers:
    def test_robust_z(self) -> None:
        """(x - median) / (1.4826 MAD): the outlier does not squash the others."""
        z = robust_z([1.0, 2.0, 3.0, 100.0])
        # median 2.5, absolute deviations 1.5, 0.5, 0.5, 97.5 -> MAD 1.0
        assert z == pytest.approx([-1.5 / 1.4826, -0.5 / 1.4826, 0.5 / 1.4826, 97.5 / 1.4826])

    def test_robust_z_falls_back_to_the_mean_deviation(self) -> None:
        """With a MAD of 0, the scaled mean absolute deviation is the unit."""
        z = robust_z([5.0, 5.0, 5.0, 9.0])
        assert z == pytest.approx([0.0, 0.0, 0.0, 4.0 / (1.2533 * 1.0)])

    def test_robust_z_of_equal_values_is_zero(self) -> None:
        """Equal values, or none, give zeros."""
        assert robust_z([3.0, 3.0]) == [0.0, 0.0]
        assert robust_z([]) == []

    def test_robust_z_can_be_clipped(self) -> None:
        """A clipped z stays within the bound; the others are unchanged."""
        z = robust_z([1.0, 2.0, 3.0, 100.0], clip=3.0)
        assert z[3] == 3.0
        assert z[0] == pytest.approx(-1.5 / 1.4826)

    def test_seeded_random_is_stable(self) -> None:
        """The same parts give the same numbers; different parts differ."""
        assert seeded_random(1, "r1").random() == seeded_random(1, "r1").random()
        assert seeded_random(1, "r1").random() != seeded_random(2, "r1").random()

    def test_weighted_order_favours_weight(self) -> None:
        """A member nine times heavier comes first far more often, not always."""
        firsts = Counter(
            weighted_order(["heavy", "light"], [9.0, 1.0], seeded_random(seed))[0]
            for seed in range(400)
        )
        assert 320 <= firsts["heavy"] < 400  # expected 360
        assert firsts["light"] > 0

    def test_eligible_skips_offline_and_non_lending_members(self) -> None:
        """Off-line members and members with capacity 0 are left out with a reason; a
        member listed twice keeps its first entry."""
        req = request(on_shelf("a"), on_shelf("down"), on_shelf("closed"), on_shelf("a"))
        snap = snapshot(
            profiles=[MemberProfile(member="closed", capacity_per_day=0)],
            offline=frozenset({"down"}),
        )
        kept, skipped = eligible(req, snap)
        assert [c.member for c in kept] == ["a"]
        assert {e.member: e.reason.split(":")[0] for e in skipped} == {
            "down": "off-line",
            "closed": "not lending",
        }


# --- B8 ----------------------------------------------------------------------------------

B8 = FairShare(FairShareSettings(tie_margin=0.0))


def ranked(strategy: LenderStrategy, req: LendingRequest, snap: Snapshot) -> list[str]:
    """The rota's members, in order."""
    return list(strategy.rank(req, snap).members)


class TestFairShare:
    def test_deficit_orders_the_rota(self) -> None:
        """Otherwise equal lenders are asked in order of the loans they owe."""
        req = request(on_shelf("even"), on_shelf("owes"), on_shelf("ahead"))
        snap = snapshot(
            {"even": owing(5, 5), "owes": owing(2, 10), "ahead": owing(12, 3)},
        )
        assert ranked(B8, req, snap) == ["owes", "even", "ahead"]

    def test_goal_ratio_scales_the_borrowing(self) -> None:
        """With the same counts, a member aiming to lend twice as much owes more."""
        req = request(on_shelf("parity"), on_shelf("lender"), on_shelf("third"))
        stats = {"parity": owing(6, 6), "lender": owing(8, 6), "third": owing(6, 5)}
        profiles = [MemberProfile(member="lender", goal_ratio=2.0)]
        assert ranked(B8, req, snapshot(stats, profiles=profiles))[0] == "lender"
        assert ranked(B8, req, snapshot(stats)) == ["parity", "third", "lender"]

    def test_queue_holds_back_a_busy_lender(self) -> None:
        """Days of queued work count against a lender that owes as much as the others."""
        req = request(on_shelf("busy"), on_shelf("idle"))
        stats = {"busy": owing(0, 5, open_assigned=30), "idle": owing(0, 5)}
        profiles = [
            MemberProfile(member="busy", capacity_per_day=10),
            MemberProfile(member="idle", capacity_per_day=10),
        ]
        ranking = B8.rank(req, snapshot(stats, profiles=profiles))
        assert ranking.members == ("idle", "busy")
        busy = ranking.lenders[1]
        queue = next(t for t in busy.terms if t.name == "queue")
        assert (queue.value, queue.contribution) == (3.0, -3.0)

    def test_copy_on_the_shelf_beats_one_out_on_loan(self) -> None:
        """Readiness: a copy due in 10 days costs 0.5 a day against one on the shelf."""
        out = Candidate(
            member="out",
            availability=Availability.CHECKED_OUT,
            due_in_days=10.0,
            distance_km=10.0,
        )
        req = request(out, on_shelf("shelf"))
        ranking = B8.rank(req, snapshot())
        assert ranking.members == ("shelf", "out")
        readiness = next(t for t in ranking.lenders[1].terms if t.name == "readiness")
        assert readiness.contribution == -5.0

    def test_clipping_keeps_one_term_from_overriding_the_rest(self) -> None:
        """A deficit far from the others cannot outweigh a copy out for weeks once its z
        is clipped; unclipped, it does."""
        out = Candidate(
            member="owes",
            availability=Availability.CHECKED_OUT,
            due_in_days=12.0,
            distance_km=10.0,
        )
        req = request(out, on_shelf("b"), on_shelf("c"), on_shelf("d"))
        stats = {
            "owes": owing(0, 500),
            "b": owing(5, 5.1),
            "c": owing(5, 5.2),
            "d": owing(5, 5.3),
        }
        assert ranked(B8, req, snapshot(stats))[0] != "owes"
        unclipped = FairShare(FairShareSettings(tie_margin=0.0, z_clip=None))
        assert ranked(unclipped, req, snapshot(stats))[0] == "owes"

    def test_fill_rate_and_turnaround_terms(self) -> None:
        """Fill rate is (filled + 4) / (assigned + 5); turnaround is shrunk towards the
        consortium's median with the weight of 5 fills."""
        req = request(on_shelf("a"), on_shelf("b"))
        stats = {
            "a": MemberStats(assigned=10.0, filled=5.0, recent_turnaround_hours=(100.0,)),
            "b": MemberStats(),
        }
        lender = next(
            lender
            for lender in B8.rank(req, snapshot(stats, turnaround=40.0)).lenders
            if lender.member == "a"
        )
        terms = {t.name: t for t in lender.terms}
        assert terms["fill_rate"].value == pytest.approx(9.0 / 15.0)
        assert terms["turnaround"].value == pytest.approx((100.0 + 5 * 40.0) / 6)

    def test_slower_lender_ranks_lower(self) -> None:
        """Of two lenders owing the same, the one that ships faster goes first."""
        req = request(on_shelf("slow"), on_shelf("quick"))
        stats = {
            "slow": MemberStats(recent_turnaround_hours=(200.0,) * 10),
            "quick": MemberStats(recent_turnaround_hours=(20.0,) * 10),
        }
        assert ranked(B8, req, snapshot(stats, turnaround=50.0)) == ["quick", "slow"]

    def test_nearer_lender_ranks_higher(self) -> None:
        """Distance counts against a lender, all else equal."""
        req = request(on_shelf("far", distance_km=400.0), on_shelf("near", distance_km=20.0))
        assert ranked(B8, req, snapshot()) == ["near", "far"]

    def test_local_first(self) -> None:
        """A local holder comes before any other, however much the others owe."""
        req = request(on_shelf("req"), on_shelf("branch"), on_shelf("owes"))
        req = LendingRequest(
            id=req.id,
            requester="req",
            candidates=req.candidates,
            local=frozenset({"branch"}),
        )
        stats = {"req": owing(50, 0), "branch": owing(40, 0), "owes": owing(0, 50)}
        assert ranked(B8, req, snapshot(stats))[:2] == ["branch", "req"]
        assert ranked(B8, req, snapshot(stats))[2] == "owes"

    def test_the_loop_rule_comes_before_local_first(self) -> None:
        """A local holder that declined waits behind every lender not asked yet."""
        req = request(on_shelf("req"), on_shelf("other"), req=1)
        assert ranked(B8, req, snapshot()) == ["other", "req"]

    def test_network_priority_then_cost_come_before_score(self) -> None:
        """The requester's network priority, then cost, outrank the score."""
        req = request(
            on_shelf("pricey", network_priority=0, cost=5.0),
            on_shelf("free", network_priority=0, cost=0.0),
            on_shelf("far-network", network_priority=1),
        )
        stats = {"pricey": owing(0, 50), "free": owing(20, 0), "far-network": owing(0, 90)}
        assert ranked(B8, req, snapshot(stats)) == ["free", "pricey", "far-network"]

    def test_decliner_waits_until_everyone_else_was_asked(self) -> None:
        """The best lender that declined comes after every lender not asked yet, and one
        that declined ``max_loops`` times is not asked again."""
        req = request(on_shelf("best"), on_shelf("ok"), on_shelf("worst"), best=1)
        stats = {"best": owing(0, 50), "ok": owing(5, 5), "worst": owing(20, 0)}
        assert ranked(B8, req, snapshot(stats)) == ["ok", "worst", "best"]
        req = req.with_decline("ok").with_decline("worst")
        assert ranked(B8, req, snapshot(stats)) == ["best", "ok", "worst"]
        req = req.with_decline("best")
        ranking = B8.rank(req, snapshot(stats))
        assert ranking.members == ("ok", "worst")
        assert [e.member for e in ranking.excluded] == ["best"]

    def test_offline_members_are_skipped(self) -> None:
        """A member the health checks find down is not in the rota."""
        req = request(on_shelf("down"), on_shelf("up"))
        ranking = B8.rank(req, snapshot({"down": owing(0, 99)}, offline=frozenset({"down"})))
        assert ranking.members == ("up",)
        assert ranking.excluded[0].member == "down"

    def test_tie_break_is_fixed_by_the_seed(self) -> None:
        """Equal lenders get the same order for the same seed and request every time,
        and different orders across seeds."""
        members = [f"m{i}" for i in range(5)]
        req = request(*(on_shelf(m) for m in members))
        orders = set()
        for seed in range(12):
            strategy = FairShare(FairShareSettings(seed=seed))
            first = ranked(strategy, req, snapshot())
            assert ranked(strategy, req, snapshot()) == first
            orders.add(tuple(first))
        assert len(orders) > 3
        assert all(sorted(order) == members for order in orders)

    def test_ties_are_shared_by_capacity(self) -> None:
        """Among equals, a lender with nine times the capacity is first about nine times
        as often."""
        req = request(on_shelf("big"), on_shelf("small"))
        profiles = [
            MemberProfile(member="big", capacity_per_day=9),
            MemberProfile(member="small", capacity_per_day=1),
        ]
        # Equal queues (none), so the capacities do not change the scores.
        firsts = Counter(
            ranked(FairShare(FairShareSettings(seed=seed)), req, snapshot(profiles=profiles))[0]
            for seed in range(300)
        )
        assert 240 <= firsts["big"] < 300
        assert firsts["small"] > 0

    def test_tie_margin_decides_who_counts_as_equal(self) -> None:
        """Scores apart by more than the margin are never reordered."""
        req = request(on_shelf("a", distance_km=10.0), on_shelf("b", distance_km=11.0))
        for seed in range(20):
            strict = FairShare(FairShareSettings(seed=seed, tie_margin=0.0))
            assert ranked(strict, req, snapshot()) == ["a", "b"]
        loose = {
            tuple(ranked(FairShare(FairShareSettings(seed=s, tie_margin=5.0)), req, snapshot()))
            for s in range(20)
        }
        assert loose == {("a", "b"), ("b", "a")}

    def test_explanation_adds_up(self) -> None:
        """Each lender's terms add up to its score, and its reasons say where it stands."""
        req = request(on_shelf("a"), on_shelf("b"), on_shelf("c"), c=1)
        ranking = B8.rank(req, snapshot({"a": owing(1, 4), "b": owing(3, 1)}))
        for lender in ranking.lenders:
            assert lender.score == pytest.approx(sum(t.contribution for t in lender.terms))
            assert {t.name for t in lender.terms} == {
                "deficit",
                "queue",
                "turnaround",
                "fill_rate",
                "distance",
                "readiness",
            }
        assert "owes 3.0 loans" in ranking.lenders[0].reasons
        assert any("declined 1 time" in r for r in ranking.lenders[2].reasons)

    def test_no_candidates(self) -> None:
        """Nothing to rank gives an empty rota."""
        ranking = B8.rank(request(), snapshot())
        assert ranking.first() is None
        assert "no lender to ask" in explain(ranking)


# --- baselines ---------------------------------------------------------------------------


class TestReshareRatio:
    def test_order_by_owed_active_loans(self) -> None:
        """Local 10000 first; then floor(ACTIVE_BORROW x ratio) - ACTIVE_LOAN, highest
        first; a member without statistics scores 0."""
        req = request(on_shelf("ahead"), on_shelf("nostats"), on_shelf("owes"), on_shelf("req"))
        stats = {
            "ahead": MemberStats(active_borrows=2, active_lends=5),
            "owes": MemberStats(active_borrows=3, active_lends=1),
            "req": MemberStats(active_lends=9),
        }
        profiles = [MemberProfile(member="owes", goal_ratio=1.5)]  # floor(4.5) - 1 = 3
        ranking = ReshareRatio().rank(req, snapshot(stats, profiles=profiles))
        assert ranking.members == ("req", "owes", "nostats", "ahead")
        assert [lender.score for lender in ranking.lenders] == [10000.0, 3.0, 0.0, -3.0]

    def test_ties_keep_discovery_order_and_decliners_are_dropped(self) -> None:
        """Equal scores stay in the order discovery gave; a decliner never comes back."""
        req = request(on_shelf("c"), on_shelf("a"), on_shelf("b"), on_shelf("d"), d=1)
        ranking = ReshareRatio().rank(req, snapshot())
        assert ranking.members == ("c", "a", "b")
        assert ranking.excluded[0].member == "d"


class TestCrossLink:
    def test_lexicographic_order(self) -> None:
        """Local, cost, network priority, preference (desc), loans/borrows, symbol."""
        req = request(
            on_shelf("cost", cost=2.0),
            on_shelf("prio", network_priority=1),
            on_shelf("pref", preference=5),
            on_shelf("ratio-high"),
            on_shelf("ratio-low"),
            on_shelf("never-borrowed"),
            on_shelf("req", cost=9.0),
            on_shelf("a-tie"),
            on_shelf("b-tie"),
        )
        stats = {
            "ratio-high": MemberStats(lifetime_lends=9, lifetime_borrows=3),
            "ratio-low": MemberStats(lifetime_lends=1, lifetime_borrows=4),
            "never-borrowed": MemberStats(lifetime_lends=0),
            "a-tie": MemberStats(lifetime_lends=2, lifetime_borrows=2),
            "b-tie": MemberStats(lifetime_lends=2, lifetime_borrows=2),
            "pref": MemberStats(lifetime_lends=50, lifetime_borrows=1),
        }
        ranking = CrossLink().rank(req, snapshot(stats))
        assert ranking.members == (
            "req",
            "pref",
            "ratio-low",
            "a-tie",
            "b-tie",
            "ratio-high",
            "never-borrowed",
            "prio",
            "cost",
        )
        assert math.isinf(ranking.lenders[6].terms[-1].value)

    def test_decliners_are_dropped(self) -> None:
        """A supplier that declined is not in the rota again."""
        req = request(on_shelf("a"), on_shelf("b"), a=1)
        assert CrossLink().rank(req, snapshot()).members == ("b",)


class TestDcbAvailability:
    def test_soonest_available_first_unknown_last(self) -> None:
        """Sorted by DCB's availability date; copies with no date come last."""
        req = request(
            Candidate(member="unknown", availability=Availability.UNKNOWN),
            Candidate(member="due5", availability=Availability.CHECKED_OUT, due_in_days=5.0),
            Candidate(member="due2", availability=Availability.CHECKED_OUT, due_in_days=2.0),
            Candidate(member="shelf", availability=Availability.AVAILABLE, distance_km=900.0),
        )
        assert DcbAvailability().rank(req, snapshot()).members == (
            "shelf",
            "due2",
            "due5",
            "unknown",
        )

    def test_a_tie_for_first_goes_to_the_nearest_on_shelf_copy(self) -> None:
        """When the first two tie, the tied group is ordered on-shelf first, then by
        distance (unknown distance: 10,000,000 km)."""
        req = request(
            Candidate(member="far", availability=Availability.AVAILABLE, distance_km=300.0),
            Candidate(member="nowhere", availability=Availability.AVAILABLE),
            Candidate(member="near", availability=Availability.AVAILABLE, distance_km=20.0),
            Candidate(
                member="due0",
                availability=Availability.CHECKED_OUT,
                due_in_days=0.0,
                distance_km=1.0,
            ),
            Candidate(
                member="later",
                availability=Availability.CHECKED_OUT,
                due_in_days=3.0,
                distance_km=1.0,
            ),
        )
        assert DcbAvailability().rank(req, snapshot()).members == (
            "near",
            "far",
            "nowhere",
            "due0",
            "later",
        )

    def test_no_tie_no_distance(self) -> None:
        """Without a tie for first, distance plays no part."""
        req = request(
            Candidate(member="far", availability=Availability.AVAILABLE, distance_km=300.0),
            Candidate(
                member="near",
                availability=Availability.CHECKED_OUT,
                due_in_days=1.0,
                distance_km=1.0,
            ),
            Candidate(
                member="nearer",
                availability=Availability.CHECKED_OUT,
                due_in_days=1.0,
                distance_km=0.5,
            ),
        )
        assert DcbAvailability().rank(req, snapshot()).members == ("far", "near", "nearer")

    def test_own_library_decliners_and_unavailable_copies(self) -> None:
        """The requester's own library is skipped unless allowed; a decliner is dropped on
        re-resolution; copies off the shelf only when unavailable items may be chosen."""
        req = request(
            on_shelf("req"),
            on_shelf("gone"),
            Candidate(member="out", availability=Availability.CHECKED_OUT, due_in_days=2.0),
            on_shelf("ok"),
            gone=1,
        )
        assert DcbAvailability().rank(req, snapshot()).members == ("ok", "out")
        assert DcbAvailability(own_library_borrowing=True).rank(req, snapshot()).members == (
            "req",
            "ok",
            "out",
        )
        strict = DcbAvailability(select_unavailable=False).rank(req, snapshot())
        assert strict.members == ("ok",)


class TestEvergreenProximity:
    def test_proximity_tiers_nearest_first(self) -> None:
        """Nearer proximity tiers come first whatever the random draw."""
        req = request(
            on_shelf("p2a", proximity=2),
            on_shelf("p1", proximity=1),
            on_shelf("p2b", proximity=2),
            on_shelf("p0", proximity=0),
        )
        for seed in range(10):
            members = EvergreenProximity(seed=seed).rank(req, snapshot()).members
            assert members[:2] == ("p0", "p1")
            assert set(members[2:]) == {"p2a", "p2b"}

    def test_checked_out_copies_are_not_targeted(self) -> None:
        """Only copies on the shelf (or of unknown status) are targetable."""
        req = request(
            Candidate(member="out", availability=Availability.CHECKED_OUT, due_in_days=1.0),
            Candidate(member="unknown", availability=Availability.UNKNOWN),
        )
        ranking = EvergreenProximity().rank(req, snapshot())
        assert ranking.members == ("unknown",)
        assert ranking.excluded[0].member == "out"

    def test_loops_try_every_library_once_before_any_twice(self) -> None:
        """A library that declined comes after every untried one, even a farther one;
        after ``max_loops`` declines it is out."""
        req = request(on_shelf("near", proximity=0), on_shelf("far", proximity=3), near=1)
        assert EvergreenProximity().rank(req, snapshot()).members == ("far", "near")
        req = req.with_decline("far").with_decline("near")
        assert EvergreenProximity().rank(req, snapshot()).members == ("far",)
        assert EvergreenProximity(max_loops=None).rank(req, snapshot()).members == (
            "near",
            "far",
        )

    def test_weighted_random_inside_a_tier(self) -> None:
        """Inside a tier the draw follows the target weights, and a seed fixes it."""
        req = request(on_shelf("heavy"), on_shelf("light"))
        profiles = [
            MemberProfile(member="heavy", weight=4.0),
            MemberProfile(member="light", weight=1.0),
        ]
        snap = snapshot(profiles=profiles)
        firsts = Counter(
            EvergreenProximity(seed=seed).rank(req, snap).members[0] for seed in range(300)
        )
        assert 210 <= firsts["heavy"] < 270  # expected 240
        assert (
            EvergreenProximity(seed=3).rank(req, snap).members
            == EvergreenProximity(seed=3).rank(req, snap).members
        )


# --- the registry and the explanation ----------------------------------------------------


def test_every_strategy_by_name() -> None:
    """Each shipped name builds its strategy, and an unknown name is refused."""
    for name in STRATEGY_NAMES:
        strategy: LenderStrategy = make_strategy(name, seed=1)
        assert strategy.name == name
        ranking = strategy.rank(request(on_shelf("a"), on_shelf("b")), snapshot())
        assert set(ranking.members) == {"a", "b"}
    with pytest.raises(ValueError, match="unknown lender-selection strategy"):
        make_strategy("round-robin")


def test_explanation_text_and_data() -> None:
    """The text names every lender with its terms and reasons and every exclusion; the
    data form is valid JSON, infinite ratios included."""
    req = request(on_shelf("a"), on_shelf("b"), on_shelf("down"))
    snap = snapshot({"a": owing(0, 3)}, offline=frozenset({"down"}))
    ranking: Ranking = B8.rank(req, snap)
    text = explain(ranking)
    assert text.splitlines()[0] == "fair-share for request r1:"
    assert "   1. a  score" in text
    assert "deficit" in text
    assert "owes 3.0 loans" in text
    assert "left out:" in text
    assert "down: off-line" in text
    data = json.loads(json.dumps(as_dict(CrossLink().rank(req, snap))))
    assert data["rota"][0]["terms"][-1]["value"] == "inf"
    assert data["excluded"] == [
        {"member": "down", "reason": "off-line: its ILS fails the health checks"}
    ]


# --- the benchmark's trace ---------------------------------------------------------------

SMALL = TraceSettings(members=12, days=4, titles=500, requests_per_day=40.0, offline_members=3)


class TestTrace:
    def test_same_seed_same_trace(self) -> None:
        """The generator is deterministic for a seed, and another seed differs."""
        first = generate_trace(11, SMALL)
        assert generate_trace(11, SMALL) == first
        other = generate_trace(12, SMALL)
        assert other.requests != first.requests
        assert other.members != first.members

    def test_trace_shape(self) -> None:
        """Requests are in time order, never held by the borrower, and always have a
        holder; members have unequal sizes, capacities of at least 2 and off-line
        stretches inside the window."""
        trace = generate_trace(11, SMALL)
        assert len(trace.members) == 12
        assert trace.requests
        times = [r.at for r in trace.requests]
        assert times == sorted(times)
        assert all(0 <= t < SMALL.days for t in times)
        for r in trace.requests:
            assert r.holdings
            assert r.borrower not in {h.member for h in r.holdings}
        sizes = [m.size for m in trace.members]
        assert max(sizes) > 2 * min(sizes)
        assert all(m.capacity_per_day >= 2 for m in trace.members)
        assert sum(bool(m.offline) for m in trace.members) == 3
        down = next(m for m in trace.members if m.offline)
        start = down.offline[0][0]
        end = max(end for _, end in down.offline)
        assert down.offline_at(start)
        assert not down.offline_at(end)

    def test_offline_members_send_no_requests(self) -> None:
        """While a member is down its patrons' requests do not reach the gateway."""
        trace = generate_trace(5, SMALL)
        for r in trace.requests:
            assert not trace.members[r.borrower].offline_at(r.at)

    def test_staff_capacities_do_not_follow_borrowing(self) -> None:
        """The two capacity models give different declared capacities."""
        agreed = generate_trace(11, SMALL)
        staffed = generate_trace(11, replace(SMALL, capacity="staff"))
        assert [m.capacity_per_day for m in agreed.members] != [
            m.capacity_per_day for m in staffed.members
        ]
        assert agreed.requests == staffed.requests


class TestReplayDiscovery:
    """What the benchmark's replay lets a strategy see of a holder: the gateway's
    knowledge (live status, its own loans), never the simulator's shelf."""

    def _replay(self, *, registry: bool) -> tuple[Replay, _Open]:
        trace = generate_trace(11, replace(SMALL, live_status_share=0.0))
        request = next(r for r in trace.requests if r.holdings)
        replay = Replay(trace, make_strategy("fair-share"), LenderModel(), registry=registry)
        item = _Open(
            trace=request,
            request=LendingRequest(id=request.id, requester="x", candidates=()),
            holdings={h.member: h for h in request.holdings},
        )
        return replay, item

    def test_a_holder_whose_every_copy_the_gateway_lent_is_out_until_the_first_is_back(
        self,
    ) -> None:
        """Without live status a holder is unknown (and no local holds show through);
        once the gateway has lent every copy it lists, it is checked out until the
        first comes back, and with one copy not lent it is unknown again."""
        replay, item = self._replay(registry=True)
        holding = item.trace.holdings[0]
        day = item.trace.at
        [before] = [
            c for c in replay._candidates(item, day) if c.member == f"m{holding.member:02d}"
        ]
        assert before.availability is Availability.UNKNOWN
        assert before.hold_count == 0
        key = (holding.member, item.trace.title)
        replay.lent_out[key] = [day + 9.0 + k for k in range(holding.copies)]
        [lent] = [c for c in replay._candidates(item, day) if c.member == before.member]
        assert lent.availability is Availability.CHECKED_OUT
        assert lent.due_in_days == pytest.approx(9.0)
        replay.lent_out[key] = replay.lent_out[key][1:]
        [partly] = [c for c in replay._candidates(item, day) if c.member == before.member]
        assert partly.availability is Availability.UNKNOWN

    def test_without_the_registry_a_lent_holder_stays_unknown(self) -> None:
        """``--no-registry``: the same holder, every copy lent, is still unknown."""
        replay, item = self._replay(registry=False)
        holding = item.trace.holdings[0]
        day = item.trace.at
        replay.lent_out[holding.member, item.trace.title] = [day + 9.0] * holding.copies
        [candidate] = [
            c for c in replay._candidates(item, day) if c.member == f"m{holding.member:02d}"
        ]
        assert candidate.availability is Availability.UNKNOWN
