"""The ledger worker's wait after a failure, when keeping its held events takes longer
than the wait itself (a state store slow to answer, or a stalled event loop)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio
import trio.testing

from adapters.state.memory import MemoryStateStore
from config.models import LedgerSettings
from gateway.ledger.worker import LedgerWorker

if TYPE_CHECKING:
    from collections.abc import Sequence

TOUCH_S = 5.0
BACKOFF_S = 1.0


class SlowTouchStore(MemoryStateStore):
    """The in-memory store, whose outbox touch answers after ``TOUCH_S``."""

    def __init__(self) -> None:
        super().__init__()
        self.touches = 0

    async def outbox_touch(self, consumer: str, entry_ids: Sequence[str]) -> list[str]:
        self.touches += 1
        await trio.sleep(TOUCH_S)
        return await super().outbox_touch(consumer, entry_ids)


async def test_a_touch_longer_than_the_back_off_ends_the_wait(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The touch outlasts the back-off: the wait ends after it, no negative sleep."""
    store = SlowTouchStore()
    worker = LedgerWorker(
        LedgerSettings(backend="none"),
        store=lambda: store,
        record_key=lambda: b"k" * 32,
        min_backoff_s=BACKOFF_S,
        max_backoff_s=BACKOFF_S,
        reclaim_after_s=30.0,
    )
    worker._held = ["1-0"]  # a stuck batch's events, kept ours while waiting
    started = trio.current_time()
    await worker._failed("the state store is unavailable", "slow", warning=True)
    assert store.touches == 1
    assert trio.current_time() - started == TOUCH_S
