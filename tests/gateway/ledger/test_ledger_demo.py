"""The embedded ledger end to end: the demo anchors its loans on an in-process chain and
``/api/loans/{id}/proof`` proves them."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import trio

from protocols.sip2 import CheckinResponse, CheckoutResponse, RenewResponse
from tests.helpers.demo import running_demo, short_timeouts
from tests.helpers.kiosk import Kiosk, checkin, checkout, renew
from tests.helpers.polling import eventually

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from config.models import Config
    from gateway.demo.network import Demo

pytestmark = pytest.mark.slow

TIMEOUT = 20


def with_ledger(**changes: Any) -> Callable[[Config], Config]:
    """The demo configuration with ``[gateway.ledger]`` changed (and short time-outs)."""

    def adjust(config: Config) -> Config:
        config = short_timeouts(config)
        ledger = config.gateway.ledger.model_copy(update={"backend": "embedded", **changes})
        gateway = config.gateway.model_copy(update={"ledger": ledger})
        return config.model_copy(update={"gateway": gateway})

    return adjust


@pytest.fixture
async def quick_ledger() -> AsyncIterator[Demo]:
    """The demo with its embedded chain anchoring every 0.2 s."""
    async with running_demo(with_ledger(batch_interval_s=0.2)) as demo:
        yield demo


async def _proof(
    base: str, loan_id: str, *, until: int | None = None, events: int = 0
) -> httpx.Response:
    """The proof of a loan; polled until it answers ``until`` with ``events`` events
    (the batch is anchored when the worker gets to it)."""
    async with httpx.AsyncClient(timeout=5) as client:

        async def proof() -> httpx.Response | None:
            answer = await client.get(f"{base}/api/loans/{loan_id}/proof")
            if (until is None or answer.status_code == until) and (
                not events or len(answer.json().get("events", ())) >= events
            ):
                return answer
            return None

        return await eventually(proof, timeout=TIMEOUT, every=0.05, what="the proof")


async def test_a_reciprocal_loan_is_proven_within_seconds(quick_ledger: Demo) -> None:
    """A checkout at a kiosk is anchored on the embedded chain and verifies at the proof
    endpoint; its renewal and checkin follow, and every event verifies."""
    demo = quick_ledger
    base = demo.bound.admin
    assert base is not None
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
        lent = await kiosk.expect(checkout("21001000000001", "31002000000001"), CheckoutResponse)
        assert lent.ok
        [loan] = await demo.gateway.services.store.active_loans(
            demo.gateway.rules.patron_key("alpha", "21001000000001")
        )
        answer = await _proof(base, loan.loan_id, until=200)
        proof = answer.json()
        assert proof["status"] == "verified"
        assert proof["verified"] is True
        assert proof["complete"] is True
        [event] = proof["events"]
        assert event["kind"] == "checkout"
        assert event["anchor"]["member_id"] == "interlend"
        assert event["anchor"]["tx_hash"] == event["receipt"]["tx_hash"]
        assert event["anchor"]["block_number"] == event["receipt"]["block_number"]
        assert "21001000000001" not in answer.text  # no barcode anywhere
        assert "31002000000001" not in answer.text

        renewed = await kiosk.expect(renew("21001000000001", "31002000000001"), RenewResponse)
        assert renewed.ok
        returned = await kiosk.expect(checkin("31002000000001"), CheckinResponse)
        assert returned.ok
        proof = (await _proof(base, loan.loan_id, events=3)).json()
        assert [e["kind"] for e in proof["events"]] == ["checkout", "renew", "checkin"]
        assert proof["verified"] is True
        assert proof["complete"] is True
        # The ledger worker fed the lending counters as it read the events.
        counters = demo.gateway.services.counters.counters
        stats = (await counters.read(["beta"], now=time.time())).stats["beta"]
        assert (stats.lifetime_lends, stats.active_lends) == (1, 0)

        async with httpx.AsyncClient(timeout=5) as client:
            unknown = await client.get(f"{base}/api/loans/no-such-loan/proof")
            stats = (await client.get(f"{base}/api/ledger")).json()
            metrics = (await client.get(f"{base}/metrics")).text
            page = (await client.get(f"{base}/")).text
            settlements = (await client.get(f"{base}/api/settlements")).json()
    assert settlements["supported"] is True
    assert settlements["proposers"] == ["interlend"]  # the gateway proposes
    assert settlements["rounds"] == []
    assert unknown.status_code == 404
    assert stats["backend"] == "embedded"
    assert stats["member_id"] == "interlend"
    assert stats["events_anchored"] >= 3
    assert stats["last_error"] is None
    assert "interlend_ledger_up 1.0" in metrics
    assert "interlend_ledger_anchored_events" in metrics
    assert "embedded, member interlend" in page


async def test_a_loan_not_yet_anchored_is_202() -> None:
    """Until its batch is anchored a loan's proof answers 202 (pending)."""
    with trio.fail_after(TIMEOUT):
        async with running_demo(with_ledger(batch_interval_s=3600)) as demo:
            base = demo.bound.admin
            assert base is not None
            kiosk = await Kiosk.logged_in(demo, "alpha-kiosk")
            lent = await kiosk.expect(
                checkout("21002000000001", "31001000000001"), CheckoutResponse
            )
            assert lent.ok
            [loan] = await demo.gateway.services.store.recent_loans(1)
            answer = await _proof(base, loan.loan_id)
    assert answer.status_code == 202
    assert answer.json()["status"] == "pending"


async def test_without_a_ledger_the_proof_is_404() -> None:
    """With ``backend = "none"`` events go to the in-memory queue; there is no proof."""
    with trio.fail_after(TIMEOUT):
        async with running_demo(with_ledger(backend="none")) as demo:
            base = demo.bound.admin
            assert base is not None
            async with httpx.AsyncClient(timeout=5) as client:
                answer = await client.get(f"{base}/api/loans/x/proof")
                stats = (await client.get(f"{base}/api/ledger")).json()
                settlements = await client.get(f"{base}/api/settlements")
    assert demo.gateway.ledger_worker is None
    assert answer.status_code == 404
    assert settlements.status_code == 404
    assert settlements.json() == {"error": "no ledger: gateway.ledger.backend is none"}
    assert stats["backend"] == "none"
