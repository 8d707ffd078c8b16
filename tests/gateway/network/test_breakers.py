"""Circuit-breaker state shared between gateways through the state store."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import trio
import trio.testing

from adapters.ils.balancing import BreakerSettings, BreakerState, EndpointBalancer, Outcome
from adapters.state.memory import MemoryStateStore
from gateway.network.breakers import share_breakers, sync_breakers
from tests.helpers.polling import eventually

ENDPOINTS = ["10.0.0.1:6001", "10.0.0.2:6001"]


@dataclass
class _Client:
    balancer: EndpointBalancer


@dataclass
class _Runtime:
    store: MemoryStateStore
    members: dict[str, Any] = field(default_factory=dict)


def gateway(store: MemoryStateStore) -> tuple[Any, EndpointBalancer]:
    """A stand-in runtime (its members and store are all ``sync_breakers`` reads)."""
    balancer = EndpointBalancer(
        ENDPOINTS,
        clock=trio.current_time,
        breaker=BreakerSettings(failure_threshold=1, cool_down_s=30.0),
    )
    return _Runtime(store, {"beta": _Client(balancer), "plain": object()}), balancer


def fail_first(balancer: EndpointBalancer) -> str:
    """Send a request that fails on whichever endpoint the balancer picks."""
    ticket = balancer.acquire()
    assert ticket is not None
    balancer.release(ticket, Outcome.FAILURE)
    return ticket.endpoint


def state(balancer: EndpointBalancer, endpoint: str) -> BreakerState:
    return next(s.state for s in balancer.statistics() if s.endpoint == endpoint)


async def test_one_gateways_open_breaker_opens_the_others() -> None:
    store = MemoryStateStore()
    first, one = gateway(store)
    second, two = gateway(store)
    down = fail_first(one)
    assert state(one, down) is BreakerState.OPEN
    assert state(two, down) is BreakerState.CLOSED
    await sync_breakers(first, "gw-1", {})
    await sync_breakers(second, "gw-2", {})
    assert state(two, down) is BreakerState.OPEN
    other = next(e for e in ENDPOINTS if e != down)
    for _ in range(4):  # every request goes to the endpoint still up
        ticket = two.acquire()
        assert ticket is not None
        assert ticket.endpoint == other
        two.release(ticket, Outcome.SUCCESS)


async def test_a_gateway_does_not_act_on_its_own_marks() -> None:
    store = MemoryStateStore()
    first, one = gateway(store)
    down = fail_first(one)
    await sync_breakers(first, "gw-1", {})
    again, fresh = gateway(store)  # the same gateway after its breaker closed again
    await sync_breakers(again, "gw-1", {})
    assert state(fresh, down) is BreakerState.CLOSED


async def test_an_open_breaker_is_marked_once_per_cool_down() -> None:
    store = MemoryStateStore()
    first, one = gateway(store)
    fail_first(one)
    published: dict[str, float] = {}
    calls = 0
    real = store.breaker_open

    async def counting(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        await real(*args, **kwargs)

    store.breaker_open = counting  # type: ignore[method-assign]
    for _ in range(3):
        await sync_breakers(first, "gw-1", published)
    assert calls == 1


async def test_the_task_syncs_every_interval(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """Each gateway's task publishes and reads marks every ``interval_s`` (trio time,
    the test's): a breaker open at one gateway opens at the other within two intervals
    (one to publish it, one to read it)."""
    store = MemoryStateStore()
    first, one = gateway(store)
    second, two = gateway(store)
    down = fail_first(one)
    nursery.start_soon(partial(share_breakers, lambda: first, "gw-1", interval_s=5.0))
    nursery.start_soon(partial(share_breakers, lambda: second, "gw-2", interval_s=5.0))
    await eventually(
        lambda: state(two, down) is BreakerState.OPEN, timeout=10.5, what="the mark to be shared"
    )
    nursery.cancel_scope.cancel()
