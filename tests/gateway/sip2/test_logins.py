"""Terminal logins (93) under guessing, over real sockets: lock-outs per terminal and
per address, unknown names treated like known ones, refusals logged with the name."""

from __future__ import annotations

from collections import Counter

import pytest
import trio
from structlog.testing import capture_logs

from adapters.state.memory import MemoryStateStore
from config.consortium import TerminalAccount
from config.models import LimitSettings, Terminal
from config.secrets import hash_password, verify_password
from gateway.sip2.logins import LoginGuard
from tests.helpers.limits import HONEST_ADDRESS, connect_from, demo_with, login

TIMEOUT = 30
FAST = {"login_refusal_delay_s": 0.0}


async def test_a_terminal_is_locked_after_its_wrong_passwords() -> None:
    """After ``login_attempts`` wrong passwords the right one is refused too, from any
    address, until the window ends; the refusals are counted in the metrics."""
    with trio.fail_after(TIMEOUT):
        async with demo_with(login_attempts=3, **FAST) as demo:
            for _ in range(3):
                guesser = await connect_from(demo, "127.0.0.1")
                assert not await login(guesser, "alpha-kiosk", "guess")
            honest = await connect_from(demo, HONEST_ADDRESS)
            locked = await login(honest, "alpha-kiosk")
            other = await connect_from(demo, HONEST_ADDRESS)
            unaffected = await login(other, "beta-kiosk")
            counts = dict(demo.gateway.dispatcher.logins.counts)
    assert locked is False
    assert unaffected is True
    assert counts["wrong password"] == 3
    assert counts["terminal locked"] == 1
    assert counts["lockout:terminal"] == 1


async def test_an_address_is_locked_after_its_refused_logins() -> None:
    """Refused logins under many names lock the address out; another address still
    logs in."""
    with trio.fail_after(TIMEOUT):
        async with demo_with(login_attempts_per_address=4, **FAST) as demo:
            for n in range(4):
                guesser = await connect_from(demo, "127.0.0.1")
                assert not await login(guesser, f"kiosk-{n}", "guess")
            again = await connect_from(demo, "127.0.0.1")
            from_guesser = await login(again, "alpha-kiosk")
            honest = await connect_from(demo, HONEST_ADDRESS)
            from_elsewhere = await login(honest, "alpha-kiosk")
    assert from_guesser is False
    assert from_elsewhere is True


async def test_a_login_flood_from_one_address_stops_hashing_at_its_limit() -> None:
    """Fifty wrong logins sent at once from one address are checked one after the
    other, so only ``login_attempts_per_address`` of them cost a password hash, and an
    honest kiosk from another address is served meanwhile."""
    with trio.fail_after(TIMEOUT):
        async with demo_with(login_attempts_per_address=5, **FAST) as demo:
            guard = demo.gateway.dispatcher.logins
            refused: list[bool] = []

            async def guess(n: int) -> None:
                kiosk = await connect_from(demo, "127.0.0.1")
                refused.append(not await login(kiosk, "alpha-kiosk" if n % 2 else "x", "g"))

            async with trio.open_nursery() as nursery:
                for n in range(50):
                    nursery.start_soon(guess, n)
                honest = await connect_from(demo, HONEST_ADDRESS)
                honest_ok = await login(honest, "beta-kiosk")
            counts = dict(guard.counts)
    assert honest_ok is True
    assert all(refused)
    assert len(refused) == 50
    hashed = counts.get("wrong password", 0) + counts.get("unknown terminal", 0)
    assert hashed == 5
    assert counts["address locked"] == 45


async def test_a_refused_login_is_logged_with_its_terminal_name() -> None:
    """The log names the terminal tried, the address and why, never the password."""
    with trio.fail_after(TIMEOUT), capture_logs() as logs:
        async with demo_with(**FAST) as demo:
            kiosk = await connect_from(demo, "127.0.0.1")
            assert not await login(kiosk, "no-such-kiosk", "s3cret-guess")
    [line] = [e for e in logs if e["event"] == "terminal login refused"]
    assert line["terminal"] == "no-such-kiosk"
    assert line["peer"] == "127.0.0.1"
    assert line["why"] == "unknown terminal"
    assert "s3cret-guess" not in repr(logs)


@pytest.mark.parametrize("known", [True, False], ids=["known", "unknown"])
async def test_unknown_and_known_names_cost_one_hash_check_each(known: bool) -> None:
    """A wrong password for a known terminal and any password for an unknown one both
    run exactly one password check (against a dummy hash for the unknown name), so the
    time of the answer does not tell whether a terminal exists."""
    checked: Counter[str] = Counter()

    def counting(password: str, stored: str) -> bool:
        checked["checks"] += 1
        return verify_password(password, stored)

    account = TerminalAccount("alpha", Terminal(login="k", password_hash=hash_password("demo")))
    guard = LoginGuard(verify=counting)
    refused = await guard.login(
        MemoryStateStore(),
        LimitSettings(login_refusal_delay_s=0),
        name="k" if known else "nobody",
        password="guess",
        account=account if known else None,
        address="127.0.0.1",
    )
    assert refused is not None
    assert refused.reason == ("wrong password" if known else "unknown terminal")
    assert checked["checks"] == 1


async def test_a_known_good_password_is_not_hashed_again() -> None:
    """A kiosk logging in again with its password costs no second hash check."""
    checked: Counter[str] = Counter()

    def counting(password: str, stored: str) -> bool:
        checked["checks"] += 1
        return verify_password(password, stored)

    account = TerminalAccount("alpha", Terminal(login="k", password_hash=hash_password("demo")))
    guard = LoginGuard(verify=counting)
    for _ in range(3):
        refused = await guard.login(
            MemoryStateStore(),
            LimitSettings(),
            name="k",
            password="demo",
            account=account,
            address="127.0.0.1",
        )
        assert refused is None
    assert checked["checks"] == 1
