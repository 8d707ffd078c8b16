"""The current time as SIP2 writes it: UTC, whole seconds.

Every request reads it (the answer's transaction date, refusals, due dates), and SIP2
dates have no fraction of a second, so the ``datetime`` is made once per second and
shared until the next one.  The last one is kept as one tuple, replaced whole, so
threads reading it never see half an update.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["utc_now"]

_last: tuple[int, datetime] = (-1, datetime.fromtimestamp(0, UTC))


def utc_now() -> datetime:
    """The current time in UTC, to the second."""
    global _last
    second = int(time.time())
    last = _last
    if second == last[0]:
        return last[1]
    now = datetime.fromtimestamp(second, UTC)
    _last = (second, now)
    return now
