"""Reading the title holds that ended in a period (filled, withdrawn, expired).

The history is bounded like the refusals' (``gateway.state.history`` records, the oldest
dropped first).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.state.base import ClosedHold, TitleHolds
    from gateway.history.period import Period

__all__ = ["read_closed_holds"]


async def read_closed_holds(store: TitleHolds, period: Period) -> tuple[ClosedHold, ...]:
    """The title holds that ended in ``period``, oldest first.

    Raises:
        StateUnavailable: The registry cannot be read.
    """
    return tuple(await store.title_holds_closed_between(period.start, period.end))
