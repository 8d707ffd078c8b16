"""The state store contract: reservations, caps, idempotency, renewals, history.

Every test taking ``store`` runs on the in-memory store and on a real Redis.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import trio
import trio.testing

from adapters.ledger.base import LoanEventKind
from adapters.ledger.records import seal_batch
from adapters.state.base import (
    BatchEntry,
    CapExceeded,
    Loan,
    LoanKind,
    LoanRequest,
    LoanState,
    OutboxEntry,
    PendingBatch,
    Reservation,
    SelectionEvent,
    SelectionTallies,
    SelectionTally,
    StateBackend,
    patron_key,
)
from adapters.state.memory import MemoryStateStore
from tests.helpers.polling import eventually
from tests.state.conftest import SHORT_HOLD_TTL_S, SHORT_UNCONFIRMED_KEPT_S

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
SHORT_S = 0.25
"""A span of real time the stores measure themselves (Redis's idle times and key
expiry): long against the few steps a test takes inside it on a loaded machine, short
enough to wait for.  Tests wait for what it brings by polling, never by sleeping."""
DUE = T0 + timedelta(days=21)
SECRET = b"registry-test-secret"
ALICE = patron_key(SECRET, "beta", "21002000000001")
BOB = patron_key(SECRET, "beta", "21002000000002")


def request(
    item: str = "31001000000001",
    *,
    patron: str = ALICE,
    owner: str = "alpha",
    home: str = "beta",
    key: str | None = None,
    cap_at_owner: int | None = None,
    cap_total: int | None = None,
    quota: int | None = None,
) -> LoanRequest:
    """A reciprocal checkout request (the idempotency key defaults to owner+patron+item)."""
    return LoanRequest(
        owner=owner,
        home=home,
        item=item,
        patron_key=patron,
        proxy_patron=f"ILL-{home}",
        terminal="alpha",
        idempotency_key=key if key is not None else f"{owner}|{patron}|{item}|0",
        cap_at_owner=cap_at_owner,
        cap_total=cap_total,
        quota_at_owner=quota,
    )


async def held(store: StateBackend, loan_request: LoanRequest) -> Reservation:
    """Reserve and insist that a fresh slot was held."""
    reservation = await store.reserve(loan_request, now=T0)
    assert isinstance(reservation, Reservation)
    assert reservation.existing is None
    assert reservation.token
    return reservation


async def lend(
    store: StateBackend, loan_request: LoanRequest, now: datetime = T0, due: datetime = DUE
) -> Loan:
    """Reserve and commit in one go."""
    return await store.commit(await held(store, loan_request), due=due, now=now)


# --- patron_key -----------------------------------------------------------------------


def test_patron_key_is_deterministic_hex_of_32_chars() -> None:
    """The same secret, home and barcode always give the same 32 hex characters."""
    first = patron_key(SECRET, "beta", "21002000000001")
    assert first == patron_key(SECRET, "beta", "21002000000001")
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert "21002000000001" not in first


def test_patron_key_differs_per_secret_home_and_barcode() -> None:
    """Changing any input changes the key (a card of two libraries is two patrons)."""
    base = patron_key(SECRET, "beta", "21002000000001")
    assert patron_key(b"another-secret", "beta", "21002000000001") != base
    assert patron_key(SECRET, "gamma", "21002000000001") != base
    assert patron_key(SECRET, "beta", "21002000000002") != base


def test_patron_key_separates_home_from_barcode() -> None:
    """Home and barcode are delimited: ("ab", "c") and ("a", "bc") are not confused."""
    assert patron_key(SECRET, "ab", "c") != patron_key(SECRET, "a", "bc")


# --- reserve, commit, release -----------------------------------------------------------


async def test_reserve_then_commit_makes_an_active_loan(store: StateBackend) -> None:
    """A committed reservation is an active loan with the request's facts."""
    loan_request = request()
    reservation = await held(store, loan_request)
    assert reservation.request == loan_request
    loan = await store.commit(reservation, due=DUE, now=T0)
    assert loan.state is LoanState.ACTIVE
    assert (loan.owner, loan.home, loan.item) == ("alpha", "beta", "31001000000001")
    assert loan.patron_key == ALICE
    assert loan.proxy_patron == "ILL-beta"
    assert loan.terminal == "alpha"
    assert loan.checked_out == T0
    assert loan.due == DUE
    assert loan.renewals == 0
    assert loan.returned is None
    assert await store.active_loan("alpha", "31001000000001") == loan
    assert await store.active_loans(ALICE) == [loan]


async def test_owner_active_loans_lists_an_owners_open_loans_oldest_first(
    store: StateBackend,
) -> None:
    """Only the owner's loans, only active ones, oldest first (what reconcile reads)."""
    second = await lend(store, request("31001000000002"), now=T0 + timedelta(minutes=1))
    first = await lend(store, request("31001000000001"), now=T0)
    returned = await lend(store, request("31001000000003"), now=T0)
    await store.close("alpha", returned.item, now=T0 + timedelta(minutes=2))
    await lend(store, request("31002000000001", owner="beta", home="gamma"))
    assert await store.owner_active_loans("alpha") == [first, second]
    assert await store.owner_active_loans("nobody") == []


async def test_reservations_get_distinct_tokens(store: StateBackend) -> None:
    """Two held slots are told apart by their tokens."""
    first = await held(store, request("31001000000001"))
    second = await held(store, request("31001000000002"))
    assert first.token != second.token


async def test_release_gives_the_slot_back(store: StateBackend) -> None:
    """A released reservation no longer counts toward the caps and makes no loan."""
    reservation = await held(store, request("31001000000001", cap_at_owner=1))
    refused = await store.reserve(request("31001000000002", cap_at_owner=1), now=T0)
    assert isinstance(refused, CapExceeded)
    await store.release(reservation)
    await held(store, request("31001000000002", cap_at_owner=1))
    assert await store.active_loan("alpha", "31001000000001") is None
    assert await store.active_loans(ALICE) == []


async def test_release_twice_or_of_an_unknown_token_is_harmless(store: StateBackend) -> None:
    """Releasing is idempotent."""
    reservation = await held(store, request(cap_total=1))
    await store.release(reservation)
    await store.release(reservation)
    await store.release(Reservation("no-such-token", request()))
    await held(store, request("31001000000002", cap_total=1))


# --- caps ------------------------------------------------------------------------------


async def test_cap_at_owner_counts_loans_and_held_reservations(store: StateBackend) -> None:
    """The per-owner cap counts active loans and held slots at that owner."""
    await lend(store, request("31001000000001"))
    await held(store, request("31001000000002"))
    refused = await store.reserve(request("31001000000003", cap_at_owner=2), now=T0)
    assert refused == CapExceeded(scope="owner", cap=2, count=2)


async def test_cap_at_owner_ignores_loans_from_other_owners(store: StateBackend) -> None:
    """Loans from another library do not count toward this owner's cap."""
    await lend(store, request("31003000000001", owner="gamma"))
    await lend(store, request("31003000000002", owner="gamma"))
    reservation = await store.reserve(request("31001000000001", cap_at_owner=1), now=T0)
    assert isinstance(reservation, Reservation)


async def test_cap_total_counts_every_owner_and_held_reservations(store: StateBackend) -> None:
    """The total cap counts loans from every owner plus held slots."""
    await lend(store, request("31001000000001"))
    await lend(store, request("31003000000001", owner="gamma"))
    await held(store, request("31004000000001", owner="delta"))
    refused = await store.reserve(request("31001000000002", cap_at_owner=10, cap_total=3), now=T0)
    assert refused == CapExceeded(scope="total", cap=3, count=3)


async def test_owner_cap_is_checked_before_total_cap(store: StateBackend) -> None:
    """When both caps are reached the owner cap is reported."""
    await lend(store, request("31001000000001"))
    refused = await store.reserve(request("31001000000002", cap_at_owner=1, cap_total=1), now=T0)
    assert isinstance(refused, CapExceeded)
    assert refused.scope == "owner"


async def test_caps_are_per_patron(store: StateBackend) -> None:
    """Another patron's loans do not count toward this patron's caps."""
    await lend(store, request("31001000000001", patron=BOB))
    await held(store, request("31001000000002", patron=BOB))
    reservation = await store.reserve(
        request("31001000000003", cap_at_owner=1, cap_total=1), now=T0
    )
    assert isinstance(reservation, Reservation)
    assert reservation.existing is None


async def test_returned_loans_do_not_count_toward_caps(store: StateBackend) -> None:
    """Closing a loan frees its slot."""
    await lend(store, request("31001000000001"))
    assert isinstance(
        await store.reserve(request("31001000000002", cap_total=1), now=T0), CapExceeded
    )
    await store.close("alpha", "31001000000001", now=T0 + timedelta(days=1))
    assert isinstance(
        await store.reserve(request("31001000000002", cap_total=1), now=T0), Reservation
    )


async def test_no_cap_means_no_limit(store: StateBackend) -> None:
    """``None`` caps never refuse."""
    for n in range(1, 30):
        await lend(store, request(f"310010000000{n:02d}"))
    assert len(await store.active_loans(ALICE)) == 29


async def test_a_cap_of_zero_refuses_the_first_loan(store: StateBackend) -> None:
    """A cap of 0 forbids any loan."""
    assert await store.reserve(request(cap_total=0), now=T0) == CapExceeded("total", 0, 0)
    assert await store.reserve(request(cap_at_owner=0), now=T0) == CapExceeded("owner", 0, 0)


# --- idempotency and repeated checkouts -------------------------------------------------


async def test_same_idempotency_key_after_commit_returns_the_existing_loan(
    store: StateBackend,
) -> None:
    """A resent request is answered with its loan, and committing that lends nothing new."""
    loan = await lend(store, request(key="kiosk-1|AY3"))
    again = await store.reserve(request(key="kiosk-1|AY3"), now=T0)
    assert isinstance(again, Reservation)
    assert again.existing == loan
    assert again.token == ""
    later = T0 + timedelta(hours=1)
    assert await store.commit(again, due=DUE + timedelta(days=7), now=later) == loan
    assert await store.active_loans(ALICE) == [loan]
    assert await store.recent_loans(10) == [loan]


async def test_idempotency_wins_over_caps(store: StateBackend) -> None:
    """A retry of a committed loan is not refused even when the patron is at a cap."""
    loan = await lend(store, request(key="k1"))
    again = await store.reserve(request(key="k1", cap_at_owner=1, cap_total=1), now=T0)
    assert isinstance(again, Reservation)
    assert again.existing == loan


async def test_an_idempotency_key_answers_only_while_its_loan_is_open(
    store: StateBackend,
) -> None:
    """Once its loan is returned a key makes a new reservation, whose commit is a new
    active loan (a checkout, a checkin, and a checkout with the same kiosk date); the
    new loan then answers the key, and the returned one stays in the history."""
    first = await lend(store, request(key="k1"))
    closed = await store.close("alpha", first.item, now=T0 + timedelta(days=2))
    assert closed is not None
    later = T0 + timedelta(days=3)
    again = await store.reserve(request(key="k1", cap_at_owner=1), now=later)
    assert isinstance(again, Reservation)
    assert again.existing is None
    assert again.token
    second = await store.commit(again, due=DUE + timedelta(days=3), now=later)
    assert second.loan_id != first.loan_id
    assert second.state is LoanState.ACTIVE
    assert await store.active_loan("alpha", first.item) == second
    assert await store.active_loans(ALICE) == [second]
    assert await store.loan(first.loan_id) == closed
    resent = await store.reserve(request(key="k1", cap_at_owner=1), now=later)
    assert isinstance(resent, Reservation)
    assert resent.existing == second


async def test_a_returned_loans_key_refused_at_a_cap_still_makes_no_loan(
    store: StateBackend,
) -> None:
    """A returned loan's key goes through the caps like any new request."""
    first = await lend(store, request("I1", key="k1"))
    await store.close("alpha", "I1", now=T0 + timedelta(days=1))
    await lend(store, request("I2", key="k2"))
    refused = await store.reserve(request("I1", key="k1", cap_at_owner=1), now=T0)
    assert refused == CapExceeded("owner", 1, 1)
    assert await store.active_loan("alpha", "I1") is None
    assert (await store.loan(first.loan_id)) is not None


async def test_item_already_out_to_the_same_patron_returns_the_existing_loan(
    store: StateBackend,
) -> None:
    """Checking out an item the patron already has (another key) finds that loan."""
    loan = await lend(store, request(key="first"))
    again = await store.reserve(request(key="second", cap_at_owner=1, cap_total=1), now=T0)
    assert isinstance(again, Reservation)
    assert again.existing == loan
    assert await store.commit(again, due=DUE, now=T0) == loan
    assert await store.active_loans(ALICE) == [loan]


async def test_commit_over_an_item_still_registered_to_someone_else_closes_it(
    store: StateBackend,
) -> None:
    """A missed checkin: the previous loan of the item is closed when it is lent again."""
    old = await lend(store, request(patron=BOB))
    reservation = await store.reserve(request(patron=ALICE), now=T0)
    assert isinstance(reservation, Reservation)
    assert reservation.existing is None
    now = T0 + timedelta(days=3)
    new = await store.commit(reservation, due=DUE, now=now)
    assert new.loan_id != old.loan_id
    assert await store.active_loan("alpha", old.item) == new
    assert await store.active_loans(BOB) == []
    assert await store.active_loans(ALICE) == [new]
    previous = next(x for x in await store.recent_loans(10) if x.loan_id == old.loan_id)
    assert previous.state is LoanState.RETURNED
    assert previous.returned == now


async def test_the_same_item_at_two_owners_is_two_loans(store: StateBackend) -> None:
    """Items are keyed by owner and barcode."""
    at_alpha = await lend(store, request("X1", owner="alpha"))
    at_gamma = await lend(store, request("X1", owner="gamma"))
    assert await store.active_loan("alpha", "X1") == at_alpha
    assert await store.active_loan("gamma", "X1") == at_gamma


async def test_committing_the_same_reservation_twice_returns_the_same_loan(
    store: StateBackend,
) -> None:
    """``commit``'s docstring: "a repeat commit returns the same loan"."""
    reservation = await held(store, request())
    first = await store.commit(reservation, due=DUE, now=T0)
    second = await store.commit(reservation, due=DUE, now=T0 + timedelta(seconds=5))
    assert second == first
    assert await store.active_loans(ALICE) == [first]
    assert len(await store.recent_loans(10)) == 1


# --- renew, close, queries ----------------------------------------------------------------


async def test_renew_counts_and_moves_the_due_date(store: StateBackend) -> None:
    """Each renewal increments ``renewals`` and sets the new due date."""
    loan = await lend(store, request())
    first_due = DUE + timedelta(days=21)
    renewed = await store.renew("alpha", loan.item, due=first_due, now=T0)
    assert renewed is not None
    assert renewed.loan_id == loan.loan_id
    assert (renewed.renewals, renewed.due) == (1, first_due)
    second_due = DUE + timedelta(days=42)
    renewed = await store.renew("alpha", loan.item, due=second_due, now=T0)
    assert renewed is not None
    assert (renewed.renewals, renewed.due) == (2, second_due)
    assert renewed.checked_out == T0
    assert await store.active_loan("alpha", loan.item) == renewed


async def test_renew_without_an_active_loan_is_none(store: StateBackend) -> None:
    """Nothing to renew: an unknown item, or one already returned."""
    assert await store.renew("alpha", "31001000000001", due=DUE, now=T0) is None
    loan = await lend(store, request())
    await store.close("alpha", loan.item, now=T0)
    assert await store.renew("alpha", loan.item, due=DUE, now=T0) is None
    assert await store.renew("gamma", loan.item, due=DUE, now=T0) is None


async def test_close_returns_the_loan_and_frees_the_item(store: StateBackend) -> None:
    """Closing marks the loan returned at ``now``; a second close finds nothing."""
    loan = await lend(store, request())
    when = T0 + timedelta(days=5)
    closed = await store.close("alpha", loan.item, now=when)
    assert closed is not None
    assert closed.loan_id == loan.loan_id
    assert closed.state is LoanState.RETURNED
    assert closed.returned == when
    assert await store.active_loan("alpha", loan.item) is None
    assert await store.active_loans(ALICE) == []
    assert await store.close("alpha", loan.item, now=when) is None
    assert await store.recent_loans(1) == [closed]


async def test_close_of_one_loan_leaves_the_items_next_loan(store: StateBackend) -> None:
    """Closing with a loan id closes only that loan: once the item is lent again, the
    new loan stays active and no checkin is queued."""
    first = await lend(store, request(key="first"))
    await store.close("alpha", first.item, now=T0 + timedelta(hours=1))
    second = await lend(store, request(key="second"))
    later = T0 + timedelta(hours=2)
    assert await store.close("alpha", first.item, now=later, loan_id=first.loan_id) is None
    assert await store.active_loan("alpha", first.item) == second
    closed = await store.close("alpha", first.item, now=later, loan_id=second.loan_id)
    assert closed is not None
    assert closed.loan_id == second.loan_id
    assert await store.active_loan("alpha", first.item) is None


async def test_close_of_an_unknown_item_is_none() -> None:
    """No active loan, nothing closed."""
    assert await MemoryStateStore().close("alpha", "nope", now=T0) is None


async def test_active_loans_are_oldest_first_by_checkout_time(store: StateBackend) -> None:
    """Ordered by ``checked_out``, not by the order of commits."""
    late = await lend(store, request("I3"), now=T0 + timedelta(hours=3))
    early = await lend(store, request("I1"), now=T0 + timedelta(hours=1))
    middle = await lend(store, request("I2", owner="gamma"), now=T0 + timedelta(hours=2))
    await lend(store, request("I4", patron=BOB), now=T0)
    assert await store.active_loans(ALICE) == [early, middle, late]


async def test_recent_loans_are_newest_first_and_limited(store: StateBackend) -> None:
    """Recent loans include returned ones, newest first, at most ``limit``."""
    loans = [await lend(store, request(f"I{n}"), now=T0 + timedelta(minutes=n)) for n in range(4)]
    closed = await store.close("alpha", "I1", now=T0 + timedelta(hours=1))
    assert closed is not None
    recent = await store.recent_loans(10)
    assert [x.loan_id for x in recent] == [x.loan_id for x in reversed(loans)]
    assert recent[2] == closed
    assert [x.item for x in await store.recent_loans(2)] == ["I3", "I2"]
    assert await store.recent_loans(0) == []


async def test_loans_between_two_times_oldest_first_with_their_kind(store: StateBackend) -> None:
    """A period's loans: checked out from the start (included) to the end (excluded),
    oldest first, returned ones included, each with the kind of loan it was."""
    before = await lend(store, request("I0"), now=T0 - timedelta(minutes=1))
    first = await lend(store, request("I1"), now=T0)
    library = replace(request("I2", key="ill-1"), kind=LoanKind.LIBRARY_LOAN)
    second = await lend(store, library, now=T0 + timedelta(hours=1))
    await store.close("alpha", "I1", now=T0 + timedelta(hours=2))
    after = await lend(store, request("I3"), now=T0 + timedelta(hours=3))
    found = await store.loans_between(T0, T0 + timedelta(hours=3))
    assert [x.loan_id for x in found] == [first.loan_id, second.loan_id]
    assert found[0].state is LoanState.RETURNED
    assert [x.kind for x in found] == [LoanKind.WALK_IN, LoanKind.LIBRARY_LOAN]
    assert before.loan_id not in {x.loan_id for x in found}
    assert after.loan_id not in {x.loan_id for x in found}
    assert await store.loans_between(T0 + timedelta(days=1), T0 + timedelta(days=2)) == []


# --- history ---------------------------------------------------------------------------------


async def test_history_keeps_only_the_newest_returned_loans() -> None:
    """With ``history=2`` the oldest returned loans are dropped; active ones never are."""
    store = MemoryStateStore(history=2)
    active = await lend(store, request("KEEP"), now=T0)
    for n in range(5):
        loan = await lend(store, request(f"R{n}", key=f"key-{n}"), now=T0 + timedelta(hours=n))
        await store.close("alpha", loan.item, now=T0 + timedelta(hours=n, minutes=30))
    await lend(store, request("LAST"), now=T0 + timedelta(days=1))
    recent = await store.recent_loans(100)
    returned = [x.item for x in recent if x.state is LoanState.RETURNED]
    assert returned == ["R4", "R3"]
    assert {x.item for x in recent if x.state is LoanState.ACTIVE} == {"KEEP", "LAST"}
    assert await store.active_loan("alpha", "KEEP") == active


async def test_a_trimmed_loans_idempotency_key_makes_a_new_reservation() -> None:
    """Once a returned loan is dropped its key no longer answers (and nothing breaks)."""
    store = MemoryStateStore(history=2)
    first = await lend(store, request("R0", key="key-0"), now=T0)
    await store.close("alpha", "R0", now=T0 + timedelta(minutes=1))
    for n in range(1, 4):
        await lend(store, request(f"R{n}", key=f"key-{n}"), now=T0 + timedelta(hours=n))
        await store.close("alpha", f"R{n}", now=T0 + timedelta(hours=n, minutes=1))
    assert first.loan_id not in {x.loan_id for x in await store.recent_loans(100)}
    again = await store.reserve(request("R0", key="key-0"), now=T0)
    assert isinstance(again, Reservation)
    assert again.existing is None
    assert again.token


async def test_trimming_a_returned_loan_keeps_its_keys_new_loan() -> None:
    """A key reused by a new loan (the first was returned) still names the new loan
    after the first is trimmed: a repeat commit returns it and lends nothing more."""
    store = MemoryStateStore(history=2)
    first = await lend(store, request("R0", key="key-0"), now=T0)
    await store.close("alpha", "R0", now=T0 + timedelta(minutes=1))
    again = await held(store, request("R0", key="key-0"))
    second = await store.commit(again, due=DUE, now=T0 + timedelta(minutes=2))
    for n in range(1, 4):
        await lend(store, request(f"R{n}", key=f"key-{n}"), now=T0 + timedelta(hours=n))
        await store.close("alpha", f"R{n}", now=T0 + timedelta(hours=n, minutes=1))
    assert first.loan_id not in {x.loan_id for x in await store.recent_loans(100)}
    assert await store.commit(again, due=DUE, now=T0 + timedelta(days=1)) == second
    assert await store.active_loans(ALICE) == [second]


async def test_history_bound_holds_after_closing() -> None:
    """``history`` is the number of returned loans kept, also right after closes."""
    store = MemoryStateStore(history=2)
    for n in range(4):
        await lend(store, request(f"R{n}", key=f"key-{n}"), now=T0 + timedelta(hours=n))
    for n in range(4):
        await store.close("alpha", f"R{n}", now=T0 + timedelta(days=1, hours=n))
    returned = [x for x in await store.recent_loans(100) if x.state is LoanState.RETURNED]
    assert [x.item for x in returned] == ["R3", "R2"]


# --- the owner's quota and held slots ---------------------------------------------------


async def test_quota_counts_every_visitors_loans_and_holds_at_the_owner(
    store: StateBackend,
) -> None:
    """The owner's quota is over all patrons: one loan and one hold fill a quota of 2."""
    await lend(store, request("Q1", patron=ALICE, key="q1"))
    await held(store, request("Q2", patron=BOB, key="q2"))
    refused = await store.reserve(request("Q3", patron=BOB, key="q3", quota=2), now=T0)
    assert refused == CapExceeded("quota", 2, 2)
    other_owner = await store.reserve(request("G1", owner="gamma", key="g1", quota=2), now=T0)
    assert isinstance(other_owner, Reservation)


async def test_an_expired_hold_stops_counting_and_is_listed_as_unconfirmed(
    store: StateBackend,
) -> None:
    """A slot held past the hold time frees the cap and is shown to the desk."""
    hold = await held(store, request("H1", cap_at_owner=1, key="h1"))
    assert await store.unconfirmed(now=T0 + timedelta(seconds=10)) == []
    later = T0 + timedelta(seconds=301)
    refused = await store.reserve(request("H2", cap_at_owner=1, key="h2"), now=T0)
    assert isinstance(refused, CapExceeded)
    fresh = await store.reserve(request("H2", cap_at_owner=1, key="h2"), now=later)
    assert isinstance(fresh, Reservation)
    listed = await store.unconfirmed(now=later)
    assert [(r.item, r.idempotency_key, r.proxy_patron) for r in listed] == [
        ("H1", "h1", "ILL-beta")
    ]
    await store.release(hold)
    assert await store.unconfirmed(now=later) == []


async def test_a_retry_of_a_held_request_gets_the_same_slot_back(store: StateBackend) -> None:
    """A resend after its gateway died between the owner and the commit finishes it."""
    first = await held(store, request("R1", key="kiosk|R1|AY1", cap_at_owner=1))
    retry = await store.reserve(request("R1", key="kiosk|R1|AY1", cap_at_owner=1), now=T0)
    assert isinstance(retry, Reservation)
    assert retry.existing is None
    assert retry.token == first.token
    assert retry.request.item == "R1"
    loan = await store.commit(retry, due=DUE, now=T0)
    assert await store.commit(first, due=DUE, now=T0) == loan
    assert await store.active_loans(ALICE) == [loan]


async def test_a_retry_after_the_hold_expired_counts_again(store: StateBackend) -> None:
    """Resuming an expired hold puts it back under the caps."""
    await held(store, request("R1", key="k-r1", cap_at_owner=1))
    later = T0 + timedelta(seconds=400)
    resumed = await store.reserve(request("R1", key="k-r1", cap_at_owner=1), now=later)
    assert isinstance(resumed, Reservation)
    assert await store.unconfirmed(now=later) == []
    refused = await store.reserve(request("R2", key="k-r2", cap_at_owner=1), now=later)
    assert refused == CapExceeded("owner", 1, 1)


async def test_a_hold_never_committed_nor_released_expires(short_holds: StateBackend) -> None:
    """A reserve whose caller never commits nor releases it (the gateway gave up waiting,
    or died): the slot is listed for the desk once past its hold time, then expires by
    itself: it is listed no more, and a retry of the request holds a fresh slot."""
    start = datetime.now(UTC)
    phantom = await short_holds.reserve(request("P1", key="phantom"), now=start)
    assert isinstance(phantom, Reservation)
    past_hold = start + timedelta(seconds=SHORT_HOLD_TTL_S * 2)
    listed = await short_holds.unconfirmed(now=past_hold)
    assert [r.idempotency_key for r in listed] == ["phantom"]

    async def forgotten() -> bool:
        now = max(datetime.now(UTC), past_hold)
        return await short_holds.unconfirmed(now=now) == []

    await eventually(forgotten, timeout=SHORT_UNCONFIRMED_KEPT_S + 5, what="the hold to expire")
    retry = await short_holds.reserve(request("P1", key="phantom"), now=datetime.now(UTC))
    assert isinstance(retry, Reservation)
    assert retry.existing is None
    assert retry.token != phantom.token


async def test_loan_by_id(store: StateBackend) -> None:
    """A loan can be read by its id, active or returned; an unknown id is None."""
    loan = await lend(store, request("L1"))
    assert await store.loan(loan.loan_id) == loan
    closed = await store.close("alpha", "L1", now=T0 + timedelta(days=1))
    assert await store.loan(loan.loan_id) == closed
    assert await store.loan("no-such-loan") is None


async def test_racing_reservations_never_pass_the_cap(store: StateBackend) -> None:
    """Forty concurrent reservations for one patron with a cap of 3: exactly 3 held."""
    results: list[Reservation | CapExceeded] = []

    async def one(n: int) -> None:
        results.append(await store.reserve(request(f"C{n}", key=f"c{n}", cap_total=3), now=T0))

    async with trio.open_nursery() as nursery:
        for n in range(40):
            nursery.start_soon(one, n)
    assert sum(isinstance(r, Reservation) for r in results) == 3
    assert all(r == CapExceeded("total", 3, 3) for r in results if isinstance(r, CapExceeded))


# --- the outbox ----------------------------------------------------------------------------


async def test_commit_renew_and_close_each_queue_one_event(store: StateBackend) -> None:
    """The ledger sees a checkout, a renewal and a checkin, in order, with no barcode."""
    loan = await lend(store, request("E1"))
    await store.renew("alpha", "E1", due=DUE + timedelta(days=7), now=T0 + timedelta(days=1))
    await store.close("alpha", "E1", now=T0 + timedelta(days=2))
    assert await store.outbox_pending() == 3
    entries = await store.outbox_read("worker-a", 10, wait_s=0)
    events = [e.event for e in entries]
    assert [e.kind for e in events] == [
        LoanEventKind.CHECKOUT,
        LoanEventKind.RENEW,
        LoanEventKind.CHECKIN,
    ]
    assert {e.loan_id for e in events} == {loan.loan_id}
    assert {(e.owner, e.home, e.item, e.patron_key) for e in events} == {
        ("alpha", "beta", "E1", ALICE)
    }
    assert [e.at for e in events] == [T0, T0 + timedelta(days=1), T0 + timedelta(days=2)]
    assert [e.due for e in events] == [DUE, DUE + timedelta(days=7), None]
    await store.outbox_ack([e.entry_id for e in entries])
    assert await store.outbox_pending() == 0
    assert await store.outbox_read("worker-a", 10, wait_s=0) == []


async def test_unacknowledged_events_are_reclaimed_by_another_consumer(
    store: StateBackend,
) -> None:
    """Events read by a consumer that died are taken over once idle long enough."""
    await lend(store, request("E1"))
    taken = await store.outbox_read("dead-worker", 10, wait_s=0)
    assert len(taken) == 1
    assert await store.outbox_read("live-worker", 10, wait_s=0) == []
    assert await store.outbox_reclaim("live-worker", 10, min_idle_s=60) == []
    reclaimed = await eventually(
        lambda: store.outbox_reclaim("live-worker", 10, min_idle_s=SHORT_S),
        what="the dead worker's event to be idle long enough",
    )
    assert [e.entry_id for e in reclaimed] == [e.entry_id for e in taken]
    assert reclaimed[0].event == taken[0].event
    await store.outbox_ack([reclaimed[0].entry_id])
    assert await store.outbox_pending() == 0


async def test_a_waiting_read_wakes_for_a_new_event(store: StateBackend) -> None:
    """A consumer waiting on an empty outbox gets the next event without polling."""
    got: list[int] = []

    async def consume() -> None:
        got.append(len(await store.outbox_read("waiter", 10, wait_s=5)))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        await trio.testing.wait_all_tasks_blocked()  # the consumer waits
        await lend(store, request("W1"))
    assert got == [1]


async def test_a_missed_checkin_is_closed_with_an_event(store: StateBackend) -> None:
    """Lending an item still registered to someone else closes that loan for the ledger."""
    first = await lend(store, request("M1", patron=ALICE, key="m1"))
    await lend(store, request("M1", patron=BOB, key="m2"))
    events = [e.event for e in await store.outbox_read("w", 10, wait_s=0)]
    assert [(e.kind, e.loan_id) for e in events][:2] == [
        (LoanEventKind.CHECKOUT, first.loan_id),
        (LoanEventKind.CHECKIN, first.loan_id),
    ]
    assert events[2].kind is LoanEventKind.CHECKOUT
    assert events[2].patron_key == BOB


async def test_touched_events_are_not_reclaimed_and_acked_ones_drop_out(
    store: StateBackend,
) -> None:
    """A worker touching the events it holds keeps them from others while an event it
    read with them but does not touch is taken; acknowledged ones are neither touched
    nor claimed; once the worker stops touching, its event is taken too."""
    for item in ("T1", "U1", "A1"):
        await lend(store, request(item))
    kept, untouched, acked = [e.entry_id for e in await store.outbox_read("holder", 10, wait_s=0)]
    await store.outbox_ack([acked])
    assert await store.outbox_touch("holder", [kept, acked]) == [kept]

    async def taken_while_kept_touched() -> list[OutboxEntry]:
        await store.outbox_touch("holder", [kept])
        return await store.outbox_reclaim("thief", 10, min_idle_s=SHORT_S)

    first = await eventually(taken_while_kept_touched, what="the untouched event to be taken")
    assert [e.entry_id for e in first] == [untouched]
    await store.outbox_ack([untouched])  # delivered by the thief
    later = await eventually(
        lambda: store.outbox_reclaim("thief", 10, min_idle_s=SHORT_S),
        what="the event no longer touched to be taken",
    )
    assert [e.entry_id for e in later] == [kept]
    assert await store.outbox_touch("holder", []) == []


# --- ledger batches and receipts ---------------------------------------------------------


RECORD_KEY = b"record-key-for-contract-tests"


async def _batch(store: StateBackend, member: str, *items: str) -> PendingBatch:
    for item in items:
        await lend(store, request(item, key=f"{member}|{item}"))
    entries = await store.outbox_read(member, 100, wait_s=0)
    sealed = seal_batch([e.event for e in entries], key=RECORD_KEY)
    return PendingBatch(
        member,
        0,
        b"\x00" * 32,
        tuple(BatchEntry(e.entry_id, r) for e, r in zip(entries, sealed.records, strict=True)),
    )


async def test_a_pending_batch_is_kept_per_member_until_cleared(store: StateBackend) -> None:
    """Each member's sealed batch (records and salts) survives as saved, until cleared by
    its root; a stale root clears nothing."""
    assert await store.pending_batch("alpha") is None
    alpha = await _batch(store, "alpha", "B1", "B2")
    beta = await _batch(store, "beta", "B3")
    await store.save_batch(alpha)
    await store.save_batch(beta)
    assert await store.pending_batch("alpha") == alpha
    assert (await store.pending_batch("beta")) == beta
    sequenced = PendingBatch("alpha", 7, b"\x01" * 32, alpha.entries)
    await store.save_batch(sequenced)
    found = await store.pending_batch("alpha")
    assert found == sequenced
    assert found.root == alpha.root
    await store.clear_batch("alpha", beta.root)  # not alpha's batch: kept
    assert await store.pending_batch("alpha") == sequenced
    await store.clear_batch("alpha", alpha.root)
    assert await store.pending_batch("alpha") is None
    assert await store.pending_batch("beta") == beta


async def test_receipts_are_kept_by_loan_in_event_order(store: StateBackend) -> None:
    """Each event's receipt is stored under its loan; storing one again replaces it, and
    shredding deletes the salts but keeps the proofs."""
    loan = await lend(store, request("R1"))
    await store.renew("alpha", "R1", due=DUE + timedelta(days=7), now=T0 + timedelta(days=1))
    await store.close("alpha", "R1", now=T0 + timedelta(days=2))
    entries = await store.outbox_read("w", 10, wait_s=0)
    sealed = seal_batch([e.event for e in entries], key=RECORD_KEY)
    receipts = sealed.receipts("alpha", 3, tx_hash=b"\x02" * 32, block_number=42)
    pairs = [(e.entry_id, r) for e, r in zip(entries, receipts, strict=True)]
    assert await store.receipts(loan.loan_id) == []
    await store.put_receipts(list(reversed(pairs)))
    await store.put_receipts(pairs[:1])  # delivered twice: one receipt still
    await store.put_receipts([])
    found = await store.receipts(loan.loan_id)
    assert found == receipts
    assert [r.kind for r in found] == ["checkout", "renew", "checkin"]
    assert await store.receipts("no-such-loan") == []

    assert await store.shred_receipts(loan.loan_id) == 3
    shredded = await store.receipts(loan.loan_id)
    assert shredded == [r.shredded() for r in receipts]
    assert all(r.salt is None for r in shredded)
    assert await store.shred_receipts(loan.loan_id) == 0


# --- throttles -----------------------------------------------------------------------------


async def test_throttle_counts_expires_and_resets(store: StateBackend) -> None:
    """A bucket counts hits, forgets them after its window, and can be reset."""
    assert await store.count("pin:a") == 0
    assert await store.hit("pin:a", window_s=SHORT_S) == 1
    assert await store.hit("pin:a", window_s=SHORT_S) == 2
    assert await store.count("pin:a") == 2
    assert await store.count("pin:b") == 0

    async def forgotten() -> bool:
        return await store.count("pin:a") == 0

    await eventually(forgotten, what="the window to pass")
    assert await store.hit("pin:a", window_s=10) == 1
    await store.reset("pin:a")
    assert await store.count("pin:a") == 0


async def test_check_answers_when_the_store_is_up(store: StateBackend) -> None:
    """``check`` returns quietly on a working store."""
    await store.check()


# --- kiosk sessions -----------------------------------------------------------------------------


async def test_sessions_open_touch_list_close_and_expire(store: StateBackend) -> None:
    """A session is listed while alive, refreshed by touch, gone when closed or expired."""
    await store.session_open("g1:c1", {"terminal": "beta-kiosk", "member": "beta"}, ttl_s=SHORT_S)
    await store.session_open("g2:c1", {"terminal": "alpha-kiosk", "member": "alpha"}, ttl_s=30)
    listed = await store.sessions()
    assert [s["id"] for s in listed] == ["g1:c1", "g2:c1"]
    assert listed[0]["terminal"] == "beta-kiosk"
    assert await store.session_touch("g2:c1", ttl_s=SHORT_S)

    async def all_expired() -> bool:
        return await store.sessions() == []

    await eventually(all_expired, what="both sessions to expire")
    assert not await store.session_touch("g1:c1", ttl_s=30)  # expired: not revived
    await store.session_open("g3:c9", {"terminal": "gamma-desk"}, ttl_s=30)
    await store.session_close("g3:c9")
    await store.session_close("never-opened")
    assert await store.sessions() == []


# --- shared circuit-breaker marks ------------------------------------------------------------


async def test_breaker_marks_are_seen_by_other_gateways_until_they_expire(
    store: StateBackend,
) -> None:
    await store.breaker_open("beta", "10.0.0.1:6001", ttl_s=SHORT_S, by="gw-1")
    await store.breaker_open("beta", "10.0.0.2:6001", ttl_s=30, by="gw-2")
    seen_by_2 = await store.breakers("beta", besides="gw-2")
    assert set(seen_by_2) == {"10.0.0.1:6001"}
    assert 0 < seen_by_2["10.0.0.1:6001"] <= SHORT_S
    assert set(await store.breakers("beta", besides="gw-3")) == {"10.0.0.1:6001", "10.0.0.2:6001"}
    assert await store.breakers("alpha", besides="gw-3") == {}

    async def short_one_expired() -> bool:
        return set(await store.breakers("beta", besides="gw-3")) == {"10.0.0.2:6001"}

    await eventually(short_one_expired, what="the short mark to expire")


# --- lending counters ------------------------------------------------------------------------

TAU = 3600.0 / math.log(2)
"""A one-hour half-life."""


async def count(
    store: StateBackend,
    event: SelectionEvent,
    *,
    lender: str | None = None,
    borrower: str | None = None,
    now: float = 1000.0,
    hours: float = 0.0,
    window: int = 20,
    consortium_window: int = 500,
) -> None:
    """One lending event, with a one-hour half-life."""
    await store.selection_update(
        event,
        lender=lender,
        borrower=borrower,
        now=now,
        tau=TAU,
        turnaround_hours=hours,
        window=window,
        consortium_window=consortium_window,
    )


async def test_a_member_never_counted_reads_empty(store: StateBackend) -> None:
    """Every member asked for is in the reading; one never counted has nothing."""
    found = await store.selection_read(["alpha", "beta"])
    assert found == SelectionTallies(
        members={"alpha": SelectionTally(), "beta": SelectionTally()},
        consortium_turnarounds=(),
    )


async def test_a_filled_request_counts_at_both_ends(store: StateBackend) -> None:
    """Request, assignment and fill: the lender's and the borrower's sums and counts,
    stamped with the event's time, and the turnaround in both windows."""
    await count(store, SelectionEvent.REQUESTED, borrower="alpha", now=1000.0)
    await count(store, SelectionEvent.ASSIGNED, lender="beta", now=1000.0)
    await count(
        store, SelectionEvent.FILLED, lender="beta", borrower="alpha", now=1000.0, hours=5.5
    )
    found = await store.selection_read(["beta", "alpha"])
    assert found.members["beta"] == SelectionTally(
        sums={"assigned": (1.0, 1000.0), "lends": (1.0, 1000.0), "filled": (1.0, 1000.0)},
        counts={"open_assigned": 0, "active_lends": 1, "lifetime_lends": 1},
        turnarounds=(5.5,),
    )
    assert found.members["alpha"] == SelectionTally(
        sums={"borrows": (1.0, 1000.0)},
        counts={"active_borrows": 1, "lifetime_borrows": 1},
    )
    assert found.consortium_turnarounds == (5.5,)


async def test_a_sum_fades_when_it_is_next_changed(store: StateBackend) -> None:
    """A sum is brought forward by its half-life when changed; its stamp never goes back."""
    await count(store, SelectionEvent.ASSIGNED, lender="beta", now=1000.0)
    await count(store, SelectionEvent.ASSIGNED, lender="beta", now=1000.0 + 3600.0)
    value, stamp = (await store.selection_read(["beta"])).members["beta"].sums["assigned"]
    assert value == pytest.approx(1.5)
    assert stamp == 4600.0
    await count(store, SelectionEvent.ASSIGNED, lender="beta", now=10.0)  # a late writer
    value, stamp = (await store.selection_read(["beta"])).members["beta"].sums["assigned"]
    assert value == pytest.approx(2.5)
    assert stamp == 4600.0


async def test_counts_never_go_below_zero(store: StateBackend) -> None:
    """Events replayed out of order leave zeros, not negative counts or sums."""
    await count(store, SelectionEvent.DECLINED, lender="beta")
    await count(store, SelectionEvent.RETURNED, lender="beta", borrower="alpha")
    await count(store, SelectionEvent.UNFILLED, borrower="alpha")
    await count(store, SelectionEvent.WITHDRAWN, borrower="alpha", lender="beta")
    found = await store.selection_read(["beta", "alpha"])
    assert found.members["beta"] == SelectionTally(
        sums={"assigned": (0.0, 1000.0)}, counts={"open_assigned": 0, "active_lends": 0}
    )
    assert found.members["alpha"] == SelectionTally(counts={"active_borrows": 0})


async def test_a_withdrawn_request_takes_its_assignment_back(store: StateBackend) -> None:
    """Withdrawn with a lender: the lender as if it had declined, and not assigned."""
    await count(store, SelectionEvent.REQUESTED, borrower="alpha")
    await count(store, SelectionEvent.ASSIGNED, lender="beta")
    await count(store, SelectionEvent.WITHDRAWN, borrower="alpha", lender="beta")
    found = await store.selection_read(["beta", "alpha"])
    assert found.members["beta"] == SelectionTally(
        sums={"assigned": (0.0, 1000.0)}, counts={"open_assigned": 0, "active_lends": 0}
    )
    assert found.members["alpha"].counts == {"active_borrows": 0}


async def test_turnarounds_keep_the_newest_within_their_windows(store: StateBackend) -> None:
    """A member keeps its newest ``window`` turnarounds, the consortium its newest
    ``consortium_window``, newest first."""
    for hours, lender in [(1.0, "beta"), (2.0, "gamma"), (3.0, "beta"), (4.0, "beta")]:
        await count(
            store,
            SelectionEvent.FILLED,
            lender=lender,
            borrower="alpha",
            hours=hours,
            window=2,
            consortium_window=3,
        )
    found = await store.selection_read(["beta", "gamma"])
    assert found.members["beta"].turnarounds == (4.0, 3.0)
    assert found.members["gamma"].turnarounds == (2.0,)
    assert found.consortium_turnarounds == (4.0, 3.0, 2.0)
