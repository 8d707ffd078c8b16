"""End to end over real loopback sockets: kiosk (our codec, SC) → gateway → simulated ILSs.

The demo data (DESIGN.md): alpha patrons 21001…, beta 21002…, gamma 21003…, PIN 1234,
21001000000099 blocked; items 31001… (alpha), 31002… (beta), 31003… (gamma, with
reference books 31003000000041… that do not circulate to visitors).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import trio
import trio.testing
from structlog.testing import capture_logs

from adapters.ledger.base import LoanEventKind
from adapters.ledger.memory import MemoryLedger
from adapters.state.base import Loan, LoanState, Reservation
from adapters.state.memory import MemoryStateStore
from gateway.circulation.patrons import TOO_MANY_PINS
from protocols.sip2 import (
    AcsStatus,
    CheckinResponse,
    CheckoutResponse,
    EndPatronSessionRequest,
    EndSessionResponse,
    HoldMode,
    HoldRequest,
    HoldResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    LoginRequest,
    LoginResponse,
    PatronInformationResponse,
    PatronStatus,
    PatronStatusRequest,
    PatronStatusResponse,
    RenewAllRequest,
    RenewAllResponse,
    RenewResponse,
    ScStatus,
)
from tests.helpers.arrivals import held
from tests.helpers.demo import running_demo, short_timeouts
from tests.helpers.kiosk import NOW, Kiosk, checkin, checkout, information, renew, status
from tests.helpers.polling import eventually

if TYPE_CHECKING:
    from datetime import datetime

    from config.models import Config
    from gateway.demo.network import Demo

ALPHA_PATRON = "21001000000001"
OTHER_ALPHA_PATRON = "21001000000002"
BLOCKED = "21001000000099"
BETA_ITEM = "31002000000001"
TIMEOUT = 10


async def ledger_kinds(demo: Demo) -> list[LoanEventKind]:
    """The events the ledger got, once the outbox pump has delivered all of them."""
    store = demo.gateway.services.store

    async def delivered() -> bool:
        return not await store.outbox_pending()

    await eventually(delivered, what="the outbox pump to deliver every event")
    ledger = demo.gateway.services.ledger
    assert isinstance(ledger, MemoryLedger)
    return [event.kind for event in ledger.events()]


async def test_local_patron_passes_through_with_vendor_fields(demo: Demo) -> None:
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "alpha-kiosk")
        request = status(ALPHA_PATRON)
        request = type(request)(**{**request.__dict__, "extensions": (("XZ", "vendor"),)})
        answer = await kiosk.expect(request, PatronStatusResponse)
    assert answer.valid_patron is True
    assert answer.valid_patron_password is True
    assert answer.personal_name == "Alpha Patron 1"
    assert ("PC", "adult") in answer.extensions  # the ILS's own field reaches the kiosk
    received = demo.simulators["alpha"].last_request
    assert received is not None
    assert ("XZ", "vendor") in received.extensions  # the kiosk's own field reaches the ILS
    assert demo.simulators["beta"].executed.count("23") == 0


async def test_a_second_patron_or_pin_in_one_request_never_reaches_the_ils(
    demo: Demo,
) -> None:
    """A kiosk repeating AA or AD (read leniently: the first counts, the rest are kept
    as unknown fields) cannot have the ILS check another patron or PIN than the one the
    gateway routed and counted: the repeats are dropped before the message goes on,
    and other unknown fields still pass."""
    extensions = (("AA", "21001000000002"), ("AD", "9999"), ("AC", "x"), ("XZ", "vendor"))
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "alpha-kiosk")
        request = status(ALPHA_PATRON)
        request = type(request)(**{**request.__dict__, "extensions": extensions})
        answer = await kiosk.expect(request, PatronStatusResponse)
    assert answer.patron_identifier == ALPHA_PATRON
    assert answer.valid_patron_password is True
    received = demo.simulators["alpha"].last_request
    assert isinstance(received, PatronStatusRequest)
    assert received.patron_identifier == ALPHA_PATRON
    assert received.patron_password == "1234"
    assert received.extensions == (("XZ", "vendor"),)


async def test_visitor_is_authenticated_at_home(demo: Demo) -> None:
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
        right = await kiosk.expect(status(ALPHA_PATRON, ao="beta"), PatronStatusResponse)
        wrong = await kiosk.expect(status(ALPHA_PATRON, pin="9999"), PatronStatusResponse)
    assert right.valid_patron_password is True
    assert not right.patron_status & PatronStatus.CHARGE_PRIVILEGES_DENIED
    assert right.institution_id == "beta"  # answered as if beta's own ILS
    assert wrong.valid_patron_password is False
    assert demo.simulators["alpha"].executed.count("23") == 2
    assert "23" not in demo.simulators["beta"].executed


async def test_unknown_patron(demo: Demo) -> None:
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
        answer = await kiosk.expect(status("21001999999999"), PatronStatusResponse)
        lent = await kiosk.expect(checkout("21001999999999", BETA_ITEM), CheckoutResponse)
    assert answer.valid_patron is False
    assert not lent.ok
    assert any("not recognised" in line for line in lent.screen_messages)
    assert demo.simulators["beta"].library.items[BETA_ITEM].holder is None


async def test_blocked_visitor_is_refused_with_a_reason(demo: Demo) -> None:
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
        standing = await kiosk.expect(status(BLOCKED), PatronStatusResponse)
        lent = await kiosk.expect(checkout(BLOCKED, BETA_ITEM), CheckoutResponse)
    assert standing.patron_status & PatronStatus.CHARGE_PRIVILEGES_DENIED
    assert any("blocked at Alpha" in line for line in standing.screen_messages)
    assert not lent.ok
    assert any("blocked at Alpha" in line for line in lent.screen_messages)
    assert "11" not in demo.simulators["beta"].executed
    assert await demo.gateway.services.store.recent_loans(10) == []


async def test_reciprocal_checkout_renew_and_checkin_elsewhere(demo: Demo) -> None:
    beta_ils = demo.simulators["beta"].library
    with trio.fail_after(TIMEOUT):
        at_beta = await Kiosk.logged_in(demo, "beta-kiosk")
        lent = await at_beta.expect(checkout(ALPHA_PATRON, BETA_ITEM), CheckoutResponse)
        assert lent.ok
        assert lent.patron_identifier == ALPHA_PATRON  # not the proxy account
        assert lent.due_date
        assert beta_ils.items[BETA_ITEM].holder == "ILL-alpha"
        info = await at_beta.expect(information(ALPHA_PATRON), PatronInformationResponse)
        assert BETA_ITEM in info.charged_items
        assert info.charged_items_count == 1

        renewed = await at_beta.expect(renew(ALPHA_PATRON, BETA_ITEM), RenewResponse)
        assert renewed.ok
        again = await at_beta.expect(renew(ALPHA_PATRON, BETA_ITEM), RenewResponse)
        assert not again.ok  # the demo allows one renewal to visitors
        assert any("No more renewals" in line for line in again.screen_messages)

        at_gamma = await Kiosk.logged_in(demo, "gamma-desk")
        back = await at_gamma.expect(checkin(BETA_ITEM), CheckinResponse)
    assert back.ok
    assert back.alert
    assert ("CT", "beta") in back.extensions
    assert ("CV", "04") in back.extensions
    assert back.sort_bin == "transit-beta"
    assert any("Return to Beta" in line for line in back.screen_messages)
    assert back.patron_identifier is None  # the proxy account is not shown
    assert beta_ils.items[BETA_ITEM].holder is None
    [loan] = await demo.gateway.services.store.recent_loans(10)
    assert loan.state is LoanState.RETURNED
    assert loan.renewals == 1
    assert ALPHA_PATRON not in repr(loan)  # the registry holds a keyed hash only
    assert await ledger_kinds(demo) == [
        LoanEventKind.CHECKOUT,
        LoanEventKind.RENEW,
        LoanEventKind.CHECKIN,
    ]


async def test_pin_checked_once_per_connection(demo: Demo) -> None:
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
        refused = await kiosk.expect(checkout(ALPHA_PATRON, BETA_ITEM, pin=None), CheckoutResponse)
        await kiosk.expect(status(ALPHA_PATRON), PatronStatusResponse)
        lent = await kiosk.expect(checkout(ALPHA_PATRON, BETA_ITEM, pin=None), CheckoutResponse)
        await kiosk.expect(
            EndPatronSessionRequest(transaction_date=NOW, patron_identifier=ALPHA_PATRON),
            EndSessionResponse,
        )
        after = await kiosk.expect(
            checkout(ALPHA_PATRON, "31002000000002", pin=None), CheckoutResponse
        )
    assert not refused.ok
    assert "Please enter your PIN" in refused.screen_messages
    assert lent.ok
    assert not after.ok  # the session ended: the PIN is asked for again


async def test_wrong_pin_refuses_the_loan(demo: Demo) -> None:
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
        lent = await kiosk.expect(checkout(ALPHA_PATRON, BETA_ITEM, pin="0000"), CheckoutResponse)
    assert not lent.ok
    assert "Incorrect PIN" in lent.screen_messages
    assert "11" not in demo.simulators["beta"].executed


async def test_cap_per_owner(demo: Demo) -> None:
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
        answers = [
            await kiosk.expect(checkout(ALPHA_PATRON, f"3100200000000{n}"), CheckoutResponse)
            for n in range(1, 7)
        ]
    assert [a.ok for a in answers] == [True] * 5 + [False]
    assert any("Limit of 5 loans from Beta" in line for line in answers[-1].screen_messages)
    assert demo.simulators["beta"].library.items["31002000000006"].holder is None


async def test_unknown_item_and_non_circulating_item(demo: Demo) -> None:
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "gamma-desk")
        reference = await kiosk.expect(checkout(ALPHA_PATRON, "31003000000041"), CheckoutResponse)
        unknown = await kiosk.expect(checkout(ALPHA_PATRON, "31003999999999"), CheckoutResponse)
        at_beta = await Kiosk.logged_in(demo, "beta-kiosk")
        missing = await at_beta.expect(checkout(ALPHA_PATRON, "31002999999999"), CheckoutResponse)
    assert not reference.ok
    assert any("do not circulate" in line for line in reference.screen_messages)
    assert not unknown.ok
    assert any("not recognised by Gamma" in line for line in unknown.screen_messages)
    assert not missing.ok  # beta's ILS refuses it; its reason is shown
    assert "Item not found" in missing.screen_messages
    assert await demo.gateway.services.store.active_loans("x") == []
    assert await demo.gateway.services.store.recent_loans(10) == []


async def test_resent_checkout_is_executed_once(demo: Demo) -> None:
    beta = demo.simulators["beta"]
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
        frame = kiosk.conn.send(checkout(ALPHA_PATRON, BETA_ITEM))
        first = await kiosk.raw(frame)
        second = await kiosk.raw(frame)  # the same AY/AZ: a resend after a lost answer
        assert first == second
        # A kiosk that reconnects and sends the same checkout again (same date).
        other = await Kiosk.logged_in(demo, "beta-kiosk")
        again = await other.expect(checkout(ALPHA_PATRON, BETA_ITEM), CheckoutResponse)
    assert first.startswith(b"121")
    assert again.ok
    assert beta.executed.count("11") == 1
    assert len(await demo.gateway.services.store.recent_loans(10)) == 1


async def test_member_ils_down_gives_a_refusal_in_time(
    demo: Demo, frozen_clock: trio.testing.MockClock
) -> None:
    """A member whose ILS is down: its patrons are refused with the reason, without the
    gateway waiting for any time-out (trio time stands still: nothing waited for it);
    the kiosk's own library's patrons are served."""
    demo.stop_ils("alpha")
    await trio.testing.wait_all_tasks_blocked()  # alpha's listener is closed by now
    # Drop alpha's pooled connections, as the health check would on its next round.
    member = demo.gateway.services.members["alpha"].ils
    await member.aclose()  # type: ignore[attr-defined]
    member._closed = False  # type: ignore[attr-defined]
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
        started = trio.current_time()
        answer = await kiosk.expect(status(ALPHA_PATRON), PatronStatusResponse)
        lent = await kiosk.expect(checkout(ALPHA_PATRON, BETA_ITEM), CheckoutResponse)
        waited = trio.current_time() - started
        local = await kiosk.expect(status("21002000000001"), PatronStatusResponse)
    assert answer.patron_status & PatronStatus.CHARGE_PRIVILEGES_DENIED
    assert any("Alpha Public Library cannot be reached" in x for x in answer.screen_messages)
    assert not lent.ok
    assert waited == 0
    assert local.valid_patron  # beta's own patrons are not affected


async def test_slow_member_does_not_slow_the_others(
    demo: Demo, frozen_clock: trio.testing.MockClock
) -> None:
    """Three of alpha's patrons wait on alpha's ILS, which keeps its answers: a beta
    patron is served meanwhile, and alpha's are refused once alpha's time-out (the
    fixture's 1 s) has passed, not before, while alpha's ILS still has not answered.

    Trio time is the test's: it stands still until the test moves it past the time-out.
    """
    alpha = demo.simulators["alpha"]
    at_home: list[PatronStatusResponse] = []

    async def ask_alpha(kiosk: Kiosk) -> None:
        at_home.append(await kiosk.expect(status(ALPHA_PATRON), PatronStatusResponse))

    with trio.fail_after(TIMEOUT), held(alpha):
        waiting = [await Kiosk.logged_in(demo, "alpha-kiosk") for _ in range(3)]
        at_beta = await Kiosk.logged_in(demo, "beta-kiosk")
        async with trio.open_nursery() as nursery:
            for kiosk in waiting:
                nursery.start_soon(ask_alpha, kiosk)
            await trio.testing.wait_all_tasks_blocked()  # alpha's three are in the gateway
            local = await at_beta.expect(status("21002000000001"), PatronStatusResponse)
            refused_while_beta_was_served = len(at_home)
            frozen_clock.jump(0.9)
            await trio.testing.wait_all_tasks_blocked()
            refused_before_the_time_out = len(at_home)
            frozen_clock.jump(0.2)
        answered_by_alpha = alpha.executed.count("23")
    assert local.valid_patron
    assert refused_while_beta_was_served == 0
    assert refused_before_the_time_out == 0
    assert len(at_home) == 3
    assert not any(answer.valid_patron for answer in at_home)
    assert all("not answering" in " ".join(a.screen_messages) for a in at_home)
    assert answered_by_alpha == 0  # the refusals were the gateway's, at the time-out


async def test_garbage_from_one_kiosk_does_not_disturb_another(demo: Demo) -> None:
    with trio.fail_after(TIMEOUT):
        good = await Kiosk.logged_in(demo, "alpha-kiosk")
        bad = await Kiosk.logged_in(demo, "beta-kiosk")
        assert await bad.raw(b"\x00\xff garbage \x1b[2J\r") == b"96\r"
        assert await bad.raw(b"23 short\r") == b"96\r"
        await bad.stream.send_all(b"X" * 100_000 + b"\r")  # far over the frame limit
        answer = await good.expect(status(ALPHA_PATRON), PatronStatusResponse)
        reply = await bad.read_frame()
    assert answer.valid_patron
    assert reply.startswith(b"96")  # with a checksum: this kiosk uses error detection


async def test_requests_before_login_close_the_connection(demo: Demo) -> None:
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.connect(demo)
        status_answer = await kiosk.expect(ScStatus(max_print_width=40), AcsStatus)
        refused = await kiosk.expect(
            LoginRequest(login_user_id="alpha-kiosk", login_password="wrong"), LoginResponse
        )
        await kiosk.stream.send_all(kiosk.conn.send(status(ALPHA_PATRON)))
        assert await kiosk.closed()
    assert status_answer.online_status
    assert not refused.ok


async def test_gateway_status_names_the_kiosks_library(demo: Demo) -> None:
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "gamma-desk")
        answer = await kiosk.expect(ScStatus(max_print_width=40), AcsStatus)
    assert answer.institution_id == "gamma"
    assert answer.library_name == "Gamma College Library"
    assert answer.terminal_location == "gamma-circulation"
    assert answer.checkout_ok


async def test_holds_local_forwarded_and_remote_refused(demo: Demo) -> None:
    def hold(item: str) -> HoldRequest:
        return HoldRequest(
            hold_mode=HoldMode.ADD,
            transaction_date=NOW,
            patron_identifier=ALPHA_PATRON,
            item_identifier=item,
        )

    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "alpha-kiosk")
        local = await kiosk.expect(hold("31001000000003"), HoldResponse)
        remote = await kiosk.expect(hold(BETA_ITEM), HoldResponse)
    assert local.ok
    assert local.queue_position == 1
    assert not remote.ok
    assert any("desk" in line for line in remote.screen_messages)


async def test_item_information_goes_to_the_owner(demo: Demo) -> None:
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "alpha-kiosk")
        answer = await kiosk.expect(
            ItemInformationRequest(transaction_date=NOW, item_identifier="31003000000002"),
            ItemInformationResponse,
        )
    assert answer.title_identifier == "Gamma Book 2"
    assert "17" in demo.simulators["gamma"].executed


async def test_renew_all_includes_reciprocal_loans(demo: Demo) -> None:
    with trio.fail_after(TIMEOUT):
        at_beta = await Kiosk.logged_in(demo, "beta-kiosk")
        assert (await at_beta.expect(checkout(ALPHA_PATRON, BETA_ITEM), CheckoutResponse)).ok
        at_alpha = await Kiosk.logged_in(demo, "alpha-kiosk")
        assert (
            await at_alpha.expect(checkout(ALPHA_PATRON, "31001000000005"), CheckoutResponse)
        ).ok
        answer = await at_alpha.expect(
            RenewAllRequest(
                transaction_date=NOW, patron_identifier=ALPHA_PATRON, patron_password="1234"
            ),
            RenewAllResponse,
        )
    assert answer.ok
    assert set(answer.renewed_items) == {"31001000000005", BETA_ITEM}
    assert answer.renewed_count == 2


async def test_owner_timeout_releases_the_slot(demo: Demo) -> None:
    """A checkout the owner does not answer within the member time-out is refused and
    its slot given back: the patron's next checkout is lent and recorded alone."""
    beta = demo.simulators["beta"]
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
        with held(beta, codes=("11",)) as gate:  # past the 1 s member time-out
            lent = await kiosk.expect(checkout(ALPHA_PATRON, BETA_ITEM), CheckoutResponse)
            gate.release()
            # The late answer goes to the connection the gateway discarded.
            await eventually(
                lambda: beta.executed.count("11") == 1, what="beta to carry out the late checkout"
            )
        again = await kiosk.expect(checkout(ALPHA_PATRON, "31002000000002"), CheckoutResponse)
    assert not lent.ok
    assert any("not answering" in line for line in lent.screen_messages)
    assert again.ok  # the slot held for the first checkout was given back
    loans = await demo.gateway.services.store.recent_loans(10)
    assert [loan.item for loan in loans] == ["31002000000002"]


class _FailingStore(MemoryStateStore):
    """A registry whose commit fails (a real in-memory store cannot be made to)."""

    async def commit(self, reservation: Reservation, *, due: datetime, now: datetime) -> Loan:
        raise RuntimeError("registry down")


async def test_unrecordable_loan_is_undone_at_the_owner(demo: Demo) -> None:
    """A loan the registry cannot record is checked in again at the owner, the kiosk
    is refused, the failure logged, and nothing reaches the ledger."""
    demo.gateway.services = replace(demo.gateway.services, store=_FailingStore())
    # Captured, the error's traceback is not rendered for the console: with the
    # locals of a whole gateway that takes seconds on a loaded machine.
    with trio.fail_after(TIMEOUT), capture_logs() as logs:
        kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
        lent = await kiosk.expect(checkout(ALPHA_PATRON, BETA_ITEM), CheckoutResponse)
    assert any(e["event"].startswith("the loan could not be recorded") for e in logs)
    assert not lent.ok
    assert any("could not be recorded" in line for line in lent.screen_messages)
    assert demo.simulators["beta"].executed.count("11") == 1
    assert demo.simulators["beta"].executed.count("09") == 1  # the loan was undone
    assert demo.simulators["beta"].library.items[BETA_ITEM].holder is None
    assert await ledger_kinds(demo) == []


async def test_too_many_wrong_pins_stop_asking_the_home_library(demo: Demo) -> None:
    """After five wrong PINs even the right one is refused, without a call home."""
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
        wrong = [
            await kiosk.expect(checkout(ALPHA_PATRON, BETA_ITEM, pin="0000"), CheckoutResponse)
            for _ in range(5)
        ]
        asked = len(demo.simulators["alpha"].executed)
        locked = await kiosk.expect(checkout(ALPHA_PATRON, BETA_ITEM), CheckoutResponse)
        other = await kiosk.expect(checkout(OTHER_ALPHA_PATRON, BETA_ITEM), CheckoutResponse)
    assert all("Incorrect PIN" in answer.screen_messages for answer in wrong)
    assert not locked.ok
    assert TOO_MANY_PINS in locked.screen_messages
    assert len(demo.simulators["alpha"].executed) == asked + 1  # only the other patron's
    assert other.ok  # the lock is per patron


def with_quota(config: Config) -> Config:
    """The demo with Beta lending at most two items to visitors at once."""
    config = short_timeouts(config)
    node = config.nodes["beta"]
    rules = node.circulation.model_copy(update={"visitor_loan_quota": 2})
    beta = node.model_copy(update={"circulation": rules})
    return config.model_copy(update={"nodes": {**config.nodes, "beta": beta}})


async def test_the_owners_quota_counts_every_visitor() -> None:
    """Beta's quota of two is reached by two patrons; a third visitor is told why."""
    with trio.fail_after(TIMEOUT):
        async with running_demo(with_quota) as running:
            kiosk = await Kiosk.logged_in(running, "beta-kiosk")
            first = await kiosk.expect(checkout(ALPHA_PATRON, "31002000000001"), CheckoutResponse)
            second = await kiosk.expect(
                checkout(OTHER_ALPHA_PATRON, "31002000000002"), CheckoutResponse
            )
            third = await kiosk.expect(checkout(ALPHA_PATRON, "31002000000003"), CheckoutResponse)
    assert first.ok
    assert second.ok
    assert not third.ok
    assert "Beta Public Library has no more items to lend to visitors now" in third.screen_messages
