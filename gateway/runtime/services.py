"""The services requests use: member handles, the state store, the ledger, the guards.

``Services`` is made at start and lives as long as the daemon, except for what a
reload replaces: the member handles (a member whose settings changed gets a new client;
the others keep theirs, warm pools and all) and the discovery index (re-read from the
exports).  A request takes the services in force when it starts, with the rules.

The guards and counters here keep state across reloads: the wrong-PIN guard
(``PinGuard``), the lending counters (shared through the store when it is Redis).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from adapters.ledger.base import Ledger
from adapters.state.base import StateBackend
from gateway.network.discovery import HoldingsIndex
from gateway.network.lenders import LendingCounters
from gateway.runtime.members import MemberHandle
from gateway.runtime.pinguard import PinGuard

__all__ = ["Services"]


@dataclass(frozen=True)
class Services:
    """The live services (see the module documentation).

    Attributes:
        members: Each member library's handle.
        store: The loan registry, the ledger outbox, throttles and sessions.
        ledger: Where loan events go when no chain worker takes them (``none``).
        pins: Wrong-PIN counting per patron.
        counters: Loans between members, for lender selection.
        holdings: The discovery index.
    """

    members: Mapping[str, MemberHandle]
    store: StateBackend
    ledger: Ledger
    pins: PinGuard = field(default_factory=PinGuard)
    counters: LendingCounters = field(default_factory=LendingCounters)
    holdings: HoldingsIndex = field(default_factory=HoldingsIndex)
