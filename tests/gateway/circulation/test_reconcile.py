"""Reconciliation on the in-memory registry, against simulated ILSs over real sockets
(alpha over SIP2 17, beta over NCIP LookupItem, gamma down)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

import trio

from adapters.state.base import LoanRequest, Reservation, patron_key
from adapters.state.memory import MemoryStateStore
from config.loader import load_consortium, resolve_secrets
from gateway.circulation.reconcile import Finding, LoanCheck, Reconciliation, reconcile
from gateway.demo.simulator.data import packaged_library
from gateway.demo.simulator.engine import SimulatedIls
from gateway.demo.simulator.ncip_server import serve_simulator_ncip
from gateway.demo.simulator.sip2_server import serve_simulator
from gateway.runtime.members import MemberHandle, build_members
from tests.helpers.members import PASSWORD_ENV, write_config
from tests.helpers.services import dead_port

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from adapters.ils.base import ItemRecord
    from adapters.state.base import Loan, StateStore

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
PATRON = patron_key(b"secret", "gamma", "21003000000001")


def loan_request(owner: str, item: str) -> LoanRequest:
    """A visitor from gamma borrowing ``item`` at ``owner``."""
    return LoanRequest(
        owner=owner,
        home="gamma",
        item=item,
        patron_key=PATRON,
        proxy_patron="ILL-gamma",
        terminal=f"{owner}-kiosk",
        idempotency_key=f"{owner}|{item}",
        cap_at_owner=None,
        cap_total=None,
    )


async def lend(store: StateStore, owner: str, item: str) -> Loan:
    """A registry loan made at T0."""
    held = await store.reserve(loan_request(owner, item), now=T0)
    assert isinstance(held, Reservation)
    return await store.commit(held, due=T0 + timedelta(days=21), now=T0)


async def hold(store: StateStore, owner: str, item: str) -> None:
    """A slot held at T0 and never finished (its gateway lost the owner's answer)."""
    assert isinstance(await store.reserve(loan_request(owner, item), now=T0), Reservation)


async def test_reconcile_lists_then_fixes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Returned loans are closed, a lent slot committed with the ILS's due date, a slot
    never lent released; an unknown item and a dead ILS are left for a person."""
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    alpha = SimulatedIls(packaged_library("alpha"), "s3cret")
    beta = SimulatedIls(packaged_library("beta"), "s3cret")
    out = alpha.library.items
    out["31001000000001"].holder = "ILL-gamma"  # agrees
    out["31001000000004"].holder = "ILL-gamma"  # the held slot was lent
    out["31001000000004"].due = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)
    beta.library.items["31002000000001"].holder = "ILL-gamma"  # agrees
    beta.library.items["31002000000002"].holds.append("21002000000005")  # on the hold shelf
    store = MemoryStateStore(hold_ttl_s=300)
    returned_at_alpha = await lend(store, "alpha", "31001000000002")
    for owner, item in [
        ("alpha", "31001000000001"),
        ("alpha", "31001999999999"),
        ("beta", "31002000000001"),
        ("beta", "31002000000002"),
        ("gamma", "31003000000001"),
    ]:
        await lend(store, owner, item)
    await hold(store, "alpha", "31001000000004")
    await hold(store, "alpha", "31001000000005")
    async with trio.open_nursery() as nursery:
        sip2 = await nursery.start(serve_simulator, alpha)
        ncip = await nursery.start(serve_simulator_ncip, beta)
        path = write_config(
            tmp_path / "interlend.toml",
            alpha=f"{sip2[0]}:{sip2[1]}",
            beta=f"http://{ncip[0]}:{ncip[1]}/ncip",
            gamma=f"127.0.0.1:{dead_port()}",
        )
        consortium = load_consortium(path)
        members = build_members(consortium, resolve_secrets(consortium)[0])
        clients = {m: h.ils for m, h in members.items()}
        run = partial(
            reconcile,
            store,
            clients,
            owners=("alpha", "beta", "gamma"),
            now=NOW,
            timeouts=dict.fromkeys(clients, 5.0),
            loan_days=dict.fromkeys(clients, 21),
        )
        with trio.fail_after(30):
            listed = await run(fix=False)
            assert len(await store.owner_active_loans("alpha")) == 3
            fixed = await run(fix=True)
            again = await run(fix=False)
        for handle in members.values():
            if handle.supervised is not None:
                await handle.supervised.aclose()
        nursery.cancel_scope.cancel()

    loans = {(c.loan.owner, c.loan.item): c for c in listed.loans}
    assert {k: c.finding for k, c in loans.items()} == {
        ("alpha", "31001000000002"): Finding.RETURNED,
        ("alpha", "31001000000001"): Finding.AGREES,
        ("alpha", "31001999999999"): Finding.UNKNOWN_ITEM,
        ("beta", "31002000000001"): Finding.AGREES,
        ("beta", "31002000000002"): Finding.RETURNED,
        ("gamma", "31003000000001"): Finding.UNREACHABLE,
    }
    assert loans[("beta", "31002000000002")].detail == "waiting on hold shelf"
    holds = {c.request.item: c.finding for c in listed.holds}
    assert holds == {"31001000000004": Finding.LENT, "31001000000005": Finding.NOT_LENT}
    assert not any(c.fixed for c in listed.loans)
    assert not any(c.fixed for c in listed.holds)

    assert sorted((c.loan.item, c.fixed) for c in fixed.loans if c.fixed) == [
        ("31001000000002", True),
        ("31002000000002", True),
    ]
    closed = await store.loan(returned_at_alpha.loan_id)
    assert closed is not None
    assert closed.returned == NOW
    (lent,) = [c for c in fixed.holds if c.finding is Finding.LENT]
    assert lent.fixed
    assert lent.loan is not None
    assert lent.loan.due == datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)
    assert await store.active_loan("alpha", "31001000000004") == lent.loan
    assert await store.unconfirmed(now=NOW) == []
    left = {(c.loan.owner, c.loan.item) for c in fixed.disagreements if isinstance(c, LoanCheck)}
    assert len(left) == len(fixed.disagreements)
    assert left == {("alpha", "31001999999999"), ("gamma", "31003000000001")}

    assert {(c.loan.item, c.finding) for c in again.loans if c.finding is not Finding.AGREES} == {
        ("31001999999999", Finding.UNKNOWN_ITEM),
        ("31003000000001", Finding.UNREACHABLE),
    }
    assert again.holds == []


async def test_fix_leaves_alone_a_loan_made_after_the_owner_was_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The item of a registry loan is returned at a kiosk and lent again through the
    gateway while reconcile waits for the owner's answer (shelved, for the first loan):
    ``--fix`` must not close the new loan, which the owner's ILS never saw returned."""
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    alpha = SimulatedIls(packaged_library("alpha"), "s3cret")
    item = "31001000000002"
    store = MemoryStateStore(hold_ttl_s=300)
    first = await lend(store, "alpha", item)
    again: list[Loan] = []
    async with trio.open_nursery() as nursery:
        sip2 = await nursery.start(serve_simulator, alpha)
        path = write_config(
            tmp_path / "interlend.toml",
            alpha=f"{sip2[0]}:{sip2[1]}",
            beta=f"http://127.0.0.1:{dead_port()}/ncip",
        )
        consortium = load_consortium(path)
        members = build_members(consortium, resolve_secrets(consortium)[0])
        client = members["alpha"].ils
        ask = client.item_information

        async def answer_then_lend_again(wanted: str, *, timeout: float) -> ItemRecord:
            record = await ask(wanted, timeout=timeout)
            # Meanwhile, at a kiosk: the first loan returned, the item lent to another.
            await store.close("alpha", item, now=T0 + timedelta(minutes=30))
            other = replace(loan_request("alpha", item), idempotency_key="second")
            held = await store.reserve(other, now=T0 + timedelta(minutes=31))
            assert isinstance(held, Reservation)
            again.append(await store.commit(held, due=NOW + timedelta(days=21), now=NOW))
            return record

        monkeypatch.setattr(client, "item_information", answer_then_lend_again)
        fixed = await _fix_alpha(store, members)
        nursery.cancel_scope.cancel()

    (check,) = fixed.loans
    active = await store.active_loan("alpha", item)
    assert check.loan.loan_id == first.loan_id
    assert not check.fixed
    assert active is not None
    assert active.loan_id == again[0].loan_id
    assert active.returned is None


async def test_fix_does_not_claim_a_slot_a_gateway_finished_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unconfirmed slot the owner shows on the shelf is finished as a loan by its
    gateway (the kiosk resent the checkout) while reconcile waits for the answer:
    ``--fix`` neither releases it nor says it did; it is left for a person."""
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    alpha = SimulatedIls(packaged_library("alpha"), "s3cret")
    item = "31001000000005"
    store = MemoryStateStore(hold_ttl_s=300)
    await hold(store, "alpha", item)
    finished: list[Loan] = []
    async with trio.open_nursery() as nursery:
        sip2 = await nursery.start(serve_simulator, alpha)
        path = write_config(
            tmp_path / "interlend.toml",
            alpha=f"{sip2[0]}:{sip2[1]}",
            beta=f"http://127.0.0.1:{dead_port()}/ncip",
        )
        consortium = load_consortium(path)
        members = build_members(consortium, resolve_secrets(consortium)[0])
        client = members["alpha"].ils
        ask = client.item_information

        async def answer_then_finish(wanted: str, *, timeout: float) -> ItemRecord:
            record = await ask(wanted, timeout=timeout)
            # Meanwhile the kiosk resends: its gateway finishes the held slot.
            held = await store.reserve(loan_request("alpha", item), now=NOW)
            assert isinstance(held, Reservation)
            finished.append(await store.commit(held, due=NOW + timedelta(days=21), now=NOW))
            return record

        monkeypatch.setattr(client, "item_information", answer_then_finish)
        fixed = await _fix_alpha(store, members)
        nursery.cancel_scope.cancel()

    (check,) = fixed.holds
    assert check.finding is Finding.NOT_LENT
    assert not check.fixed
    assert check.loan == finished[0]
    assert fixed.disagreements == [check]
    assert await store.active_loan("alpha", item) == finished[0]


async def _fix_alpha(store: MemoryStateStore, members: dict[str, MemberHandle]) -> Reconciliation:
    """``reconcile --fix`` of alpha's loans and holds, then the members' clients closed."""
    with trio.fail_after(30):
        fixed = await reconcile(
            store,
            {m: h.ils for m, h in members.items()},
            owners=("alpha",),
            fix=True,
            now=NOW,
            timeouts={"alpha": 5.0},
            loan_days={"alpha": 21},
        )
    for handle in members.values():
        if handle.supervised is not None:
            await handle.supervised.aclose()
    return fixed
