"""Usage analytics: known answers on a hand-made history, and properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.state.base import Loan, RefusalRecord
from gateway.analytics.usage import (
    NOT_ITEM_REQUESTS,
    FillRate,
    UsageReport,
    iso_week,
    usage_report,
)
from gateway.circulation.outcomes import RefusalCode
from gateway.history.reader import PeriodLoans

from .history import CLOSED_HOLDS, HISTORY, NOVEMBER, REFUSALS, at, loan

LIBRARIES = ("alpha", "beta", "gamma")
GOALS = {"alpha": 1.0, "beta": 2.0, "gamma": None}


@pytest.fixture(scope="module")
def report() -> UsageReport:
    """The report of the hand-made November."""
    return usage_report(
        HISTORY, REFUSALS, libraries=LIBRARIES, goal_ratios=GOALS, closed_holds=CLOSED_HOLDS
    )


def test_the_flows_matrix_counts_who_lent_to_whom(report: UsageReport) -> None:
    """Alpha lent two to beta and one to gamma; beta and gamma one each to alpha; the
    October loan is outside the period."""
    assert report.loans == 5
    assert report.flows == {
        "alpha": {"beta": 2, "gamma": 1},
        "beta": {"alpha": 1, "gamma": 0},
        "gamma": {"alpha": 1, "beta": 0},
    }


def test_net_positions_against_each_goal(report: UsageReport) -> None:
    """Alpha lent 3 and borrowed 2 (goal 1: one above); beta lent 1, borrowed 2 (goal
    2: three short); gamma lent 1, borrowed 1, with no goal."""
    by = {n.library: n for n in report.net}
    assert (by["alpha"].net, by["alpha"].ratio, by["alpha"].goal_gap) == (1, 1.5, 1.0)
    assert by["alpha"].position == "net lender"
    assert (by["beta"].net, by["beta"].ratio, by["beta"].goal_gap) == (-1, 0.5, -3.0)
    assert by["beta"].position == "net borrower"
    assert (by["gamma"].position, by["gamma"].goal_gap) == ("balanced", None)


def test_fill_rate_counts_item_requests_only(report: UsageReport) -> None:
    """5 loans, 3 refused requests for an item (no lender, fines, the ILS's refusal):
    the wrong PIN and the renewal are not requests; the October refusal is outside."""
    assert report.fill == FillRate(5, 3)
    assert report.fill.rate == pytest.approx(5 / 8)
    assert report.fill_by_borrower["alpha"] == FillRate(2, 1)
    assert report.fill_by_borrower["beta"] == FillRate(2, 1)
    assert report.fill_by_borrower["gamma"] == FillRate(1, 1)
    # A refusal with no lender counts for the borrower only.
    assert report.fill_by_lender["alpha"] == FillRate(3, 1)
    assert report.fill_by_lender["beta"] == FillRate(1, 1)
    assert report.fill_by_lender["gamma"] == FillRate(1, 0)


def test_turnaround_of_returned_loans(report: UsageReport) -> None:
    """Returned: 72, 12, 24 and 48 hours (L3 is still out): mean 39, median 36, p95
    the largest of four."""
    summary = report.turnaround
    assert (summary.count, summary.mean, summary.median, summary.p95) == (4, 39.0, 36.0, 72.0)
    assert report.turnaround_by_lender["alpha"].median == 42.0
    assert report.turnaround_by_lender["gamma"].count == 1
    assert report.to_json()["turnaround"]["by_lender"]["beta"] == {  # type: ignore[index]
        "count": 1,
        "mean_hours": 24.0,
        "median_hours": 24.0,
        "p95_hours": 24.0,
    }


def test_refusals_by_code_and_library(report: UsageReport) -> None:
    """Every refusal in the period by code, per requesting and per asked library."""
    assert report.refusals_by_borrower == {
        "fines": {"gamma": 1},
        "loan-refused": {"beta": 1},
        "no-lender": {"alpha": 1},
        "pin-wrong": {"beta": 1},
        "renewals": {"beta": 1},
    }
    assert report.refusals_by_lender == {
        "fines": {"beta": 1},
        "loan-refused": {"alpha": 1},
        "pin-wrong": {"alpha": 1},
        "renewals": {"alpha": 1},
    }


def test_busiest_hours_and_weeks(report: UsageReport) -> None:
    """Three loans at 9 h, one at 14 h, one at 23 h; November 2026 spans ISO weeks 44
    (Sunday 1st) to 49 (Monday 30th)."""
    assert report.hours[9] == 3
    assert (report.hours[14], report.hours[23], sum(report.hours)) == (1, 1, 5)
    assert [(w.week, w.fill.filled, w.fill.refused) for w in report.weeks] == [
        ("2026-W44", 0, 0),
        ("2026-W45", 3, 2),
        ("2026-W46", 1, 1),
        ("2026-W47", 0, 0),
        ("2026-W48", 0, 0),
        ("2026-W49", 1, 0),
    ]


def test_title_holds_ended_and_their_time_to_fill(report: UsageReport) -> None:
    """November's ends (October's filled one is outside): two filled at beta in 30 and
    10 hours, one withdrawn at beta, one expired at gamma (placed 1 Nov, ended 1 Dec:
    outside too)."""
    assert dict(report.holds.outcomes) == {"filled": 2, "withdrawn": 1, "expired": 0}
    assert (report.holds.time_to_fill.count, report.holds.time_to_fill.median) == (2, 20.0)
    assert dict(report.holds_by_lender["beta"].outcomes) == {
        "filled": 2,
        "withdrawn": 1,
        "expired": 0,
    }
    assert report.holds_by_lender["gamma"].time_to_fill.median is None
    assert report.to_json()["holds"]["consortium"] == {  # type: ignore[index]
        "filled": 2,
        "withdrawn": 1,
        "expired": 0,
        "time_to_fill": {
            "count": 2,
            "mean_hours": 20.0,
            "median_hours": 20.0,
            "p95_hours": 30.0,
        },
    }


def test_the_json_form_has_the_documented_keys(report: UsageReport) -> None:
    """The keys ``docs/analytics.md`` documents, with the consortium's fill rate."""
    data = report.to_json()
    assert set(data) == {
        "period",
        "libraries",
        "loans",
        "flows",
        "net",
        "fill_rate",
        "turnaround",
        "refusals",
        "busiest_hours",
        "weeks",
        "holds",
    }
    assert data["fill_rate"]["consortium"] == {  # type: ignore[index]
        "filled": 5,
        "refused": 3,
        "requests": 8,
        "rate": 0.625,
    }
    assert data["weeks"][1] == {  # type: ignore[index]
        "week": "2026-W45",
        "loans": 3,
        "filled": 3,
        "refused": 2,
        "requests": 5,
        "rate": 0.6,
    }


def test_an_empty_period_has_no_rates_and_lists_every_library() -> None:
    """No loan: rates and turnarounds are ``None``, not zero; libraries still listed."""
    empty = usage_report(PeriodLoans(NOVEMBER, ()), (), libraries=LIBRARIES)
    assert empty.fill.rate is None
    assert empty.turnaround.median is None
    assert [n.library for n in empty.net] == list(LIBRARIES)
    assert empty.net[0].ratio is None


def test_libraries_found_only_in_the_data_are_added() -> None:
    """A library not configured (any more) but in the history is listed after the others."""
    found = usage_report(HISTORY, (), libraries=("beta",))
    assert found.libraries == ("beta", "alpha", "gamma")


def test_the_codes_left_out_of_fill_rate_are_refusal_codes() -> None:
    """``NOT_ITEM_REQUESTS`` names real ``RefusalCode`` values (a rename would fail here)."""
    assert {code.value for code in RefusalCode} >= NOT_ITEM_REQUESTS


def test_iso_weeks_cross_the_year() -> None:
    """1 January 2027 is a Friday of 2026's week 53."""
    assert iso_week(datetime(2027, 1, 1, tzinfo=UTC).date()) == "2026-W53"


MEMBERS = st.sampled_from(LIBRARIES)
MINUTES = st.integers(min_value=0, max_value=30 * 24 * 60 - 1)


@st.composite
def loans(draw: st.DrawFn) -> Loan:
    """A loan between two different libraries checked out in November."""
    owner = draw(MEMBERS)
    home = draw(MEMBERS.filter(lambda m: m != owner))
    out = at(1, 0) + timedelta(minutes=draw(MINUTES))
    hours = draw(st.none() | st.floats(min_value=0, max_value=2000))
    return loan(draw(st.uuids()).hex, owner, home, out, hours)


@st.composite
def refusals(draw: st.DrawFn) -> RefusalRecord:
    """A refusal in November."""
    return RefusalRecord(
        at(1, 0) + timedelta(minutes=draw(MINUTES)),
        draw(st.sampled_from(["checkout", "lend", "hold", "renew"])),
        draw(st.sampled_from([c.value for c in RefusalCode])),
        draw(MEMBERS),
        draw(st.none() | MEMBERS),
    )


@settings(max_examples=60)
@given(st.lists(loans(), max_size=30), st.lists(refusals(), max_size=30))
def test_properties(made: list[Loan], refused: list[RefusalRecord]) -> None:
    """The flows matrix sums to the loans (by row: what each lent; by column: what each
    borrowed); net positions sum to zero; every fill rate is in [0, 1]; the weeks and
    the hours each add up to the loans."""
    report = usage_report(PeriodLoans(NOVEMBER, tuple(made)), refused, libraries=LIBRARIES)
    assert sum(sum(row.values()) for row in report.flows.values()) == len(made)
    for position in report.net:
        assert sum(report.flows[position.library].values()) == position.lent
        assert sum(row.get(position.library, 0) for row in report.flows.values()) == (
            position.borrowed
        )
    assert sum(n.net for n in report.net) == 0
    rates = [report.fill, *report.fill_by_borrower.values(), *report.fill_by_lender.values()]
    rates += [w.fill for w in report.weeks]
    for fill in rates:
        assert fill.rate is None or 0.0 <= fill.rate <= 1.0
    assert sum(w.fill.filled for w in report.weeks) == len(made) == sum(report.hours)
    assert sum(w.fill.refused for w in report.weeks) == report.fill.refused
    assert sum(f.refused for f in report.fill_by_borrower.values()) == report.fill.refused
