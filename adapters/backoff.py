"""Exponential back-off: how long to wait after each failure in a row.

A ``Backoff`` starts at ``base_s`` and doubles with each failure it is told of, up to
``cap_s``; ``reset`` after a success starts it over.  It reads no clock and sleeps
nowhere: it only counts, and the caller waits on its own clock (trio's in a retry loop,
the injected clock of a circuit breaker), so it is tested as plain arithmetic and its
users under a fake clock.  There is no jitter: none of its users has wanted one.

Two ways to use it:

* a retry loop waits ``next_delay()`` after each failure (``base_s`` the first time,
  then twice as long each time) and calls ``reset()`` after a success;
* a circuit breaker holds an endpoint off for ``current_s`` and, when the endpoint
  fails again after that, for ``lengthen()`` (twice as long).

``delay_for(n)`` is the same arithmetic without the count, for a caller that keeps its
own count of failures.  The count may grow without limit (a chain down for a week):
once the delay has reached the cap it stays there.
"""

from __future__ import annotations

__all__ = ["Backoff"]


class Backoff:
    """Delays doubling from ``base_s`` up to ``cap_s`` (see the module documentation).

    Args:
        base_s: The first delay, in seconds.
        cap_s: The longest delay.

    Raises:
        ValueError: Unless ``0 < base_s <= cap_s``.
    """

    __slots__ = ("_failures", "_steps_to_cap", "base_s", "cap_s")

    def __init__(self, base_s: float, cap_s: float) -> None:
        if not 0 < base_s <= cap_s:
            raise ValueError(f"a back-off needs 0 < base_s <= cap_s, not {base_s} and {cap_s}")
        self.base_s = base_s
        self.cap_s = cap_s
        self._failures = 0
        steps, delay = 0, base_s
        while delay < cap_s:
            steps, delay = steps + 1, delay * 2
        self._steps_to_cap = steps
        """Doublings after which the delay is the cap (bounds the power below)."""

    def delay_for(self, failures: int) -> float:
        """The delay after ``failures`` earlier failures in a row (``base_s`` for none).

        Raises:
            ValueError: ``failures`` is negative.
        """
        if failures < 0:
            raise ValueError("failures cannot be negative")
        if failures >= self._steps_to_cap:
            return self.cap_s
        return min(self.cap_s, self.base_s * 2.0**failures)

    @property
    def failures(self) -> int:
        """Failures counted since the last ``reset``."""
        return self._failures

    @property
    def current_s(self) -> float:
        """The delay the next ``next_delay`` gives (``base_s`` after a reset)."""
        return self.delay_for(self._failures)

    def next_delay(self) -> float:
        """Count one failure; the delay to wait before trying again."""
        delay = self.current_s
        self._failures += 1
        return delay

    def lengthen(self) -> float:
        """Count one failure; the delay after it (twice ``current_s`` was, capped)."""
        self._failures += 1
        return self.current_s

    def reset(self) -> None:
        """A success: the next delay is ``base_s`` again."""
        self._failures = 0
