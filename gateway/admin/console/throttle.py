"""How many wrong tokens the login takes from one address before it stops listening.

A token is at least 16 characters, so guessing one is hopeless; the throttle keeps a
guesser from costing the gateway anything, and makes the attempts visible: after
``max_refusals`` wrong tokens from one address within ``window_s``, that address gets
429 until the oldest of them leaves the window.  A right token clears the address's
count.  Behind a reverse proxy every browser shares the proxy's address: a guesser
there locks the login for everyone for at most ``window_s`` (the bearer tokens of
the API are not concerned).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["LoginThrottle"]


class LoginThrottle:
    """Wrong-token counts per client address, within a sliding window.

    Args:
        max_refusals: Wrong tokens an address may send within ``window_s``.
        window_s: The window, in seconds.
        max_addresses: Addresses remembered at most (the oldest is forgotten first),
            so that a flood from many addresses cannot grow the table without end.
        now: A monotonic clock in seconds (tests give a fake one).
    """

    def __init__(
        self,
        *,
        max_refusals: int = 10,
        window_s: float = 900.0,
        max_addresses: int = 10_000,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_refusals = max_refusals
        self._window_s = window_s
        self._max_addresses = max_addresses
        self._now = now
        self._refusals: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, address: str) -> float | None:
        """Seconds until ``address`` may try again, or ``None`` if it may now."""
        times = self._recent(address)
        if len(times) < self._max_refusals:
            return None
        return max(0.0, times[0] + self._window_s - self._now())

    def refused(self, address: str) -> None:
        """Count a wrong token from ``address``."""
        times = self._recent(address)
        times.append(self._now())
        self._refusals[address] = times
        self._refusals.move_to_end(address)
        while len(self._refusals) > self._max_addresses:
            self._refusals.popitem(last=False)

    def admitted(self, address: str) -> None:
        """A right token from ``address``: its count starts again."""
        self._refusals.pop(address, None)

    def _recent(self, address: str) -> deque[float]:
        times = self._refusals.get(address, deque())
        horizon = self._now() - self._window_s
        while times and times[0] <= horizon:
            times.popleft()
        return times
