"""The hold watch on its own: the periodic loop the daemon runs, on trio's fake clock,
and how a lender's answer about a copy is read."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from importlib import resources
from typing import TYPE_CHECKING

import pytest
import trio

from adapters.ils.base import ItemRecord
from adapters.ledger.memory import MemoryLedger
from adapters.state.base import TitleHold
from adapters.state.memory import MemoryStateStore
from config.loader import load_consortium
from gateway.circulation.holdwatch import (
    CHECK_INTERVAL_S,
    check_title_holds,
    seen_at_lender,
    watch_title_holds,
)
from gateway.runtime.clock import utc_now
from gateway.runtime.rules import build_rules
from gateway.runtime.services import Services
from protocols.sip2 import CirculationStatus, ItemInformationResponse, SecurityMarker
from tests.helpers.polling import eventually

if TYPE_CHECKING:
    from gateway.demo.network import Demo


def _hold(hold_id: str, lender: str, *, age: timedelta) -> TitleHold:
    placed = utc_now() - age
    return TitleHold(
        hold_id, "alpha", lender, "31002000000001", "ILL-alpha", placed, placed + timedelta(days=30)
    )


async def test_the_watch_checks_at_each_interval(autojump_clock: trio.abc.Clock) -> None:
    """The loop checks at once and then every interval: an expired hold at a lender that
    has left the configuration is closed by the first check, one opened after it by
    the next (each counted and recorded once); an unexpired one waits."""
    consortium = load_consortium(str(resources.files("config") / "demo.toml"), check_secrets=False)
    rules = build_rules(consortium, {})
    store = MemoryStateStore()
    services = Services(members={}, store=store, ledger=MemoryLedger())
    await store.title_hold_open(_hold("old", "omega", age=timedelta(days=31)))
    await store.title_hold_open(_hold("young", "omega", age=timedelta(days=1)))

    async def expired_closed() -> bool:
        return [h.hold_id for h in await store.title_holds_open()] == ["young"]

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch_title_holds, lambda: (rules, services))
        await eventually(expired_closed, what="the first check")
        started = trio.current_time()
        await store.title_hold_open(_hold("later", "omega", age=timedelta(days=40)))
        await eventually(
            expired_closed, timeout=2 * CHECK_INTERVAL_S, every=10, what="the next check"
        )
        assert trio.current_time() - started >= CHECK_INTERVAL_S - 1
        nursery.cancel_scope.cancel()
    now = utc_now()
    kept = await store.refusals_between(now - timedelta(days=1), now + timedelta(days=1))
    assert [(r.code, r.owner) for r in kept] == [("hold-expired", "omega")] * 2


def _record(status: CirculationStatus, queue: int | None, *, found: bool = True) -> ItemRecord:
    answer = ItemInformationResponse(
        circulation_status=status,
        security_marker=SecurityMarker.NONE,
        fee_type=1,
        transaction_date=utc_now(),
        hold_queue_length=queue,
        item_identifier="31002000000001",
        title_identifier="A Title",
    )
    return ItemRecord(found=found, circulation_status=int(status), response=answer)


@pytest.mark.parametrize(
    ("record", "ended"),
    [
        (_record(CirculationStatus.AVAILABLE, 0), "hold-withdrawn"),
        (_record(CirculationStatus.OTHER, None, found=False), "hold-withdrawn"),
        (_record(CirculationStatus.CHARGED, 0), "hold-filled"),
        (_record(CirculationStatus.AVAILABLE, 1), None),
        (_record(CirculationStatus.AVAILABLE, None), None),
        (_record(CirculationStatus.WAITING_ON_HOLD_SHELF, 1), None),
        (_record(CirculationStatus.CHARGED, 1), None),
        (_record(CirculationStatus.IN_TRANSIT, 0), None),
        (ItemRecord(found=True, circulation_status=3), None),
    ],
    ids=[
        "shelf-no-queue",
        "unknown",
        "out-no-queue",
        "queued",
        "queue-not-said",
        "hold-shelf",
        "out-queued",
        "in-transit",
        "ncip",
    ],
)
def test_a_hold_ends_only_when_the_lender_says_so(record: ItemRecord, ended: str | None) -> None:
    """Withdrawn: the copy unknown, or on the shelf with no hold queued; filled: out with
    no hold queued (lent at the lender's desk).  Anything else, or an ILS that does not
    say its queue (NCIP here), leaves the hold open until it expires."""
    assert seen_at_lender(record) == ended


async def test_an_expired_hold_is_cancelled_at_its_lender_once(demo: Demo) -> None:
    """Two gateways sharing the registry (``serve --workers 2``) check the same expired
    hold at once: it is ended once, and only the gateway that ended it asks the lender
    to cancel it."""
    rules, services = demo.gateway.current()
    await services.store.title_hold_open(_hold("expired", "beta", age=timedelta(days=31)))
    lender = demo.simulators["beta"]
    before = lender.executed.count("15")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for _ in range(2):
                nursery.start_soon(partial(check_title_holds, rules, services, now=utc_now()))
    assert await services.store.title_holds_open() == []
    assert lender.executed.count("15") == before + 1
