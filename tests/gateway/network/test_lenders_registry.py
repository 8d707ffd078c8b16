"""Lender ranking reads the loan registry: a copy the gateway lent to another member is
out until its due date, even at a member whose ILS gives no live status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
import trio
from structlog.testing import capture_logs

from adapters.state.base import Loan, LoanRequest, Reservation, StateUnavailable
from adapters.state.memory import MemoryStateStore
from gateway.network.lenders import lender_candidates, network_loan_dues, rank_lenders
from gateway.network.results import FoundCopy, Lookup
from gateway.network.selection import Availability, Candidate
from gateway.network.selection.model import DCB_LOAN_DAYS
from gateway.runtime.directory import MemberDirectory
from protocols.sip2 import CheckoutResponse, CirculationStatus
from tests.helpers.kiosk import Kiosk, checkout

if TYPE_CHECKING:
    from pathlib import Path

    from gateway.demo.network import Demo

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def on_shelf(member: str, item: str) -> FoundCopy:
    """A copy its ILS just said is on the shelf."""
    return FoundCopy(
        member=member,
        item=item,
        title="T",
        lookup=Lookup.LIVE,
        circulation_status=CirculationStatus.AVAILABLE,
    )


def charged(member: str, item: str) -> FoundCopy:
    """A copy its ILS just said is out."""
    return FoundCopy(
        member=member,
        item=item,
        title="T",
        lookup=Lookup.LIVE,
        circulation_status=CirculationStatus.CHARGED,
    )


def holdings_only(member: str, item: str) -> FoundCopy:
    """A copy known from the holdings index alone (no live status)."""
    return FoundCopy(member=member, item=item, title="T", lookup=Lookup.NOT_CHECKED)


def due(days: float) -> datetime:
    """``days`` after ``NOW``."""
    return NOW + timedelta(days=days)


class TestLenderCandidates:
    def test_without_registry_loans_the_live_status_decides(self) -> None:
        """With nothing lent through the gateway: on the shelf is available, out is
        checked out without a date, holdings only is unknown."""
        found = [on_shelf("a", "a1"), charged("b", "b1"), holdings_only("c", "c1")]
        assert lender_candidates(found, {}, now=NOW) == (
            Candidate(member="a", availability=Availability.AVAILABLE),
            Candidate(member="b", availability=Availability.CHECKED_OUT),
            Candidate(member="c", availability=Availability.UNKNOWN),
        )

    def test_a_holdings_only_copy_the_gateway_lent_is_out_until_its_due_date(self) -> None:
        """A member without live status whose every copy is on a loan the gateway made
        is checked out, due when its first copy is due."""
        found = [holdings_only("c", "c1"), holdings_only("c", "c2")]
        lent = {("c", "c1"): due(9.0), ("c", "c2"): due(4.5)}
        [candidate] = lender_candidates(found, lent, now=NOW)
        assert candidate.availability is Availability.CHECKED_OUT
        assert candidate.due_in_days == pytest.approx(4.5)

    def test_one_copy_the_gateway_knows_nothing_of_keeps_the_member_unknown(self) -> None:
        """One copy lent through the gateway, another with no word at all: the second
        may be on the shelf, so the member stays unknown."""
        found = [holdings_only("c", "c1"), holdings_only("c", "c2")]
        [candidate] = lender_candidates(found, {("c", "c1"): due(9.0)}, now=NOW)
        assert candidate.availability is Availability.UNKNOWN

    def test_a_copy_on_the_shelf_wins_over_lent_ones(self) -> None:
        """A member with a copy its ILS says is on the shelf is available, whatever
        else it has lent."""
        found = [holdings_only("a", "a1"), on_shelf("a", "a2")]
        [candidate] = lender_candidates(found, {("a", "a1"): due(3.0)}, now=NOW)
        assert candidate.availability is Availability.AVAILABLE

    def test_the_registry_dates_a_copy_its_ils_calls_out(self) -> None:
        """A live 'out' copy on a gateway loan gets that loan's due date (overdue is
        negative); one out without a registry loan leaves the date unknown."""
        dated = lender_candidates([charged("b", "b1")], {("b", "b1"): due(-2.0)}, now=NOW)
        assert dated[0].availability is Availability.CHECKED_OUT
        assert dated[0].due_in_days == pytest.approx(-2.0)
        mixed = lender_candidates(
            [charged("b", "b1"), holdings_only("b", "b2")], {("b", "b2"): due(6.0)}, now=NOW
        )
        assert mixed[0].availability is Availability.CHECKED_OUT
        assert mixed[0].due_in_days is None


class Recording:
    """Network loans that remember what they were asked (and may be away)."""

    def __init__(self, loans: dict[tuple[str, str], Loan], *, away: bool = False) -> None:
        self.loans = loans
        self.away = away
        self.asked: list[tuple[str, str]] = []

    async def active_loan(self, owner: str, item: str) -> Loan | None:
        self.asked.append((owner, item))
        if self.away:
            raise StateUnavailable("Redis failed (registry): connection refused")
        return self.loans.get((owner, item))


async def lend(store: MemoryStateStore, owner: str, item: str, *, days: float) -> Loan:
    """A loan of ``owner``'s ``item`` to beta's patron, committed in the registry."""
    request = LoanRequest(
        owner=owner,
        home="beta",
        item=item,
        patron_key="p" * 32,
        proxy_patron="ILL-beta",
        terminal="beta-kiosk",
        idempotency_key=f"{owner}|{item}",
        cap_at_owner=None,
        cap_total=None,
    )
    reservation = await store.reserve(request, now=NOW)
    assert isinstance(reservation, Reservation)
    return await store.commit(reservation, due=due(days), now=NOW)


async def test_dues_come_from_the_registrys_active_loans() -> None:
    """The memory registry's active loans give their due dates; a returned loan and a
    copy never lent give none."""
    store = MemoryStateStore()
    await lend(store, "c", "c1", days=12.0)
    await lend(store, "c", "c2", days=5.0)
    await store.close("c", "c2", now=NOW)
    found = [holdings_only("c", "c1"), holdings_only("c", "c2"), holdings_only("c", "c3")]
    assert await network_loan_dues(store, found) == {("c", "c1"): due(12.0)}


async def test_copies_on_the_shelf_are_not_looked_up() -> None:
    """Only copies whose ILS did not just say 'on the shelf' are asked about, each
    once."""
    loans = Recording({})
    found = [on_shelf("a", "a1"), charged("b", "b1"), holdings_only("c", "c1")]
    await network_loan_dues(loans, [*found, holdings_only("c", "c1")])
    assert sorted(loans.asked) == [("b", "b1"), ("c", "c1")]


SHARED = (
    "member,item,title,isbn\n"
    "beta,31002000000009,A Title Lent Through The Gateway,9780306406157\n"
    "gamma,31003000000009,A Title Lent Through The Gateway,9780306406157\n"
)


async def test_ranking_dates_a_copy_lent_through_the_gateway(demo: Demo, tmp_path: Path) -> None:
    """Over a real demo: gamma's copy lent to an alpha patron at a kiosk is checked out
    with the registry's due date; with the registry away the ranking still comes, its
    status the ILS's alone, and the miss is logged."""
    export = tmp_path / "shared.csv"
    export.write_text(SHARED, encoding="utf-8")
    services = demo.gateway.services
    services.holdings.load_csv(export)
    with trio.fail_after(15):
        kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
        lent = await kiosk.expect(checkout("21001000000001", "31003000000009"), CheckoutResponse)
        assert lent.ok
        loan = await services.store.active_loan("gamma", "31003000000009")
        assert loan is not None
        directory = MemberDirectory(*demo.gateway.current())
        ranked = await rank_lenders(
            directory,
            services.holdings,
            services.counters,
            requester="alpha",
            isbn="9780306406157",
            loans=services.store,
        )
        with capture_logs() as logs:
            blind = await rank_lenders(
                directory,
                services.holdings,
                services.counters,
                requester="alpha",
                isbn="9780306406157",
                loans=Recording({}, away=True),
            )
    found = {c.member: c for c in ranked.ranking.lenders}
    assert list(found) == ["beta", "gamma"]  # on the shelf before out on loan
    gamma = next(t for t in found["gamma"].terms if t.name == "readiness")
    expected = (loan.due - datetime.now(UTC)).total_seconds() / 86400
    assert gamma.value == pytest.approx(expected, abs=0.01)
    blind_readiness = next(
        t
        for lender in blind.ranking.lenders
        if lender.member == "gamma"
        for t in lender.terms
        if t.name == "readiness"
    )
    assert blind_readiness.value == DCB_LOAN_DAYS  # out, no date: DCB's 28 days
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == [
        "network loans not read for lender ranking"
    ]
