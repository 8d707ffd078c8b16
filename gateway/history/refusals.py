"""Reading a period's refusals from the registry's refusal history.

The history is bounded like the loans' (``gateway.state.history`` records, the oldest
dropped first): a period older than what it keeps reads as having fewer refusals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.state.base import RefusalHistory, RefusalRecord
    from gateway.history.period import Period

__all__ = ["read_refusals"]


async def read_refusals(store: RefusalHistory, period: Period) -> tuple[RefusalRecord, ...]:
    """The refusals recorded in ``period``, oldest first.

    Raises:
        StateUnavailable: The registry cannot be read.
    """
    return tuple(await store.refusals_between(period.start, period.end))
