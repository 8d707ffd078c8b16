"""Wrong-PIN lock-out per patron, shared by every gateway through the state store.

Wrong PINs are counted in the store (``Throttle``), so all gateways see them.  To keep
the store off the path of the common case, a gateway reads a patron's count only when
it has itself seen a wrong PIN for that patron within the window; the count returned by
each recorded failure tells it when the limit is reached.  A patron's PIN can therefore
be tried at most ``attempts`` times plus once per gateway that had not yet seen a
failure, within ``window_s``: the guessing stays bounded, and a patron who types the
right PIN costs no extra round trip.
"""

from __future__ import annotations

import time
from collections import Counter
from itertools import islice
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from adapters.state.base import Throttle

__all__ = ["REMEMBERED", "PinGuard"]

REMEMBERED = 100_000
"""Patrons with a recent wrong PIN a gateway remembers.  Past it, those whose window has
ended are forgotten; if every one is still in its window, the quarter that failed first
is.  A patron forgotten while locked gets one more try at the home ILS from this
gateway: that failure is counted in the store and remembered again, and the next
request reads the store's count.
"""


class PinGuard:
    """Counts wrong PINs per patron key and says when to stop asking the home ILS."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._seen: dict[str, float] = {}
        self._clock = clock
        self.counts: Counter[str] = Counter()
        """Events since the start, for the metrics: ``wrong`` PINs, patrons ``locked``
        (the attempt that reached the limit), requests ``refused`` while locked."""

    @property
    def remembered(self) -> int:
        """Patrons remembered with a recent wrong PIN (some windows may have ended)."""
        return len(self._seen)

    @staticmethod
    def _bucket(patron: str) -> str:
        return f"pin:{patron}"

    async def locked(self, store: Throttle, patron: str, *, attempts: int) -> bool:
        """Whether the patron has used up their attempts (reads the store only after a
        failure was seen here within the window)."""
        until = self._seen.get(patron)
        if until is None:
            return False
        if until <= self._clock():
            del self._seen[patron]
            return False
        return await store.count(self._bucket(patron)) >= attempts

    async def succeeded(self, store: Throttle, patron: str) -> None:
        """A right PIN: the patron's earlier wrong ones stop counting (a store call only
        when this gateway has seen one of them)."""
        if self._seen.pop(patron, None) is not None:
            await store.reset(self._bucket(patron))

    async def failed(self, store: Throttle, patron: str, *, window_s: float) -> int:
        """Record a wrong PIN; returns the patron's count within the window."""
        count = await store.hit(self._bucket(patron), window_s=window_s)
        if patron not in self._seen and len(self._seen) >= REMEMBERED:
            now = self._clock()
            self._seen = {k: v for k, v in self._seen.items() if v > now}
            if len(self._seen) >= REMEMBERED:
                keep = REMEMBERED * 3 // 4
                self._seen = dict(islice(self._seen.items(), len(self._seen) - keep, None))
        self._seen[patron] = self._clock() + window_s
        return count
