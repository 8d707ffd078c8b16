"""Waiting, in tests, for something another task or process does: a bounded poll.

Where the test owns an event (a simulated ILS's arrivals, ``tests/helpers/arrivals.py``;
a task it started) it waits on the event.  Where the thing waited for is another
component's state that announces nothing (a pump draining an outbox, a gateway
noticing a closed connection, a process writing its manifest, a Redis key expiring),
it polls the condition, with a bound, here:

* ``eventually`` in trio code: the bound is in trio time, so under ``autojump_clock``
  the polls cost no real time;
* ``eventually_blocking`` in synchronous tests that drive a subprocess.

Both return the condition's first truthy value, so a poll can hand over what it found
(``reclaimed = await eventually(reclaim_some)``; a condition may return ``None`` for
"not yet").  A poll that runs out of time fails
the test with an ``AssertionError`` naming what was waited for.
"""

from __future__ import annotations

import inspect
import time
from typing import TYPE_CHECKING, TypeVar, overload

import trio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["DEFAULT_TIMEOUT_S", "eventually", "eventually_blocking"]

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 10.0
"""How long a poll waits unless told: far longer than any condition takes on a slow
machine, short enough that a broken test fails rather than hangs."""
POLL_EVERY_S = 0.01


@overload
async def eventually(
    condition: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    every: float = POLL_EVERY_S,
    what: str = "",
) -> T: ...


@overload
async def eventually(
    condition: Callable[[], T | None],
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    every: float = POLL_EVERY_S,
    what: str = "",
) -> T: ...


async def eventually(
    condition: Callable[[], T | None] | Callable[[], Awaitable[T | None]],
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    every: float = POLL_EVERY_S,
    what: str = "",
) -> T:
    """Poll ``condition`` (plain or async) until it returns something truthy.

    Args:
        condition: Checked at once, then every ``every`` seconds.
        timeout: Seconds (trio time) before the test fails.
        every: Seconds between two checks.
        what: What is waited for, for the failure message.

    Returns:
        The first truthy value ``condition`` returned.

    Raises:
        AssertionError: ``condition`` was still falsy after ``timeout``.
    """
    last: object = None
    with trio.move_on_after(timeout):
        while True:
            answer = condition()
            found = await answer if inspect.isawaitable(answer) else answer
            if found:
                return found
            last = found
            await trio.sleep(every)
    raise AssertionError(f"not within {timeout}s: {what or _name(condition)} (last: {last!r})")


def eventually_blocking(
    condition: Callable[[], T | None],
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    every: float = 0.05,
    what: str = "",
) -> T:
    """``eventually`` for synchronous tests (a subprocess's files, its HTTP port).

    Args:
        condition: Checked at once, then every ``every`` seconds of real time.
        timeout: Seconds of real time before the test fails.
        every: Seconds between two checks.
        what: What is waited for, for the failure message.

    Returns:
        The first truthy value ``condition`` returned.

    Raises:
        AssertionError: ``condition`` was still falsy after ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"not within {timeout}s: {what or _name(condition)} (last: {found!r})"
            )
        time.sleep(every)


def _name(condition: object) -> str:
    return repr(condition)
