"""The settlement as the webhook sends it: an envelope around the JSON document.

The envelope carries a delivery id (the same on every retry, for the receiver to
de-duplicate) and the send time, inside the signed body so that a replayed old
delivery can be told from a fresh one; the ``X-Interlend-Timestamp`` header repeats it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.reports.records import settlement_document
from gateway.reports.tabular import to_json

if TYPE_CHECKING:
    from gateway.settlement.result import Settlement

__all__ = ["WEBHOOK_SCHEMA", "webhook_body"]

WEBHOOK_SCHEMA = "interlend.webhook/1"


def webhook_body(settlement: Settlement, *, delivery: str, sent_at: int) -> bytes:
    """The bytes to POST (and sign): ``{"schema", "event", "delivery", "sent_at",
    "settlement"}`` with the settlement's JSON document inside."""
    envelope = {
        "schema": WEBHOOK_SCHEMA,
        "event": "settlement",
        "delivery": delivery,
        "sent_at": sent_at,
        "settlement": settlement_document(settlement),
    }
    return to_json(envelope).encode("utf-8")
