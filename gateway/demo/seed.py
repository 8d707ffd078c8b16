"""Playing a synthetic history into a loan registry, at the times it happened.

Each loan goes through the registry's own steps (``reserve``, ``commit``, ``renew``,
``close``) with ``now`` set to the event's time, so the registry holds it exactly as
if the gateway had made it then: ``loans_between`` finds it in its period, and its
events reach the ledger's outbox like any other.  Events are played in time order,
so an item returned and lent again is never on loan twice.

A registry that already holds loans in the history's span is left alone: playing the
same history twice would count each loan twice in the reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog

from adapters.state.base import CapExceeded, LoanRequest, patron_key
from gateway.demo.history import history_days, synthetic_history

if TYPE_CHECKING:
    from collections.abc import Sequence

    from adapters.state.base import StateStore
    from gateway.demo.history import SyntheticLoan

__all__ = ["HISTORY_PATRON_KEY", "Played", "play_demo_history", "play_history"]

log = structlog.get_logger("interlend.demo")

HISTORY_PATRON_KEY = b"interlend demo history"
"""The key of the synthetic patrons' hashes (not the gateway's: they are nobody)."""
TERMINALS = {"alpha": "alpha-kiosk", "beta": "beta-kiosk", "gamma": "gamma-desk"}

_CHECKOUT, _RENEW, _RETURN = 0, 1, 2


@dataclass(frozen=True)
class Played:
    """What ``play_history`` did: loans written (0 when the span already had some)."""

    loans: int
    start: datetime
    end: datetime
    skipped: bool = False


def _events(loans: Sequence[SyntheticLoan]) -> list[tuple[datetime, int, int]]:
    """(time, step, loan index) of every step, in the order they happened."""
    events = []
    for index, loan in enumerate(loans):
        events.append((loan.checked_out, _CHECKOUT, index))
        if loan.renewed is not None:
            events.append((loan.renewed, _RENEW, index))
        if loan.returned is not None:
            events.append((loan.returned, _RETURN, index))
    return sorted(events)


async def play_history(
    store: StateStore, loans: Sequence[SyntheticLoan], *, start: datetime, end: datetime, tag: str
) -> Played:
    """Write ``loans`` (all in ``[start, end)``) into ``store`` at their own times.

    Args:
        store: The registry.
        loans: The history (``gateway.demo.history.synthetic_history``).
        start: The history's first instant.
        end: The instant after it.
        tag: Makes the idempotency keys of this history its own (the seed, say).

    Raises:
        StateUnavailable: The registry cannot be written.
        RuntimeError: The registry refused a loan (it held the item already).
    """
    if await store.loans_between(start, end):
        log.info("demo history already in the registry; not played again", start=str(start))
        return Played(0, start, end, skipped=True)
    for at, step, index in _events(loans):
        loan = loans[index]
        if step == _CHECKOUT:
            request = LoanRequest(
                owner=loan.owner,
                home=loan.home,
                item=loan.item,
                patron_key=patron_key(HISTORY_PATRON_KEY, loan.home, loan.patron),
                proxy_patron=f"ILL-{loan.home}",
                terminal=TERMINALS.get(loan.owner, loan.owner)
                if loan.kind.value == "walk-in"
                else f"ncip:rs-{loan.home}",
                idempotency_key=f"demo-history:{tag}:{index}",
                cap_at_owner=None,
                cap_total=None,
                kind=loan.kind,
            )
            reservation = await store.reserve(request, now=at)
            if isinstance(reservation, CapExceeded) or reservation.existing is not None:
                raise RuntimeError(f"the registry refused synthetic loan {index}: {reservation}")
            await store.commit(reservation, due=loan.due, now=at)
        elif step == _RENEW:
            assert loan.renewed_due is not None
            await store.renew(loan.owner, loan.item, due=loan.renewed_due, now=at)
        else:
            await store.close(loan.owner, loan.item, now=at)
    log.info("demo history played", loans=len(loans), start=str(start), end=str(end))
    return Played(len(loans), start, end)


async def play_demo_history(
    store: StateStore, *, days: int, seed: int, end: datetime | None = None
) -> Played:
    """Play ``days`` whole days of the demo consortium's synthetic traffic, up to the
    start of ``end``'s day (today, UTC, by default), into ``store``."""
    end = end if end is not None else datetime.now(UTC)
    start, stop = history_days(end, days)
    loans = synthetic_history(end=end, days=days, seed=seed)
    return await play_history(store, loans, start=start, end=stop, tag=str(seed))
