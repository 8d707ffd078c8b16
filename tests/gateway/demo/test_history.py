"""The demo's synthetic history: deterministic, realistic in shape, and played into a
registry at its own times so that a period's report finds it."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.state.base import LoanKind, LoanState
from adapters.state.memory import MemoryStateStore
from gateway.cli import report
from gateway.cli.demo_history import write_report as write_history_report
from gateway.cli.main import main
from gateway.demo.history import Flow, history_days, synthetic_history
from gateway.demo.seed import play_demo_history
from gateway.history.period import Period
from gateway.history.reader import read_period
from tests.gateway.reports.commands import ByHand
from tests.helpers.demo import running_demo

if TYPE_CHECKING:
    from pathlib import Path

END = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
"""A morning early in December: the history of 30 days is exactly November."""


def test_the_same_seed_gives_the_same_history_and_another_seed_another() -> None:
    """Deterministic, so docs and tests can quote it; the seed changes it."""
    first = synthetic_history(end=END, days=30, seed=7)
    assert first == synthetic_history(end=END, days=30, seed=7)
    assert first != synthetic_history(end=END, days=30, seed=8)


def test_thirty_days_before_a_december_morning_are_november() -> None:
    """Whole UTC days before the end's day; nothing happens on or after it."""
    start, stop = history_days(END, 30)
    assert (start, stop) == (Period.month(2026, 11).start, Period.month(2026, 11).end)
    for loan in synthetic_history(end=END, days=30, seed=7):
        assert start <= loan.checked_out < stop
        assert loan.checked_out < loan.due
        for later in (loan.renewed, loan.returned):
            assert later is None or loan.checked_out < later < stop
        if loan.renewed is not None:
            assert loan.renewed_due is not None
            assert loan.renewed_due > loan.due
            assert loan.returned is None or loan.returned > loan.renewed


def test_an_item_is_never_on_loan_twice_at_once() -> None:
    """Each item goes out again only after it came back."""
    by_item: dict[tuple[str, str], list[tuple[datetime, datetime]]] = {}
    for loan in synthetic_history(end=END, days=60, seed=3):
        back = loan.returned or datetime.max.replace(tzinfo=UTC)
        by_item.setdefault((loan.owner, loan.item), []).append((loan.checked_out, back))
    for spans in by_item.values():
        for (_, back), (out, _) in itertools.pairwise(spans):
            assert back <= out


@settings(max_examples=15)
@given(seed=st.integers(0, 2**32), days=st.integers(1, 45))
def test_any_history_keeps_to_its_span_and_its_items(seed: int, days: int) -> None:
    """Whatever the seed and length: every step inside the span and in order, and
    no item out twice at once."""
    start, stop = history_days(END, days)
    out_until: dict[tuple[str, str], datetime] = {}
    for loan in synthetic_history(end=END, days=days, seed=seed):
        assert start <= loan.checked_out < stop
        steps = [loan.checked_out, loan.renewed, loan.returned]
        known = [t for t in steps if t is not None]
        assert known == sorted(known)
        assert known[-1] < stop
        key = (loan.owner, loan.item)
        assert out_until.get(key, start) <= loan.checked_out
        out_until[key] = loan.returned or datetime.max.replace(tzinfo=UTC)


def test_the_month_looks_like_a_consortium_month() -> None:
    """About 13 loans a day; alpha a net borrower, gamma a net lender; one in five a
    library loan; quieter Sundays; a quarter renewed; the newest still out."""
    loans = synthetic_history(end=END, days=56, seed=11)
    assert 56 * 9 < len(loans) < 56 * 17
    lent = Counter(x.owner for x in loans)
    borrowed = Counter(x.home for x in loans)
    assert borrowed["alpha"] > 2 * lent["alpha"]
    assert lent["gamma"] > 3 * borrowed["gamma"]
    kinds = Counter(x.kind for x in loans)
    assert 0.1 < kinds[LoanKind.LIBRARY_LOAN] / len(loans) < 0.3
    weekdays = Counter(x.checked_out.weekday() for x in loans)
    assert weekdays[6] < weekdays[5] / 2
    assert all(9 <= x.checked_out.hour < 20 for x in loans)
    renewed = sum(1 for x in loans if x.renewed is not None)
    assert 0.1 < renewed / len(loans) < 0.35
    assert any(x.returned is None for x in loans)
    assert any(x.returned is not None and x.returned > x.due for x in loans)  # late ones


def test_a_history_needs_days_and_known_libraries() -> None:
    """Zero days, or a library the history has no barcodes for, is refused."""
    with pytest.raises(ValueError, match="at least one day"):
        synthetic_history(end=END, days=0, seed=1)
    with pytest.raises(ValueError, match="'delta'"):
        synthetic_history(end=END, days=3, seed=1, flows=[Flow("alpha", "delta", 1.0)])


async def test_the_history_played_is_the_periods_loans_and_is_played_once() -> None:
    """Every loan is in the registry at its own time, with its renewal and return;
    playing again adds nothing."""
    store = MemoryStateStore()
    played = await play_demo_history(store, days=30, seed=5, end=END)
    expected = synthetic_history(end=END, days=30, seed=5)
    assert played.loans == len(expected)
    found = (await read_period(store, Period.month(2026, 11))).loans
    assert [(x.owner, x.home, x.item, x.checked_out) for x in found] == [
        (x.owner, x.home, x.item, x.checked_out) for x in expected
    ]
    for loan, want in zip(found, expected, strict=True):
        assert loan.kind is want.kind
        assert loan.returned == want.returned
        assert (loan.state is LoanState.RETURNED) == (want.returned is not None)
        assert loan.renewals == (1 if want.renewed is not None else 0)
        assert loan.due == (want.renewed_due or want.due)
    again = await play_demo_history(store, days=30, seed=5, end=END)
    assert again.skipped
    assert len((await read_period(store, Period.month(2026, 11))).loans) == len(expected)


async def test_a_running_demo_takes_its_history_and_reports_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What ``interlend demo --history 3 --report DIR`` does: three days played into the
    running gateway's registry, listed by its admin API at once, and their settlement
    written from that registry (the engine here is the tests' hand-built one)."""
    settle = ByHand()
    monkeypatch.setattr(report, "settle_for_reports", settle)
    with trio.fail_after(30):
        async with running_demo() as demo:
            store = demo.gateway.services.store
            played = await play_demo_history(store, days=3, seed=2)
            assert played.end - played.start == timedelta(days=3)
            async with httpx.AsyncClient() as client:
                answer = await client.get(f"{demo.bound.admin}/api/loans", params={"limit": 200})
            last = (played.end - timedelta(days=1)).date()
            period = Period.parse(f"{played.start.date()}..{last}")
            await write_history_report(demo, period, tmp_path)
    assert answer.status_code == 200
    listed = answer.json()["loans"]
    assert len(listed) == played.loans > 0
    assert {loan["home"] for loan in listed} <= {"alpha", "beta", "gamma"}
    assert all(loan["item"][5:9] == "0001" for loan in listed)  # the history's own items
    assert len(settle.seen[0].loans) == played.loans
    assert (tmp_path / f"settlement-{period.label}.html").exists()
    assert (tmp_path / f"invoices-{period.label}" / "gamma.json").exists()
    assert f"wrote {tmp_path / f'netting-{period.label}.json'}" in capsys.readouterr().out


async def test_without_an_engine_the_demo_runs_on_without_its_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No settlement engine wired: one line says there is no report; nothing written."""
    monkeypatch.setattr(report, "settle_for_reports", None)
    with trio.fail_after(30):
        async with running_demo() as demo:
            await write_history_report(demo, Period.parse("2026-11"), tmp_path / "out")
            assert demo.gateway.services.store is not None
    assert "no report of the history: this build has no settlement engine" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "out").exists()


def test_a_bad_history_is_refused_before_the_demo_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--history -1``, or ``--report`` without a history: one line, exit 2, nothing
    started."""
    assert main(["demo", "--history", "-1", "--sip2-port", "0"]) == 2
    assert capsys.readouterr().err.splitlines() == ["interlend: --history takes 0 to 366 days"]
    assert main(["demo", "--report", str(tmp_path), "--sip2-port", "0"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "interlend: --report needs --history DAYS (it reports them)"
    ]
