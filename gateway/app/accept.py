"""Accepting kiosk connections without running out of file descriptors.

* ``raise_fd_limit()`` raises the process's soft limit of open files to its hard limit
  at start (where the platform allows), since every kiosk holds one.
* ``connection_cap()`` keeps the kiosk connections allowed at once below that limit,
  leaving descriptors for the member ILS pools, the state store, the chain and the
  admin port: a flood of kiosks can never leave ``/healthz`` without a socket.
* ``accept_connections()`` is the accept loop.  When accepting fails for want of
  descriptors or memory it backs off (``ACCEPT_BACKOFF_S``) and says so in one log line
  per ``ACCEPT_LOG_INTERVAL_S`` with the number of failures, instead of a traceback
  every time.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import structlog
import trio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from gateway.telemetry.metrics import Metrics

__all__ = ["accept_connections", "connection_cap", "raise_fd_limit"]

log = structlog.get_logger("interlend.accept")

ACCEPT_BACKOFF_S = 0.1
ACCEPT_LOG_INTERVAL_S = 10.0
OUT_OF_RESOURCES = frozenset(
    code
    for code in (getattr(errno, name, None) for name in ("EMFILE", "ENFILE", "ENOMEM", "ENOBUFS"))
    if code is not None
)
"""Accept errors that mean "no resources now", not "this listener is broken"."""


def raise_fd_limit() -> int | None:
    """Raise the soft limit of open files to the hard limit; returns the soft limit now
    (``None`` where the platform has no such limit)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            log.info("open file limit raised", soft=wanted, was=soft)
            soft = wanted
        except (ValueError, OSError) as exc:
            log.warning("open file limit not raised", soft=soft, hard=hard, error=str(exc))
    return None if soft == resource.RLIM_INFINITY else int(soft)


def connection_cap(configured: int, fd_limit: int | None) -> int:
    """The kiosk connections allowed at once: the configured cap, lowered to leave a
    reserve of descriptors (an eighth of the limit, between 32 and 256)."""
    if fd_limit is None:
        return configured
    reserve = min(256, max(32, fd_limit // 8))
    fitting = max(1, fd_limit - reserve)
    if fitting < configured:
        log.warning(
            "kiosk connections capped below gateway.limits.max_connections by the open file limit",
            cap=fitting,
            configured=configured,
            fd_limit=fd_limit,
        )
    return min(configured, fitting)


async def accept_connections(
    listener: trio.abc.Listener[trio.abc.Stream],
    handler: Callable[[trio.abc.Stream], Awaitable[None]],
    nursery: trio.Nursery,
    metrics: Metrics,
) -> None:
    """Accept connections on ``listener`` and run ``handler`` for each in ``nursery``,
    until cancelled (see the module documentation)."""
    last_logged, failures = -ACCEPT_LOG_INTERVAL_S, 0
    while True:
        try:
            stream = await listener.accept()
        except OSError as exc:
            if exc.errno not in OUT_OF_RESOURCES:
                raise
            metrics.accept_errors.inc()
            failures += 1
            now = trio.current_time()
            if now - last_logged >= ACCEPT_LOG_INTERVAL_S:
                log.error(
                    "kiosk connections cannot be accepted",
                    error=errno.errorcode.get(exc.errno or 0, str(exc.errno)),
                    failures=failures,
                    hint="raise the open file limit or lower gateway.limits.max_connections",
                )
                last_logged, failures = now, 0
            await trio.sleep(ACCEPT_BACKOFF_S)
            continue
        nursery.start_soon(handler, stream)
