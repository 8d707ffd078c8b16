"""The admin port over real HTTP: paging of ``/api/loans`` and the checks that keep a
GET from changing anything at a member ILS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import pytest
import trio

from adapters.state.base import LoanRequest, Reservation
from gateway.admin import LOANS_LISTED

if TYPE_CHECKING:
    from adapters.state.base import StateStore
    from gateway.demo import Demo

TIMEOUT = 15


async def get(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.get(url, headers=headers)


async def lend(store: StateStore, count: int) -> list[str]:
    """Make ``count`` returned loans of beta items to alpha in the registry; their ids,
    newest first (returned, so that the caps never count them)."""
    now = datetime.now(UTC)
    ids = []
    for n in range(count):
        item = f"31002{n:09d}"
        held = await store.reserve(
            LoanRequest(
                owner="beta",
                home="alpha",
                item=item,
                patron_key="k",
                proxy_patron="ILL-alpha",
                terminal="admin-test",
                idempotency_key=f"admin-test-{n}",
                cap_at_owner=None,
                cap_total=None,
            ),
            now=now,
        )
        assert isinstance(held, Reservation)
        loan = await store.commit(held, due=now + timedelta(days=14), now=now)
        await store.close("beta", item, now=now)
        ids.append(loan.loan_id)
    return ids[::-1]


# --- /api/loans ---------------------------------------------------------------------------


async def test_loans_come_a_page_at_a_time_and_say_what_follows(demo: Demo) -> None:
    """``limit`` and ``offset`` walk the loans newest first; each page says how many it
    holds, whether more follow and where the next page starts."""
    base = demo.bound.admin
    with trio.fail_after(TIMEOUT):
        ids = await lend(demo.gateway.runtime.store, 7)
        first = (await get(f"{base}/api/loans?limit=3")).json()
        second = (await get(f"{base}/api/loans?limit=3&offset={first['next']}")).json()
        last = (await get(f"{base}/api/loans?limit=3&offset={second['next']}")).json()
        whole = (await get(f"{base}/api/loans")).json()
    assert (first["returned"], first["limit"], first["offset"]) == (3, 3, 0)
    assert (first["more"], first["next"]) == (True, 3)
    assert (second["returned"], second["more"], second["next"]) == (3, True, 6)
    assert (last["returned"], last["more"], last["next"]) == (1, False, None)
    walked = [loan["loan_id"] for page in (first, second, last) for loan in page["loans"]]
    assert walked == ids
    assert whole["limit"] == 50
    assert [loan["loan_id"] for loan in whole["loans"]] == ids
    assert not whole["more"]


async def test_a_page_never_holds_more_than_the_maximum(demo: Demo) -> None:
    """A limit past the maximum is cut to 200 and the answer says so; the pages stop at
    the 1,000 most recent loans (``more`` still says older ones exist)."""
    base = demo.bound.admin
    with trio.fail_after(TIMEOUT):
        await lend(demo.gateway.runtime.store, LOANS_LISTED + 1)
        big = (await get(f"{base}/api/loans?limit=100000")).json()
        deepest = (await get(f"{base}/api/loans?limit=200&offset={LOANS_LISTED - 200}")).json()
    assert (big["limit"], big["returned"], big["more"], big["next"]) == (200, 200, True, 200)
    assert (deepest["returned"], deepest["more"], deepest["next"]) == (200, True, None)


@pytest.mark.parametrize(
    "query", ["limit=many", "offset=first", "offset=-1", f"offset={LOANS_LISTED}"]
)
async def test_a_page_that_cannot_be_given_is_a_400(demo: Demo, query: str) -> None:
    """Limits and offsets that are not whole numbers, or outside the listed loans."""
    with trio.fail_after(TIMEOUT):
        answer = await get(f"{demo.bound.admin}/api/loans?{query}")
    assert answer.status_code == 400
    assert answer.json()["error"]


# --- GETs change nothing at the members ---------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "api/discover?item=31002000000001%7CAOgamma",
        "api/discover?item=31002000000001%0D11YN20261123%20%20%20%20120000",
        "api/discover?title=Beta%0ABook",
        "api/discover?isbn=9780000000002%00",
        f"api/discover?item=31002{'0' * 300}",
        "api/lenders?requester=alpha&title=Beta%7CBook",
        "api/lenders?requester=alpha&isbn=978%0D",
    ],
    ids=["delimiter", "cr", "lf", "nul", "long", "lenders-delimiter", "lenders-cr"],
)
async def test_lookups_refuse_what_could_reach_a_member_as_another_field(
    demo: Demo, query: str
) -> None:
    """A value with a SIP2 field delimiter, a control character (a CR would end the
    SIP2 message and start another), or past the length limit is a 400, and no member
    ILS was asked anything."""
    before = {m: len(sim.executed) for m, sim in demo.simulators.items()}
    with trio.fail_after(TIMEOUT):
        answer = await get(f"{demo.bound.admin}/{query}")
    assert answer.status_code == 400
    assert "must not hold" in answer.json()["error"] or "longer than" in answer.json()["error"]
    asked = {m: sim.executed[before[m] :] for m, sim in demo.simulators.items()}
    assert all("17" not in codes and "11" not in codes for codes in asked.values()), asked


async def test_a_clean_lookup_still_asks_the_owner(demo: Demo) -> None:
    """The allowed case: a plain barcode is looked up live at its owner (a 17)."""
    with trio.fail_after(TIMEOUT):
        answer = await get(f"{demo.bound.admin}/api/discover?item=31002000000001")
    assert answer.status_code == 200
    assert answer.json()["results"][0]["source"] == "live"
    assert "17" in demo.simulators["beta"].executed
