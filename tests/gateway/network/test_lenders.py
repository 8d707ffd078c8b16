"""Who should lend: holders of a title ranked by the lender-selection strategies."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import trio

from gateway.network.lenders import LendingCounters
from gateway.network.selection import MemorySelectionCounters
from protocols.sip2 import CheckinResponse, CheckoutResponse
from tests.helpers.kiosk import Kiosk, checkin, checkout
from tests.helpers.polling import eventually

if TYPE_CHECKING:
    from pathlib import Path

    from gateway.demo.network import Demo

SHARED = (
    "member,item,title\n"
    "alpha,31001000000007,A Shared Title\n"
    "beta,31002000000007,A Shared Title\n"
    "gamma,31003000000007,A Shared Title\n"
)


async def ask(demo: Demo, **query: str) -> tuple[int, dict[str, Any]]:
    assert demo.bound.admin is not None
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{demo.bound.admin.rstrip('/')}/api/lenders", params=query, timeout=10
        )
    return answer.status_code, answer.json()


@pytest.mark.parametrize(
    "strategy",
    ["fair-share", "reshare-ratio", "crosslink", "dcb-availability", "evergreen-proximity"],
)
async def test_holders_are_ranked_with_reasons(demo: Demo, tmp_path: Path, strategy: str) -> None:
    """Every strategy ranks or leaves out each holder of a title, and gives each ranked
    lender its terms or reasons."""
    export = tmp_path / "shared.csv"
    export.write_text(SHARED, encoding="utf-8")
    demo.gateway.services.holdings.load_csv(export)
    with trio.fail_after(10):
        status, ranked = await ask(demo, requester="alpha", title="shared title", strategy=strategy)
    assert status == 200
    ranking = ranked["ranking"]
    assert ranking["strategy"] == strategy
    rota = ranking["rota"]
    lenders = [entry["member"] for entry in rota]
    ruled_out = [entry["member"] for entry in ranking["excluded"]]
    assert sorted(lenders + ruled_out) == ["alpha", "beta", "gamma"]
    assert lenders, ranking
    assert all(entry["terms"] or entry["reasons"] for entry in rota), ranking
    assert {r["member"] for r in ranked["discovery"]["results"]} == {"alpha", "beta", "gamma"}


async def counted(demo: Demo, member: str, field: str, value: float) -> None:
    """Wait until ``member``'s counter ``field`` is ``value``: the outbox's consumer
    reports what the test did when it gets to it, off the request path."""
    counters = demo.gateway.services.counters.counters

    async def reached() -> bool:
        stats = (await counters.read([member], now=time.time())).stats[member]
        return bool(getattr(stats, field) == pytest.approx(value, abs=0.01))

    await eventually(reached, what=f"{member}'s {field} to be {value}")


async def test_loans_between_members_feed_the_counters_off_the_request_path(demo: Demo) -> None:
    """A reciprocal loan counts as a lend for the owner and a borrowing for the home
    library (a local loan does not), and its return takes both back."""
    with trio.fail_after(15):
        kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
        lent = await kiosk.expect(checkout("21001000000001", "31002000000001"), CheckoutResponse)
        own = await kiosk.expect(checkout("21002000000001", "31002000000002"), CheckoutResponse)
        assert lent.ok
        assert own.ok
        await counted(demo, "beta", "lifetime_lends", 1)  # not the local loan
        await counted(demo, "alpha", "lifetime_borrows", 1)
        await counted(demo, "beta", "active_lends", 1)
        back = await kiosk.expect(checkin("31002000000001"), CheckinResponse)
        assert back.ok
        await counted(demo, "beta", "active_lends", 0)
        await counted(demo, "alpha", "active_borrows", 0)


async def test_bad_questions_are_400(demo: Demo) -> None:
    """A missing or unknown requester, a missing title or ISBN, and an unknown strategy
    are each a 400 (the last one lists the strategies)."""
    assert (await ask(demo, title="x"))[0] == 400  # no requester
    assert (await ask(demo, requester="nowhere", title="x"))[0] == 400
    assert (await ask(demo, requester="alpha"))[0] == 400
    status, body = await ask(demo, requester="alpha", title="x", strategy="coin-toss")
    assert status == 400
    assert "fair-share" in body["error"]


async def test_counters_record_a_loan_and_its_return() -> None:
    """A loan counts as active and lent; its return leaves it lent but no longer
    active."""
    counters = LendingCounters()
    await counters.record_loan("beta", "alpha")
    before = await counters.counters.read(["beta"], now=time.time())
    await counters.record_return("beta", "alpha")
    after = await counters.counters.read(["beta"], now=time.time())
    assert before.stats["beta"].active_lends == 1
    assert after.stats["beta"].active_lends == 0
    assert after.stats["beta"].lifetime_lends == 1


async def test_counters_that_cannot_be_updated_never_fail_the_loan() -> None:
    """With the counters' store away, recording a loan, a return or a request returns
    without raising: the loan already made never fails for it."""
    from adapters.state.base import StateUnavailable

    class Away(MemorySelectionCounters):
        async def record_requested(self, borrower: str, *, now: float) -> None:
            raise StateUnavailable("Redis failed (selection): connection refused")

        async def record_returned(self, lender: str, borrower: str, *, now: float) -> None:
            raise StateUnavailable("Redis failed (selection): connection refused")

    counters = LendingCounters(Away())
    await counters.record_loan("beta", "alpha")
    await counters.record_return("beta", "alpha")
    await counters.record_request("alpha", "beta")
