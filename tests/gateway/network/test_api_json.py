"""The JSON of ``/api/discover`` and ``/api/lenders``: every key, in order, with the
values these routes have always returned, whatever discovery and ranking return inside
the gateway (typed results, rendered only at the HTTP edge)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import trio

from protocols.sip2 import CheckoutResponse
from tests.helpers.kiosk import Kiosk, checkout

if TYPE_CHECKING:
    from pathlib import Path

    from gateway.demo.network import Demo

EXPORT = (
    "member,item,title,isbn,author,location\n"
    "beta,31002000000004,Shape Title,978-0-306-40615-7,An Author,beta-export-shelf\n"
    "beta,31002000000005,Shape Title,,,\n"
    "beta,31002000000777,Shape Title,,,\n"
    "gamma,31003000000004,Shape Title,,,\n"
)
"""One copy of each kind: on the shelf, on loan, gone from its ILS, at a member that is
down."""

COPIES: list[dict[str, Any]] = [
    {
        "member": "beta",
        "item": "31002000000004",
        "title": "Beta Book 4",
        "isbn": "9780306406157",
        "author": "An Author",
        "location": "beta-stacks",
        "status": "available",
        "available": True,
        "source": "live",
    },
    {
        "member": "beta",
        "item": "31002000000005",
        "title": "Beta Book 5",
        "isbn": None,
        "author": None,
        "location": "beta-stacks",
        "status": "charged",
        "available": False,
        "source": "live",
    },
    {
        "member": "beta",
        "item": "31002000000777",
        "title": "Shape Title",
        "isbn": None,
        "author": None,
        "location": None,
        "status": "not found",
        "available": None,
        "source": "index",
    },
    {
        "member": "gamma",
        "item": "31003000000004",
        "title": "Shape Title",
        "isbn": None,
        "author": None,
        "location": None,
        "status": "not checked",
        "available": None,
        "source": "index",
    },
]
"""The ``results`` entries of ``EXPORT``, by item, as the API has always written them."""

RANKING: dict[str, Any] = {
    "strategy": "fair-share",
    "request": "alpha:shape title",
    "rota": [
        {
            "member": "beta",
            "position": 1,
            "score": 0.8,
            "terms": [
                {
                    "name": "deficit",
                    "value": 0.0,
                    "contribution": 0.0,
                    "note": "log((goal ratio x decayed borrows + 1) / (decayed loans + 1))",
                },
                {
                    "name": "queue",
                    "value": 0.0,
                    "contribution": 0.0,
                    "note": "days of queued work: open requests / capacity per day",
                },
                {
                    "name": "turnaround",
                    "value": 0.0,
                    "contribution": 0.0,
                    "note": "hours from assignment to shipping, shrunk to the consortium's median",
                },
                {
                    "name": "fill_rate",
                    "value": 0.8,
                    "contribution": 0.8,
                    "note": "Bayesian fill rate",
                },
                {
                    "name": "distance",
                    "value": 0.0,
                    "contribution": 0.0,
                    "note": "km from the pickup location",
                },
                {
                    "name": "readiness",
                    "value": 0.0,
                    "contribution": 0.0,
                    "note": "days until the copy is available",
                },
            ],
            "reasons": [
                "not asked yet",
                "network priority 0, cost 0",
                "owes 0.0 loans",
                "score +0.80",
            ],
        }
    ],
    "excluded": [{"member": "gamma", "reason": "off-line: its ILS fails the health checks"}],
}
"""Fair-share's ranking of ``EXPORT`` for alpha with no lending counted yet: beta alone
(its copy on the shelf), gamma left out (its ILS down)."""


async def answer(demo: Demo, tmp_path: Path, route: str, **query: str) -> dict[str, Any]:
    """The admin API's answer at ``route`` to ``query`` over ``EXPORT``, once beta's item
    5 is on loan (to a beta patron: no lending between members) and gamma's ILS is down."""
    export = tmp_path / "shape.csv"
    export.write_text(EXPORT, encoding="utf-8")
    demo.gateway.services.holdings.load_csv(export)
    assert demo.bound.admin is not None
    with trio.fail_after(10):
        kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
        lent = await kiosk.expect(checkout("21002000000001", "31002000000005"), CheckoutResponse)
        assert lent.ok
        demo.stop_ils("gamma")
        async with httpx.AsyncClient() as client:
            reply = await client.get(
                f"{demo.bound.admin.rstrip('/')}/api/{route}", params=query, timeout=10
            )
    assert reply.status_code == 200
    found: dict[str, Any] = reply.json()
    return found


def check_discovery(found: dict[str, Any], query: dict[str, str | None]) -> None:
    """``found`` has the keys, order and values discovery's JSON has always had."""
    assert list(found) == ["query", "results", "members", "unreachable", "partial", "elapsed_ms"]
    assert found["query"] == query
    assert list(found["query"]) == ["item", "isbn", "title"]
    results = sorted(found["results"], key=lambda r: str(r["item"]))
    assert results == COPIES
    assert all(list(r) == list(COPIES[0]) for r in results)
    assert found["members"] == ["beta"]
    [down] = found["unreachable"]
    assert list(down) == ["member", "name", "detail"]
    assert down["member"] == "gamma"
    assert down["name"] == "Gamma College Library"
    assert isinstance(down["detail"], str)
    assert down["detail"]
    assert found["partial"] is True
    assert isinstance(found["elapsed_ms"], int)


async def test_the_discover_json_keeps_its_shape(demo: Demo, tmp_path: Path) -> None:
    """``/api/discover`` writes every kind of copy (on the shelf, on loan, gone from its
    ILS, at a member that is down) and the unreachable member with the same keys, in
    the same order, with the same values as it always has."""
    found = await answer(demo, tmp_path, "discover", title="shape title")
    check_discovery(found, {"item": None, "isbn": None, "title": "shape title"})


async def test_the_lenders_json_keeps_its_shape(demo: Demo, tmp_path: Path) -> None:
    """``/api/lenders`` writes the discovery it ranked (as ``/api/discover`` does) and
    the strategy's ranking (rota with terms and reasons, exclusions) as it always has."""
    ranked = await answer(demo, tmp_path, "lenders", requester="alpha", title="shape title")
    assert list(ranked) == ["discovery", "ranking"]
    check_discovery(ranked["discovery"], {"item": None, "isbn": None, "title": "shape title"})
    assert ranked["ranking"] == RANKING
    assert list(ranked["ranking"]) == list(RANKING)
    [lender] = ranked["ranking"]["rota"]
    assert list(lender) == ["member", "position", "score", "terms", "reasons"]
    assert all(list(t) == ["name", "value", "contribution", "note"] for t in lender["terms"])
