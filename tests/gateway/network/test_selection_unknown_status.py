"""B8 and holders without a live status: the shelf estimate, the share such a lender
gets when routed over a small hand-made trace, the explanation, and (property) that no
strategy ever picks a member that may not be asked."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.network.selection import (
    STRATEGY_NAMES,
    Availability,
    Candidate,
    CounterBook,
    CounterReading,
    FairShare,
    FairShareSettings,
    LendingRequest,
    MemberProfile,
    MemberStats,
    Snapshot,
    explain,
    make_strategy,
)
from gateway.network.selection.estimate import PASS_DAYS, ShelfEstimate, estimate_shelf

DAY = 86400.0
B8 = FairShare(FairShareSettings(tie_margin=0.0))


def holder(
    member: str,
    availability: Availability,
    *,
    due_in_days: float | None = None,
    hold_count: int = 0,
) -> Candidate:
    """A holder 10 km away with the given live status."""
    return Candidate(
        member=member,
        availability=availability,
        due_in_days=due_in_days,
        hold_count=hold_count,
        distance_km=10.0,
    )


def test_estimate_follows_laplaces_rule() -> None:
    """p = (on shelf + 1) / (known + 2); an on-shelf copy with holds queued is not lendable
    now; unknown holders are not evidence."""
    candidates = [
        holder("a", Availability.AVAILABLE),
        holder("b", Availability.AVAILABLE),
        holder("c", Availability.CHECKED_OUT, due_in_days=4.0),
        holder("d", Availability.AVAILABLE, hold_count=1),
        holder("e", Availability.UNKNOWN),
    ]
    estimate = estimate_shelf(candidates)
    assert estimate == ShelfEstimate(on_shelf=2, known=4)
    assert estimate.probability == pytest.approx(3 / 6)
    assert estimate.expected_delay_days(0.5) == pytest.approx(0.5 * (PASS_DAYS + 0.5))
    assert estimate.expected_delay_days(-1.0) == pytest.approx(0.5 * PASS_DAYS)


def test_without_any_known_holder_the_chance_is_even() -> None:
    """With no holder reporting a live status, the prior alone: one chance in two."""
    assert estimate_shelf([holder("x", Availability.UNKNOWN)]).probability == 0.5


def test_readiness_of_an_unknown_copy_is_its_expected_delay() -> None:
    """A holder without live status among three on-shelf copies loses (1 - 4/5) x
    (1 day + 2 days of queue) = 0.6 days, weighted by w_readiness; the explanation
    gives the estimate and where it comes from."""
    req = LendingRequest(
        id="r1",
        requester="req",
        candidates=(
            holder("a", Availability.AVAILABLE),
            holder("b", Availability.AVAILABLE),
            holder("c", Availability.AVAILABLE),
            holder("u", Availability.UNKNOWN),
        ),
    )
    snap = Snapshot(
        now=0.0,
        profiles={"u": MemberProfile(member="u", capacity_per_day=5)},
        reading=CounterReading(stats={"u": MemberStats(open_assigned=10)}),
    )
    ranking = B8.rank(req, snap)
    unknown = next(lender for lender in ranking.lenders if lender.member == "u")
    readiness = next(t for t in unknown.terms if t.name == "readiness")
    assert readiness.value == pytest.approx(0.6)
    assert readiness.contribution == pytest.approx(-0.5 * 0.6)
    assert "without live status" in readiness.note
    assert (
        "no live status: on the shelf with estimated chance 0.80 "
        "(3 of 3 holders with live status have it on the shelf)"
    ) in unknown.reasons
    assert "estimated chance 0.80" in explain(ranking)
    known = next(lender for lender in ranking.lenders if lender.member == "a")
    assert not any("live status" in reason for reason in known.reasons)


def _route(book: CounterBook, requests: list[tuple[str, list[Candidate]]]) -> dict[str, int]:
    """Each request goes to B8's first lender, which fills it at once; loans per lender."""
    loans = dict.fromkeys({c.member for _, cands in requests for c in cands}, 0)
    for serial, (borrower, candidates) in enumerate(requests):
        now = serial * DAY / 20
        members = [c.member for c in candidates]
        snap = Snapshot(now=now, profiles={}, reading=book.read(members, now))
        first = B8.rank(
            LendingRequest(id=f"r{serial}", requester=borrower, candidates=tuple(candidates)),
            snap,
        ).first()
        assert first is not None
        book.assigned(first.member, now)
        book.filled(first.member, borrower, 4.0, now)
        loans[first.member] += 1
    return loans


def test_a_lender_without_live_status_gets_its_share() -> None:
    """Three members borrow alike from each other; ``quiet`` never reports a live status,
    the others always show the copy on the shelf.  ``quiet`` still lends about what its
    patrons borrow (it used to lend almost nothing: an unknown copy counted as 3 days
    out, which outweighed any deficit between two candidates)."""
    shelf, unknown = Availability.AVAILABLE, Availability.UNKNOWN
    members = {"north": shelf, "south": shelf, "quiet": unknown}
    trace = [
        (borrower, [holder(m, status) for m, status in members.items() if m != borrower])
        for _ in range(100)
        for borrower in members
    ]
    book = CounterBook()
    loans = _route(book, trace)
    assert sum(loans.values()) == 300
    # Each member borrowed 100; a fair share is 100 loans each.
    assert 85 <= loans["quiet"] <= 115, loans
    assert all(85 <= count <= 115 for count in loans.values()), loans


# --- property: never a member that may not be asked -------------------------------------

_MEMBERS = ("m0", "m1", "m2", "m3", "m4", "m5")


@st.composite
def situations(draw: st.DrawFn) -> tuple[LendingRequest, Snapshot]:
    """A request over some of ``_MEMBERS`` with random statuses, declines, off-line
    members, capacities (0: not lending) and counters."""
    holders = draw(st.lists(st.sampled_from(_MEMBERS), unique=True, max_size=len(_MEMBERS)))
    candidates = tuple(
        Candidate(
            member=member,
            availability=draw(st.sampled_from(Availability)),
            due_in_days=draw(st.none() | st.floats(-5.0, 30.0)),
            hold_count=draw(st.integers(0, 2)),
            distance_km=draw(st.none() | st.floats(0.0, 500.0)),
        )
        for member in holders
    )
    declines = {m: draw(st.integers(0, 3)) for m in holders}
    request = LendingRequest(id="p", requester="req", candidates=candidates, declines=declines)
    profiles = {
        m: MemberProfile(member=m, capacity_per_day=draw(st.none() | st.integers(0, 20)))
        for m in _MEMBERS
    }
    stats = {
        m: MemberStats(
            lends=draw(st.floats(0.0, 200.0)),
            borrows=draw(st.floats(0.0, 200.0)),
            assigned=draw(st.floats(0.0, 50.0)),
            filled=draw(st.floats(0.0, 50.0)),
            open_assigned=draw(st.integers(0, 40)),
        )
        for m in _MEMBERS
    }
    offline = frozenset(draw(st.lists(st.sampled_from(_MEMBERS), unique=True)))
    snapshot = Snapshot(
        now=0.0, profiles=profiles, reading=CounterReading(stats=stats), offline=offline
    )
    return request, snapshot


@settings(max_examples=60, deadline=None)
@given(situations(), st.sampled_from(STRATEGY_NAMES))
def test_no_strategy_picks_a_member_that_may_not_be_asked(
    situation: tuple[LendingRequest, Snapshot], name: str
) -> None:
    """Whatever the counters say, every lender in a rota holds the title, is on-line and
    lending; B8 never asks a member that declined ``max_loops`` times; B8 and Evergreen
    never ask a member that declined before one that declined less, and the others never
    come back to a decliner."""
    request, snapshot = situation
    ranking = make_strategy(name).rank(request, snapshot)
    holders = {c.member for c in request.candidates}
    for lender in ranking.lenders:
        assert lender.member in holders
        assert lender.member not in snapshot.offline
        assert snapshot.profile(lender.member).capacity_per_day != 0
    if name == "fair-share":
        limit = FairShareSettings().max_loops
        assert limit is not None
        assert all(request.declined(m) < limit for m in ranking.members)
    if name in {"fair-share", "evergreen-proximity"}:
        declines = [request.declined(m) for m in ranking.members]
        assert declines == sorted(declines)
    else:  # ReShare, CrossLink and DCB never come back to a decliner
        assert all(request.declined(m) == 0 for m in ranking.members)


def test_an_unknown_copys_claim_counts_in_full() -> None:
    """The deficit of a member without live status counts in full, owing or ahead: the
    risk that its copy is out is priced once, by the expected delay, so a member that
    owes loans is asked first when that delay is small."""
    req = LendingRequest(
        id="r1",
        requester="req",
        candidates=(
            holder("a", Availability.AVAILABLE),
            holder("b", Availability.CHECKED_OUT, due_in_days=2.0),
            holder("owes", Availability.UNKNOWN),
            holder("ahead", Availability.UNKNOWN),
        ),
    )
    stats = {
        "a": MemberStats(lends=10.0, borrows=10.0),
        "b": MemberStats(lends=10.0, borrows=10.0),
        "owes": MemberStats(lends=0.0, borrows=30.0),
        "ahead": MemberStats(lends=30.0, borrows=0.0),
    }
    ranking = B8.rank(req, Snapshot(now=0.0, profiles={}, reading=CounterReading(stats=stats)))
    terms = {lender.member: {t.name: t for t in lender.terms} for lender in ranking.lenders}
    # Shortfalls log((gB + 1) / (L + 1)): 0, 0, +log 31, -log 31; their median is 0 and
    # the median absolute deviation log(31) / 2.
    z = math.log(31) / (1.4826 * math.log(31) / 2)
    assert terms["owes"]["deficit"].value == pytest.approx(math.log(31))
    assert terms["owes"]["deficit"].contribution == pytest.approx(z)
    assert terms["ahead"]["deficit"].contribution == pytest.approx(-z)
    assert terms["a"]["deficit"].contribution == pytest.approx(0.0)
    # One of two known holders on the shelf: p = 2/4, so half a pass day expected lost.
    expected_delay = (1 - 2 / 4) * PASS_DAYS
    assert terms["owes"]["readiness"].value == pytest.approx(expected_delay)
    assert ranking.members == ("owes", "a", "b", "ahead")
