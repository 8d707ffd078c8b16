"""The outbox pump: moves loan events from the state store's outbox to the ledger, and
the health record every outbox consumer keeps.

The registry writes each loan event into its outbox in the same atomic step as the
loan itself; this task hands them to the ``Ledger`` and acknowledges them only after
that, so an event is delivered at least once even when a gateway dies in between: the
next pump (of this or another gateway) reclaims events left unacknowledged longer than
``reclaim_after_s``.  While the store is unreachable the pump waits with back-off
(``MIN_BACKOFF_S`` doubling up to ``MAX_BACKOFF_S``, ``adapters/backoff.py``).

Health.  The outbox's consumer (this pump, or the ledger worker in its place) records
in an ``OutboxConsumerHealth`` when it last read and acknowledged, how many outbox calls
in a row have failed and the last failure.  A consumer whose outbox calls have failed
for ``STALL_AFTER_S`` without a single success while events wait is *not draining*:
``/readyz`` then answers 503 with the reason and ``/api/ledger`` shows the same
figures, so that a consumer that cannot read (a lost consumer group, a Redis user not
allowed to read streams, ...) is seen instead of the ledger and the lending counters
falling silently behind.  A chain that is down is not counted: kiosks are still
served, the outbox holds the events, and ``/api/ledger`` reports the chain's error.
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
import trio

from adapters.backoff import Backoff
from adapters.state.base import StateUnavailable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from adapters.ledger.base import Ledger, LoanEvent
    from adapters.state.base import Outbox, OutboxEntry

__all__ = [
    "STALL_AFTER_S",
    "OutboxConsumerHealth",
    "OutboxConsumerStatistics",
    "consumer_name",
    "pump_outbox",
]

log = structlog.get_logger("interlend.outbox")

BATCH = 256
WAIT_S = 1.0
RECLAIM_AFTER_S = 60.0
MIN_BACKOFF_S = 0.1
MAX_BACKOFF_S = 10.0
STALL_AFTER_S = 60.0
"""How long a consumer's outbox calls may keep failing, while events wait, before the
gateway reports it as not draining.  A working consumer reads at least every ``WAIT_S``,
and retries a failed call within 10 s (the pump) or 30 s (the ledger worker), so one
retry after a short Redis fail-over does not make the gateway unready."""


def consumer_name() -> str:
    """This process's name in the outbox's consumer group (host and process id)."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class OutboxConsumerStatistics:
    """How the outbox's consumer is doing, for ``/api/ledger`` and ``/readyz``."""

    draining: bool
    """``False`` once its outbox calls have failed for ``stall_after_s`` while events wait."""
    pending: int | None
    """Events in the outbox not yet acknowledged, as last seen (``None``: not yet seen)."""
    seconds_since_read: float | None
    """Since its last successful read (or reclaim, or touch); ``None``: none yet."""
    seconds_since_ack: float | None
    """Since it last acknowledged events; ``None``: none yet."""
    consecutive_failures: int
    """Outbox calls failed in a row (0 after any success)."""
    failing_for_s: float
    """How long those calls have kept failing (0 while they succeed)."""
    last_error: str | None
    """The last failure (kept after a success, for the record)."""
    stall_after_s: float

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form."""
        return {
            "draining": self.draining,
            "pending": self.pending,
            "seconds_since_read": _rounded(self.seconds_since_read),
            "seconds_since_ack": _rounded(self.seconds_since_ack),
            "consecutive_failures": self.consecutive_failures,
            "failing_for_s": _rounded(self.failing_for_s),
            "last_error": self.last_error,
            "stall_after_s": self.stall_after_s,
        }


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


class OutboxConsumerHealth:
    """The outbox consumer's health record (see the module documentation).

    The consumer calls ``read`` after each successful read, reclaim or touch, ``acked``
    after each acknowledgement and ``failed`` when an outbox call fails; the admin
    routes read ``not_draining`` and ``statistics``.  Times are trio's clock.

    Args:
        stall_after_s: How long failures may last while events wait before the consumer
            counts as not draining.
    """

    def __init__(self, *, stall_after_s: float = STALL_AFTER_S) -> None:
        self.stall_after_s = stall_after_s
        self._last_read: float | None = None
        self._last_ack: float | None = None
        self._failures = 0
        self._failing_since: float | None = None
        self._last_error: str | None = None
        self._pending: int | None = None

    def read(self) -> None:
        """The consumer read from its group (events or none): it is reaching it."""
        self._last_read = trio.current_time()
        self._succeeded()

    def acked(self) -> None:
        """The consumer acknowledged events."""
        self._last_ack = trio.current_time()
        self._succeeded()

    def _succeeded(self) -> None:
        self._failures = 0
        self._failing_since = None

    def failed(self, detail: str) -> None:
        """An outbox call failed (the store said why)."""
        if self._failing_since is None:
            self._failing_since = trio.current_time()
        self._failures += 1
        self._last_error = detail

    @property
    def consecutive_failures(self) -> int:
        """Outbox calls failed in a row."""
        return self._failures

    def saw_pending(self, count: int) -> None:
        """The outbox held ``count`` unacknowledged events just now."""
        self._pending = count

    def failing_for(self) -> float:
        """Seconds the consumer's outbox calls have kept failing (0 while they work)."""
        if self._failing_since is None:
            return 0.0
        return trio.current_time() - self._failing_since

    @property
    def stalling(self) -> bool:
        """Failing for ``stall_after_s`` or longer (whether events wait is not known here)."""
        return self.failing_for() >= self.stall_after_s

    def not_draining(self, pending: int) -> str | None:
        """Why the consumer is not draining ``pending`` waiting events, or ``None``."""
        self.saw_pending(pending)
        if pending <= 0 or not self.stalling:
            return None
        return (
            f"the ledger outbox is not draining: {pending} loan events wait and its "
            f"consumer has failed for {self.failing_for():.0f}s ({self._last_error})"
        )

    def statistics(self) -> OutboxConsumerStatistics:
        """The record as it stands."""
        now = trio.current_time()
        return OutboxConsumerStatistics(
            draining=not (self.stalling and (self._pending or 0) > 0),
            pending=self._pending,
            seconds_since_read=None if self._last_read is None else now - self._last_read,
            seconds_since_ack=None if self._last_ack is None else now - self._last_ack,
            consecutive_failures=self.consecutive_failures,
            failing_for_s=self.failing_for(),
            last_error=self._last_error,
            stall_after_s=self.stall_after_s,
        )


async def pump_outbox(
    outbox: Callable[[], Outbox],
    ledger: Callable[[], Ledger],
    *,
    consumer: str | None = None,
    wait_s: float = WAIT_S,
    reclaim_after_s: float = RECLAIM_AFTER_S,
    on_read: Callable[[list[LoanEvent]], Awaitable[None]] | None = None,
    health: OutboxConsumerHealth | None = None,
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
        health: Where the pump records how it is doing (see the module documentation).
    """
    name = consumer or consumer_name()
    record = health or OutboxConsumerHealth()
    backoff = Backoff(MIN_BACKOFF_S, MAX_BACKOFF_S)
    next_reclaim = trio.current_time()
    while True:
        try:
            store = outbox()
            entries: list[OutboxEntry] = []
            if trio.current_time() >= next_reclaim:
                entries = await store.outbox_reclaim(name, BATCH, min_idle_s=reclaim_after_s)
                record.read()
                next_reclaim = trio.current_time() + reclaim_after_s / 2
                if entries:
                    log.warning("reclaimed unacknowledged loan events", count=len(entries))
            if not entries:
                entries = await store.outbox_read(name, BATCH, wait_s=wait_s)
                record.read()
                if entries and on_read is not None:
                    await on_read([entry.event for entry in entries])
            if entries:
                sink = ledger()
                for entry in entries:
                    sink.record_nowait(entry.event)
                await store.outbox_ack([entry.entry_id for entry in entries])
                record.acked()
            backoff.reset()
        except StateUnavailable as exc:
            record.failed(exc.detail)
            delay = backoff.next_delay()
            log.warning(
                "outbox unreachable; retrying",
                detail=exc.detail,
                retry_s=delay,
                failures=record.consecutive_failures,
            )
            await _note_pending(outbox(), record)
            await trio.sleep(delay)


async def _note_pending(store: Outbox, record: OutboxConsumerHealth) -> None:
    """Record how many events wait (the outbox may still answer that when reads fail)."""
    with contextlib.suppress(StateUnavailable):  # the next attempt reports it
        record.saw_pending(await store.outbox_pending())
