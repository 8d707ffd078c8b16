"""Circuit-breaker state shared by the gateways of a consortium, through the state store.

Every ``interval_s`` this task publishes, for each member whose client balances over
endpoints, the endpoints whose breaker opened here (marked down for the breaker's
cool-down), and opens the breakers of endpoints other gateways marked down.  One
gateway's failed attempts thus spare the others theirs; marks expire with the
cool-down, after which each gateway tries the endpoint again itself (its breaker's
trial probe).  A gateway never acts on its own marks, so closing its breaker after
a good trial is not undone by a mark it left behind.  With the in-memory store the
marks stay inside the one gateway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
import trio

from adapters.state.base import StateUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from adapters.ils.balancing import EndpointBalancer
    from adapters.state.base import StateBackend

__all__ = ["share_breakers", "sync_breakers"]

log = structlog.get_logger("interlend.breakers")

INTERVAL_S = 2.0


async def sync_breakers(
    balancers: Mapping[str, EndpointBalancer],
    store: StateBackend,
    instance: str,
    published: dict[str, float],
) -> None:
    """One round: publish this gateway's open breakers, adopt the others' marks.

    ``balancers`` are the members' endpoint balancers; ``published`` remembers until
    when each of our marks stands (trio time), so a breaker that stays open is not
    marked again every round.
    """
    now = trio.current_time()
    for member, balancer in balancers.items():
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
    current: Callable[[], tuple[Mapping[str, EndpointBalancer], StateBackend]],
    instance: str,
    *,
    interval_s: float = INTERVAL_S,
) -> None:
    """Sync breaker state every ``interval_s`` until cancelled; ``current`` returns the
    members' balancers and the state store in force."""
    published: dict[str, float] = {}
    while True:
        await trio.sleep(interval_s)
        try:
            balancers, store = current()
            await sync_breakers(balancers, store, instance, published)
        except StateUnavailable as exc:
            log.debug("breaker state not shared this round", detail=exc.detail)
