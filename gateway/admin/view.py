"""What the admin port reads of a running gateway: a small view, not the daemon.

``AdminView`` is the whole of what the admin routes may use: whether the gateway is
ready, the rules and services in force, its metrics, the outbox consumer's health, the
ledger worker (when there is one), the kiosk connections open, and the NCIP responder
(the same HTTP app serves NCIP on its own port).  The daemon satisfies it; tests may
give another.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from gateway.ledger.outbox import OutboxConsumerHealth
    from gateway.ledger.worker import LedgerWorker
    from gateway.ncip.responder import NcipResponder
    from gateway.runtime.rules import Rules
    from gateway.runtime.services import Services
    from gateway.telemetry.metrics import Metrics

__all__ = ["AdminView"]


class AdminView(Protocol):
    """A running gateway as the admin routes see it."""

    @property
    def ready(self) -> bool:
        """The listeners are up (and the gateway is not stopping)."""
        ...

    @property
    def metrics(self) -> Metrics:
        """The gateway's metrics."""
        ...

    @property
    def outbox_health(self) -> OutboxConsumerHealth:
        """How the outbox's consumer (the ledger worker or the pump) is doing."""
        ...

    @property
    def ledger_worker(self) -> LedgerWorker | None:
        """The ledger worker, unless ``gateway.ledger.backend`` is ``none``."""
        ...

    @property
    def ncip(self) -> NcipResponder:
        """The NCIP responder."""
        ...

    def current(self) -> tuple[Rules, Services]:
        """The rules and services in force."""
        ...

    def open_kiosks(self) -> int:
        """Kiosk connections open on this gateway now."""
        ...
