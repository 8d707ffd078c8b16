"""Circuit-breaker state shared by the gateways of a consortium, through the state store.

Every ``interval_s`` this task publishes, for each member whose client balances over
endpoints (``adapters.ils.base.Balanced``), the endpoints whose breaker opened here
(marked down for the breaker's cool-down), and opens the breakers of endpoints other
gateways marked down.  One gateway's failed attempts thus spare the others theirs;
marks expire with the cool-down, after which each gateway tries the endpoint again
itself (its breaker's trial probe).  A gateway never acts on its own marks, so closing
its breaker after a good trial is not undone by a mark it left behind.  With the
in-memory store the marks stay inside the one gateway.

The daemon hands the task the balancers of its member handles (found once, when the
members are built: ``adapters.ils.base.Balanced``); ``balancers`` does the same for a
plain mapping of clients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
import trio

from adapters.ils.base import Balanced
from adapters.state.base import StateUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from adapters.ils.balancing import EndpointBalancer
    from adapters.state.base import Breakers

__all__ = ["balancers", "share_breakers", "sync_breakers"]

log = structlog.get_logger("interlend.breakers")

INTERVAL_S = 2.0


def balancers(members: Mapping[str, object]) -> dict[str, EndpointBalancer]:
    """The balancer of each member whose client balances over endpoints, by member."""
    return {
        member: client.balancer
        for member, client in members.items()
        if isinstance(client, Balanced)
    }


async def sync_breakers(
    store: Breakers,
    balanced: Mapping[str, EndpointBalancer],
    instance: str,
    published: dict[str, float],
) -> None:
    """One round: publish this gateway's open breakers, adopt the others' marks.

    Args:
        store: Where the gateways' marks are kept.
        balanced: The members' balancers (``balancers``).
        instance: This gateway's name in the marks.
        published: Until when each of our marks stands (trio time), so a breaker that
            stays open is not marked again every round.
    """
    now = trio.current_time()
    for member, balancer in balanced.items():
        for endpoint, retry_in in balancer.open_endpoints().items():
            key = f"{member}|{endpoint}"
            if retry_in > 0 and published.get(key, 0.0) <= now:
                await store.breaker_open(member, endpoint, ttl_s=retry_in, by=instance)
                published[key] = now + retry_in
        for endpoint, left in (await store.breakers(member, besides=instance)).items():
            if balancer.trip(endpoint, left):
                log.warning(
                    "member ILS endpoint marked down by another gateway",
                    member=member,
                    endpoint=endpoint,
                    for_s=round(left, 1),
                )


async def share_breakers(
    current: Callable[[], tuple[Mapping[str, EndpointBalancer], Breakers]],
    instance: str,
    *,
    interval_s: float = INTERVAL_S,
) -> None:
    """Sync breaker state every ``interval_s`` until cancelled.

    Args:
        current: Returns the members' balancers and the state store in force (new
            balancers after a reload that replaced a member's client).
        instance: This gateway's name in the marks.
        interval_s: Seconds between rounds.
    """
    published: dict[str, float] = {}
    while True:
        await trio.sleep(interval_s)
        balanced, store = current()
        try:
            await sync_breakers(store, balanced, instance, published)
        except StateUnavailable as exc:
            log.debug("breaker state not shared this round", detail=exc.detail)
