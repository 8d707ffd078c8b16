"""Recording the flows' refusals in the registry's refusal history, for analytics.

Each flow that asks another library for something (a checkout, a loan to a library, a
title hold, a renewal) records its refusal with the typed code (``RefusalCode``), the
requesting library and the library asked, never the patron.  A member ILS that could
not answer is recorded as the refusal its edges give for it, then raised as before.

Recording is best effort: a registry that cannot take the record is logged, and the
patron still gets the refusal (analytics lose one count; the desk loses nothing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from adapters.state.base import RefusalRecord, StateUnavailable
from gateway.circulation.outcomes import RefusalCode

if TYPE_CHECKING:
    from gateway.circulation.call import Call
    from gateway.circulation.outcomes import Refusal

__all__ = ["record_refusal"]

log = structlog.get_logger("interlend.refusals")


async def record_refusal(
    call: Call, refusal: Refusal, *, flow: str, home: str, owner: str | None
) -> None:
    """Keep ``refusal`` in the history (a registry failure is not recorded: the store
    that failed cannot take it)."""
    if refusal.code is RefusalCode.REGISTRY_UNAVAILABLE:
        return
    record = RefusalRecord(call.now, flow, refusal.code.value, home, owner)
    try:
        await call.services.store.refusal_record(record)
    except StateUnavailable as exc:
        log.warning("refusal not recorded", code=refusal.code.value, detail=exc.detail)
