"""Circuit-breaker state shared between gateways through the state store."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import trio
import trio.testing

from adapters.ils.balancing import BreakerSettings, BreakerState, EndpointBalancer, Outcome
from adapters.ils.base import Balanced
from adapters.ils.ncip import NcipMemberIls
from adapters.ils.sip2 import Sip2MemberIls
from adapters.state.memory import MemoryStateStore
from gateway.network.breakers import balancers, share_breakers, sync_breakers

if TYPE_CHECKING:
    from gateway.demo.network import Demo
from tests.helpers.polling import eventually

ENDPOINTS = ["10.0.0.1:6001", "10.0.0.2:6001"]


@dataclass
class _Client:
    """A member client with endpoints to balance (all ``Balanced`` asks for)."""

    balancer: EndpointBalancer


@dataclass
class _Runtime:
    store: MemoryStateStore
    members: dict[str, object] = field(default_factory=dict)


def new_balancer() -> EndpointBalancer:
    """Two endpoints whose breakers open at the first failure."""
    return EndpointBalancer(
        ENDPOINTS,
        clock=trio.current_time,
        breaker=BreakerSettings(failure_threshold=1, cool_down_s=30.0),
    )


def view(runtime: _Runtime) -> tuple[dict[str, EndpointBalancer], MemoryStateStore]:
    """What the daemon hands ``share_breakers``: the balancers and the store in force."""
    return balancers(runtime.members), runtime.store


def gateway(store: MemoryStateStore) -> tuple[Any, EndpointBalancer]:
    """A stand-in runtime (its members and store are all ``share_breakers`` reads): one
    member that balances, one that does not."""
    balancer = new_balancer()
    return _Runtime(store, {"beta": _Client(balancer), "plain": object()}), balancer


async def sync(runtime: Any, instance: str, published: dict[str, float] | None = None) -> None:
    """One round of ``instance``'s sync over ``runtime``'s members."""
    await sync_breakers(
        runtime.store, balancers(runtime.members), instance, {} if published is None else published
    )


def fail_first(balancer: EndpointBalancer) -> str:
    """Send a request that fails on whichever endpoint the balancer picks."""
    ticket = balancer.acquire()
    assert ticket is not None
    balancer.release(ticket, Outcome.FAILURE)
    return ticket.endpoint


def state(balancer: EndpointBalancer, endpoint: str) -> BreakerState:
    return next(s.state for s in balancer.statistics() if s.endpoint == endpoint)


async def test_one_gateways_open_breaker_opens_the_others() -> None:
    """An endpoint one gateway's breaker opened is opened on another gateway too, whose
    requests then go to the endpoint still up."""
    store = MemoryStateStore()
    first, one = gateway(store)
    second, two = gateway(store)
    down = fail_first(one)
    assert state(one, down) is BreakerState.OPEN
    assert state(two, down) is BreakerState.CLOSED
    await sync(first, "gw-1")
    await sync(second, "gw-2")
    assert state(two, down) is BreakerState.OPEN
    other = next(e for e in ENDPOINTS if e != down)
    for _ in range(4):  # every request goes to the endpoint still up
        ticket = two.acquire()
        assert ticket is not None
        assert ticket.endpoint == other
        two.release(ticket, Outcome.SUCCESS)


async def test_a_gateway_does_not_act_on_its_own_marks() -> None:
    """A gateway's own mark does not reopen its breaker once it closed again."""
    store = MemoryStateStore()
    first, one = gateway(store)
    down = fail_first(one)
    await sync(first, "gw-1")
    again, fresh = gateway(store)  # the same gateway after its breaker closed again
    await sync(again, "gw-1")
    assert state(fresh, down) is BreakerState.CLOSED


async def test_an_open_breaker_is_marked_once_per_cool_down() -> None:
    """A breaker that stays open is marked in the store once, not every round."""
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
        await sync(first, "gw-1", published)
    assert calls == 1


def test_only_members_whose_client_balances_are_synced() -> None:
    """``balancers`` lists the balancer of each client that is ``Balanced``, and skips
    a client without endpoints to balance."""
    balancer = new_balancer()
    assert balancers({"beta": _Client(balancer), "plain": object()}) == {"beta": balancer}


async def test_the_member_clients_of_a_running_gateway_are_balanced(ncip_demo: Demo) -> None:
    """The SIP2 and NCIP member clients both show their balancer, so every member's
    breakers are shared."""
    handles = ncip_demo.gateway.services.members
    members = {member: handle.ils for member, handle in handles.items()}
    assert isinstance(members["alpha"], NcipMemberIls)
    assert isinstance(members["beta"], Sip2MemberIls)
    assert all(isinstance(client, Balanced) for client in members.values())
    assert set(balancers(members)) == {"alpha", "beta", "gamma"}
    assert all(handle.balanced is not None for handle in handles.values())


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
    nursery.start_soon(partial(share_breakers, lambda: view(first), "gw-1", interval_s=5.0))
    nursery.start_soon(partial(share_breakers, lambda: view(second), "gw-2", interval_s=5.0))
    await eventually(
        lambda: state(two, down) is BreakerState.OPEN, timeout=10.5, what="the mark to be shared"
    )
    nursery.cancel_scope.cancel()


async def test_the_task_follows_a_reload(nursery: trio.Nursery) -> None:
    """After a reload (new member clients) the task syncs the new clients' breakers,
    not only those it was given first."""
    store = MemoryStateStore()
    first, one = gateway(store)
    current: list[Any] = [_Runtime(store, {"plain": object()})]  # beta not configured yet
    rounds = 0

    def runtime() -> tuple[dict[str, EndpointBalancer], MemoryStateStore]:
        nonlocal rounds
        rounds += 1
        return view(current[0])

    reloaded, fresh = gateway(store)
    down = fail_first(one)
    await sync(first, "gw-1")
    nursery.start_soon(partial(share_breakers, runtime, "gw-2", interval_s=0.01))
    await eventually(lambda: rounds >= 2, what="a round over the first runtime to end")
    current[0] = reloaded
    await eventually(
        lambda: state(fresh, down) is BreakerState.OPEN, what="the reloaded breaker to open"
    )
    nursery.cancel_scope.cancel()
