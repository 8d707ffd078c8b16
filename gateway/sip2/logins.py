"""Terminal logins (93): passwords checked off the event loop, guessing bounded.

A kiosk logs in with a terminal account from the configuration (scrypt hashes).  The
rules, in order:

1. **Lock-outs.**  Refused logins are counted per terminal name and per kiosk address
   in the shared state store (``Throttle``), so across gateways.  Once a terminal has
   ``limits.login_attempts`` refusals, or an address ``limits.login_attempts_per_address``,
   within ``limits.login_window_s``, its logins are refused without checking the
   password until the window ends.  Kiosks already logged in are not affected.
2. **One check at a time per address.**  A flood of logins from one address waits for
   its own previous check, so it holds at most one of the threads that verify hashes and
   an honest kiosk elsewhere is not queued behind it.
3. **No user enumeration.**  An unknown terminal name is checked against a dummy hash
   with the same cost as a real one, counts the same, and is refused with the same
   answer after the same pause (``limits.login_refusal_delay_s``).
4. **Known good passwords** are remembered (a keyed hash of name, password and stored
   hash, in memory) so that a kiosk reconnecting does not pay for scrypt again.

Every refusal is logged with the terminal name it tried (truncated) and the address;
refusals of a locked terminal or address are logged at most once per
``LOCKED_LOG_INTERVAL_S`` per address, with the number not logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
import trio

from adapters.state.base import StateUnavailable
from config.secrets import hash_password, verify_password

if TYPE_CHECKING:
    from collections.abc import Callable

    from adapters.state.base import Throttle
    from config.consortium import TerminalAccount
    from config.models import LimitSettings

__all__ = ["LoginGuard", "LoginRefused"]

log = structlog.get_logger("interlend.logins")

LOCKED_LOG_INTERVAL_S = 10.0
_NAME_IN_LOGS = 64
_REMEMBERED = 10_000


@dataclass(frozen=True)
class LoginRefused:
    """Why a login was refused (for the log and the metrics; the kiosk is told nothing)."""

    reason: str
    """``unknown terminal``, ``wrong password``, ``terminal locked`` or ``address locked``."""


class LoginGuard:
    """Checks terminal logins (see the module documentation).

    Args:
        hash_limiter: Bounds the threads verifying password hashes.
        clock: Seconds (trio time by default), for the sampling of log lines.
        verify: Checks a password against a stored hash (``verify_password``).
    """

    def __init__(
        self,
        *,
        hash_limiter: trio.CapacityLimiter | None = None,
        clock: Callable[[], float] = trio.current_time,
        verify: Callable[[str, str], bool] = verify_password,
    ) -> None:
        self._limiter = hash_limiter or trio.CapacityLimiter(2)
        self._verify = verify
        self._clock = clock
        self._key = secrets.token_bytes(16)
        self._good: set[bytes] = set()
        self._checking: dict[str, trio.Lock] = {}
        self._dummy: str | None = None
        self._locked_logged: dict[str, tuple[float, int]] = {}
        self.counts: Counter[str] = Counter()
        """Refusals by reason, and lock-outs (``lockout:terminal``, ``lockout:address``)."""

    async def login(
        self,
        store: Throttle,
        limits: LimitSettings,
        *,
        name: str,
        password: str,
        account: TerminalAccount | None,
        address: str,
    ) -> LoginRefused | None:
        """Check one login; ``None`` when it is accepted.

        A refusal is returned after ``limits.login_refusal_delay_s``.  The store being
        unavailable does not stop logins: the lock-outs are then not applied.
        """
        terminal_bucket = f"login:t:{hashlib.sha256(name.encode()).hexdigest()[:32]}"
        address_bucket = f"login:a:{address}"
        # One login at a time per address, lock-out check included: a flood from one
        # address is checked (and counted) one attempt after the other, so it stops at
        # its limit instead of queueing hash checks past it.
        lock = self._checking.setdefault(address, trio.Lock())
        try:
            async with lock:
                refused = await self._locked(store, limits, terminal_bucket, address_bucket)
                if refused is None:
                    refused = await self._check(name, password, account)
                    if refused is not None:
                        await self._count(
                            store, limits, terminal_bucket, address_bucket, name, address
                        )
        finally:
            if not lock.locked():
                self._checking.pop(address, None)
        if refused is None:
            return None
        self.counts[refused.reason] += 1
        self._log(refused, name, address)
        await trio.sleep(limits.login_refusal_delay_s)
        return refused

    async def _locked(
        self, store: Throttle, limits: LimitSettings, terminal: str, address: str
    ) -> LoginRefused | None:
        try:
            if await store.count(address) >= limits.login_attempts_per_address:
                return LoginRefused("address locked")
            if await store.count(terminal) >= limits.login_attempts:
                return LoginRefused("terminal locked")
        except StateUnavailable as exc:
            log.warning("login lock-outs not checked", detail=exc.detail)
        return None

    async def _check(
        self, name: str, password: str, account: TerminalAccount | None
    ) -> LoginRefused | None:
        stored = account.terminal.password_hash if account is not None else self._dummy_hash()
        seen = hmac.new(
            self._key, f"{name}\x1f{password}\x1f{stored}".encode(), hashlib.sha256
        ).digest()
        if account is not None and seen in self._good:
            return None
        ok = await trio.to_thread.run_sync(self._verify, password, stored, limiter=self._limiter)
        if account is None:
            return LoginRefused("unknown terminal")
        if not ok:
            return LoginRefused("wrong password")
        if len(self._good) >= _REMEMBERED:
            self._good.clear()
        self._good.add(seen)
        return None

    def _dummy_hash(self) -> str:
        """A hash of a random password, with the same cost as a terminal's."""
        if self._dummy is None:
            self._dummy = hash_password(secrets.token_urlsafe(16))
        return self._dummy

    async def _count(
        self,
        store: Throttle,
        limits: LimitSettings,
        terminal: str,
        address: str,
        name: str,
        peer: str,
    ) -> None:
        window = limits.login_window_s
        try:
            by_terminal = await store.hit(terminal, window_s=window)
            by_address = await store.hit(address, window_s=window)
        except StateUnavailable as exc:
            log.warning("refused login not counted", detail=exc.detail)
            return
        if by_terminal == limits.login_attempts:
            self.counts["lockout:terminal"] += 1
            log.warning(
                "terminal locked out", terminal=name[:_NAME_IN_LOGS], peer=peer, for_s=window
            )
        if by_address == limits.login_attempts_per_address:
            self.counts["lockout:address"] += 1
            log.warning("address locked out of logins", peer=peer, for_s=window)

    def _log(self, refused: LoginRefused, name: str, address: str) -> None:
        shown = name[:_NAME_IN_LOGS]
        if refused.reason not in ("terminal locked", "address locked"):
            log.warning("terminal login refused", terminal=shown, peer=address, why=refused.reason)
            return
        now = self._clock()
        last, quiet = self._locked_logged.get(address, (-LOCKED_LOG_INTERVAL_S, 0))
        if now - last < LOCKED_LOG_INTERVAL_S:
            self._locked_logged[address] = (last, quiet + 1)
            return
        if len(self._locked_logged) >= _REMEMBERED:
            self._locked_logged.clear()
        self._locked_logged[address] = (now, 0)
        log.warning(
            "terminal login refused",
            terminal=shown,
            peer=address,
            why=refused.reason,
            not_logged=quiet,
        )
