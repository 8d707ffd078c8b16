"""The outbox pump: moves loan events from the state store's outbox to the ledger.

The registry writes each loan event into its outbox in the same atomic step as the
loan itself; this task hands them to the ``Ledger`` and acknowledges them only after
that, so an event is delivered at least once even when a gateway dies in between: the
next pump (of this or another gateway) reclaims events left unacknowledged longer than
``reclaim_after_s``.  While the store is unreachable the pump waits with back-off.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

import structlog
import trio

from adapters.state.base import StateUnavailable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from adapters.ledger.base import Ledger, LoanEvent
    from adapters.state.base import Outbox, OutboxEntry

__all__ = ["consumer_name", "pump_outbox"]

log = structlog.get_logger("interlend.outbox")

BATCH = 256
WAIT_S = 1.0
RECLAIM_AFTER_S = 60.0
MAX_BACKOFF_S = 10.0


def consumer_name() -> str:
    """This process's name in the outbox's consumer group (host and process id)."""
    return f"{socket.gethostname()}-{os.getpid()}"


async def pump_outbox(
    outbox: Callable[[], Outbox],
    ledger: Callable[[], Ledger],
    *,
    consumer: str | None = None,
    wait_s: float = WAIT_S,
    reclaim_after_s: float = RECLAIM_AFTER_S,
    on_read: Callable[[list[LoanEvent]], Awaitable[None]] | None = None,
) -> None:
    """Deliver outbox events to the ledger until cancelled.

    Args:
        outbox: Returns the current outbox (the runtime's store).
        ledger: Returns the current ledger.
        on_read: Told of newly read events (not reclaimed ones), before they are
            acknowledged (the lending counters are fed this way).
        consumer: The consumer's name (default: host and process id).
        wait_s: How long one read waits for new events.
        reclaim_after_s: Events read but unacknowledged this long are taken over.
    """
    name = consumer or consumer_name()
    backoff = 0.1
    next_reclaim = trio.current_time()
    while True:
        try:
            store = outbox()
            entries: list[OutboxEntry] = []
            if trio.current_time() >= next_reclaim:
                entries = await store.outbox_reclaim(name, BATCH, min_idle_s=reclaim_after_s)
                next_reclaim = trio.current_time() + reclaim_after_s / 2
                if entries:
                    log.warning("reclaimed unacknowledged loan events", count=len(entries))
            if not entries:
                entries = await store.outbox_read(name, BATCH, wait_s=wait_s)
                if entries and on_read is not None:
                    await on_read([entry.event for entry in entries])
            if entries:
                sink = ledger()
                for entry in entries:
                    sink.record_nowait(entry.event)
                await store.outbox_ack([entry.entry_id for entry in entries])
            backoff = 0.1
        except StateUnavailable as exc:
            log.warning("outbox unreachable; retrying", detail=exc.detail, retry_s=backoff)
            await trio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
