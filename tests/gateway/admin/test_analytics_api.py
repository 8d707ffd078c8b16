"""``/api/analytics/usage`` and ``/api/analytics/collection`` over real HTTP, against the
demo network after real checkouts and refusals at its kiosks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import trio

from gateway.circulation.outcomes import RefusalCode
from protocols.sip2 import CheckoutResponse, HoldResponse
from tests.gateway.circulation.test_title_holds import title_hold
from tests.helpers.kiosk import Kiosk, checkout

if TYPE_CHECKING:
    from pathlib import Path

    from gateway.demo.network import Demo

EXPORT = (
    "member,item,title,isbn\n"
    "beta,31002000000005,A Shared Title,9780306406157\n"
    "gamma,31003000000005,A Shared Title,9780306406157\n"
    "alpha,31001000000005,Aardvarks Only At Alpha,\n"
)


async def test_usage_and_collection_after_real_traffic(demo: Demo, tmp_path: Path) -> None:
    """An alpha patron borrows a beta item at beta's kiosk; a blocked alpha patron is
    refused there; a title nobody holds is refused at alpha.  The usage API counts the
    loan in the flows and both refusals in the fill rate; the collection API reads the
    holdings export and the loan; malformed parameters are 400s.  The registry kept
    each refusal with its code and libraries; a local checkout's refusal (alpha's
    patron at alpha: the ILS's own business) is not kept."""
    export = tmp_path / "holdings.csv"
    export.write_text(EXPORT, encoding="utf-8")
    demo.gateway.services.holdings.load_csv(export)
    with trio.fail_after(15):
        beta = await Kiosk.logged_in(demo, "beta-kiosk")
        lent = await beta.expect(checkout("21001000000002", "31002000000005"), CheckoutResponse)
        refused = await beta.expect(checkout("21001000000099", "31002000000006"), CheckoutResponse)
        alpha = await Kiosk.logged_in(demo, "alpha-kiosk")
        hold = await alpha.expect(title_hold("A Title Nobody Has"), HoldResponse)
        local = await alpha.expect(checkout("21001000000099", "31001000000003"), CheckoutResponse)
        assert demo.bound.admin is not None
        base = demo.bound.admin.rstrip("/")
        today = datetime.now(UTC).date()
        span = f"{today - timedelta(days=1)}..{today + timedelta(days=1)}"
        async with httpx.AsyncClient(timeout=5) as client:
            usage = await client.get(f"{base}/api/analytics/usage", params={"period": span})
            month = await client.get(f"{base}/api/analytics/usage")
            collection = await client.get(f"{base}/api/analytics/collection")
            bad = [
                await client.get(f"{base}/api/analytics/usage", params={"period": "2026-13"}),
                await client.get(f"{base}/api/analytics/collection", params={"many": "0"}),
                await client.get(f"{base}/api/analytics/collection", params={"period": "x"}),
                await client.get(
                    f"{base}/api/analytics/usage", params={"period": "2020-01-01..2026-01-01"}
                ),
            ]
    assert lent.ok, lent.screen_messages
    assert not refused.ok
    assert not hold.ok
    assert not local.ok
    now = datetime.now(UTC)
    kept = await demo.gateway.services.store.refusals_between(now - timedelta(days=1), now)
    assert [(r.flow, r.home, r.owner) for r in kept] == [
        ("checkout", "alpha", "beta"),
        ("hold", "alpha", None),
    ]
    assert kept[0].code in {RefusalCode.BLOCKED_AT_HOME.value, RefusalCode.FINES.value}
    assert kept[1].code == RefusalCode.NO_LENDER.value
    assert usage.status_code == 200
    data = usage.json()
    assert data["period"] == span
    assert data["loans"] == 1
    assert data["flows"]["beta"]["alpha"] == 1
    assert data["fill_rate"]["consortium"]["filled"] == 1
    assert data["fill_rate"]["consortium"]["refused"] == 2
    assert data["refusals"]["by_borrower"]["no-lender"] == {"alpha": 1}
    assert {n["library"]: n["net"] for n in data["net"]} == {"alpha": -1, "beta": 1, "gamma": 0}
    assert month.status_code == 200
    assert month.json()["period"] == today.strftime("%Y-%m")
    assert collection.status_code == 200
    held = collection.json()
    assert held["period"] == f"{today - timedelta(days=364)}..{today}"
    assert held["overlap"]["beta"]["gamma"] == 1
    assert held["top_borrowed_titles"][0]["title"] == "A Shared Title"
    # The demo's members export their own catalogues too, and each list holds the first
    # titles by name: the test's title sorts first among alpha's.
    assert held["unique_titles"]["alpha"][0] == "Aardvarks Only At Alpha"
    assert "A Shared Title" not in held["unique_titles"]["alpha"]
    for answer in bad:
        assert answer.status_code == 400
        assert answer.json()["error"]
