"""A member with several endpoints: the SIP2 and NCIP clients spread requests with
``gateway.balancing.EndpointBalancer``, against simulated ILSs over loopback sockets.

The scenarios, for each protocol: a slow and a fast endpoint (most requests go to the
fast one), a dead endpoint (its breaker opens and requests go to the other one), and a
dead endpoint that comes back (a half-open trial closes its breaker).  Time is only
bounded, never measured: every test runs under a generous ``fail_after``.
"""

from __future__ import annotations

import socket
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import trio

from adapters.errors import IlsUnavailable
from adapters.ils.ncip import NcipMemberIls
from adapters.ils.sip2 import Sip2MemberIls
from config.models import DialectSettings, IlsSettings, NcipSettings
from gateway.balancing import BreakerSettings
from gateway.simulator.data import packaged_library
from gateway.simulator.engine import SimulatedIls
from gateway.simulator.ncip import NcipSimulator, serve_simulator_ncip
from gateway.simulator.server import serve_simulator

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

PASSWORD = "sim-secret"
PATRON = "21001000000001"
ITEM = "31001000000001"
LIMIT_S = 20
REQUESTS = 20

# Open at the first failure and stay open: the scenarios then need no repetition.
TRIP_AT_ONCE = BreakerSettings(failure_threshold=1, cool_down_s=60.0, max_cool_down_s=60.0)


# --- simulated ILSs ------------------------------------------------------------------------


@dataclass
class Sip2Sim:
    """A simulated alpha ILS answering SIP2 on loopback."""

    ils: SimulatedIls
    endpoint: str

    def count(self, code: str) -> int:
        return self.ils.executed.count(code)


@dataclass
class NcipSim:
    """A simulated alpha ILS answering NCIP on loopback."""

    ncip: NcipSimulator
    endpoint: str

    def count(self, service: str) -> int:
        return self.ncip.calls.count(service)


@asynccontextmanager
async def sip2_sim(port: int = 0) -> AsyncIterator[Sip2Sim]:
    """Serve a fresh simulated alpha over SIP2 (on ``port``, or a free one)."""
    ils = SimulatedIls(packaged_library("alpha"), PASSWORD)
    async with trio.open_nursery() as nursery:
        host, bound = await nursery.start(
            partial(serve_simulator, ils, host="127.0.0.1", port=port)
        )
        yield Sip2Sim(ils, f"{host}:{bound}")
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def ncip_sim(port: int = 0) -> AsyncIterator[NcipSim]:
    """Serve a fresh simulated alpha over NCIP (on ``port``, or a free one)."""
    responder = NcipSimulator(SimulatedIls(packaged_library("alpha"), "unused"))
    async with trio.open_nursery() as nursery:
        host, bound = await nursery.start(partial(serve_simulator_ncip, responder, port=port))
        yield NcipSim(responder, f"http://{host}:{bound}/ncip")
        nursery.cancel_scope.cancel()


def unused_port() -> int:
    """A loopback port with nothing listening (bound, read, and closed again)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- clients ---------------------------------------------------------------------------------


@asynccontextmanager
async def sip2_member(
    *endpoints: str,
    breaker: BreakerSettings | None = None,
    keepalive_s: float = 30.0,
    concurrency: int = 4,
) -> AsyncIterator[Sip2MemberIls]:
    """A ``Sip2MemberIls`` for alpha over ``endpoints``, always closed at the end."""
    settings = IlsSettings(
        endpoints=endpoints,
        login="gateway",
        institution_id="alpha",
        timeout_s=2.0,
        connect_timeout_s=1.0,
        concurrency=concurrency,
        pool_size=1,
        dialect=DialectSettings(),
    )
    ils = Sip2MemberIls("alpha", settings, PASSWORD, keepalive_s=keepalive_s, breaker=breaker)
    try:
        yield ils
    finally:
        await ils.aclose()


@asynccontextmanager
async def ncip_member(
    *endpoints: str,
    breaker: BreakerSettings | None = None,
    keepalive_s: float = 30.0,
    concurrency: int = 4,
) -> AsyncIterator[NcipMemberIls]:
    """An ``NcipMemberIls`` for alpha over ``endpoints``, always closed at the end."""
    settings = IlsSettings(
        adapter="ncip",
        endpoints=endpoints,
        institution_id="alpha",
        timeout_s=2.0,
        connect_timeout_s=1.0,
        concurrency=concurrency,
        pool_size=1,
        ncip=NcipSettings(),
    )
    ils = NcipMemberIls(
        "alpha",
        settings,
        None,
        keepalive_s=keepalive_s,
        backoff_base_s=0.05,
        backoff_max_s=0.2,
        breaker=breaker,
    )
    try:
        yield ils
    finally:
        await ils.aclose()


def endpoint_stats(ils: Sip2MemberIls | NcipMemberIls, index: int) -> dict[str, object]:
    """The admin API's figures for one endpoint."""
    endpoints = ils.statistics()["endpoints"]
    assert isinstance(endpoints, list)
    stats = endpoints[index]
    assert isinstance(stats, dict)
    return stats


def breaker_state(ils: Sip2MemberIls | NcipMemberIls, index: int) -> object:
    return endpoint_stats(ils, index)["state"]


def healthy(ils: Sip2MemberIls | NcipMemberIls) -> bool:
    """``ils.healthy``, read afresh (a call, so type checkers do not narrow it)."""
    return ils.healthy


async def wait_until(condition: Callable[[], bool], *, polls: int = 1500) -> None:
    """Poll ``condition()`` every 10 ms until it is true (15 s at most)."""
    for _ in range(polls):
        if condition():
            return
        await trio.sleep(0.01)
    raise AssertionError("the condition never became true")


async def sip2_request(ils: Sip2MemberIls) -> bool:
    """One patron lookup; whether it was answered."""
    try:
        record = await ils.patron_status(PATRON, "1234", timeout=2.0)
    except IlsUnavailable:
        return False
    assert record.found
    return True


async def ncip_request(ils: NcipMemberIls) -> bool:
    """One item lookup; whether it was answered."""
    try:
        record = await ils.item_information(ITEM, timeout=2.0)
    except IlsUnavailable:
        return False
    assert record.found
    return True


# --- a slow and a fast endpoint ------------------------------------------------------------


async def test_sip2_most_requests_go_to_the_fast_endpoint() -> None:
    """The slow endpoint, listed first, gets a request or two; the fast one the rest."""
    with trio.fail_after(LIMIT_S):
        async with sip2_sim() as slow, sip2_sim() as fast:
            slow.ils.delay_s = 0.1
            async with sip2_member(slow.endpoint, fast.endpoint) as ils:
                for _ in range(REQUESTS):
                    assert await sip2_request(ils)
                slow_latency = endpoint_stats(ils, 0)["latency_s"]
                fast_latency = endpoint_stats(ils, 1)["latency_s"]
    assert slow.count("23") + fast.count("23") == REQUESTS
    assert slow.count("23") <= 3
    assert fast.count("23") >= REQUESTS - 3
    assert isinstance(slow_latency, float)
    assert isinstance(fast_latency, float)
    assert slow_latency > fast_latency


async def test_ncip_most_requests_go_to_the_fast_endpoint() -> None:
    """The slow endpoint, listed first, gets a request or two; the fast one the rest."""
    with trio.fail_after(LIMIT_S):
        async with ncip_sim() as slow, ncip_sim() as fast:
            slow.ncip.delay_s = 0.1
            async with ncip_member(slow.endpoint, fast.endpoint) as ils:
                for _ in range(REQUESTS):
                    assert await ncip_request(ils)
    assert slow.count("LookupItem") + fast.count("LookupItem") == REQUESTS
    assert slow.count("LookupItem") <= 3
    assert fast.count("LookupItem") >= REQUESTS - 3


async def test_sip2_concurrent_requests_spread_over_equal_endpoints() -> None:
    """Least outstanding requests: a burst is shared between two equally slow endpoints."""
    burst = 8
    with trio.fail_after(LIMIT_S):
        async with sip2_sim() as first, sip2_sim() as second:
            first.ils.delay_s = second.ils.delay_s = 0.05
            async with sip2_member(first.endpoint, second.endpoint, concurrency=burst) as ils:
                async with trio.open_nursery() as nursery:
                    for _ in range(burst):
                        nursery.start_soon(sip2_request, ils)
                    await wait_until(
                        lambda: (
                            endpoint_stats(ils, 0)["outstanding"] == burst // 2
                            and endpoint_stats(ils, 1)["outstanding"] == burst // 2
                        )
                    )
                assert endpoint_stats(ils, 0)["outstanding"] == 0
    assert first.count("23") + second.count("23") == burst
    assert first.count("23") == second.count("23") == burst // 2


# --- a dead endpoint ---------------------------------------------------------------------------


async def test_sip2_a_dead_endpoints_breaker_opens_and_requests_go_to_the_other() -> None:
    """Refused connections open the dead endpoint's breaker; every later request is
    answered by the live endpoint."""
    dead = f"127.0.0.1:{unused_port()}"
    with trio.fail_after(LIMIT_S):
        async with (
            sip2_sim() as live,
            sip2_member(dead, live.endpoint, breaker=TRIP_AT_ONCE) as ils,
        ):
            answered = [await sip2_request(ils) for _ in range(REQUESTS)]
            assert answered.count(False) <= 1  # the dead endpoint is tried once at most
            assert breaker_state(ils, 0) == "open"
            assert endpoint_stats(ils, 0)["healthy"] is False
            assert "cannot connect" in str(endpoint_stats(ils, 0)["last_error"])
            assert breaker_state(ils, 1) == "closed"
            assert healthy(ils)
    assert live.count("23") == answered.count(True)


async def test_sip2_the_health_loop_opens_a_dead_endpoints_breaker() -> None:
    """Without any request, failed probes open the breaker (default threshold); the
    requests that follow all go to the live endpoint."""
    dead = f"127.0.0.1:{unused_port()}"
    with trio.fail_after(LIMIT_S):
        async with (
            sip2_sim() as live,
            sip2_member(dead, live.endpoint, keepalive_s=0.02) as ils,
            trio.open_nursery() as nursery,
        ):
            await nursery.start(ils.run)
            await wait_until(lambda: breaker_state(ils, 0) == "open")
            for _ in range(REQUESTS):
                assert await sip2_request(ils)
            assert breaker_state(ils, 0) == "open"
            assert live.count("23") == REQUESTS
            nursery.cancel_scope.cancel()


async def test_ncip_a_dead_endpoints_breaker_opens_and_requests_go_to_the_other() -> None:
    """A refused connection is a failure and the next endpoint answers the same
    request; with the breaker open, the dead endpoint is not tried again."""
    dead = f"http://127.0.0.1:{unused_port()}/ncip"
    with trio.fail_after(LIMIT_S):
        async with (
            ncip_sim() as live,
            ncip_member(dead, live.endpoint, breaker=TRIP_AT_ONCE) as ils,
        ):
            for _ in range(REQUESTS):
                assert await ncip_request(ils)
            assert breaker_state(ils, 0) == "open"
            assert endpoint_stats(ils, 0)["healthy"] is False
            assert endpoint_stats(ils, 0)["requests"] == 1  # tried once, never again
            assert breaker_state(ils, 1) == "closed"
            assert healthy(ils)
    assert live.count("LookupItem") == REQUESTS


async def test_ncip_the_health_loop_opens_a_dead_endpoints_breaker() -> None:
    """Failed LookupAgency probes open the breaker (default threshold)."""
    dead = f"http://127.0.0.1:{unused_port()}/ncip"
    with trio.fail_after(LIMIT_S):
        async with (
            ncip_sim() as live,
            ncip_member(dead, live.endpoint) as ils,
            trio.open_nursery() as nursery,
        ):
            await nursery.start(ils.run)
            await wait_until(lambda: breaker_state(ils, 0) == "open")
            for _ in range(REQUESTS):
                assert await ncip_request(ils)
            # Still open (failed probes restart its cool-down): no lookup was sent there.
            assert breaker_state(ils, 0) == "open"
            assert live.count("LookupItem") == REQUESTS
            nursery.cancel_scope.cancel()


# --- an endpoint that comes back ---------------------------------------------------------------


async def test_sip2_after_the_cool_down_a_trial_request_closes_the_breaker() -> None:
    """Dead, then back: once the cool-down is over the next request is the trial, and
    its answer closes the breaker."""
    port = unused_port()
    breaker = BreakerSettings(failure_threshold=1, cool_down_s=0.2, max_cool_down_s=0.2)
    with trio.fail_after(LIMIT_S):
        async with (
            sip2_sim() as live,
            sip2_member(f"127.0.0.1:{port}", live.endpoint, breaker=breaker) as ils,
        ):
            while breaker_state(ils, 0) != "open":
                await sip2_request(ils)
            async with sip2_sim(port) as back:
                await wait_until(lambda: breaker_state(ils, 0) == "half_open")
                assert await sip2_request(ils)
                assert back.count("23") == 1  # the trial went to the endpoint that is back
                assert breaker_state(ils, 0) == "closed"
                stats = endpoint_stats(ils, 0)
                assert stats["healthy"] is True
                assert stats["failures"] == 0
                assert stats["last_error"] == ""
                await ils.aclose()


async def test_sip2_a_good_probe_lets_a_trial_close_the_breaker_early() -> None:
    """With a long cool-down, the health loop's successful probe makes the breaker
    half-open; the next request is the trial and closes it."""
    port = unused_port()
    with trio.fail_after(LIMIT_S):
        async with (
            sip2_sim() as live,
            sip2_member(f"127.0.0.1:{port}", live.endpoint, breaker=TRIP_AT_ONCE) as ils,
        ):
            while breaker_state(ils, 0) != "open":
                await sip2_request(ils)
            async with sip2_sim(port) as back, trio.open_nursery() as nursery:
                await nursery.start(ils.run)
                await wait_until(lambda: breaker_state(ils, 0) != "open")
                assert breaker_state(ils, 0) == "half_open"  # a probe alone never closes it
                assert await sip2_request(ils)
                assert back.count("23") == 1
                assert breaker_state(ils, 0) == "closed"
                assert healthy(ils)
                nursery.cancel_scope.cancel()
                await ils.aclose()


async def test_ncip_after_the_cool_down_a_trial_request_closes_the_breaker() -> None:
    """Dead, then back: the trial request goes to the endpoint that is back and closes
    its breaker."""
    port = unused_port()
    breaker = BreakerSettings(failure_threshold=1, cool_down_s=0.2, max_cool_down_s=0.2)
    with trio.fail_after(LIMIT_S):
        async with (
            ncip_sim() as live,
            ncip_member(f"http://127.0.0.1:{port}/ncip", live.endpoint, breaker=breaker) as ils,
        ):
            while breaker_state(ils, 0) != "open":
                assert await ncip_request(ils)  # the live endpoint answers meanwhile
            async with ncip_sim(port) as back:
                await wait_until(lambda: breaker_state(ils, 0) == "half_open")
                assert await ncip_request(ils)
                assert back.count("LookupItem") == 1
                assert breaker_state(ils, 0) == "closed"
                assert endpoint_stats(ils, 0)["healthy"] is True
                await ils.aclose()


async def test_ncip_a_good_probe_lets_a_trial_close_the_breaker_early() -> None:
    """With a long cool-down, a successful LookupAgency makes the breaker half-open;
    the next request is the trial and closes it."""
    port = unused_port()
    with trio.fail_after(LIMIT_S):
        async with (
            ncip_sim() as live,
            ncip_member(
                f"http://127.0.0.1:{port}/ncip", live.endpoint, breaker=TRIP_AT_ONCE
            ) as ils,
        ):
            while breaker_state(ils, 0) != "open":
                assert await ncip_request(ils)
            async with ncip_sim(port) as back, trio.open_nursery() as nursery:
                await nursery.start(ils.run)
                await wait_until(lambda: back.count("LookupAgency") >= 1)
                await wait_until(lambda: breaker_state(ils, 0) != "open")
                assert breaker_state(ils, 0) == "half_open"
                assert await ncip_request(ils)
                assert back.count("LookupItem") == 1
                assert breaker_state(ils, 0) == "closed"
                assert healthy(ils)
                nursery.cancel_scope.cancel()
                await ils.aclose()
